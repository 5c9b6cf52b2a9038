"""Retrieval benchmark: the dev-set evaluation (nDCG@10, Recall@10/@100, MRR@10, P@5, cross-lingual
Recall@10) for every mode, on an index of the shared corpus (built first if it is missing).

    .venv/bin/python bench/bench_retrieval.py [/tmp/nordsearch-dev-index] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from bench_search import DEFAULT_INDEX, SHARED, ensure_index  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "index",
        type=Path,
        nargs="?",
        default=DEFAULT_INDEX,
        help="index folder (built from --corpus when missing)",
    )
    ap.add_argument("--corpus", type=Path, default=SHARED / "corpus")
    ap.add_argument("--queries", type=Path, default=SHARED / "eval" / "dev" / "queries.jsonl")
    ap.add_argument("--qrels", type=Path, default=SHARED / "eval" / "dev" / "qrels.tsv")
    ap.add_argument("--modes", default="hybrid,dense,lexical,baseline")
    ap.add_argument("--json", type=Path, help="write the full report (per query too) here")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    ensure_index(args.index, args.corpus)

    from nordsearch.api.service import open_index
    from nordsearch.ingest.settings import Settings
    from nordsearch.search.evaluate import (
        evaluate,
        format_table,
        load_qrels,
        load_queries,
        rank_with_index,
        to_json,
    )

    queries, qrels = load_queries(args.queries), load_qrels(args.qrels)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    with open_index(args.index, Settings(), create=False) as idx:
        started = time.perf_counter()
        reports = evaluate(queries, qrels, rank_with_index(idx), modes=modes)
        seconds = time.perf_counter() - started
    print(format_table(reports))
    print(f"\n{len(queries)} queries x {len(modes)} modes in {seconds:.1f}s")
    if args.json:
        args.json.write_text(json.dumps(to_json(reports), ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
