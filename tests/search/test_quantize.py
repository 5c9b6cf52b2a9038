from __future__ import annotations

import numpy as np
import pytest

from nordsearch.search.quantize import pack, unpack


def test_round_trip_keeps_cosines():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(50, 384)).astype(np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    got = unpack(pack(m), 384)
    cos = np.sum(got * m, axis=1) / np.linalg.norm(got, axis=1)
    assert got.shape == m.shape and cos.min() > 0.999
    assert len(pack(m)) == 50 * (384 + 2)  # a quarter of float32, plus one scale per row


def test_zero_rows_and_empty_matrices():
    z = np.zeros((2, 8), dtype=np.float32)
    assert not unpack(pack(z), 8).any()
    assert unpack(pack(np.zeros((0, 8), dtype=np.float32)), 8).shape == (0, 8)


def test_wrong_dimension_is_an_error():
    with pytest.raises(ValueError, match="dimension"):
        unpack(pack(np.ones((3, 8), dtype=np.float32)), 7)
