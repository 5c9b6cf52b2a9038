"""Searches run in a few threads per server process, in arrival order.

A search is Python holding the GIL for most of its ~15 ms, so in one process more threads than
cores only take turns with it: with FastAPI's 40-thread pool, 20 clients of a 2-process server
on 2 cores waited up to 18 s for a search (p99 5 s, bench/bench_load.py), while two searches at a
time per process bounded the wait to the queue ahead of it (max ~4 s at start-up, p99 ~1 s).
Other routes keep the shared pool, so a write waiting for the index's lock never holds a search up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import FastAPI

SEARCH_THREADS = 2
T = TypeVar("T")


async def in_search_thread(app: FastAPI, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a worker thread, at most SEARCH_THREADS of them at once in this process."""
    import anyio.to_thread

    limiter = getattr(app.state, "search_limiter", None)
    if limiter is None:  # made in the event loop, on first use
        limiter = app.state.search_limiter = anyio.CapacityLimiter(SEARCH_THREADS)
    return await anyio.to_thread.run_sync(fn, *args, limiter=limiter)
