"""A real server on loopback over the session's corpus index."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from tests.conftest import copy_index, nordsearch_cli


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(index_dir: Path, env_extra: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env_extra or {})}
    # the server's log goes to a file, never to a pipe nobody reads: a session-long server writes an
    # access-log line per request, and once the pipe's 64 KiB fill up every request blocks on it
    log_path = Path(tempfile.mkdtemp(prefix="nordsearch-server-")) / "server.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [
                *nordsearch_cli(),
                "serve",
                "--index",
                str(index_dir),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: the server and the processes it starts
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log_path.read_text(errors='replace')}")
        try:
            if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    kill_server(proc)
    raise RuntimeError("server did not become ready in 180 s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()  # uvicorn stops the processes it started, then itself
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        kill_server(proc)


def kill_server(proc: subprocess.Popen) -> None:
    """SIGKILL to the server's whole process group: a crash, nothing gets to clean up."""
    import contextlib
    import signal

    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=20)


@pytest.fixture(scope="session")
def server_factory():
    """(start_server, stop_server) for tests that need a server of their own (keys, limits, a temp index)."""
    return start_server, stop_server


@pytest.fixture(scope="session")
def server(corpus_index: Path) -> Iterator[str]:
    proc, base = start_server(corpus_index)
    try:
        yield base
    finally:
        stop_server(proc)


@pytest.fixture(scope="session")
def client(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=120) as c:
        yield c


WRITE_KEY, READ_KEY = "write-key-1", "read-key-1"
UPLOAD_MAX_BYTES, UPLOAD_MAX_FILES = 300_000, 4


@pytest.fixture(scope="session")
def write_server(corpus_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """A server with write and read keys, upload limits and an index root, over a copy of the corpus
    index (the shared one stays read-only). The root holds plans/{kiruna,vaasa}.md and a folder
    escape/ whose symlink leads outside the root."""
    base = tmp_path_factory.mktemp("write-server")
    root = base / "root"
    (root / "plans").mkdir(parents=True)
    (root / "plans" / "kiruna.md").write_text(
        "# Vinterväghållning i Kiruna\n\nKommunen prioriterar cykelbanor vid snöröjning och sandning, och "
        "huvudstråken plogas före klockan sju på morgonen så att fler kan cykla året runt.\n",
        encoding="utf-8",
    )
    (root / "plans" / "vaasa.md").write_text(
        "# Hulevedet Vaasassa\n\nVaasa ohjaa hulevedet viherkattojen, sadepuutarhojen ja avouomien kautta, "
        "ja rankkasateiden tulvariskiä pienennetään viivyttämällä vettä korttelialueilla.\n",
        encoding="utf-8",
    )
    secret = base / "secret"
    secret.mkdir()
    (secret / "private.md").write_text("# Private\n\nnot for the index\n", encoding="utf-8")
    (root / "escape").mkdir()
    (root / "escape" / "link").symlink_to(secret, target_is_directory=True)
    index_dir = base / "index"
    copy_index(corpus_index, index_dir)
    proc, url = start_server(
        index_dir,
        env_extra={
            "NORDSEARCH_API_KEYS": f"{WRITE_KEY},second-write-key",
            "NORDSEARCH_READ_KEYS": READ_KEY,
            "NORDSEARCH_INDEX_ROOTS": str(root),
            "NORDSEARCH_UPLOAD_MAX_BYTES": str(UPLOAD_MAX_BYTES),
            "NORDSEARCH_UPLOAD_MAX_FILES": str(UPLOAD_MAX_FILES),
            "NORDSEARCH_WORKERS": "1",
        },
    )
    try:
        yield SimpleNamespace(
            url=url,
            write_key=WRITE_KEY,
            read_key=READ_KEY,
            root=root,
            index=index_dir,
            max_bytes=UPLOAD_MAX_BYTES,
            max_files=UPLOAD_MAX_FILES,
        )
    finally:
        stop_server(proc)
