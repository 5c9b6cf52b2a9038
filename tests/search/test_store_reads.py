"""search.store_reads through the Store: lookups, listings with filters, and the filter answers kept
per generation."""

from __future__ import annotations

import numpy as np

from nordsearch.search.filters import DocumentFilter, PassageFilter
from nordsearch.search.store import SCHEMA_VERSION, FileState
from nordsearch.search.store_reads import RACY_SECONDS
from tests.search.search_helpers import make_file, upsert, vectors_for


def test_file_state_and_touch(store, embedder):
    f = make_file("h1", ["x"], source="/docs/a.pdf")
    store.upsert_document(f, vectors_for(embedder, f), mtime=123.0)
    state = store.file_state("/docs/a.pdf")
    assert (state.content_hash, state.mtime, state.size) == ("h1", 123.0, f.document.size_bytes)
    assert state.matches(123.0, f.document.size_bytes) and not state.matches(124.0, f.document.size_bytes)
    assert store.file_state("/docs/b.pdf") is None
    generation = store.generation()
    store.touch_file("/docs/a.pdf", 200.0, 7)
    touched = store.file_state("/docs/a.pdf")
    assert (touched.content_hash, touched.mtime, touched.size) == ("h1", 200.0, 7)
    assert store.generation() == generation  # no document changed: derived caches stay current
    store.delete_document("h1")
    assert store.file_state("/docs/a.pdf") is None  # its document is gone: index it again


def test_a_stat_recorded_in_the_files_clock_tick_is_not_trusted():
    # written, indexed and written again within one coarse clock tick: same mtime, same size
    assert not FileState("h", 1000.0, 5, recorded_at=1000.5).matches(1000.0, 5)
    assert FileState("h", 1000.0, 5, recorded_at=1000.0 + RACY_SECONDS).matches(1000.0, 5)
    assert not FileState("h", 1000.0, 5, recorded_at=None).matches(1000.0, 5)


def test_list_documents_filters_and_pages(store, embedder):
    for i, (city, year, lang) in enumerate(
        [("Oslo", 2019, "nb"), ("Helsinki", 2021, "fi"), ("oslo", 2023, "nb")]
    ):
        upsert(store, embedder, make_file(f"d{i}", ["t"], language=lang, metadata={"city": city, "year": year},
                                           title=f"T{i}"))  # fmt: skip
    assert store.count_documents() == 3
    assert [d.document_id for d in store.list_documents(DocumentFilter(cities=["OSLO"]))] == ["d0", "d2"]
    assert [d.document_id for d in store.list_documents(DocumentFilter(year_from=2020))] == ["d1", "d2"]
    assert [d.document_id for d in store.list_documents(DocumentFilter(languages=["no"]))] == ["d0", "d2"]
    assert [d.document_id for d in store.list_documents(limit=1, offset=1)] == ["d1"]
    assert store.count_documents(DocumentFilter(source_prefix="/docs/d1")) == 1


def test_allowed_ids_follow_language_and_theme_filters(store, embedder):
    upsert(
        store,
        embedder,
        make_file("fi1", ["joukkoliikenteen kehittäminen"], language="fi", themes=[["mobility"]]),
    )
    upsert(
        store,
        embedder,
        make_file("sv1", ["kollektivtrafiken i staden"], language="sv", themes=[["mobility"]]),
    )
    assert len(store.allowed_ids(PassageFilter(themes=["mobility"]))) == 2
    assert len(store.allowed_ids(PassageFilter(languages=["sv"]))) == 1
    assert len(store.allowed_ids(PassageFilter(languages=["sv"], themes=["green"]))) == 0


def test_a_filter_answer_is_kept_until_the_next_write(store, embedder):
    upsert(store, embedder, make_file("d1", ["trams"], themes=[["transport"]]))
    first = store.allowed_ids(PassageFilter(themes=["transport"]))
    assert store.allowed_ids(PassageFilter(themes=["transport"])) is first  # the kept answer
    added = upsert(store, embedder, make_file("d2", ["buses"], themes=[["transport"]])).added_ids
    assert list(store.allowed_ids(PassageFilter(themes=["transport"]))) == [*first, *added]
    assert list(store.allowed_ids(PassageFilter(themes=["transport"], languages=["sv"]))) == []


def test_document_count_counts_documents_among_passages(store, embedder):
    ids = {}
    for doc in ("a", "b", "c"):
        ids[doc] = upsert(
            store, embedder, make_file(doc, [f"{doc} one", f"{doc} two", f"{doc} three"])
        ).added_ids
    every = np.array(sorted(i for v in ids.values() for i in v))
    assert store.document_count(None) == store.document_count(every) == 3
    assert store.document_count(np.array([ids["a"][1], ids["c"][0], ids["c"][2]])) == 2
    assert store.document_count(np.array([every[-1] + 100])) == store.document_count(every[:0]) == 0
    upsert(store, embedder, make_file("a", ["a again"]))  # replaced: its new passage is a new run
    assert store.document_count(None) == 3 and store.document_count(np.array(ids["a"])) == 0
    # a document whose passages are not one run (none this version writes) is still one document
    with store.transaction() as c:
        c.execute("UPDATE passages SET document_id = 'b' WHERE rowid = ?", (ids["c"][1],))
        store._bump_generation()  # what every write of the store does
    assert store.document_count(None) == 3
    assert store.document_count(np.array(ids["c"])) == 2 and store.document_count(np.array(ids["b"])) == 1


def test_answers_read_inside_a_transaction_are_not_kept(store, embedder):
    upsert(store, embedder, make_file("d1", ["trams"], themes=[["transport"]]))
    transport = PassageFilter(themes=["transport"])
    with store.transaction() as c:
        c.execute("DELETE FROM documents WHERE document_id = 'd1'")  # no generation bump: rolled back below
        assert store.passage_count() == 0 and len(store.allowed_ids(transport)) == 0  # its own writes
        c.execute("ROLLBACK")
        c.execute("BEGIN IMMEDIATE")  # transaction() commits on exit: give it something to commit
    assert store.passage_count() == 1 and len(store.allowed_ids(transport)) == 1


def test_light_lookups_theme_counts_and_stats(store, embedder):
    f = make_file("d1", ["bus lanes", "spårvagnar"], languages=["en", "sv"], themes=[["mobility"], []])
    a, b = upsert(store, embedder, f).added_ids
    assert store.passage_info([b, a, 10**9]) == {a: ("d1", "en"), b: ("d1", "sv")}
    assert store.lexical_terms([a, 10**9]) == {a: "bus lane"}
    assert store.vector_id_of(f.passages[1].passage_id) == b and store.vector_id_of("absent") is None
    assert store.vector_ids_of("d1") == [a, b] and store.get_passages([10**9]) == {}
    assert store.theme_counts() == ({"mobility": 1}, {"mobility": 1})
    assert store.stats() == {
        "documents": 1, "passages": 2, "model": embedder.name, "dimension": embedder.dimension,
        "generation": store.generation(), "schema_version": SCHEMA_VERSION,
        "documents_by_language": {"en": 1}, "passages_by_language": {"en": 1, "sv": 1},
        "documents_by_format": {"txt": 1},
        "documents_by_country": {},
    }  # fmt: skip
