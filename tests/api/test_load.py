"""Issue 15 point 4: a bounded mixed load on a real server on loopback. 20 clients search and read
documents for 60 s while reports are uploaded as jobs, one after another: no request fails, every
search sees whole reports or none, and memory stays flat. bench/bench_load.py runs the same load
(bench/load_mix.py) and reports its latencies."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import copy_index

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from load_mix import MARKER, process_tree_rss_mb, run_load, warm_write_paths  # noqa: E402

pytestmark = pytest.mark.slow

WRITE = "load-write-key"


def test_twenty_clients_for_a_minute_while_reports_are_indexed(
    corpus_index: Path, tmp_path: Path, server_factory
):
    start, stop = server_factory
    index = tmp_path / "index"
    copy_index(corpus_index, index)
    proc, base = start(index, env_extra={"NORDSEARCH_API_KEYS": WRITE, "NORDSEARCH_WORKERS": "1"})
    try:
        # every server process runs its first job before the clock starts: loading the ingest
        # stack is first use, and jobs land in whichever process claims them
        warm_write_paths(base, proc.pid, {"X-API-Key": WRITE})
        before = httpx.get(f"{base}/search", params={"q": MARKER, "mode": "lexical"}).json()["total"]
        result = run_load(
            base, read_headers={}, write_headers={"X-API-Key": WRITE}, seconds=60, clients=20,
            memory=lambda: process_tree_rss_mb(proc.pid),
        )  # fmt: skip
    finally:
        stop(proc)
    assert result.errors == []
    assert result.requests > 1000 and {"search", "search marker", "documents", "document"} <= set(
        result.latencies_ms
    )
    # reports were indexed throughout, and every search saw whole reports only
    assert result.jobs >= 2 and len(result.job_passages) >= 6
    assert set(result.marker_totals) <= result.allowed_totals(before), sorted(set(result.marker_totals))
    assert len(set(result.marker_totals)) >= 3  # the snapshots moved while the clients read
    # flat memory: after the first quarter (caches filled), growth stays small
    settled = [mb for t, mb in result.memory_mb if t >= 15]
    assert max(settled) <= 1.15 * settled[0], result.memory_mb
