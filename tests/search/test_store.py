"""search.store: the Store its callers use, composed of the store_* parts (each tested in its own
test_store_<part>.py)."""

from __future__ import annotations

import numpy as np

from tests.search.search_helpers import make_file, upsert, vectors_for


def test_upsert_and_read_back(store, embedder):
    f = make_file(
        "d1", ["green roofs in the city", "bus lanes"], metadata={"city": "Oslo"}, themes=[["green"], []]
    )
    res = upsert(store, embedder, f)
    assert len(res.added_ids) == 2 and res.removed_ids == []
    assert res.generation == res.generation_before + 1
    doc = store.get_document("d1")
    assert doc is not None and doc.passage_count == 2 and doc.metadata == {"city": "Oslo"} and doc.indexed_at
    assert [p.text for p in store.passages_of("d1")] == ["green roofs in the city", "bus lanes"]
    got = store.get_passages(res.added_ids)
    assert got[res.added_ids[0]].passage.themes == ["green"] and got[res.added_ids[0]].title == "Title d1"
    ids, matrix = store.all_vectors()
    assert list(ids) == res.added_ids and matrix.dtype == np.float32
    np.testing.assert_allclose(matrix, vectors_for(embedder, f))
    assert store.lexical_rows(0, 10) == [
        (res.added_ids[0], "green roof citi"),
        (res.added_ids[1], "bus lane"),
    ]
    assert store.lexical_rows(res.added_ids[0], 10) == [(res.added_ids[1], "bus lane")]


def test_the_names_callers_import_stay_in_search_store():
    """search.index, search.results and search.similar import these from search.store."""
    from nordsearch.search import store, store_reads, store_schema, store_writes

    assert (
        store.StoredPassage is store_reads.StoredPassage and store.UpsertResult is store_writes.UpsertResult
    )
    assert store.stored_language is store_writes.stored_language
    assert store.SCHEMA_VERSION == store_schema.SCHEMA_VERSION
    assert store.stored_language("sv", "fi") == "sv" and store.stored_language("", "fi") == "fi"
