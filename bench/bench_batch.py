"""Whole-batch memory: `nordsearch index` over a folder, its resident memory summed over all its
processes (the indexer, the extraction fork server and its workers), sampled twice a second.

    .venv/bin/python bench/bench_batch.py [--corpus ../shared/corpus] [--json bench/results/batch.json]

Printed and written: peak of the sum, peak of each process kind (the indexer itself, extraction
processes), wall time, documents and passages. Target (issue 15): the whole batch below 4 GiB. The
naive baseline beside it is the indexer's own peak as `getrusage` of its children sees one process
(what `/usr/bin/time` reports), which leaves the extraction workers out.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from bench_search import SHARED, code_info, exe, machine  # noqa: E402
from load_mix import process_tree  # noqa: E402

TARGET_MB = 4096


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=SHARED / "corpus")
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "batch.json")
    args = ap.parse_args()
    peak_sum, peak_indexer, peak_other = 0.0, 0.0, 0.0
    processes_seen: set[int] = set()
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        cmd = [exe(), "index", str(args.corpus), "--index", str(Path(tmp) / "index"), "--quiet"]
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, "HF_HUB_OFFLINE": "1"})  # fmt: skip
        while proc.poll() is None:
            now = process_tree(proc.pid)
            processes_seen.update(now)
            peak_sum = max(peak_sum, sum(now.values()))
            peak_indexer = max(peak_indexer, now.get(proc.pid, 0.0))
            peak_other = max([peak_other, *(rss for p, rss in now.items() if p != proc.pid)])
            time.sleep(0.5)
        output = proc.stdout.read() if proc.stdout else ""
        seconds = time.perf_counter() - started
    children_maxrss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    summary = next((line for line in output.splitlines() if " indexed, " in line), output.strip()[-300:])
    result = {
        "machine": machine(),
        "code": code_info(),
        "corpus": str(args.corpus),
        "exit_code": proc.returncode,
        "summary": summary,
        "seconds": seconds,
        "peak_tree_rss_mb": peak_sum,
        "peak_indexer_rss_mb": peak_indexer,
        "peak_other_process_rss_mb": peak_other,
        "processes_seen": len(processes_seen),
        "baseline_getrusage_children_maxrss_mb": children_maxrss_mb,
        "target_mb": TARGET_MB,
        "pass": peak_sum < TARGET_MB and proc.returncode == 0,
    }
    print(f"\nwhole batch: {summary} ({seconds:.0f} s, exit {proc.returncode})")
    print(f"{'memory':52} {'MiB':>8}")
    print(f"{'all processes together, peak (sampled every 0.5 s)':52} {peak_sum:8.0f}  target < {TARGET_MB}: "
          f"{'met' if result['pass'] else 'NOT met'}")  # fmt: skip
    print(f"{'  the indexer process, peak':52} {peak_indexer:8.0f}")
    print(
        f"{'  largest other process (extraction), peak':52} {peak_other:8.0f}  ({len(processes_seen)} processes)"
    )
    print(f"{'baseline: getrusage(children) max RSS, one process':52} {children_maxrss_mb:8.0f}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"wrote {args.json}")
    return 0 if proc.returncode in (0, 1) else 1


if __name__ == "__main__":
    sys.exit(main())
