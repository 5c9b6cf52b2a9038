"""Start-up time of `nordsearch --help` (the budget is 0.5 s): the median of 10 runs, plus the slowest
imports of one run (python -X importtime) to see what to make lazy next.

    .venv/bin/python bench/bench_cli.py
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = 10
BUDGET = 0.5


def command() -> list[str]:
    exe = Path(sys.executable).parent / "nordsearch"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "nordsearch.api.cli"]


def main() -> int:
    cmd = [*command(), "--help"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    subprocess.run(cmd, capture_output=True, env=env, check=True)  # warm the file cache
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(cmd, capture_output=True, env=env, check=True)
        times.append(time.perf_counter() - started)
    median = statistics.median(times)
    print(
        f"nordsearch --help: median {median * 1000:.0f} ms over {RUNS} runs "
        f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}; budget {BUDGET * 1000:.0f} ms)"
    )

    code = "import sys; sys.argv=['nordsearch','--help']\nimport nordsearch.api.cli as cli\ntry:\n    cli.app()\nexcept SystemExit:\n    pass"
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, env=env
    )
    rows = []
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|\s+(.*)", line)
        if m:
            rows.append((int(m.group(2)), m.group(3).rstrip()))
    print("slowest imports (cumulative ms):")
    for cumulative, name in sorted(rows, reverse=True)[:8]:
        print(f"  {cumulative / 1000:7.1f}  {name.strip()}")
    return 0 if median < BUDGET else 1


if __name__ == "__main__":
    sys.exit(main())
