"""One lexical index segment: its CSR layout, live mask and merge (scores: test_lexical_index.py)."""

from __future__ import annotations

import numpy as np
import pytest

from nordsearch.search.lexical_segment import MAX_FREQ, build_segment, merge_segments


def _postings(segment) -> dict[str, dict[int, int]]:
    """{term: {id: frequency}} of a segment's live passages."""
    out = {}
    for term in segment.vocab:
        pos, freq = segment.postings(term)
        if len(pos):
            out[term] = dict(zip(segment.ids[pos].tolist(), freq.tolist(), strict=True))
    return out


def test_build_lays_out_a_csr_in_id_order():
    s = build_segment(np.array([30, 10, 20]), ["b a", "a a", ""])
    assert s.ids.tolist() == [10, 20, 30] and s.lengths.tolist() == [2, 0, 2]
    assert s.vocab == {"a": 0, "b": 1}  # first seen in id order
    assert s.indptr.tolist() == [0, 2, 3]
    assert s.positions.tolist() == [0, 2, 2] and s.freqs.tolist() == [2, 1, 1]
    assert s.live.tolist() == [True, True, True] and s.dead == 0
    dtypes = (s.ids.dtype, s.lengths.dtype, s.indptr.dtype, s.positions.dtype, s.freqs.dtype, s.live.dtype)
    assert dtypes == (np.int64, np.int32, np.int64, np.int32, np.uint16, np.bool_)


def test_build_rejects_duplicates_and_mismatched_texts_and_is_none_when_empty():
    with pytest.raises(ValueError):
        build_segment(np.array([4, 4]), ["a", "b"])
    with pytest.raises(ValueError):
        build_segment(np.array([1, 2]), ["a"])
    assert build_segment(np.zeros(0, dtype=np.int64), []) is None


def test_frequencies_are_clipped_but_lengths_are_not():
    s = build_segment(np.array([1]), [" ".join(["a"] * (MAX_FREQ + 10))])
    assert s.freqs.tolist() == [MAX_FREQ] and s.lengths.tolist() == [MAX_FREQ + 10]


def test_postings_leave_out_dead_passages():
    s = build_segment(np.array([10, 20, 30]), ["a a", "", "b a"])
    s.live[0] = False
    s.dead = 1
    assert _postings(s) == {"a": {30: 1}, "b": {30: 1}}
    assert s.postings("zz") is None


def test_merge_keeps_the_live_passages_and_drops_what_only_dead_ones_held():
    first = build_segment(np.array([5, 1, 9]), ["x y", "y y z", "gone"])
    second = build_segment(np.array([7, 3]), ["z", "x x q"])
    first.live[2] = False  # id 9, the only passage with "gone"
    first.dead = 1
    second.live[0] = False  # id 3, the only one with "q"
    second.dead = 1
    merged = merge_segments([first, second])
    fresh = build_segment(np.array([1, 5, 7]), ["y y z", "x y", "z"])
    assert merged.ids.tolist() == [1, 5, 7] and merged.lengths.tolist() == fresh.lengths.tolist()
    assert list(merged.vocab) == ["x", "y", "z"]  # sorted, without "gone" and "q"
    assert _postings(merged) == _postings(fresh)
    assert merged.dead == 0 and bool(merged.live.all())
    assert int(merged.indptr[-1]) == len(merged.positions) == len(merged.freqs)


def test_merge_of_nothing_live_is_none():
    s = build_segment(np.array([1]), ["a"])
    s.live[0] = False
    s.dead = 1
    assert merge_segments([s]) is None and merge_segments([]) is None
