"""search.store_hubs through the Store: the hub reference, the passages' hub scores and their meta."""

from __future__ import annotations

import numpy as np
import pytest

from nordsearch.search.hubness import HubReference
from tests.search.search_helpers import make_file, upsert, vectors_for


def _scored(store, embedder, doc_id: str, hubs: list[float]) -> list[int]:
    f = make_file(doc_id, [f"{doc_id} passage {i}" for i in range(len(hubs))])
    return store.upsert_document(f, vectors_for(embedder, f), hubs=np.array(hubs)).added_ids


def test_nothing_before_a_reference_is_built(store):
    assert store.hub_reference() is None and store.hub_stamp() == ("", 0.0)
    assert store.hub_state(count_missing=True) == (0, 0, 0) and store.hub_min() == 0.0


def test_a_new_reference_is_stored_whole_and_rescores_every_passage(store, embedder):
    ids = upsert(store, embedder, make_file("d1", ["trams", "buses"])).added_ids
    assert store.hub_state(count_missing=True) == (0, 2, 2)  # two passages added, none scored
    rows = np.eye(embedder.dimension, dtype=np.float32)[:3]
    reference = HubReference(rows, ["en", "sv", "fi"], 2, 0.5, 2)
    generation = store.generation()
    store.put_hub_reference(reference, np.array(ids), np.array([0.3, 0.1]))
    assert store.generation() == generation + 1  # FAISS holds the scores: readers must notice
    got = store.hub_reference()
    assert got is not None and np.array_equal(got.matrix, rows) and got.languages == ["en", "sv", "fi"]
    assert (got.k, got.fallback, got.size) == (2, 0.5, 2)
    assert store.hub_state(count_missing=True) == (2, 0, 0) and store.hub_min() == 0.1
    assert store.hub_scores(ids).tolist() == pytest.approx([0.3, 0.1])
    stamp, mean = store.hub_stamp()
    assert stamp and mean == 0.5
    store.put_hub_reference(reference, np.array(ids), np.array([0.3, 0.1]))
    assert store.hub_stamp()[0] != stamp  # every set of scores has an id of its own
    store.delete_document("d1")
    assert store.hub_state() == (2, 2, 0)  # removals count as changes too


def test_unscored_passages_read_as_the_lowest_score_and_absent_ones_as_zero(store, embedder):
    first = _scored(store, embedder, "d1", [0.4])
    second = _scored(store, embedder, "d2", [0.2])
    third = _scored(store, embedder, "d3", [0.9])
    assert store.hub_min() == 0.2  # lowered by each write with scores, never raised
    unscored = upsert(store, embedder, make_file("d4", ["no score"])).added_ids
    ids = [*unscored, *first, 10**9]
    assert store.hub_scores(ids).tolist() == pytest.approx([0.2, 0.4, 0.0])
    all_ids, hubs = store.all_hubs()
    assert all_ids.tolist() == [*first, *second, *third, *unscored]
    assert hubs.dtype == np.float32 and hubs.tolist() == pytest.approx([0.4, 0.2, 0.9, 0.2])
