"""Mixed load on the HTTP service: many clients searching and reading while reports are indexed.

    .venv/bin/python bench/bench_load.py [--index /tmp/nordsearch-dev-index] [--seconds 60] [--clients 20]
                                         [--json bench/results/load.json]

On a copy of the shared corpus's index (built once if missing, as bench_search.py does), one
`nordsearch serve` with its default processes, two runs of bench/load_mix.py:

1. the baseline: one client, nothing being indexed;
2. the load: --clients clients for --seconds while one more uploads reports of three files as
   background jobs, one job after another.

Printed and written per request kind: count, p50/p95/p99 latency, errors; requests/s; the server's
resident memory (all its processes) after the first quarter of the run and at its end; and whether
every marker search saw a consistent snapshot (whole uploaded reports only). tests/api/test_load.py
asserts the behaviour (no errors, consistent snapshots, flat memory) on the same load.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from bench_search import DEFAULT_INDEX, SHARED, Server, code_info, ensure_index, machine, summary  # noqa: E402
from load_mix import MARKER, LoadResult, process_tree_rss_mb, run_load, warm_write_paths  # noqa: E402


def figures(result: LoadResult, before: int) -> dict[str, Any]:
    kinds = {
        k: {key: v for key, v in summary(ms).items() if key != "ms"} for k, ms in result.latencies_ms.items()
    }
    settled = [mb for t, mb in result.memory_mb if t >= result.seconds / 4]
    return {
        "clients": result.clients,
        "seconds": result.seconds,
        "requests": result.requests,
        "requests_per_s": result.requests / result.seconds,
        "errors": len(result.errors),
        "error_samples": result.errors[:10],
        "kinds": kinds,
        "jobs": result.jobs,
        "uploaded_files": len(result.job_passages),
        "consistent_snapshots": set(result.marker_totals) <= result.allowed_totals(before),
        "snapshots_seen": len(set(result.marker_totals)),
        "memory_mb_settled": settled[0] if settled else None,
        "memory_mb_end": settled[-1] if settled else None,
        "memory_mb": result.memory_mb,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, default=DEFAULT_INDEX)
    ap.add_argument("--corpus", type=Path, default=SHARED / "corpus")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "load.json")
    args = ap.parse_args()
    ensure_index(args.index, args.corpus)
    runs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        index = Path(tmp) / "index"
        shutil.copytree(args.index, index, ignore=shutil.ignore_patterns("write.lock", "uploads"))
        server = Server(index)
        server.start()
        try:
            import httpx

            pid = server.proc.pid if server.proc is not None else 0
            for name, clients, upload in (("baseline: 1 client, no indexing", 1, False),
                                          (f"{args.clients} clients + upload jobs", args.clients, True)):  # fmt: skip
                if upload:  # each server process's first job loads the ingest stack: not growth
                    warm_write_paths(server.base, pid, {})
                before = httpx.get(f"{server.base}/search", params={"q": MARKER, "mode": "lexical"}).json()[
                    "total"
                ]
                print(f"{name} for {args.seconds:.0f} s ...", file=sys.stderr, flush=True)
                result = run_load(
                    server.base, read_headers={}, write_headers={}, seconds=args.seconds,
                    clients=clients, upload=upload, memory=lambda: process_tree_rss_mb(pid),
                )  # fmt: skip
                runs[name] = figures(result, before)
        finally:
            server.stop()

    print(f"\nmixed load on {args.index} ({machine()['cpu']}, {machine()['cores']} cores)")
    head = f"{'run':34} {'kind':14} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"
    print(head)
    print("-" * len(head))
    for name, run in runs.items():
        for kind, k in sorted(run["kinds"].items()):
            print(f"{name:34} {kind:14} {k['n']:6d} {k['p50']:8.1f} {k['p95']:8.1f} {k['p99']:8.1f}")
    print()
    for name, run in runs.items():
        print(
            f"{name}: {run['requests_per_s']:.1f} requests/s, {run['errors']} errors, {run['jobs']} jobs "
            f"({run['uploaded_files']} files), snapshots consistent: {run['consistent_snapshots']} "
            f"({run['snapshots_seen']} seen), memory {run['memory_mb_settled'] or 0:.0f} -> "
            f"{run['memory_mb_end'] or 0:.0f} MiB"
        )
    out = {
        "machine": machine(),
        "code": code_info(),
        "args": {k: str(v) for k, v in vars(args).items()},
        "runs": runs,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
