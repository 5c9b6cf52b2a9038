"""Fixtures for the search tests (helpers live in search_helpers.py so tests can import them)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# search_helpers.py sits next to this file; pytest runs with --import-mode=importlib, which puts
# no test folder on sys.path, so add this one (at the end: it must never shadow a real package).
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.append(_HERE)

from search_helpers import FakeEmbedder  # noqa: E402


@pytest.fixture
def embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    return tmp_path / "index"
