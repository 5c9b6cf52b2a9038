"""Does the taxonomy bridge languages? A theme-overlap bonus in hybrid search, cross-validated
(issue 11, point 2: "the lexical side can bridge languages through the taxonomy's keyword stems").

BM25 cannot cross languages, so the hybrid search only lets it reorder passages within one
language. The taxonomy's keywords can: a question whose words hit a theme's keywords in its own
language ("joukkoliikenne" -> transport) is about the passages tagged with that theme in every
language ("kollektivtrafik", "public transport" tagged them at index time). The variant adds
``w * |themes(query) & themes(passage)| / |themes(query)|`` to each candidate's dense score,
before fusion, so it may also decide which language fills a rank. Query themes are the themes
whose keywords the question hits (``ThemeTagger.keyword_hits`` in the detected language); a
question hitting none is ranked as before.

The product has no such option: the bench applies the bonus by wrapping ``Retriever.dense`` and
``Retriever.score_exact``, the two places a dense score enters the hybrid fusion, and ranks every
dev query with the product's own search (``search.evaluate.rank_with_index``) at each weight. The
weight is then chosen by the same repeated stratified 5-fold cross-validation as
bench_tuning.py (hub and lexical weights stay at their defaults), and the in-sample best weight
is compared with w=0 query by query (paired bootstrap interval over the 40 queries).

    .venv/bin/python bench/bench_theme_bridge.py [--index /tmp/nordsearch-dev-index] [--repeats 20]
        [--json bench/results/theme_bridge.json]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

import bench_tuning  # noqa: E402
from bench_search import code_info, machine  # noqa: E402

WEIGHTS = (0.0, 0.01, 0.02, 0.03, 0.05, 0.08)


class ThemeBonus:
    """The variant: wraps the retriever's dense scoring while active."""

    def __init__(self, index_dir: Path) -> None:
        import sqlite3

        from nordsearch.ingest.taxonomy import load_taxonomy
        from nordsearch.ingest.themes import ThemeTagger
        from nordsearch.search.index import STORE_FILE

        self.tagger = ThemeTagger(load_taxonomy())
        self.weight = 0.0
        self.query_themes: set[str] = set()
        self.passage_themes: dict[int, set[str]] = {}  # vector id -> the themes tagged at index time
        db = sqlite3.connect(f"file:{index_dir / STORE_FILE}?mode=ro", uri=True)
        try:
            for passage, theme in db.execute("SELECT passage, theme FROM passage_themes"):
                self.passage_themes.setdefault(int(passage), set()).add(theme)
        finally:
            db.close()

    def themes_of(self, q: str) -> set[str]:
        from nordsearch.search.retrieval import language_weights

        weights = language_weights(q) or {}
        lang = max(weights, key=weights.get) if weights else None
        hits = self.tagger.keyword_hits(q, lang)[:-1]
        return {self.tagger.theme_ids[i] for i in np.flatnonzero(hits > 0)}

    def bonus(self, vid: int) -> float:
        if not self.query_themes or not self.weight:
            return 0.0
        shared = self.query_themes & self.passage_themes.get(int(vid), set())
        return self.weight * len(shared) / len(self.query_themes)

    def install(self) -> None:
        from nordsearch.search import retrieval

        cls, bridge = retrieval.Retriever, self
        rank, dense, exact = cls.rank, cls.dense, cls.score_exact

        def ranked(self, request, filters, pool):
            bridge.query_themes = bridge.themes_of(request.q)
            return rank(self, request, filters, pool)

        def dense_bonus(self, qv, k, allowed, hub_weight=0.0):
            out = [(v, s + bridge.bonus(v)) for v, s in dense(self, qv, k, allowed, hub_weight)]
            return sorted(out, key=lambda x: (-x[1], x[0]))

        def exact_bonus(self, qv, vector_ids, hub_weight=0.0):
            return {v: s + bridge.bonus(v) for v, s in exact(self, qv, vector_ids, hub_weight).items()}

        cls.rank, cls.dense, cls.score_exact = ranked, dense_bonus, exact_bonus


def score_weights(index_dir: Path, queries_path: Path, qrels_path: Path) -> tuple[list, dict, dict]:
    from nordsearch.api.service import open_index
    from nordsearch.ingest.settings import Settings
    from nordsearch.search.evaluate import evaluate, load_qrels, load_queries, rank_with_index

    qrels = load_qrels(qrels_path)
    queries = [q for q in load_queries(queries_path) if q.qid in qrels]
    scores: dict[tuple[float, float], dict[str, np.ndarray]] = {}
    with open_index(index_dir, Settings(), create=False) as idx:
        bridge = ThemeBonus(index_dir)
        bridge.install()
        rank = rank_with_index(idx)
        for w in WEIGHTS:
            bridge.weight = w
            (report,) = evaluate(queries, qrels, rank, modes=["hybrid"])
            rows = [report.per_query[q.qid] for q in queries]
            # keyed like bench_tuning's grid, so its cross-validation applies unchanged
            scores[(w, 0.0)] = {m: np.array([r[m] for r in rows]) for m in bench_tuning.METRICS}
        themes = {q.qid: sorted(bridge.themes_of(q.text)) for q in queries}
    return queries, scores, themes


def paired(base: np.ndarray, alt: np.ndarray, seed: int) -> dict[str, float]:
    diff = alt - base
    rng = np.random.default_rng(seed)
    boots = [float(diff[rng.integers(0, len(diff), len(diff))].mean()) for _ in range(10_000)]
    low, high = np.percentile(boots, [2.5, 97.5])
    return {
        "mean": float(diff.mean()), "ci95_low": float(low), "ci95_high": float(high),
        "better": int((diff > 1e-9).sum()), "worse": int((diff < -1e-9).sum()),
    }  # fmt: skip


def table(report: dict) -> str:
    lines = ["theme-overlap bonus w | dev nDCG@10 | xl R@10   (hybrid, hub/lexical at their defaults)"]
    for w, row in report["weights"].items():
        lines.append(f"{w:>21} | {row['ndcg@10']:11.3f} | {row['xl_recall@10']:.3f}")
    cv, p = report["cv"], report["paired_best_vs_0"]
    lines += [
        "",
        f"cross-validated choice, held-out nDCG@10 {cv['cv_ndcg@10']['mean']:.3f} ±{cv['cv_ndcg@10']['std']:.3f}"
        f" (w=0 on the same queries: {report['weights']['0']['ndcg@10']:.3f});"
        f" xl R@10 {cv['cv_xl_recall@10']['mean']:.3f}",
        f"per fold, picked - w=0: {cv['fold_gain_picked_minus_default']['mean']:+.3f}"
        f" sd {cv['fold_gain_picked_minus_default']['std']:.3f}",
        f"best w={report['best']} vs 0, per query: {p['mean']:+.3f} [{p['ci95_low']:+.3f}, {p['ci95_high']:+.3f}]"
        f" 95% bootstrap; {p['better']} better, {p['worse']} worse",
        "picked: " + "; ".join(f"w {k.split(',')[0].split()[-1]} x{v}" for k, v in cv["picks"].items()),
    ]
    return "\n".join(lines)


def main() -> None:
    args = bench_tuning.dev_arguments(__doc__, "theme_bridge.json")
    started = time.perf_counter()
    queries, scores, themes = score_weights(args.index, args.queries, args.qrels)
    # bench_tuning's cross-validation compares with its DEFAULT/UNTUNED grid points: here both are w=0
    bench_tuning.DEFAULT = bench_tuning.UNTUNED = (0.0, 0.0)
    cv = bench_tuning.cross_validate([q.lang for q in queries], scores, args.repeats, args.seed)
    best = max(WEIGHTS, key=lambda w: scores[(w, 0.0)]["ndcg@10"].mean())
    report = {
        "machine": machine(),
        "code": code_info(),
        "index": str(args.index),
        "queries": len(queries),
        "weights": {
            f"{w:g}": {m: float(scores[(w, 0.0)][m].mean()) for m in bench_tuning.METRICS} for w in WEIGHTS
        },
        "best": best,
        "best_groups": bench_tuning.groups(queries, scores[(best, 0.0)]),
        "w0_groups": bench_tuning.groups(queries, scores[(0.0, 0.0)]),
        "cv": cv,
        "paired_best_vs_0": paired(scores[(0.0, 0.0)]["ndcg@10"], scores[(best, 0.0)]["ndcg@10"], args.seed),
        "query_themes": themes,
        "seconds": time.perf_counter() - started,
    }
    print(table(report))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
