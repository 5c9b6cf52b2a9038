from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from nordsearch.search import lexical
from nordsearch.search.errors import IndexMismatchError
from nordsearch.search.filters import DocumentFilter, PassageFilter
from nordsearch.search.store import SCHEMA_VERSION, Store
from tests.search.search_helpers import FakeEmbedder, make_file, vectors_for


@pytest.fixture
def store(tmp_path: Path, embedder: FakeEmbedder) -> Store:
    s = Store(tmp_path / "store.sqlite")
    s.set_model(embedder.name, embedder.dimension)
    yield s
    s.close()


def _upsert(store: Store, embedder: FakeEmbedder, f):
    return store.upsert_document(f, vectors_for(embedder, f))


def _lexical_rows(store: Store) -> int:
    return len(store.lexical_rows(0, 1_000_000))


def test_upsert_and_read_back(store, embedder):
    f = make_file(
        "d1", ["green roofs in the city", "bus lanes"], metadata={"city": "Oslo"}, themes=[["green"], []]
    )
    res = _upsert(store, embedder, f)
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


def test_upsert_replaces_same_document_id(store, embedder):
    first = _upsert(store, embedder, make_file("d1", ["one", "two", "three"]))
    second = _upsert(store, embedder, make_file("d1", ["uno"]))
    assert sorted(second.removed_ids) == sorted(first.added_ids)
    assert store.passage_count() == 1 and _lexical_rows(store) == 1
    # vector ids are never reused: a stale FAISS file can't point at the new passage
    assert not set(second.added_ids) & set(first.added_ids)


def test_upsert_replaces_same_source_with_new_content(store, embedder):
    _upsert(store, embedder, make_file("old", ["old text"], source="/d/plan.pdf"))
    _upsert(store, embedder, make_file("new", ["new text"], source="/d/plan.pdf"))
    assert store.get_document("old") is None
    assert [d.document_id for d in store.list_documents()] == ["new"]
    assert store.passage_count() == 1 and _lexical_rows(store) == 1
    assert store.has_current("/d/plan.pdf", "new") and not store.has_current("/d/plan.pdf", "old")


def test_delete_cascades_to_passages(store, embedder):
    _upsert(store, embedder, make_file("d1", ["a b", "c d"], source="/x/1"))
    _upsert(store, embedder, make_file("d2", ["e f"], source="/x/2"))
    removed = store.delete_document("d1")
    assert len(removed) == 2
    assert store.passage_count() == 1 and _lexical_rows(store) == 1 and store.passages_of("d1") == []
    assert store.delete_document("d1") == []
    assert len(store.delete_source("/x/2")) == 1
    assert store.passage_count() == 0 and _lexical_rows(store) == 0 and store.file_state("/x/2") is None


def test_every_write_bumps_generation(store, embedder):
    g0 = store.generation()
    _upsert(store, embedder, make_file("d1", ["a"], source="/s/1"))
    _upsert(store, embedder, make_file("d2", ["b"], source="/s/2"))
    store.delete_document("d1")
    docs, removed = store.prune_sources({"/s/keep"})
    assert docs == [("d2", "/s/2")] and len(removed) == 1
    assert store.generation() == g0 + 4


def test_failure_mid_upsert_keeps_previous_version(store, embedder, monkeypatch):
    _upsert(store, embedder, make_file("d1", ["first version one", "first version two"], source="/s/1"))
    before = (store.generation(), store.passage_count(), store.all_vectors()[0].tolist())
    calls = {"n": 0}
    real = lexical.analyze_passage

    def boom(text, language):
        calls["n"] += 1
        if calls["n"] == 2:  # after the old rows were deleted and the first new passage inserted
            raise RuntimeError("simulated crash")
        return real(text, language)

    monkeypatch.setattr(lexical, "analyze_passage", boom)
    with pytest.raises(RuntimeError):
        _upsert(store, embedder, make_file("d1", ["second one", "second two", "second three"], source="/s/1"))
    assert (store.generation(), store.passage_count(), store.all_vectors()[0].tolist()) == before
    assert [p.text for p in store.passages_of("d1")] == ["first version one", "first version two"]
    assert _lexical_rows(store) == 2
    monkeypatch.setattr(lexical, "analyze_passage", real)
    _upsert(store, embedder, make_file("d1", ["second one"], source="/s/1"))  # the store is still usable
    assert store.passage_count() == 1


def test_process_killed_mid_upsert_keeps_committed_documents(tmp_path: Path):
    """A real crash: the child process dies (os._exit) in the middle of its second document."""
    db = tmp_path / "store.sqlite"
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(Path(__file__).parents[2])!r})
        from tests.search.search_helpers import FakeEmbedder, make_file, vectors_for
        from nordsearch.search import lexical
        from nordsearch.search.store import Store
        e = FakeEmbedder()
        s = Store({str(db)!r}); s.set_model(e.name, e.dimension)
        f = make_file("d1", ["committed one", "committed two"]); s.upsert_document(f, vectors_for(e, f))
        real = lexical.analyze_passage
        n = [0]
        def die(text, lang):
            n[0] += 1
            if n[0] == 3:
                os._exit(9)
            return real(text, lang)
        lexical.analyze_passage = die
        g = make_file("d2", ["half one", "half two", "half three", "half four"])
        s.upsert_document(g, vectors_for(e, g))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    s = Store(db)
    try:
        assert [d.document_id for d in s.list_documents()] == ["d1"]
        assert s.passage_count() == 2 and s.get_document("d2") is None
        assert len(s.all_vectors()[0]) == 2
        assert s.generation() == 1
        assert _lexical_rows(s) == 2
    finally:
        s.close()


def test_rejects_bad_vectors_without_writing(store, embedder):
    f = make_file("d1", ["a", "b"])
    with pytest.raises(ValueError):
        store.upsert_document(f, np.zeros((1, embedder.dimension), dtype=np.float32))
    bad = vectors_for(embedder, f)
    bad[0, 0] = np.nan
    with pytest.raises(ValueError):
        store.upsert_document(f, bad)
    assert store.count_documents() == 0 and store.generation() == 0


def test_model_mismatch(store):
    with pytest.raises(IndexMismatchError, match="rebuild"):
        store.set_model("other-model", 384)


def test_has_current_and_file_state(store, embedder):
    f = make_file("h1", ["x"], source="/docs/a.pdf")
    store.upsert_document(f, vectors_for(embedder, f), mtime=123.0)
    assert store.has_current("/docs/a.pdf", "h1")
    assert not store.has_current("/docs/a.pdf", "h2")
    assert not store.has_current("/docs/b.pdf", "h1")
    assert store.file_state("/docs/a.pdf") == ("h1", 123.0, f.document.size_bytes)


def test_list_documents_filters_and_pages(store, embedder):
    for i, (city, year, lang) in enumerate(
        [("Oslo", 2019, "nb"), ("Helsinki", 2021, "fi"), ("oslo", 2023, "nb")]
    ):
        _upsert(store, embedder, make_file(f"d{i}", ["t"], language=lang, metadata={"city": city, "year": year},
                                           title=f"T{i}"))  # fmt: skip
    assert store.count_documents() == 3
    assert [d.document_id for d in store.list_documents(DocumentFilter(cities=["OSLO"]))] == ["d0", "d2"]
    assert [d.document_id for d in store.list_documents(DocumentFilter(year_from=2020))] == ["d1", "d2"]
    assert [d.document_id for d in store.list_documents(DocumentFilter(languages=["no"]))] == ["d0", "d2"]
    assert [d.document_id for d in store.list_documents(limit=1, offset=1)] == ["d1"]
    assert store.count_documents(DocumentFilter(source_prefix="/docs/d1")) == 1


def test_allowed_ids_follow_language_and_theme_filters(store, embedder):
    _upsert(
        store,
        embedder,
        make_file("fi1", ["joukkoliikenteen kehittäminen"], language="fi", themes=[["mobility"]]),
    )
    _upsert(
        store,
        embedder,
        make_file("sv1", ["kollektivtrafiken i staden"], language="sv", themes=[["mobility"]]),
    )
    assert len(store.allowed_ids(PassageFilter(themes=["mobility"]))) == 2
    assert len(store.allowed_ids(PassageFilter(languages=["sv"]))) == 1
    assert len(store.allowed_ids(PassageFilter(languages=["sv"], themes=["green"]))) == 0


def test_reanalyses_when_analyzer_changes(tmp_path: Path, embedder, monkeypatch):
    s = Store(tmp_path / "s.sqlite")
    s.set_model(embedder.name, embedder.dimension)
    f = make_file("d1", ["planning"])
    s.upsert_document(f, vectors_for(embedder, f))
    s.close()
    monkeypatch.setattr(lexical, "ANALYZER_VERSION", "test-next")
    monkeypatch.setattr(lexical, "analyze_passage", lambda text, lang: "changedterm")
    s = Store(tmp_path / "s.sqlite")
    assert [terms for _, terms in s.lexical_rows(0, 10)] == ["changedterm"]
    s.close()


def test_metadata_filters_fold_non_ascii_case(store, embedder):
    # SQLite's lower() leaves "Ä" alone; the store registers a Unicode casefold instead
    _upsert(
        store, embedder, make_file("sv", ["t"], language="sv", metadata={"city": "Älvstad", "year": "2020"})
    )
    _upsert(
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

    _upsert(store, embedder, make_file("d1", ["first document text"]))
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


def test_schema_1_index_is_migrated_and_keeps_its_documents(tmp_path: Path, embedder):
    s = Store(tmp_path / "old.sqlite")
    s.set_model(embedder.name, embedder.dimension)
    _upsert(s, embedder, make_file("d1", ["tram lines and bus lanes"]))
    with s.transaction() as c:  # turn it back into a version-1 database
        c.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
        for column in ("sentences", "sentence_vectors", "hub", "signature"):
            c.execute(f"ALTER TABLE passages DROP COLUMN {column}")
    s.close()
    s = Store(tmp_path / "old.sqlite")
    try:
        assert s.get_meta("schema_version") == str(SCHEMA_VERSION) and s.count_documents() == 1
        passage = s.passages_of("d1")[0]
        assert passage.sentences == [] and passage.text == "tram lines and bus lanes"
        assert s.hub_state(count_missing=True)[2] == 1  # scored at the next write (search.index)
    finally:
        s.close()


def test_theme_rows_follow_inserts_updates_deletes_and_migrate_from_version_3(tmp_path: Path, embedder):
    s = Store(tmp_path / "old.sqlite")
    s.set_model(embedder.name, embedder.dimension)
    _upsert(
        s, embedder, make_file("d1", ["trams", "bikes"], themes=[["transport"], ["cycling", "transport"]])
    )
    _upsert(s, embedder, make_file("d2", ["parks"], themes=[["green"]]))

    def admitted(store: Store, theme: str) -> int:
        return len(store.allowed_ids(PassageFilter(themes=[theme])))

    assert (admitted(s, "transport"), admitted(s, "cycling"), admitted(s, "green")) == (2, 1, 1)
    assert s.theme_counts() == (
        {"transport": 2, "cycling": 1, "green": 1},
        {"cycling": 1, "green": 1, "transport": 1},
    )
    with s.transaction() as c:
        c.execute("UPDATE passages SET themes = '[\"green\"]' WHERE document_id = 'd1' AND ordinal = 0")
        s._bump_generation()  # as every write does: filter answers are kept per generation
    assert (admitted(s, "transport"), admitted(s, "green")) == (1, 2)
    s.delete_document("d2")
    assert admitted(s, "green") == 1
    with s.transaction() as c:  # turn it back into a version-3 database, which had no theme rows
        c.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
        for trigger in ("passages_themes_ai", "passages_themes_ad", "passages_themes_au"):
            c.execute(f"DROP TRIGGER {trigger}")
        c.execute("DROP TABLE passage_themes")
    s.close()
    s = Store(tmp_path / "old.sqlite")
    try:
        assert (admitted(s, "transport"), admitted(s, "cycling"), admitted(s, "green")) == (1, 1, 1)
    finally:
        s.close()


def test_a_filter_answer_is_kept_until_the_next_write(store, embedder):
    _upsert(store, embedder, make_file("d1", ["trams"], themes=[["transport"]]))
    first = store.allowed_ids(PassageFilter(themes=["transport"]))
    assert store.allowed_ids(PassageFilter(themes=["transport"])) is first  # the kept answer
    added = _upsert(store, embedder, make_file("d2", ["buses"], themes=[["transport"]])).added_ids
    assert list(store.allowed_ids(PassageFilter(themes=["transport"]))) == [*first, *added]
    assert list(store.allowed_ids(PassageFilter(themes=["transport"], languages=["sv"]))) == []


def test_sentence_vectors_and_hub_scores_are_stored_with_the_passage(store, embedder):
    from nordsearch.search.quantize import unpack

    f = make_file("d1", ["Trams run often. Buses fill the gaps."])
    f.passages[0].sentences = [(0, 16), (17, 37)]
    sentences = [embedder.embed_passages(["Trams run often.", "Buses fill the gaps."])]
    result = store.upsert_document(
        f, vectors_for(embedder, f), sentence_vectors=sentences, hubs=np.array([0.25])
    )
    vid = result.added_ids[0]
    stored = store.get_passages([vid])[vid]
    assert stored.passage.sentences == [(0, 16), (17, 37)]
    got = unpack(stored.sentence_vectors, embedder.dimension)
    assert got.shape == (2, embedder.dimension)
    assert np.min(np.sum(got * sentences[0], axis=1)) > 0.99
    assert store.hub_scores([vid, 999]).tolist() == [0.25, 0.0] and store.hub_min() == 0.25
