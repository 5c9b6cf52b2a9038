"""search.store_schema: the migrations of older databases and the re-analysis on an analyser change."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from nordsearch.search import lexical
from nordsearch.search.errors import IndexMismatchError
from nordsearch.search.filters import PassageFilter
from nordsearch.search.store import SCHEMA_VERSION, Store
from tests.search.search_helpers import make_file, upsert, vectors_for


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


def test_schema_1_index_is_migrated_and_keeps_its_documents(tmp_path: Path, embedder):
    s = Store(tmp_path / "old.sqlite")
    s.set_model(embedder.name, embedder.dimension)
    upsert(s, embedder, make_file("d1", ["tram lines and bus lanes"]))
    with s.transaction() as c:  # turn it back into a version-1 database
        c.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
        for column in ("sentences", "sentence_vectors", "hub", "signature", "page_breaks"):
            c.execute(f"ALTER TABLE passages DROP COLUMN {column}")
    s.close()
    s = Store(tmp_path / "old.sqlite")
    try:
        assert s.get_meta("schema_version") == str(SCHEMA_VERSION) and s.count_documents() == 1
        passage = s.passages_of("d1")[0]
        assert (
            passage.sentences == []
            and passage.page_breaks == []
            and passage.text == "tram lines and bus lanes"
        )
        assert s.hub_state(count_missing=True)[2] == 1  # scored at the next write (search.index)
    finally:
        s.close()


def test_theme_rows_follow_inserts_updates_deletes_and_migrate_from_version_3(tmp_path: Path, embedder):
    s = Store(tmp_path / "old.sqlite")
    s.set_model(embedder.name, embedder.dimension)
    upsert(s, embedder, make_file("d1", ["trams", "bikes"], themes=[["transport"], ["cycling", "transport"]]))
    upsert(s, embedder, make_file("d2", ["parks"], themes=[["green"]]))

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
        c.execute("ALTER TABLE passages DROP COLUMN page_breaks")  # added in version 6
    s.close()
    s = Store(tmp_path / "old.sqlite")
    try:
        assert (admitted(s, "transport"), admitted(s, "cycling"), admitted(s, "green")) == (1, 1, 1)
    finally:
        s.close()


def test_a_newer_schema_is_refused(tmp_path: Path):
    s = Store(tmp_path / "new.sqlite")
    with s.transaction() as c:
        c.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    s.close()
    with pytest.raises(IndexMismatchError, match="rebuild"):
        Store(tmp_path / "new.sqlite")


def test_opening_a_current_database_does_not_wait_for_a_writer(tmp_path: Path):
    s = Store(tmp_path / "s.sqlite")
    opened: list[Store] = []
    with s.transaction():  # holds SQLite's write lock
        opener = threading.Thread(target=lambda: opened.append(Store(tmp_path / "s.sqlite")))
        opener.start()
        opener.join(timeout=10)
        assert not opener.is_alive(), "opening a current database waited for the write transaction"
    opened[0].close()
    s.close()
