"""Fixtures for the search tests (helpers live in search_helpers.py so tests can import them)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.search.search_helpers import FakeEmbedder

if TYPE_CHECKING:
    from nordsearch.search.store import Store


@pytest.fixture
def embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    return tmp_path / "index"


@pytest.fixture
def store(tmp_path: Path, embedder: FakeEmbedder) -> Store:
    """A fresh store with the fake embedder's model recorded, for the store's tests (test_store*.py)."""
    from nordsearch.search.store import Store

    s = Store(tmp_path / "store.sqlite")
    s.set_model(embedder.name, embedder.dimension)
    yield s
    s.close()
