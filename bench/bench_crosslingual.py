"""Cross-lingual vector transforms learned from parallel text (issue 11), each beside the raw model
and today's centring ("product": offsets from search/centering_texts.yaml, LanguageOffsets.compute):

    a:tatoeba    per-language offsets from Tatoeba (mean_L - mean_en over each pair's rows, then
                 re-centred over the five languages as search.centering does); a:tat+defs their mean
                 with the product's offsets (a complement, not a replacement)
    b:proc-en    a:tatoeba, then an orthogonal Procrustes map per language onto English's vectors;
    b:proc-mid   ... or every language (English too) onto the pair midpoints: a shared space kept in
                 the model's frame, so query and passage maps (fitted apart) stay comparable
    c:means-4    a:tatoeba, then the span of the five offsets projected out of every vector;
    c:diff-k     ... or the top k principal directions of translation differences x_L - x_en

Passages and queries get their own fit (Tatoeba embedded with either prompt). nb is fitted on
bokmål; nynorsk is scored with nb's transform (the product maps nn to nb). Every Tatoeba-fitted
transform is cross-validated: 5 folds over the 1,000 pair indices, fit on 4/5, test on the rest.

1. Tatoeba bitext retrieval, xx->en and en->xx among the 200 held-out pairs, as passages on both
   sides (p->p) and queries against passages (q->p); mean and std over folds, raw on the same folds.
2. Dev-set dense retrieval from the index's stored raw vectors (--index), with each fold's fit:
   passages by their stored language, queries by the product's detector weights mixing the
   languages' transforms (as LanguageOffsets.center_query does); plain cosine, NO hub correction,
   NO BM25 - the vector transform alone. Metrics from search.evaluate. Uncertainty: a paired
   bootstrap over queries (the fold spread shows how stable a fit is, not how noisy 40 queries are).
3. Similar cases: each Greens programme's mean passage vector against every other document's; the
   ranks of its translations.

    .venv/bin/python bench/bench_crosslingual.py [--index /tmp/nordsearch-dev-index] [--json bench/results/crosslingual.json]

Embeddings are cached in --cache (default /tmp/xl-cache), keyed by model, prompt side and texts.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from bench_search import DEFAULT_INDEX, SHARED, ensure_index  # noqa: E402

TATOEBA = SHARED / "parallel" / "tatoeba"
CODES = {"fin": "fi", "swe": "sv", "dan": "da", "nob": "nb", "nno": "nb"}  # tatoeba -> product
FIT_CODES = ("fin", "swe", "dan", "nob")  # nno: scored only, with nb's transform
FOLDS, SEED, KS = 5, 0, (4, 16, 64)
PROGRAMME = ("vihreat_kunnallisvaaliohjelma", "grona_kommunalval", "greens_local")
SIDES = ("passage", "query")


# -- embeddings (cached) --------------------------------------------------------------------------


class Cached:
    """The default model's embed_passages / embed_queries, each text list embedded once per cache."""

    def __init__(self, cache: Path) -> None:
        from nordsearch.ingest.settings import Settings
        from nordsearch.search.embedder import get_embedder

        self.settings, self.cache = Settings(), cache
        self._get = lambda: get_embedder(self.settings)
        cache.mkdir(parents=True, exist_ok=True)

    def __call__(self, texts: list[str], side: str) -> np.ndarray:
        raw = json.dumps([Path(self.settings.model).name, side, texts], ensure_ascii=False).encode()
        path = self.cache / f"{side}-{hashlib.sha256(raw).hexdigest()[:20]}.npy"
        if path.exists():
            return np.load(path)
        emb = self._get()
        out = np.asarray(
            emb.embed_passages(texts) if side == "passage" else emb.embed_queries(texts), np.float32
        )
        np.save(path, out)
        return out


def tatoeba(embed: Cached) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """side -> code -> (xx vectors, en vectors), row i of one translating row i of the other."""
    out: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {s: {} for s in SIDES}
    for code in CODES:
        xx = (TATOEBA / f"tatoeba.{code}-eng.{code}").read_text(encoding="utf-8").splitlines()
        en = (TATOEBA / f"tatoeba.{code}-eng.eng").read_text(encoding="utf-8").splitlines()
        assert len(xx) == len(en), code
        for side in SIDES:
            out[side][code] = (embed(xx, side), embed(en, side))
    return out


# -- transforms -----------------------------------------------------------------------------------


def unit(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=-1, keepdims=True)
    return (m / np.where(norms == 0, 1.0, norms)).astype(np.float32)


def polar(m: np.ndarray) -> np.ndarray:
    """The orthogonal matrix nearest m: W = argmin ||A W - B|| over rotations, for m = A^T B."""
    u, _, vt = np.linalg.svd(m)
    return (u @ vt).astype(np.float32)


@dataclass
class Transform:
    """Per prompt side: a per-language offset, then optionally a per-language map, then optionally
    a basis projected out; rows re-normalised at the end (cosine stays inner product)."""

    offsets: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # side -> lang -> (d,)
    maps: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # side -> lang -> (d, d)
    basis: dict[str, np.ndarray] = field(default_factory=dict)  # side -> (k, d), orthonormal rows

    def linear(self, x: np.ndarray, lang: str, side: str) -> np.ndarray:
        offset = self.offsets.get(side, {}).get(lang)
        y = x - offset if offset is not None else x
        if (w := self.maps.get(side, {}).get(lang)) is not None:
            y = y @ w
        if (b := self.basis.get(side)) is not None:
            y = y - (y @ b.T) @ b
        return y

    def apply(self, x: np.ndarray, lang: str, side: str) -> np.ndarray:
        return unit(self.linear(x, lang, side))

    def apply_rows(self, x: np.ndarray, langs: list[str], side: str) -> np.ndarray:
        out = np.empty_like(x)
        for lang in set(langs):
            rows = np.array([i for i, la in enumerate(langs) if la == lang])
            out[rows] = self.linear(x[rows], lang, side)
        return unit(out)

    def apply_mix(self, x: np.ndarray, weights: dict[str, float], side: str) -> np.ndarray:
        """The weighted mix of the languages' (linear) transforms: for offsets alone this is
        exactly LanguageOffsets.center_query; no weights -> a uniform mix, as the product does."""
        from nordsearch.ingest.records import LANGUAGES

        weights = {k: v for k, v in (weights or {}).items() if k in LANGUAGES} or dict.fromkeys(
            LANGUAGES, 1.0
        )
        total = sum(weights.values())
        return unit(sum((w / total) * self.linear(x, lang, side) for lang, w in weights.items()))


def fit(data: dict, idx: np.ndarray, defs: dict[str, dict[str, np.ndarray]]) -> dict[str, Transform]:
    """Every Tatoeba-fitted transform, from the pair rows ``idx`` (both sides, each on its own)."""
    out: dict[str, Transform] = {n: Transform() for n in TRANSFORMS if n not in ("raw", "product")}
    for side in SIDES:
        pairs = {CODES[c]: (data[side][c][0][idx], data[side][c][1][idx]) for c in FIT_CODES}
        dim = data[side]["fin"][0].shape[1]
        delta = {lang: a.mean(0) - b.mean(0) for lang, (a, b) in pairs.items()} | {"en": np.zeros(dim)}
        grand = np.mean(list(delta.values()), axis=0)
        tat = {lang: (d - grand).astype(np.float32) for lang, d in delta.items()}
        avg = {lang: (tat[lang] + defs[side][lang]) / 2 for lang in tat}
        cen = {lang: (unit(a - tat[lang]), unit(b - tat["en"])) for lang, (a, b) in pairs.items()}
        mids = {lang: unit(a + b) for lang, (a, b) in cen.items()}
        b_all, m_all = np.vstack([b for _, b in cen.values()]), np.vstack(list(mids.values()))
        diffs = np.vstack([a - b for a, b in cen.values()])
        _, _, vt_diff = np.linalg.svd(diffs, full_matrices=False)
        _, _, vt_means = np.linalg.svd(np.stack(list(tat.values())), full_matrices=False)
        for name, t in out.items():
            t.offsets[side] = avg if name == "a:tat+defs" else tat
        out["b:proc-en"].maps[side] = {lang: polar(a.T @ b) for lang, (a, b) in cen.items()}
        out["b:proc-mid"].maps[side] = {lang: polar(a.T @ mids[lang]) for lang, (a, _) in cen.items()}
        out["b:proc-mid"].maps[side]["en"] = polar(b_all.T @ m_all)
        out["c:means-4"].basis[side] = vt_means[:4].astype(np.float32)
        for k in KS:
            out[f"c:diff-{k}"].basis[side] = vt_diff[:k].astype(np.float32)
    return out


TRANSFORMS = (
    "raw", "product", "a:tatoeba", "a:tat+defs", "b:proc-en", "b:proc-mid", "c:means-4",
    *(f"c:diff-{k}" for k in KS),
)  # fmt: skip


# -- 1. Tatoeba bitext retrieval ------------------------------------------------------------------


def bitext(t: Transform, data: dict, test: np.ndarray) -> dict[str, dict[str, float]]:
    """Accuracy of the nearest neighbour (cosine) among the test pairs: "<mode> <code> <direction>"."""
    out: dict[str, dict[str, float]] = {}
    gold = np.arange(len(test))
    for code, lang in CODES.items():
        (xp, ep), (xq, eq) = (
            [t.apply(m[test], la, side) for m, la in zip(data[side][code], (lang, "en"), strict=True)] for side in SIDES
        )  # fmt: skip
        out[code] = {
            "p->p xx->en": float(np.mean((xp @ ep.T).argmax(1) == gold)),
            "p->p en->xx": float(np.mean((ep @ xp.T).argmax(1) == gold)),
            "q->p xx->en": float(np.mean((xq @ ep.T).argmax(1) == gold)),
            "q->p en->xx": float(np.mean((eq @ xp.T).argmax(1) == gold)),
        }
    return out


def mean_of(res: dict[str, dict[str, float]], mode: str) -> float:
    return float(np.mean([v for row in res.values() for k, v in row.items() if k.startswith(mode)]))


# -- 2. dev-set dense retrieval, 3. similar cases -------------------------------------------------


@dataclass
class Dev:
    """The index's stored raw passage vectors and the dev queries, embedded once."""

    matrix: np.ndarray
    languages: list[str]
    sources: list[str]
    queries: list
    qrels: dict[str, dict[str, int]]
    qvecs: np.ndarray
    weights: list[dict[str, float]]

    @classmethod
    def load(cls, index: Path, embed: Cached, queries_file: Path, qrels_file: Path) -> Dev:
        from nordsearch.search.evaluate import load_qrels, load_queries
        from nordsearch.search.retrieval import language_weights

        con = sqlite3.connect(index / "store.sqlite")
        rows = con.execute(
            "SELECT p.vector, p.language, d.source FROM passages p JOIN documents d USING (document_id)"
            " ORDER BY p.rowid"
        ).fetchall()
        con.close()
        queries = load_queries(queries_file)
        return cls(
            np.stack([np.frombuffer(r[0], dtype=np.float32) for r in rows]), [r[1] for r in rows],
            [r[2] for r in rows], queries, load_qrels(qrels_file), embed([q.text for q in queries], "query"),
            [language_weights(q.text) or {} for q in queries],
        )  # fmt: skip


def dev_scores(t: Transform, dev: Dev) -> dict[str, float]:
    """nDCG@10 (all, monolingual, cross-lingual, per query language) and xl Recall@10, by
    search.evaluate's own functions over plain-cosine passage rankings."""
    from nordsearch.search.evaluate import evaluate

    passages = t.apply_rows(dev.matrix, dev.languages, "passage")
    qv = {q.qid: t.apply_mix(v, w, "query") for q, v, w in zip(dev.queries, dev.qvecs, dev.weights, strict=True)}  # fmt: skip

    def rank(q, _mode: str) -> list[str]:
        return [dev.sources[i] for i in np.argsort(-(passages @ qv[q.qid]), kind="stable")]

    rep = evaluate(dev.queries, dev.qrels, rank, modes=("dense",))[0]
    judged = [q for q in dev.queries if q.qid in rep.per_query]
    out = {
        "ndcg@10": rep.groups["all"]["ndcg@10"], "xl ndcg@10": rep.groups["cross-lingual"]["ndcg@10"],
        "xl recall@10": rep.groups["cross-lingual"]["xl_recall@10"],
        "mono ndcg@10": float(np.mean([rep.per_query[q.qid]["ndcg@10"] for q in judged if not q.cross_lingual])),
    }  # fmt: skip
    for lang in sorted({q.lang for q in judged}):
        out[f"{lang} ndcg@10"] = rep.groups[f"lang:{lang}"]["ndcg@10"]
        xl = [rep.per_query[q.qid]["xl_recall@10"] for q in judged if q.lang == lang and q.cross_lingual]
        if xl:
            out[f"{lang} xl recall@10"] = float(np.mean(xl))
    out["per_query"] = {k: [v["ndcg@10"], v["xl_recall@10"]] for k, v in rep.per_query.items()}  # type: ignore[assignment]
    return out


def similar(t: Transform, dev: Dev) -> dict[str, object]:
    """Each programme document (a PDF and its text twin are one) against every other document by
    the cosine of mean passage vectors: the rank of each translation (same year, other language)."""
    import re

    from nordsearch.search.evaluate import doc_key

    passages = t.apply_rows(dev.matrix, dev.languages, "passage")
    keys = [doc_key(s) for s in dev.sources]
    names = sorted(set(keys))
    docs = unit(np.stack([passages[[i for i, k in enumerate(keys) if k == n]].mean(0) for n in names]))
    prog = {n: (n[:2], re.search(r"(19|20)\d\d", n).group()) for n in names if any(p in n for p in PROGRAMME)}  # type: ignore[union-attr]
    ranks: dict[str, list[int]] = {}
    for n, (lang, year) in prog.items():
        i = names.index(n)
        sims = docs @ docs[i]
        sims[i] = -np.inf
        order = [names[j] for j in np.argsort(-sims, kind="stable")]
        ranks[f"{lang}{year}"] = [order.index(m) + 1 for m, (la, y) in prog.items() if y == year and la != lang]  # fmt: skip
    best = [min(r) for r in ranks.values() if r]
    return {"ranks": ranks, "top1": sum(b == 1 for b in best), "top3": sum(b <= 3 for b in best),
            "docs": len(best), "mean rank": float(np.mean([x for r in ranks.values() for x in r]))}  # fmt: skip


def spread(values: list[float]) -> dict[str, float]:
    return {
        "mean": float(np.mean(values)),
        "std": float(np.std(values)),
        "min": min(values),
        "max": max(values),
    }


def bootstrap(a: list[float], b: list[float], n: int = 4000) -> list[float]:
    """95% paired bootstrap interval of mean(a - b) over queries."""
    d = np.asarray(a) - np.asarray(b)
    means = np.random.default_rng(SEED).choice(d, (n, len(d))).mean(1)
    return [float(d.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


# -- run ------------------------------------------------------------------------------------------


def pm(s: dict[str, float]) -> str:
    return f"{s['mean']:.3f}±{s['std']:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, default=DEFAULT_INDEX, help="index folder (built when missing)")
    ap.add_argument("--queries", type=Path, default=SHARED / "eval" / "dev" / "queries.jsonl")
    ap.add_argument("--qrels", type=Path, default=SHARED / "eval" / "dev" / "qrels.tsv")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/xl-cache"))
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "crosslingual.json")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from nordsearch.search.centering import LanguageOffsets

    ensure_index(args.index, SHARED / "corpus")
    embed = Cached(args.cache)
    data = tatoeba(embed)
    offsets = LanguageOffsets.compute(lambda t: embed(t, "passage"), lambda t: embed(t, "query"))
    defs = {"passage": offsets.passage, "query": offsets.query}
    con = sqlite3.connect(args.index / "store.sqlite")
    stored = con.execute("SELECT value FROM meta WHERE key = 'language_offsets'").fetchone()
    con.close()
    if stored:  # the index's own offsets: ours must be the product's
        theirs = LanguageOffsets.from_json(stored[0]).passage
        gap = max(float(np.abs(theirs[k] - v).max()) for k, v in offsets.passage.items())
        print(f"product offsets vs the index's stored ones: max |diff| {gap:.2e}")
    dev = Dev.load(args.index, embed, args.queries, args.qrels)
    fixed = {"raw": Transform(), "product": Transform(offsets=defs)}
    n = len(data["passage"]["fin"][0])
    folds = np.array_split(np.random.default_rng(SEED).permutation(n), FOLDS)
    per_fold: dict[str, list[dict]] = {name: [] for name in TRANSFORMS}
    for f, test in enumerate(folds):
        train = np.setdiff1d(np.arange(n), test)
        transforms = fixed | fit(data, train, defs)
        for name in TRANSFORMS:
            t = transforms[name]
            per_fold[name].append(
                {"tatoeba": bitext(t, data, test), "dev": dev_scores(t, dev), "similar": similar(t, dev)}
            )
        print(f"fold {f + 1}/{FOLDS} done", flush=True)
    full = fixed | fit(data, np.arange(n), defs)
    full_dev = {name: dev_scores(full[name], dev) for name in TRANSFORMS}
    base = full_dev["product"]["per_query"]
    results: dict = {
        "model": Path(embed.settings.model).name, "folds": FOLDS, "seed": SEED, "test_pairs": len(folds[0]),
        "note": "dense only: plain cosine, no hub correction, no BM25; nb fitted on nob, nno scored with nb's",
        "raw_tatoeba_1000_candidates": bitext(fixed["raw"], data, np.arange(n)), "transforms": {},
    }  # fmt: skip
    for name in TRANSFORMS:
        rows = per_fold[name]
        dev_keys = [k for k in rows[0]["dev"] if k != "per_query"]
        fd = full_dev[name]["per_query"]
        results["transforms"][name] = {
            "tatoeba p->p": spread([mean_of(r["tatoeba"], "p->p") for r in rows]),
            "tatoeba q->p": spread([mean_of(r["tatoeba"], "q->p") for r in rows]),
            "tatoeba p->p minus raw, same fold": spread(
                [mean_of(r["tatoeba"], "p->p") - mean_of(w["tatoeba"], "p->p") for r, w in zip(rows, per_fold["raw"], strict=True)]
            ),
            "tatoeba": {c: {d: spread([r["tatoeba"][c][d] for r in rows]) for d in rows[0]["tatoeba"][c]} for c in CODES},
            "dev": {k: spread([r["dev"][k] for r in rows]) for k in dev_keys},
            "dev full fit": {k: v for k, v in full_dev[name].items() if k != "per_query"},
            "dev full fit vs product [mean, 2.5%, 97.5%]": {
                "ndcg@10": bootstrap([fd[q][0] for q in base], [base[q][0] for q in base]),
                "xl recall@10": bootstrap(
                    [fd[q.qid][1] for q in dev.queries if q.cross_lingual and q.qid in base],
                    [base[q.qid][1] for q in dev.queries if q.cross_lingual and q.qid in base],
                ),
            },
            "similar": {k: spread([float(r["similar"][k]) for r in rows]) for k in ("top1", "top3", "mean rank")},
            "similar full fit": similar(full[name], dev),
        }  # fmt: skip
    report(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(f"\nwrote {args.json}")


def report(results: dict) -> None:
    tr = results["transforms"]
    print(
        f"\n1+2+3. mean±std over {results['folds']} folds (Tatoeba: {results['test_pairs']} held-out candidates)"
    )
    head = (
        f"{'transform':12} {'tat p->p':>12} {'Δraw':>12} {'tat q->p':>12} {'dev nDCG':>12} {'mono nDCG':>12}"
    )
    print(
        f"{head} {'xl nDCG':>12} {'xl R@10':>12} {'sim @1/@3/rank':>14}  Δ product (full fit, 95% CI): nDCG | xl R@10"
    )
    for name, r in tr.items():
        d, s = r["dev"], r["similar"]
        ci = r["dev full fit vs product [mean, 2.5%, 97.5%]"]
        cis = " | ".join(f"{v[0]:+.3f} [{v[1]:+.3f},{v[2]:+.3f}]" for v in ci.values())
        print(
            f"{name:12} {pm(r['tatoeba p->p']):>12} {pm(r['tatoeba p->p minus raw, same fold']):>12} "
            f"{pm(r['tatoeba q->p']):>12} {pm(d['ndcg@10']):>12} {pm(d['mono ndcg@10']):>12} {pm(d['xl ndcg@10']):>12} "
            f"{pm(d['xl recall@10']):>12} {s['top1']['mean']:3.0f}/{s['top3']['mean']:.0f}/{s['mean rank']['mean']:<6.1f}  {cis}"
        )
    print("\nTatoeba p->p accuracy per language, xx->en / en->xx (fold means)")
    print(f"{'transform':12} " + " ".join(f"{c:>11}" for c in CODES))
    for name, r in tr.items():
        cells = [
            f"{r['tatoeba'][c]['p->p xx->en']['mean']:.3f}/{r['tatoeba'][c]['p->p en->xx']['mean']:.3f}"
            for c in CODES
        ]
        print(f"{name:12} " + " ".join(f"{x:>11}" for x in cells))
    raw = results["raw_tatoeba_1000_candidates"]
    print("raw model, all 1,000 candidates (the published protocol): " + ", ".join(
        f"{c} {v['p->p xx->en']:.3f}/{v['p->p en->xx']:.3f}" for c, v in raw.items()))  # fmt: skip
    langs = sorted(
        {k.split()[0] for k in tr["raw"]["dev"] if k.endswith(" ndcg@10") and k[:2] not in ("xl", "mo")}
    )
    print("\ndev per query language, fold means: nDCG@10 (xl R@10 of its cross-lingual queries)")
    print(f"{'transform':12} " + " ".join(f"{la:>13}" for la in langs))
    for name, r in tr.items():
        d = r["dev"]
        cells = [
            f"{d[f'{la} ndcg@10']['mean']:.3f}"
            + (f" ({d[k]['mean']:.2f})" if (k := f"{la} xl recall@10") in d else "")
            for la in langs
        ]
        print(f"{name:12} " + " ".join(f"{x:>13}" for x in cells))
    print("\nsimilar cases (full fit): rank of each translation among the other documents")
    for name, r in tr.items():
        ranks = r["similar full fit"]["ranks"]
        print(f"{name:12} " + " ".join(f"{k}:{','.join(map(str, v))}" for k, v in ranks.items()))


if __name__ == "__main__":
    main()
