"""Fixtures for the search tests (helpers live in search_helpers.py so tests can import them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.search.search_helpers import FakeEmbedder


@pytest.fixture
def embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    return tmp_path / "index"
