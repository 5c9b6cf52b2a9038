from __future__ import annotations

import pytest

from search.fusion import ranked, rrf, weighted


def test_rrf_sums_reciprocal_ranks():
    fused = rrf([[1, 2, 3], [3, 1]], k_rrf=60)
    assert fused[1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[3] == pytest.approx(1 / 63 + 1 / 61)
    assert fused[2] == pytest.approx(1 / 62)
    assert [v for v, _ in ranked(fused)] == [1, 3, 2]


def test_weighted_is_dense_plus_normalised_bm25():
    dense = {1: 0.80, 2: 0.78, 3: 0.70}
    lex = {2: 10.0, 3: 5.0}
    fused = weighted(dense, lex, weight=0.3)
    assert fused[1] == pytest.approx(0.80)
    assert fused[2] == pytest.approx(0.78 + 0.3)
    assert fused[3] == pytest.approx(0.70 + 0.15)
    assert weighted(dense, {}, 0.3) == dense  # no lexical hits: pure dense
    assert weighted(dense, lex, 0.0) == dense


def test_ranked_breaks_ties_by_id():
    assert ranked({5: 1.0, 2: 1.0, 9: 2.0}) == [(9, 2.0), (2, 1.0), (5, 1.0)]
