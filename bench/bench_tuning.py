"""Are the hybrid search's two knobs tuned on noise? Cross-validation over the 40 dev queries
(issue 11, point 4).

The knobs are the request's ``hub_weight`` (hubness reduction, default 0.3) and ``lexical_weight``
(BM25 inside a language, default 0.1). Both defaults were picked on the whole dev set, so the dev
figure of the default is optimistic. Here every query is ranked by the product's own search
(``search.evaluate.rank_with_index``) at each point of a small grid. Then, for repeated stratified
5-fold splits (folds keep the query languages' proportions), the grid point with the best mean
nDCG@10 on four folds is scored on the fifth:

- the cross-validated estimate: what choosing by this procedure gives on queries it never saw
  (mean over repetitions, each query held out once per repetition), beside the default's and the
  untuned point's (no hub correction, no BM25) on the same queries;
- the spread: the standard deviation of the held-out fold means (8 queries a fold), and the
  per-fold difference picked - default (a variant that wins by less than this spread is no win);
- which grid points the folds picked, and per query language and cross-lingual vs monolingual
  for the default.

    .venv/bin/python bench/bench_tuning.py [--index /tmp/nordsearch-dev-index] [--repeats 20]
        [--json bench/results/tuning.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from bench_search import DEFAULT_INDEX, SHARED, code_info, ensure_index, machine  # noqa: E402

from nordsearch.search.query import SearchRequest  # noqa: E402

HUB_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
LEXICAL_WEIGHTS = (0.0, 0.05, 0.1, 0.2, 0.3)
_REQUEST = SearchRequest("defaults")
DEFAULT = (_REQUEST.hub_weight, _REQUEST.lexical_weight)  # what the product searches with
assert DEFAULT[0] in HUB_WEIGHTS and DEFAULT[1] in LEXICAL_WEIGHTS, DEFAULT
UNTUNED = (0.0, 0.0)
FOLDS = 5
METRICS = ("ndcg@10", "xl_recall@10")


def score_grid(index_dir: Path, queries_path: Path, qrels_path: Path) -> tuple[list, dict]:
    """(judged queries, {(hub, lexical): {metric: per-query array}}) from the product's search."""
    from nordsearch.api.service import open_index
    from nordsearch.ingest.settings import Settings
    from nordsearch.search.evaluate import evaluate, load_qrels, load_queries, rank_with_index

    qrels = load_qrels(qrels_path)
    queries = [q for q in load_queries(queries_path) if q.qid in qrels]
    scores: dict[tuple[float, float], dict[str, np.ndarray]] = {}
    with open_index(index_dir, Settings(), create=False) as idx:
        for hub in HUB_WEIGHTS:
            for lex in LEXICAL_WEIGHTS:
                rank = rank_with_index(idx, hub_weight=hub, lexical_weight=lex)
                (report,) = evaluate(queries, qrels, rank, modes=["hybrid"])
                rows = [report.per_query[q.qid] for q in queries]
                scores[(hub, lex)] = {m: np.array([r[m] for r in rows]) for m in METRICS}
    return queries, scores


def stratified_folds(langs: list[str], rng: np.random.Generator) -> list[np.ndarray]:
    """FOLDS index arrays; each language's queries dealt round-robin from a shuffled order."""
    folds: list[list[int]] = [[] for _ in range(FOLDS)]
    start = 0
    for lang in sorted(set(langs)):
        members = [i for i, x in enumerate(langs) if x == lang]
        for j, i in enumerate(rng.permutation(members)):
            folds[(start + j) % FOLDS].append(int(i))
        start += len(members)  # the next language starts where this one stopped: folds stay even
    return [np.array(sorted(f)) for f in folds]


def cross_validate(langs: list[str], scores: dict, repeats: int, seed: int) -> dict:
    grid = list(scores)
    ndcg = np.stack([scores[g]["ndcg@10"] for g in grid])  # grid x queries
    n = ndcg.shape[1]
    rng = np.random.default_rng(seed)
    picks: Counter[tuple[float, float]] = Counter()
    fold_means: dict[str, list[float]] = {"picked": [], "default": [], "untuned": []}
    fold_gain: list[float] = []
    estimates: dict[str, list[float]] = {"picked": [], "picked_xl": []}
    for _ in range(repeats):
        held = {"ndcg@10": np.zeros(n), "xl_recall@10": np.zeros(n)}
        for test in stratified_folds(langs, rng):
            train = np.setdiff1d(np.arange(n), test)
            best = grid[int(np.argmax(ndcg[:, train].mean(1)))]  # first best on ties: grid order
            picks[best] += 1
            for m in METRICS:
                held[m][test] = scores[best][m][test]
            fold_means["picked"].append(float(scores[best]["ndcg@10"][test].mean()))
            fold_means["default"].append(float(scores[DEFAULT]["ndcg@10"][test].mean()))
            fold_means["untuned"].append(float(scores[UNTUNED]["ndcg@10"][test].mean()))
            fold_gain.append(fold_means["picked"][-1] - fold_means["default"][-1])
        estimates["picked"].append(float(held["ndcg@10"].mean()))
        estimates["picked_xl"].append(float(held["xl_recall@10"].mean()))
    return {
        "repeats": repeats,
        "folds": FOLDS,
        "cv_ndcg@10": summary(estimates["picked"]),
        "cv_xl_recall@10": summary(estimates["picked_xl"]),
        "fold_ndcg@10": {k: summary(v) for k, v in fold_means.items()},
        "fold_gain_picked_minus_default": summary(fold_gain),
        "picks": {f"hub {h:g}, lexical {x:g}": c for (h, x), c in picks.most_common()},
    }


def summary(values: list[float]) -> dict[str, float]:
    return {
        "mean": statistics.fmean(values),
        "std": statistics.pstdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
    }


def groups(queries: list, per_query: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Mean nDCG@10 (and cross-lingual Recall@10 where it applies) per query group."""
    sets = {"all": [True] * len(queries)}
    sets["cross-lingual"] = [q.cross_lingual for q in queries]
    sets["monolingual"] = [not q.cross_lingual for q in queries]
    for lang in sorted({q.lang for q in queries}):
        sets[f"lang:{lang}"] = [q.lang == lang for q in queries]
    out = {}
    for name, member in sets.items():
        mask = np.array(member)
        out[name] = {"n": int(mask.sum()), "ndcg@10": float(per_query["ndcg@10"][mask].mean())}
        if name == "cross-lingual":
            out[name]["xl_recall@10"] = float(per_query["xl_recall@10"][mask].mean())
    return out


def table(report: dict) -> str:
    cv, lines = report["cv"], []
    grid = report["grid_ndcg@10"]
    lines.append("dev nDCG@10 over the grid (rows hub_weight, columns lexical_weight; all 40 queries)")
    lines.append("hub \\ lex " + "".join(f"{x:>8g}" for x in LEXICAL_WEIGHTS))
    for h in HUB_WEIGHTS:
        lines.append(f"{h:>9g} " + "".join(f"{grid[f'{h:g},{x:g}']:8.3f}" for x in LEXICAL_WEIGHTS))
    d, u = report["default"]["all"]["ndcg@10"], report["untuned"]["all"]["ndcg@10"]
    c, f = cv["cv_ndcg@10"], cv["fold_ndcg@10"]
    gain = cv["fold_gain_picked_minus_default"]
    lines += [
        "",
        f"{f'default {DEFAULT} on all 40 (tuned on them)':58} {d:.3f}",
        f"{'untuned (0, 0) on all 40':58} {u:.3f}",
        f"{'cross-validated choice, held-out nDCG@10':58} {c['mean']:.3f}  ±{c['std']:.3f} over repeats",
        f"{'  ... its cross-lingual Recall@10':58} {cv['cv_xl_recall@10']['mean']:.3f}",
        f"{'held-out fold means (8 queries): picked':58} {f['picked']['mean']:.3f}  sd {f['picked']['std']:.3f}",
        f"{'  default':58} {f['default']['mean']:.3f}  sd {f['default']['std']:.3f}",
        f"{'  untuned':58} {f['untuned']['mean']:.3f}  sd {f['untuned']['std']:.3f}",
        f"{'per fold, picked - default':58} {gain['mean']:+.3f}  sd {gain['std']:.3f}",
        "picked: " + "; ".join(f"{k} x{v}" for k, v in cv["picks"].items()),
        "",
        "default by query group: "
        + "; ".join(
            f"{g} {v['ndcg@10']:.3f} (n {v['n']})"
            + (f", xl R@10 {v['xl_recall@10']:.3f}" if "xl_recall@10" in v else "")
            for g, v in report["default"].items()
        ),
    ]
    return "\n".join(lines)


def dev_arguments(description: str | None, results: str) -> argparse.Namespace:
    """The command line of a cross-validation bench over the dev set (this one and
    bench_theme_bridge.py), with the dev index built when missing."""
    ap = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--index", type=Path, default=DEFAULT_INDEX, help="index folder (built when missing)")
    ap.add_argument("--queries", type=Path, default=SHARED / "eval" / "dev" / "queries.jsonl")
    ap.add_argument("--qrels", type=Path, default=SHARED / "eval" / "dev" / "qrels.tsv")
    ap.add_argument("--repeats", type=int, default=20, help="repetitions of the 5-fold split")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / results)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    ensure_index(args.index, SHARED / "corpus")
    return args


def main() -> None:
    args = dev_arguments(__doc__, "tuning.json")
    started = time.perf_counter()
    queries, scores = score_grid(args.index, args.queries, args.qrels)
    report = {
        "machine": machine(),
        "code": code_info(),
        "index": str(args.index),
        "queries": len(queries),
        "grid_ndcg@10": {f"{h:g},{x:g}": float(v["ndcg@10"].mean()) for (h, x), v in scores.items()},
        "grid_xl_recall@10": {
            f"{h:g},{x:g}": float(v["xl_recall@10"].mean()) for (h, x), v in scores.items()
        },
        "default": groups(queries, scores[DEFAULT]),
        "untuned": groups(queries, scores[UNTUNED]),
        "cv": cross_validate([q.lang for q in queries], scores, args.repeats, args.seed),
        "seconds": time.perf_counter() - started,
    }
    print(table(report))
    print(f"\n{len(queries)} queries x {len(scores)} grid points, {report['seconds']:.0f} s")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
