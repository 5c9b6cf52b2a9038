"""search.store_writes through the Store: upserts replace whole, deletes cascade, every write is one
transaction that bumps the generation, and a failure or a crash leaves the last committed state."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from nordsearch.search import lexical
from nordsearch.search.store import Store
from tests.search.search_helpers import make_file, upsert, vectors_for


def _lexical_rows(store: Store) -> int:
    return len(store.lexical_rows(0, 1_000_000))


def test_upsert_replaces_same_document_id(store, embedder):
    first = upsert(store, embedder, make_file("d1", ["one", "two", "three"]))
    second = upsert(store, embedder, make_file("d1", ["uno"]))
    assert sorted(second.removed_ids) == sorted(first.added_ids)
    assert store.passage_count() == 1 and _lexical_rows(store) == 1
    # vector ids are never reused: a stale FAISS file can't point at the new passage
    assert not set(second.added_ids) & set(first.added_ids)


def test_upsert_replaces_same_source_with_new_content(store, embedder):
    upsert(store, embedder, make_file("old", ["old text"], source="/d/plan.pdf"))
    upsert(store, embedder, make_file("new", ["new text"], source="/d/plan.pdf"))
    assert store.get_document("old") is None
    assert [d.document_id for d in store.list_documents()] == ["new"]
    assert store.passage_count() == 1 and _lexical_rows(store) == 1
    assert store.file_state("/d/plan.pdf").content_hash == "new"


def test_delete_cascades_to_passages(store, embedder):
    upsert(store, embedder, make_file("d1", ["a b", "c d"], source="/x/1"))
    upsert(store, embedder, make_file("d2", ["e f"], source="/x/2"))
    removed = store.delete_document("d1")
    assert len(removed) == 2
    assert store.passage_count() == 1 and _lexical_rows(store) == 1 and store.passages_of("d1") == []
    assert store.delete_document("d1") == []
    assert len(store.delete_source("/x/2")) == 1
    assert store.passage_count() == 0 and _lexical_rows(store) == 0 and store.file_state("/x/2") is None


def test_every_write_bumps_generation(store, embedder):
    g0 = store.generation()
    upsert(store, embedder, make_file("d1", ["a"], source="/s/1"))
    upsert(store, embedder, make_file("d2", ["b"], source="/s/2"))
    store.delete_document("d1")
    docs, removed = store.prune_sources({"/s/keep"})
    assert docs == [("d2", "/s/2")] and len(removed) == 1
    assert store.generation() == g0 + 4


def test_failure_mid_upsert_keeps_previous_version(store, embedder, monkeypatch):
    upsert(store, embedder, make_file("d1", ["first version one", "first version two"], source="/s/1"))
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
        upsert(store, embedder, make_file("d1", ["second one", "second two", "second three"], source="/s/1"))
    assert (store.generation(), store.passage_count(), store.all_vectors()[0].tolist()) == before
    assert [p.text for p in store.passages_of("d1")] == ["first version one", "first version two"]
    assert _lexical_rows(store) == 2
    monkeypatch.setattr(lexical, "analyze_passage", real)
    upsert(store, embedder, make_file("d1", ["second one"], source="/s/1"))  # the store is still usable
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
