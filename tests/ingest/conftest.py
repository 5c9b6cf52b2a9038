"""Shared fixtures for the ingest tests: the shared real-document corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

# /work/main/tests/ingest/conftest.py -> /work/main/../shared/corpus
SHARED_CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"


@pytest.fixture(scope="session")
def shared_corpus() -> Path:
    """The shared folder of real documents (read in place, never copied); skip when absent."""
    if not SHARED_CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {SHARED_CORPUS}")
    return SHARED_CORPUS.resolve()
