"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def e5_model_dir() -> Path:
    """The converted multilingual-e5-small directory (built once, then reused across runs)."""
    from models import ensure_model

    return ensure_model()
