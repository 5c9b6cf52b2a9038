"""Similar documents: which document score finds peers in other languages (issue 12, point 7).

Two judged sets, both written down before any ranking was looked at:

* ``corpus/`` (our own sample documents): the topic groups corpus/README.md lists (winter cycling
  in five languages, cloudbursts, state-city agreements, densification near stations, social
  sustainability, low-carbon building). A document's peers are the other members of its group:
  the same topic, different texts, mostly other languages.
* ``../shared/corpus``: the party programmes that exist in Finnish, Swedish and English
  (../shared/parallel/README.md): a programme's peers are its translations.

Every variant ranks every other document (the document's own copies in other files left out, as
the product does). Rows: the centroid cosine (before session 9), the mutual-nearest alignment
(sessions 9-14), the symmetric mean best-match cosine raw, and the product: that match score as a
percentile among document pairs of the same two languages (``search.similar_match``), through
``SearchIndex.similar_documents`` itself.

    .venv/bin/python bench/bench_similar.py --corpus-index DIR [--shared-index DIR]
        [--json bench/results/similar.json]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from bench_search import code_info, machine  # noqa: E402

GROUPS = [  # corpus/README.md, "Several themes recur across languages"
    ["fi_talvipyorailyohjelma", "sv_vintercykling", "nb_sykkelstrategi", "da_supercykelsti",
     "en_winter_cycling_peer_review"],
    ["fi_viherrakenne_hulevedet", "sv_skyfallsplan", "da_skybrudsplan"],
    ["fi_mal_sopimus_tiivistelma", "nb_byvekstavtale_oppsummering", "en_state_city_partnerships"],
    ["fi_taydennysrakentamisohjelma", "sv_detaljplan_stationsnara_kvarter", "nb_kommuneplan_fortetting_stasjoner"],
    ["sv_social_hallbarhet_program", "da_boligsocial_helhedsplan"],
    ["fi_hiilineutraali_2035_ilmastosuunnitelma", "nb_utslippsfrie_byggeplasser", "da_cirkulaert_byggeri"],
]  # fmt: skip
PROGRAMME = re.compile(  # as tests/search/test_similar.py
    r"(fi_vihreat_kunnallisvaaliohjelma|sv_grona_kommunalvals?program|en_greens_local_elections?_manifesto)"
    r"_(\d{4})(_text_twin)?\.(md|pdf)$"
)


def corpus_gold(names: dict[str, str]) -> dict[str, set[str]]:
    stems = {d: n.rsplit(".", 1)[0] for d, n in names.items()}
    return {d: {e for e in names if e != d and stems[e] in g} for d in names for g in GROUPS if stems[d] in g}


def shared_gold(names: dict[str, str]) -> dict[str, set[str]]:
    year = {d: m.group(2) for d, n in names.items() if (m := PROGRAMME.search(n))}
    return {d: {e for e in year if e != d and year[e] == y} for d, y in year.items()}


def alignment(a: np.ndarray, b: np.ndarray) -> float:
    """Sessions 9-14: cosines of mutually nearest passages over sqrt(n_a n_b)."""
    sims = a @ b.T
    best = sims.argmax(axis=1)
    mutual = sims.argmax(axis=0)[best] == np.arange(len(a))
    return float(sims[np.arange(len(a)), best][mutual].sum() / math.sqrt(len(a) * len(b)))


def evaluate(rankings: dict[str, list[str]], gold: dict[str, set[str]], language: dict[str, str]) -> dict:
    aps, first_right, first_foreign, first_peer_rank = [], [], [], []
    for d, order in rankings.items():
        first_foreign.append(language[order[0]] != language[d])
        peers = gold.get(d)
        if not peers:
            continue
        hits, ap = 0, 0.0
        for rank, e in enumerate(order, 1):
            if e in peers:
                hits += 1
                ap += hits / rank
        aps.append(ap / len(peers))
        first_right.append(order[0] in peers)
        first_peer_rank.append(next(r for r, e in enumerate(order, 1) if e in peers))
    return {
        "documents_judged": len(aps),
        "MAP": round(float(np.mean(aps)), 3),
        "peer_first": int(sum(first_right)),
        "mean_rank_of_first_peer": round(float(np.mean(first_peer_rank)), 2),
        "first_in_other_language": round(float(np.mean(first_foreign)), 3),
    }


def run_index(index_dir: Path, gold_of) -> dict:
    from nordsearch.ingest.settings import Settings
    from nordsearch.search.embedder import get_embedder
    from nordsearch.search.index import SearchIndex
    from nordsearch.search.similar_match import match_score

    idx = SearchIndex.open(index_dir, get_embedder(Settings()), create=False)
    try:
        view = idx.space.corpus()
        rows = view.document_rows()
        docs = {d.document_id: d for d in idx.documents(limit=1_000_000)}
        names = {d: Path(doc.source).name for d, doc in docs.items()}
        language = {d: doc.language for d, doc in docs.items()}
        gold = gold_of(names)
        cases = idx._similar_cases()
        same = {d: cases._same_documents(d) for d in gold}  # copies in other files: never a result
        gold = {d: g - same[d] for d, g in gold.items() if g - same[d]}
        cids, centroids = view.centroids()
        crow = {d: i for i, d in enumerate(cids)}

        def ranked(d: str, score) -> list[str]:
            others = [e for e in cids if e not in same[d]]
            return sorted(others, key=lambda e: (-score(d, e), e))

        mat = lambda d: view.matrix[rows[d]]  # noqa: E731
        variants = {
            "centroid cosine": lambda d, e: float(centroids[crow[d]] @ centroids[crow[e]]),
            "mutual-nearest alignment (sessions 9-14)": lambda d, e: alignment(mat(d), mat(e)),
            "mean best-match cosine, raw": lambda d, e: match_score(mat(d), mat(e)),
        }
        out = {}
        for name, score in variants.items():
            out[name] = evaluate({d: ranked(d, score) for d in gold}, gold, language)
        t0 = time.perf_counter()
        product = {d: [i.document_id for i in idx.similar_documents(d, k=len(cids))] for d in gold}
        elapsed = time.perf_counter() - t0
        out["mean best-match, percentile within the language pair (product)"] = evaluate(
            product, gold, language
        )
        out["_product_seconds_per_document"] = round(elapsed / max(len(gold), 1), 3)
        return out
    finally:
        idx.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus-index", type=Path, required=True, help="an index of corpus/")
    ap.add_argument("--shared-index", type=Path, help="an index of ../shared/corpus")
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "similar.json")
    args = ap.parse_args()
    report = {"machine": machine(), "code": code_info(), "sets": {}}
    sets = [("corpus/ topic groups", args.corpus_index, corpus_gold)]
    if args.shared_index:
        sets.append(("shared programmes' translations", args.shared_index, shared_gold))
    for label, index_dir, gold_of in sets:
        result = run_index(index_dir, gold_of)
        report["sets"][label] = result
        judged = next(v for v in result.values() if isinstance(v, dict))["documents_judged"]
        print(f"\n{label} ({judged} documents with judged peers)\n")
        print(
            "| document score | MAP | peer first | mean rank of first peer | first result in another language |"
        )
        print("| --- | ---: | ---: | ---: | ---: |")
        for name, r in result.items():
            if isinstance(r, dict):
                print(
                    f"| {name} | {r['MAP']:.3f} | {r['peer_first']} / {r['documents_judged']} | "
                    f"{r['mean_rank_of_first_peer']:.2f} | {r['first_in_other_language']:.0%} |"
                )
        print(f"\nproduct: {result['_product_seconds_per_document']:.3f} s per document (whole ranking)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
