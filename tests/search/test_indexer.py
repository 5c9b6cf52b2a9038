"""The write pipeline's stages alone, and the Indexer that runs them under the writer lock."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from nordsearch.search import lexical
from nordsearch.search.errors import IndexLockedError
from nordsearch.search.index import SearchIndex
from nordsearch.search.indexer import LOCK_FILE, Themes, lexical_terms, tag_themes, with_themes
from nordsearch.search.locking import WriterLock
from nordsearch.search.query import SearchRequest
from tests.search.search_helpers import FakeEmbedder, make_file


class FixedTagger:
    """Scores each passage for two themes: 'water' when it mentions water, 'mobility' otherwise."""

    theme_ids = ["mobility", "water"]

    def scores(self, texts, languages, vectors):
        return np.array([[0.0, 1.0] if "water" in t else [1.0, 0.0] for t in texts])

    def passage_themes(self, scores):
        return [[(self.theme_ids[int(np.argmax(row))], 1.0)] for row in scores]

    def document_themes(self, scores, lengths):
        return [("water", 0.9), ("mobility", 0.5)]


def test_tag_themes_returns_themes_and_leaves_the_file_alone():
    f = make_file("d", ["storm water basins", "bus lanes"])
    before = copy.deepcopy(f)
    themes = tag_themes(f, np.zeros((2, 4)), FixedTagger())
    assert themes == Themes(passages=[["water"], ["mobility"]], document=["water", "mobility"])
    assert f == before
    tagged = with_themes(f, themes)
    assert [p.themes for p in tagged.passages] == [["water"], ["mobility"]]
    assert tagged.document.themes == ["water", "mobility"] and f == before


def test_curated_themes_are_kept():
    f = make_file("d", ["storm water basins", "bus lanes"], themes=[["parks"], []])
    themes = tag_themes(f, np.zeros((2, 4)), FixedTagger())
    assert themes.passages == [["parks"], ["mobility"]] and themes.document == ["parks"]


def test_lexical_terms_use_the_language_each_passage_is_stored_under():
    f = make_file("d", ["joukkoliikenteen kehittäminen", "kollektivtrafiken"], languages=["fi", "sv"])
    assert lexical_terms(f) == [
        lexical.analyze_passage("joukkoliikenteen kehittäminen", "fi"),
        lexical.analyze_passage("kollektivtrafiken", "sv"),
    ]


def test_the_store_refuses_terms_for_another_number_of_passages(tmp_path: Path):
    from nordsearch.search.store import Store

    e = FakeEmbedder()
    store = Store(tmp_path / "s.sqlite")
    try:
        store.set_model(e.name, e.dimension)
        f = make_file("d", ["one", "two"])
        with pytest.raises(ValueError, match="lexical terms for 2 passages"):
            store.upsert_document(f, e.embed_passages(["one", "two"]), terms=["one"])
        assert store.passage_count() == 0
    finally:
        store.close()


def test_a_write_takes_the_lock_until_save_and_a_read_never_does(tmp_path: Path):
    index_dir = tmp_path / "index"
    e = FakeEmbedder()
    writer = SearchIndex.open(index_dir, e, lock_timeout=0)
    try:
        writer.add(make_file("a", ["winter cycling lanes", "snow clearing"]))
        assert writer.indexer.writing
        with pytest.raises(IndexLockedError):
            WriterLock(index_dir / LOCK_FILE, timeout=0).acquire()
        # another process (here: another open file description) reads the committed state at once
        with SearchIndex.open(index_dir, e, create=False, lock_timeout=0) as reader:
            hits = reader.search(SearchRequest("winter cycling", k=2, mode="dense")).results
            assert hits and hits[0].document_id == "a"
            assert not reader.indexer.writing
        writer.save()
        assert not writer.indexer.writing
        other = WriterLock(index_dir / LOCK_FILE, timeout=0)
        other.acquire()  # released by save
        other.release()
    finally:
        writer.close()


def test_a_reader_computes_missing_language_offsets_in_memory_and_the_writer_stores_them(tmp_path: Path):
    index_dir = tmp_path / "index"
    e = FakeEmbedder()
    with SearchIndex.open(index_dir, e) as idx:
        idx.add(make_file("a", ["winter cycling lanes"]))
        stored = idx.store.get_meta("language_offsets")
    assert stored  # the writer keeps them
    with SearchIndex.open(index_dir, e) as idx:
        idx.store.put_meta("language_offsets", "")  # as in an index from before they were stored
    with SearchIndex.open(index_dir, e) as reader:
        assert reader.language_offsets() is not None
        assert reader.store.get_meta("language_offsets") == ""  # a read never writes
