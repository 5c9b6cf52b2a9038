"""Running the HTTP service: one process, or several sharing one listening socket.

A search is mostly Python holding the GIL (~10 ms of ranking, snippets and JSON), so one process
answers on one core however many threads it has. With several processes the kernel hands each
connection to whichever is free, and connections are recycled every few requests so that a few
keep-alive clients do not stay piled on one process (api.connections). They can do this safely because reads never write (search.index):
each process reads the store through its own connections, and its in-memory vector and lexical
indexes catch up with the store's generation when another process writes. The processes share
one queue of indexing jobs, kept in the index's database, and run one job at a time
(api.job_store).
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from nordsearch.ingest.settings import Settings

# how `serve` hands its settings to the processes uvicorn spawns; not a NORDSEARCH_* setting
SPEC_ENV = "_NORDSEARCH_SERVE_SPEC"
MAX_AUTO_PROCESSES = 4


def process_count(settings: Settings) -> int:
    """settings.serve_processes, or one per core (at most MAX_AUTO_PROCESSES) when it is 0."""
    return settings.serve_processes or max(1, min(MAX_AUTO_PROCESSES, os.cpu_count() or 1))


def exposure_warning(host: str, settings: Settings) -> str | None:
    """A warning when the service would answer beyond this machine with no API keys: then anyone
    who reaches the address may read and change the index."""
    import ipaddress

    if settings.api_keys.strip() or settings.read_keys.strip():
        return None
    try:
        local = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        local = False
    if local:
        return None
    return (
        f"WARNING: listening on {host} with no API keys: anyone who can reach this address can search, "
        "upload and delete documents. Set NORDSEARCH_API_KEYS (write) and NORDSEARCH_READ_KEYS (read), "
        "or listen on 127.0.0.1."
    )


# FAISS's OpenMP threads spin for a while after each parallel region, holding both cores while
# the next query's encoder (numpy's BLAS threads) waits for them. Sleeping instead, measured at
# 100k passages: first-time /search p50 43-54 -> 35 ms, p95 55-73 -> 45 ms. libgomp reads it when
# it loads, so it is set before the server imports FAISS or torch; a user's own value wins.
OMP_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}


def run_server(index_dir: Path, settings: Settings, *, host: str, port: int) -> None:
    for key, value in OMP_ENV.items():
        os.environ.setdefault(key, value)  # inherited by the processes uvicorn spawns
    import uvicorn

    from nordsearch.api.http import create_app

    processes = process_count(settings)
    if processes == 1:
        uvicorn.run(create_app(index_dir, settings=settings), host=host, port=port, log_level="info")
        return
    _prepare(index_dir, settings)
    os.environ[SPEC_ENV] = json.dumps(
        {"index_dir": str(index_dir), "settings": settings.model_dump(mode="json")}
    )
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
        "nordsearch.api.serve:app_from_spec", factory=True, host=host, port=port, workers=processes,
        log_level="info",
    )  # fmt: skip
    sock = config.bind_socket()
    # Accepted connections inherit this. asyncio sets it only on sockets it knows to be TCP, and the
    # listening socket a spawned process receives does not say so: without it, every keep-alive
    # request waited ~40 ms for the client's delayed ACK (Nagle), measured 15 -> 56 ms a search.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    Multiprocess(config, sockets=[sock]).run()


def _prepare(index_dir: Path, settings: Settings) -> None:
    """What the processes would otherwise race to do on a fresh machine: build the default model,
    create the index."""
    from nordsearch.api.service import open_index

    if settings.uses_default_model:
        from nordsearch.models import ensure_model

        ensure_model(settings.default_model_dir)
    open_index(index_dir, settings, with_model=False, create=True).close()


def app_from_spec() -> FastAPI:
    """The app of one of several server processes, with the settings `serve` built."""
    from nordsearch.api.connections import RecycleConnections
    from nordsearch.api.http import create_app
    from nordsearch.ingest.settings import Settings

    spec = json.loads(os.environ[SPEC_ENV])
    app = create_app(Path(spec["index_dir"]), settings=Settings(**spec["settings"]))
    # several processes share the socket: keep their connections spread (api.connections)
    app.add_middleware(RecycleConnections)
    return app
