from __future__ import annotations

import pytest

from nordsearch.search.fusion import ranked, rrf, weighted


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


def test_coverage_weighted_scales_lexical_by_matched_share():
    from nordsearch.search.fusion import coverage_weighted

    dense = {1: 0.50, 2: 0.50, 3: 0.55}
    lexical = {1: 10.0, 2: 10.0}
    fused = coverage_weighted(dense, lexical, {1: 1.0, 2: 0.25}, weight=0.2)
    assert (
        fused[1] == pytest.approx(0.70)
        and fused[2] == pytest.approx(0.55)
        and fused[3] == pytest.approx(0.55)
    )
    assert coverage_weighted(dense, {}, {}, 0.2) == dense


def test_within_language_keeps_the_dense_language_sequence():
    from nordsearch.search.fusion import within_language

    lang = {1: "fi", 2: "sv", 3: "fi", 4: "en", 5: "fi"}
    dense_order = [1, 2, 3, 4]  # fi sv fi en
    fused = {1: 0.5, 2: 0.6, 3: 0.9, 4: 0.4, 5: 0.95}  # lexical lifted the Finnish 3 and 5
    out = [v for v, _ in within_language(dense_order, fused, lang)]
    assert [lang[v] for v in out[:4]] == ["fi", "sv", "fi", "en"]  # languages stay where dense put them
    assert out[:4] == [5, 2, 3, 4] and out[4:] == [1]  # within Finnish: fused order; leftovers follow


def test_pseudo_relevance_query_moves_towards_feedback():
    import numpy as np

    from nordsearch.search.fusion import pseudo_relevance_query

    q = np.array([1.0, 0.0], dtype=np.float32)
    top = np.array([[0.0, 1.0], [0.0, 1.0]], dtype=np.float32)
    v = pseudo_relevance_query(q, top, 1.0)
    np.testing.assert_allclose(v, np.array([1.0, 1.0]) / np.sqrt(2), atol=1e-6)
    assert pseudo_relevance_query(q, top, 0.0) is q


def test_document_context_rewards_documents_with_several_good_passages():
    from nordsearch.search.fusion import document_context

    scores = {1: 0.80, 2: 0.78, 3: 0.77, 4: 0.81}
    doc = {1: "a", 2: "a", 3: "a", 4: "b"}
    out = document_context(scores, doc, weight=0.5)
    assert out[1] > out[4]  # three good passages of a beat one slightly better lone passage of b
    assert out[4] == pytest.approx(0.81 + 0.5 * 0.81 / 3)
