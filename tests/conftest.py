"""Shared pytest fixtures."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def e5_model_dir() -> Path:
    """The converted multilingual-e5-small directory (built once, then reused across runs)."""
    from nordsearch.ingest.settings import Settings
    from nordsearch.models import ensure_model

    return ensure_model(Settings().default_model_dir)


REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"
SHARED_CORPUS = REPO.parent / "shared" / "corpus"


def copy_index(src: Path, dst: Path) -> None:
    """A private copy of an index (SQLite's backup API: consistent even with a WAL in use)."""
    dst.mkdir(parents=True)
    with sqlite3.connect(src / "store.sqlite") as a, sqlite3.connect(dst / "store.sqlite") as b:
        a.backup(b)
    for name in ("vectors.faiss", "manifest.json"):
        if (src / name).exists():
            shutil.copy2(src / name, dst / name)


def nordsearch_cli() -> list[str]:
    """The installed `nordsearch` command of this checkout's virtual environment."""
    import sys

    exe = Path(sys.executable).parent / "nordsearch"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "nordsearch.api.cli"]


def _index_with_cli(folder: Path, index_dir: Path, model_dir: Path) -> tuple[dict, str]:
    """Index ``folder`` with the real CLI and model: (its --report, what it printed)."""
    import json
    import os
    import subprocess

    report = index_dir.parent / "report.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NORDSEARCH_MODEL": str(model_dir)}
    proc = subprocess.run(
        [*nordsearch_cli(), "index", str(folder), "--index", str(index_dir), "--quiet", "--report", str(report)],
        capture_output=True, text=True, env=env, timeout=1800,
    )  # fmt: skip
    data = json.loads(report.read_text(encoding="utf-8")) if report.exists() else {}
    return data, proc.stderr + proc.stdout


@pytest.fixture(scope="session")
def corpus_index(tmp_path_factory: pytest.TempPathFactory, e5_model_dir: Path) -> Path:
    """corpus/ indexed once per test session by the real CLI with the real model; read-only for tests."""
    index_dir = tmp_path_factory.mktemp("corpus-index") / "index"
    data, output = _index_with_cli(CORPUS, index_dir, e5_model_dir)
    assert data.get("failed") == 0 and data.get("indexed", 0) >= 15, output
    return index_dir


@pytest.fixture(scope="session")
def shared_index(e5_model_dir: Path, shared_corpus: Path) -> Path:
    """../shared/corpus indexed once per test session by the real CLI with the real model, so the
    slow tests that need its passages and vectors read them instead of re-embedding; read-only.
    The indexing started when the tests were collected (pytest_collection_finish): here it is
    waited for."""
    import json

    build = _SHARED_BUILD.get("build")
    if build is None:  # not started at collection (a test asked for it indirectly): start it now
        build = _start_shared_build(shared_corpus, e5_model_dir)
    proc, index_dir, log = build
    proc.wait(timeout=3600)
    report = index_dir.parent / "report.json"
    data = json.loads(report.read_text(encoding="utf-8")) if report.exists() else {}
    assert data.get("indexed", 0) >= 60, log.read_text(encoding="utf-8", errors="replace")[-4000:]
    return index_dir


# The shared corpus takes the suite's longest step to index (17 min in fp32 on 2 cores, 6 with
# bf16). Started as soon as the tests are known, at low priority, it runs on the CPU the other
# tests leave idle (servers starting, the browser, jobs waiting) instead of alone when the first
# test that needs it comes up.
_SHARED_BUILD: dict[str, tuple] = {}


def _background() -> None:
    """In the indexing child: low priority, and a SIGTERM when the test session dies however it
    dies (Linux), so no indexing outlives it."""
    import contextlib
    import ctypes
    import os
    import signal

    os.nice(10)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _start_shared_build(corpus: Path, model_dir: Path) -> tuple:
    import os
    import subprocess
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="nordsearch-shared-index-"))
    index_dir, log = base / "index", base / "index.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NORDSEARCH_MODEL": str(model_dir)}
    # its own process group, not its own session: a new session is a new scheduler autogroup
    # (Linux), which gets an equal share of the CPU whatever its nice value
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*nordsearch_cli(), "index", str(corpus), "--index", str(index_dir), "--quiet",
             "--report", str(base / "report.json")],
            stdout=out, stderr=subprocess.STDOUT, env=env, preexec_fn=_background, process_group=0,
        )  # fmt: skip
    _SHARED_BUILD["build"] = (proc, index_dir, log)
    return _SHARED_BUILD["build"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests that need the shared index run last (in their order), so every other test runs
    while it is built."""
    needs = [item for item in items if "shared_index" in getattr(item, "fixturenames", ())]
    if needs:
        items[:] = [item for item in items if item not in needs] + needs


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly or not SHARED_CORPUS.is_dir():
        return
    if any("shared_index" in getattr(item, "fixturenames", ()) for item in session.items):
        from nordsearch.ingest.settings import Settings
        from nordsearch.models import ensure_model

        _start_shared_build(SHARED_CORPUS, ensure_model(Settings().default_model_dir))


def pytest_sessionfinish(session: pytest.Session) -> None:
    build = _SHARED_BUILD.pop("build", None)
    if build is None:
        return
    proc, index_dir, _ = build
    if proc.poll() is None:  # the session ended first (-x, Ctrl-C): the CLI and its workers
        import os
        import signal

        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    shutil.rmtree(index_dir.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def shared_corpus() -> Path:
    """The real public documents beside the checkout (read in place, never copied)."""
    if not SHARED_CORPUS.is_dir():
        pytest.skip(f"{SHARED_CORPUS} is not there")
    return SHARED_CORPUS
