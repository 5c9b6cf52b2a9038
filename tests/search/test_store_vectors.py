"""search.store_vectors through the Store: the passages' vectors read back as they were written."""

from __future__ import annotations

import numpy as np

from tests.search.search_helpers import make_file, upsert, vectors_for


def test_vectors_read_back_in_id_order_with_their_documents_and_languages(store, embedder):
    f = make_file("d1", ["trams", "spårvagnar"], languages=["en", "sv"])
    g = make_file("d2", ["parks"])
    added = upsert(store, embedder, f).added_ids + upsert(store, embedder, g).added_ids
    ids, matrix, documents, languages = store.all_passage_vectors()
    assert ids.dtype == np.int64 and ids.tolist() == added and matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix, np.vstack([vectors_for(embedder, f), vectors_for(embedder, g)]))
    assert documents == ["d1", "d1", "d2"] and languages == ["en", "sv", "en"]
    assert store.vector_ids().tolist() == added
    all_ids, all_matrix = store.all_vectors()
    assert all_ids.tolist() == added and np.array_equal(all_matrix, matrix)
    some_ids, some = store.vectors_for([added[2], 10**9, added[0]])
    assert sorted(some_ids.tolist()) == [added[0], added[2]]
    for vid, row in zip(some_ids.tolist(), some, strict=True):
        np.testing.assert_array_equal(row, matrix[added.index(vid)])


def test_no_vectors_still_have_the_model_dimension(store, embedder):
    for wanted in ([], [10**9]):
        ids, matrix = store.vectors_for(wanted)
        assert ids.shape == (0,) and matrix.shape == (0, embedder.dimension)
