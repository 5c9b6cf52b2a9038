from __future__ import annotations

import pytest

from nordsearch.search.errors import IndexMismatchError
from nordsearch.search.vector_manifest import Manifest, check_manifest
from nordsearch.search.vectors import FLAT


def test_check_manifest():
    man = Manifest(
        model="m", dimension=16, count=3, index_type=FLAT, generation=5, created="x", transform="t1"
    )
    assert check_manifest(man, "m", 16, 5, 3, "t1")
    assert not check_manifest(man, "m", 16, 6, 3, "t1")  # stale: rebuild
    assert not check_manifest(man, "m", 16, 5, 4, "t1")
    assert not check_manifest(man, "m", 16, 5, 3, "t2")  # e.g. new hub scores
    assert not check_manifest(man, "m", 17, 5, 3, "t2")  # another transform may change the dimension
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        check_manifest(man, "m", 384, 5, 3, "t1")
    with pytest.raises(IndexMismatchError):
        check_manifest(man, "other", 16, 5, 3, "t1")
