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
def shared_index(tmp_path_factory: pytest.TempPathFactory, e5_model_dir: Path, shared_corpus: Path) -> Path:
    """../shared/corpus indexed once per test session by the real CLI with the real model, so the
    slow tests that need its passages and vectors read them instead of re-embedding; read-only."""
    index_dir = tmp_path_factory.mktemp("shared-index") / "index"
    data, output = _index_with_cli(shared_corpus, index_dir, e5_model_dir)
    assert data.get("indexed", 0) >= 60, output
    return index_dir


@pytest.fixture(scope="session")
def shared_corpus() -> Path:
    """The real public documents beside the checkout (read in place, never copied)."""
    if not SHARED_CORPUS.is_dir():
        pytest.skip(f"{SHARED_CORPUS} is not there")
    return SHARED_CORPUS
