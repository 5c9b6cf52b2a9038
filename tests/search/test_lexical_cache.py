"""The lexical index as a cache of the store: saved with the index, loaded, caught up, rebuilt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nordsearch.search import SearchIndex, SearchRequest, lexical, lexical_cache
from tests.search.search_helpers import make_file


def _docs(index: SearchIndex) -> None:
    index.add(
        make_file("fi1", ["joukkoliikenteen kehittäminen kaupungissa", "pyöräily talvella"], language="fi")
    )
    index.add(make_file("sv1", ["kollektivtrafiken i staden", "cykling på vintern"], language="sv"))
    index.add(make_file("en1", ["winter cycling in northern cities", "bus lanes"], source="/c/en1.txt"))


def _lexical(index: SearchIndex, q: str, **kw) -> list[tuple[str, float]]:
    res = index.search(SearchRequest(q, k=10, mode="lexical", snippets=False, **kw))
    return [(h.passage_id, round(h.score, 9)) for h in res.results]


def _no_build(monkeypatch) -> None:
    def fail(store):
        raise AssertionError("the saved lexical index should have been used")

    monkeypatch.setattr(lexical_cache, "build", fail)


def test_save_writes_it_and_a_new_process_loads_it(index_dir: Path, embedder, monkeypatch):
    with SearchIndex.open(index_dir, embedder) as idx:
        _docs(idx)
        before = _lexical(idx, "winter cycling")
    manifest = json.loads((index_dir / lexical_cache.LEXICAL_MANIFEST).read_text())
    assert manifest["count"] == 6 and manifest["stamp"] == lexical_cache.stamp()
    _no_build(monkeypatch)
    with SearchIndex.open(index_dir, embedder) as idx:
        assert _lexical(idx, "winter cycling") == before and before[0][0].startswith("en1")
        assert idx.save() is False  # nothing changed: nothing rewritten


def test_a_reader_catches_up_with_a_writer_by_id_difference(index_dir: Path, embedder, monkeypatch):
    with SearchIndex.open(index_dir, embedder) as idx:
        _docs(idx)
    reader = SearchIndex.open(index_dir, embedder)
    try:
        assert _lexical(reader, "harbour") == []
        _no_build(monkeypatch)
        with SearchIndex.open(index_dir, embedder) as writer:
            writer.add(make_file("new", ["a harbour for winter ferries"], source="/c/new.txt"))
            writer.remove("en1")
        hits = _lexical(reader, "harbour winter")
        assert hits[0][0].startswith("new") and not any(p.startswith("en1") for p, _ in hits)
        # exactly what a fresh build of the same passages gives
        monkeypatch.undo()
        fresh = SearchIndex.open(index_dir, embedder)
        try:
            (index_dir / lexical_cache.LEXICAL_FILE).unlink()
            assert _lexical(fresh, "harbour winter") == hits
        finally:
            fresh.close()
    finally:
        reader.close()


def test_another_analyser_rebuilds(index_dir: Path, embedder, monkeypatch):
    with SearchIndex.open(index_dir, embedder) as idx:
        _docs(idx)
    assert lexical_cache.load(index_dir) is not None
    monkeypatch.setattr(lexical, "ANALYZER_VERSION", "next")
    assert lexical_cache.load(index_dir) is None and lexical_cache.saved_generation(index_dir) is None


def test_a_file_newer_than_its_manifest_is_caught_up_not_trusted(index_dir: Path, embedder):
    with SearchIndex.open(index_dir, embedder) as idx:
        _docs(idx)
        expected = _lexical(idx, "cycling pyöräily cykling")
    path = index_dir / lexical_cache.LEXICAL_MANIFEST
    manifest = json.loads(path.read_text())
    path.write_text(json.dumps({**manifest, "count": manifest["count"] + 1}))  # as after a crash
    loaded = lexical_cache.load(index_dir)
    assert loaded is not None and loaded.generation == -1
    with SearchIndex.open(index_dir, embedder) as idx:
        assert _lexical(idx, "cycling pyöräily cykling") == expected


@pytest.mark.parametrize("garbage", [b"", b"not a zip file"])
def test_a_torn_file_is_rebuilt(index_dir: Path, embedder, garbage: bytes):
    with SearchIndex.open(index_dir, embedder) as idx:
        _docs(idx)
        expected = _lexical(idx, "bus lanes", languages=["en"])
    (index_dir / lexical_cache.LEXICAL_FILE).write_bytes(garbage)
    with SearchIndex.open(index_dir, embedder) as idx:
        assert _lexical(idx, "bus lanes", languages=["en"]) == expected and expected


def test_a_build_inside_a_search_stays_in_memory_and_the_next_save_keeps_it(
    index_dir: Path, embedder, monkeypatch
):
    with SearchIndex.open(index_dir, embedder) as idx:
        _docs(idx)
    for name in (lexical_cache.LEXICAL_FILE, lexical_cache.LEXICAL_MANIFEST):
        (index_dir / name).unlink()  # as in an index from before the lexical index existed
    with SearchIndex.open(index_dir, embedder) as reader:
        expected = _lexical(reader, "winter cycling")
    assert not (index_dir / lexical_cache.LEXICAL_FILE).exists()  # a read never writes
    writer = SearchIndex.open(index_dir, embedder)
    try:
        assert writer.save()
    finally:
        writer.close()
    assert (index_dir / lexical_cache.LEXICAL_FILE).exists()
    _no_build(monkeypatch)
    with SearchIndex.open(index_dir, embedder) as idx:
        assert _lexical(idx, "winter cycling") == expected
