"""search.store_database through the Store: per-thread readers under WAL, the write transaction,
meta and the model record, and the casefold the filters use."""

from __future__ import annotations

import pytest

from nordsearch.search.errors import IndexMismatchError
from nordsearch.search.filters import DocumentFilter, PassageFilter
from tests.search.search_helpers import make_file, upsert


def test_model_mismatch(store):
    with pytest.raises(IndexMismatchError, match="rebuild"):
        store.set_model("other-model", 384)


def test_metadata_filters_fold_non_ascii_case(store, embedder):
    # SQLite's lower() leaves "Ä" alone; the store registers a Unicode casefold instead
    upsert(
        store, embedder, make_file("sv", ["t"], language="sv", metadata={"city": "Älvstad", "year": "2020"})
    )
    upsert(
        store, embedder, make_file("fi", ["t"], language="fi", metadata={"city": "Pohjalahti", "year": 2024})
    )
    assert [d.document_id for d in store.list_documents(DocumentFilter(cities=["ÄLVSTAD"]))] == ["sv"]
    assert [d.document_id for d in store.list_documents(DocumentFilter(cities=["älvstad"]))] == ["sv"]
    assert len(store.allowed_ids(PassageFilter(cities=["älvstad"]))) == 1
    # a year stored as a string filters like a number
    assert store.count_documents(DocumentFilter(year_from=2020, year_to=2020)) == 1


def test_reads_from_other_threads_do_not_wait_for_an_open_write(store, embedder):
    """Readers have connections of their own: a write transaction in progress neither blocks them
    nor shows them its uncommitted rows, and the writer itself reads its own writes."""
    import threading

    upsert(store, embedder, make_file("d1", ["first document text"]))
    seen: list[int] = []
    with store.transaction() as c:
        c.execute("DELETE FROM documents WHERE document_id = 'd1'")
        assert store.count_documents() == 0  # the writer's own view
        reader = threading.Thread(target=lambda: seen.append(store.count_documents()))
        reader.start()
        reader.join(timeout=10)
        assert not reader.is_alive(), "a read waited for the write transaction"
        c.execute("ROLLBACK")
        c.execute("BEGIN IMMEDIATE")  # transaction() commits on exit: give it something to commit
    assert seen == [1]  # the last committed state, not the uncommitted delete
    assert store.count_documents() == 1


def test_a_failed_transaction_leaves_nothing_and_put_meta_keeps_the_generation(store):
    generation = store.generation()
    with pytest.raises(RuntimeError), store.transaction() as c:
        c.execute("INSERT INTO meta(key, value) VALUES ('half', 'written')")
        raise RuntimeError("simulated failure")
    assert store.get_meta("half") is None
    store.put_meta("language_offsets", "{}")  # derived data: no document changed
    assert store.get_meta("language_offsets") == "{}" and store.generation() == generation
