from __future__ import annotations

import pytest


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
    dense = [(1, 0.5), (2, 0.45), (3, 0.4), (4, 0.35)]  # fi sv fi en
    fused = {1: 0.5, 2: 0.6, 3: 0.9, 4: 0.4, 5: 0.95}  # lexical lifted the Finnish 3 and 5
    ranked = within_language(dense, fused, lang, {5: 0.3})
    out = [v for v, _ in ranked]
    assert [lang[v] for v in out[:4]] == ["fi", "sv", "fi", "en"]  # languages stay where dense put them
    assert out[:4] == [5, 2, 3, 4] and out[4:] == [1]  # within Finnish: fused order; leftovers follow
    # each rank shows the score that gave it (its slot's dense score): never going up, though 5's
    # own fused score (0.95) is far above the slot's; the leftover is capped by the last rank
    assert [s for _, s in ranked] == [0.5, 0.45, 0.4, 0.35, 0.35]
