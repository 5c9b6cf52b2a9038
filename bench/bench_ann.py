"""ANN benchmark: recall@10 of the HNSW index against exact search, build time and query latency.

Uses real passage vectors from an index (default: the dev index of the shared corpus) and, to get
past the HNSW threshold, grows the collection with noise-perturbed copies of them (a copy of a
real passage is a plausible passage: same neighbourhood structure, not uniform noise).
Queries are held-out perturbed passages, plus the dev queries when the model is available.

    .venv/bin/python bench/bench_ann.py --index /tmp/nordsearch-dev-index --target 60000
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from bench_search import DEFAULT_INDEX, SHARED, ensure_index  # noqa: E402

from nordsearch.search.store import Store  # noqa: E402
from nordsearch.search.vectors import DEFAULT_HNSW_THRESHOLD, FLAT, HNSW, VectorIndex  # noqa: E402


def grow(base: np.ndarray, target: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    """``base`` plus perturbed copies up to ``target`` rows (unit length, float32)."""
    parts = [base]
    n, d = base.shape
    while sum(len(p) for p in parts) < target:
        take = min(n, target - sum(len(p) for p in parts))
        rows = base[rng.integers(0, n, take)]
        noisy = rows + rng.normal(0, noise / np.sqrt(d), rows.shape).astype(np.float32)
        parts.append(noisy / np.linalg.norm(noisy, axis=1, keepdims=True))
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)


def recall_at(exact: np.ndarray, approx: np.ndarray, k: int = 10) -> float:
    return float(np.mean([len(set(e[:k]) & set(a[:k])) / k for e, a in zip(exact, approx, strict=True)]))


def latencies(vi: VectorIndex, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[float]:
    out = []
    for q in queries:
        t = time.perf_counter()
        vi.search(q[None, :], k, allowed)
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, default=DEFAULT_INDEX, help="index folder (built when missing)")
    ap.add_argument("--target", type=int, default=60_000, help="collection size after synthetic growth")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--noise", type=float, default=0.3, help="perturbation (norm of the noise vector)")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="write the results here too")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)

    ensure_index(args.index, SHARED / "corpus")
    store = Store(args.index / "store.sqlite")
    _, real = store.all_vectors()
    store.close()
    if not len(real):
        sys.exit(f"no vectors in {args.index}")
    matrix = grow(real, max(args.target, len(real)), args.noise, rng)
    ids = np.arange(len(matrix), dtype=np.int64)
    # held-out queries: perturbed real passages (not themselves in the index)
    picks = real[rng.integers(0, len(real), args.queries)]
    queries = picks + rng.normal(0, args.noise / np.sqrt(real.shape[1]), picks.shape).astype(np.float32)
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    kinds = {"perturbed passages": queries}
    try:  # the dev queries through the real model, when it is there
        from nordsearch.ingest.settings import Settings
        from nordsearch.search.embedder import get_embedder
        from nordsearch.search.evaluate import load_queries

        qfile = REPO.parent / "shared" / "eval" / "dev" / "queries.jsonl"
        if qfile.exists():
            kinds["dev queries"] = get_embedder(Settings()).embed_queries(
                [q.text for q in load_queries(qfile)]
            )
    except Exception as exc:  # the benchmark must run without the model too
        print(f"(dev queries skipped: {exc})", file=sys.stderr)

    t = time.perf_counter()
    flat = VectorIndex.build(ids, matrix, hnsw_threshold=sys.maxsize)
    flat_build = time.perf_counter() - t
    t = time.perf_counter()
    hnsw = VectorIndex.build(ids, matrix, hnsw_threshold=0)
    hnsw_build = time.perf_counter() - t
    assert flat.kind == FLAT and hnsw.kind == HNSW
    # hub scores (search.hubness) are recomputed once per index generation, on the first search
    from nordsearch.ingest.records import LANGUAGES
    from nordsearch.search.hubness import hub_scores

    t = time.perf_counter()
    hub_scores(matrix, [LANGUAGES[i % len(LANGUAGES)] for i in range(len(matrix))])
    hub_seconds = time.perf_counter() - t

    results: dict = {
        "real_vectors": int(len(real)), "collection": int(len(matrix)), "dimension": int(matrix.shape[1]),
        "hnsw_threshold": DEFAULT_HNSW_THRESHOLD, "build_seconds": {"flat": flat_build, "hnsw": hnsw_build},
        "hub_scores_seconds": hub_seconds,
        "queries": {},
    }  # fmt: skip
    allowed = np.sort(rng.choice(ids, size=len(ids) * 3 // 10, replace=False))  # a filter keeping 30%
    for name, qs in kinds.items():
        _, exact = flat.search(qs, args.k)
        _, approx = hnsw.search(qs, args.k)
        _, exact_f = flat.search(qs, args.k, allowed)
        _, approx_f = hnsw.search(qs, args.k, allowed)
        lat_flat, lat_hnsw = latencies(flat, qs, args.k), latencies(hnsw, qs, args.k)
        results["queries"][name] = {
            "n": int(len(qs)),
            "recall@10": recall_at(exact, approx, args.k),
            "recall@10_filtered_30pct": recall_at(exact_f, approx_f, args.k),
            "latency_ms_p50": {"flat": statistics.median(lat_flat), "hnsw": statistics.median(lat_hnsw)},
            "latency_ms_p95": {
                "flat": float(np.percentile(lat_flat, 95)), "hnsw": float(np.percentile(lat_hnsw, 95)),
            },
        }  # fmt: skip
    print(
        f"collection {results['collection']} vectors (real {results['real_vectors']}), dim "
        f"{results['dimension']}; build flat {flat_build:.1f}s, HNSW {hnsw_build:.1f}s; hub scores {hub_seconds:.1f}s"
    )
    print(
        f"{'queries':20} {'n':>4} {'R@10':>6} {'R@10 filt':>9} {'p50 flat':>9} {'p50 hnsw':>9} {'p95 hnsw':>9}"
    )
    for name, r in results["queries"].items():
        print(
            f"{name:20} {r['n']:4d} {r['recall@10']:6.3f} {r['recall@10_filtered_30pct']:9.3f} "
            f"{r['latency_ms_p50']['flat']:8.2f}ms {r['latency_ms_p50']['hnsw']:8.2f}ms "
            f"{r['latency_ms_p95']['hnsw']:8.2f}ms"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
