"""The Retriever on its own, with fakes for the nearest-neighbour search and the store's hub scores
(the ranking on a real index is covered by test_index.py, test_hubness.py and test_results.py)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from nordsearch.search import SearchRequest
from nordsearch.search.retrieval import Retriever


class FakeStore:
    def __init__(self, passages: int, hubs: dict[int, float] | None = None) -> None:
        self.passages = passages
        self.hubs = hubs or {}

    def passage_count(self) -> int:
        return self.passages

    def hub_scores(self, vector_ids) -> np.ndarray:
        return np.array([self.hubs.get(int(v), 0.0) for v in vector_ids], dtype=np.float32)

    def hub_min(self) -> float:
        return min(self.hubs.values(), default=0.0)


def _unused(*_args, **_kwargs):
    raise AssertionError("not expected to be called")


def _retriever(cosines: dict[int, float], fetches: list, store=None) -> Retriever:
    store = store or FakeStore(len(cosines))

    def nearest(qv, k, allowed, hub_weight):  # as VectorSpace.nearest: FAISS holds the hub column
        fetches.append((k, hub_weight))
        scores = {v: c - hub_weight * store.hubs.get(v, 0.0) for v, c in cosines.items()}
        return sorted(scores.items(), key=lambda h: (-h[1], h[0]))[:k]

    # the part of a VectorSpace that dense ranking reads; the rest must not be touched
    space = SimpleNamespace(
        nearest=nearest, corpus=_unused, centered_vectors=_unused, dense_scores=_unused,
        centering=SimpleNamespace(offsets=lambda: None),
        query_cache=None, lexical_search=_unused, lexical_matches=_unused,
    )  # fmt: skip
    return Retriever(store, space)


def test_dense_is_one_nearest_search_by_the_hub_corrected_score():
    # the 100 best by cosine are strong hubs: the true top 3 lies beyond them
    cosines = {v: 1.0 - v / 1000 for v in range(300)}
    hubs = {v: (1.0 if v < 100 else 0.0) for v in range(300)}
    fetches: list = []
    r = _retriever(cosines, fetches, FakeStore(len(cosines), hubs))
    got = r.dense(np.zeros(2), 3, None, hub_weight=0.5)
    brute = sorted(((v, c - 0.5 * hubs[v]) for v, c in cosines.items()), key=lambda h: (-h[1], h[0]))[:3]
    assert [v for v, _ in got] == [v for v, _ in brute] == [100, 101, 102]
    assert fetches == [(3, 0.5)]  # no re-scoring rounds


def test_rank_on_an_empty_index_embeds_nothing():
    fetches: list[int] = []
    r = _retriever({}, fetches, store=FakeStore(0))
    request = SearchRequest("winter cycling", mode="hybrid")
    got = r.rank(request, request.filter(), 50)
    assert (got.ranked, got.total, got.query_vector) == ([], 0, None)
    assert fetches == []
