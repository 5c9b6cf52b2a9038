from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nordsearch.search import (
    IndexLockedError,
    IndexMismatchError,
    IndexNotFoundError,
    SearchIndex,
    SearchRequest,
)
from nordsearch.search.filters import DocumentFilter
from nordsearch.search.index import MANIFEST_FILE, VECTORS_FILE
from tests.search.search_helpers import FakeEmbedder, make_file


def _corpus(index: SearchIndex) -> None:
    # 60 English passages that match the query well, 15 Finnish and 15 Swedish ones that match less
    en = [f"bus lanes in the city center number {i}" for i in range(60)]
    index.add(
        make_file(
            "en1", en[:30], source="/c/en1.txt", metadata={"city": "Oslo", "country": "NO", "year": 2020}
        )
    )
    index.add(make_file("en2", en[30:], source="/c/en2.txt", metadata={"city": "Bergen", "year": 2015}))
    fi = [f"bus joukkoliikenne asemakaava alue {i}" for i in range(15)]
    index.add(make_file("fi1", fi, language="fi", source="/c/fi1.txt", themes=[["mobility"]] * 15,
                        metadata={"city": "Helsinki", "country": "FI", "year": 2022}))  # fmt: skip
    sv = [f"bus kollektivtrafik detaljplan {i}" for i in range(15)]
    index.add(
        make_file("sv1", sv, language="sv", source="/c/sv1.txt", metadata={"city": "Malmö", "year": 2018})
    )


@pytest.fixture
def index(index_dir: Path, embedder: FakeEmbedder):
    idx = SearchIndex.open(index_dir, embedder)
    _corpus(idx)
    yield idx
    idx.close()


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_modes_return_relevant_hits(index, mode):
    res = index.search(SearchRequest("bus lanes city center", k=5, mode=mode))
    assert res.mode == mode and len(res.results) == 5
    assert all(h.document_id in {"en1", "en2"} for h in res.results)
    hit = res.results[0]
    assert hit.title.startswith("Title en") and hit.source.startswith("/c/en") and hit.page == hit.page_end
    assert hit.section.startswith("Section") and hit.language == "en" and hit.text.startswith("bus lanes")
    scores = [h.score for h in res.results]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_strict_filter_still_returns_k(index, mode):
    # every global top-10 hit is English; a Finnish-only filter must still fill all 10 slots
    req = SearchRequest("bus lanes city center", k=10, mode=mode, languages=["fi"])
    res = index.search(req)
    assert len(res.results) == 10 and {h.language for h in res.results} == {"fi"}
    assert res.total == 15
    for filt in (
        {"themes": ["mobility"]},
        {"cities": ["helsinki"]},
        {"countries": ["fi"]},
        {"year_from": 2021},
        {"document_ids": ["fi1"]},
    ):
        res = index.search(SearchRequest("bus lanes city center", k=10, mode=mode, **filt))
        assert len(res.results) == 10 and {h.document_id for h in res.results} == {"fi1"}, filt


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_a_document_grouped_total_counts_documents(index, mode):
    res = index.search(SearchRequest("bus", k=2, mode=mode, group="document"))  # in every passage
    assert res.total == 4 and len(res.results) == 2 and res.has_more
    res = index.search(SearchRequest("bus", k=10, mode=mode, group="document", year_from=2016))
    assert res.total == 3 and len(res.results) == 3 and not res.has_more
    res = index.search(SearchRequest("bus", k=10, mode=mode, group="document", languages=["fi", "sv"]))
    assert res.total == 2
    if mode == "lexical":  # documents with a passage holding a query term
        res = index.search(SearchRequest("joukkoliikenteen", k=10, mode=mode, group="document"))
        assert res.total == 1 and [h.document_id for h in res.results] == ["fi1"]
    index.remove("en2")
    assert index.search(SearchRequest("bus", k=2, mode=mode, group="document")).total == 3


def test_a_document_id_is_its_id_or_the_unique_beginning_of_one(index):
    from nordsearch.search.errors import AmbiguousDocumentIdError, UnknownDocumentError

    assert index.resolve_document_id("en1") == "en1" and index.resolve_document_id("f") == "fi1"
    with pytest.raises(AmbiguousDocumentIdError, match=r"'en' is ambiguous.*\(en1…, en2…\)"):
        index.resolve_document_id("en")
    for given in ("", "en3", "fi10", "e\uffff"):
        with pytest.raises(UnknownDocumentError, match="no document with id"):
            index.resolve_document_id(given)
    assert index.store.document_ids_with_prefix("", 5) == []


def test_metadata_year_range_and_languages_alias(index):
    res = index.search(SearchRequest("bus", k=50, mode="dense", year_from=2016, year_to=2020))
    assert {h.document_id for h in res.results} == {"en1", "sv1"} and res.total == 45
    res = index.search(SearchRequest("bus", k=50, mode="dense", languages=["no"]))
    assert res.results == [] and res.total == 0


def test_pagination(index):
    page1 = index.search(SearchRequest("bus lanes", k=5, mode="dense"))
    page2 = index.search(SearchRequest("bus lanes", k=5, offset=5, mode="dense"))
    both = index.search(SearchRequest("bus lanes", k=10, mode="dense"))
    # the fake embedder produces exact ties, so compare scores (tie order between calls is not fixed)
    assert [h.score for h in page1.results + page2.results] == [h.score for h in both.results]
    assert len({h.passage_id for h in page1.results + page2.results}) == 10
    assert page1.total == 90


@pytest.mark.parametrize("q", ['"AND OR NOT ( * :', "NEAR(", "title:bus", "*", "-", "OR OR", '"'])
@pytest.mark.parametrize("mode", ["lexical", "hybrid"])
def test_fts_syntax_in_queries_is_safe(index, q, mode):
    res = index.search(SearchRequest(q, k=5, mode=mode))
    assert res.query == q.strip()


def test_lexical_crosses_inflections(index):
    res = index.search(SearchRequest("joukkoliikenteen", k=3, mode="lexical"))
    assert [h.document_id for h in res.results] == ["fi1"] * 3 and res.total == 15


def test_request_validation():
    for bad in (dict(q=""), dict(q="x", k=0), dict(q="x", mode="fuzzy"), dict(q="x", languages=["de"]),
                dict(q="x", offset=-1), dict(q="x", group="pages")):  # fmt: skip
        with pytest.raises(ValueError):
            SearchRequest(**bad)


def test_documents_and_stats(index):
    docs = index.documents(DocumentFilter(languages=["fi", "sv"]))
    assert [d.document_id for d in docs] == ["fi1", "sv1"] and index.count_documents() == 4
    assert [d.document_id for d in index.documents(limit=1, offset=1)] == ["en2"]
    assert index.document("fi1").passage_count == 15 and index.document("nope") is None
    assert len(index.passages("sv1")) == 15
    st = index.stats()
    assert st.documents == 4 and st.passages == 90 and st.model == "fake-embedder" and st.dimension == 32
    assert st.passages_by_language == {"en": 60, "fi": 15, "sv": 15}
    assert st.vectors_saved is False
    index.save()
    st = index.stats()
    assert st.vectors_saved is True and st.index_type == "flat"


def test_remove_and_prune_update_search(index):
    assert index.remove("en1") and not index.remove("en1")
    res = index.search(SearchRequest("bus lanes", k=100, mode="dense"))
    assert "en1" not in {h.document_id for h in res.results} and res.total == 60
    pruned = index.prune(["/c/fi1.txt", "/c/sv1.txt"])
    assert pruned == [("en2", "/c/en2.txt")]
    res = index.search(SearchRequest("bus lanes", k=100, mode="hybrid"))
    assert {h.document_id for h in res.results} == {"fi1", "sv1"}


def test_reindex_same_source_replaces(index, embedder):
    index.add(make_file("en1-v2", ["completely new text about parks"], source="/c/en1.txt"))
    assert index.document("en1") is None
    res = index.search(SearchRequest("completely new text about parks", k=1, mode="dense"))
    assert res.results[0].document_id == "en1-v2"
    assert index.file_state("/c/en1.txt").content_hash == "en1-v2"


def test_save_and_reopen_uses_saved_vectors(index_dir, embedder, monkeypatch):
    with SearchIndex.open(index_dir, embedder) as idx:
        _corpus(idx)
    man = json.loads((index_dir / MANIFEST_FILE).read_text())
    assert man["count"] == 90 and man["model"] == "fake-embedder"
    from nordsearch.search.vector_space import VectorSpace

    def no_rebuild(self, **_):
        raise AssertionError("should load vectors.faiss, not rebuild")

    monkeypatch.setattr(VectorSpace, "_build_from_store", no_rebuild)
    with SearchIndex.open(index_dir, embedder, create=False) as idx:
        assert len(idx.search(SearchRequest("bus", k=3, mode="dense")).results) == 3


def test_tampered_manifest_dimension_raises(index_dir, embedder):
    with SearchIndex.open(index_dir, embedder) as idx:
        _corpus(idx)
    man = json.loads((index_dir / MANIFEST_FILE).read_text())
    man["dimension"] = 384
    (index_dir / MANIFEST_FILE).write_text(json.dumps(man))
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        SearchIndex.open(index_dir, embedder)
    # --rebuild starts over
    with SearchIndex.open(index_dir, embedder, rebuild=True) as idx:
        assert idx.stats().documents == 0


def test_a_stale_saved_index_is_caught_up_by_a_reader_in_memory_and_saved_by_the_next_writer(
    index_dir, embedder
):
    with SearchIndex.open(index_dir, embedder) as idx:
        _corpus(idx)
    saved = json.loads((index_dir / MANIFEST_FILE).read_text())
    # a writer commits a document and "crashes" before saving the vectors
    idx = SearchIndex.open(index_dir, embedder)
    idx.add(make_file("late", ["late arriving park plan"], source="/c/late.txt"))
    idx.close()
    assert json.loads((index_dir / MANIFEST_FILE).read_text()) == saved
    files = {f.name: f.stat().st_mtime_ns for f in index_dir.iterdir()}
    with SearchIndex.open(index_dir, embedder) as idx:
        res = idx.search(SearchRequest("late arriving park plan", k=1, mode="dense"))
        assert res.results[0].document_id == "late"
    # reads never write: not the derived files, not the writer lock's file
    assert {f.name: f.stat().st_mtime_ns for f in index_dir.iterdir()} == files
    idx = SearchIndex.open(index_dir, embedder)
    try:
        assert idx.save()  # what `nordsearch index` does at the end, even with nothing new
    finally:
        idx.close()
    man = json.loads((index_dir / MANIFEST_FILE).read_text())
    assert man["count"] == 91 and man["generation"] == saved["generation"] + 1


def test_embedder_model_mismatch(index_dir, embedder):
    with SearchIndex.open(index_dir, embedder) as idx:
        idx.add(make_file("d", ["x"]))
    with pytest.raises(IndexMismatchError, match="other-model"):
        SearchIndex.open(index_dir, FakeEmbedder(name="other-model"))
    with pytest.raises(IndexMismatchError):
        SearchIndex.open(index_dir, FakeEmbedder(dimension=8))


def test_open_missing_without_create(tmp_path):
    with pytest.raises(IndexNotFoundError):
        SearchIndex.open(tmp_path / "nothing", create=False)


def test_two_writers_cannot_interleave(index_dir, embedder):
    a = SearchIndex.open(index_dir, embedder)
    b = SearchIndex.open(index_dir, embedder, lock_timeout=0.2)
    try:
        a.add(make_file("a1", ["from writer a"], source="/w/a1"))
        with pytest.raises(IndexLockedError):
            b.add(make_file("b1", ["from writer b"], source="/w/b1"))
        a.save()  # ends a's writing session
        b.add(make_file("b1", ["from writer b"], source="/w/b1"))
        b.save()
        # a reader notices the other writer's commit (generation changed) and refreshes its vectors
        res = a.search(SearchRequest("from writer b", k=1, mode="dense"))
        assert res.results[0].document_id == "b1"
    finally:
        a.close()
        b.close()


def test_hnsw_past_threshold(index_dir, embedder):
    with SearchIndex.open(index_dir, embedder, hnsw_threshold=50) as idx:
        _corpus(idx)
    man = json.loads((index_dir / MANIFEST_FILE).read_text())
    assert man["index_type"] == "hnsw"
    with SearchIndex.open(index_dir, embedder, hnsw_threshold=50) as idx:
        res = idx.search(SearchRequest("bus lanes", k=10, mode="dense", languages=["sv"]))
        assert len(res.results) == 10
        idx.remove("en1")  # HNSW cannot delete in place: masked until compaction
        res = idx.search(SearchRequest("bus lanes city center", k=60, mode="dense"))
        assert "en1" not in {h.document_id for h in res.results} and len(res.results) == 60
    man = json.loads((index_dir / MANIFEST_FILE).read_text())
    assert man["index_type"] == "hnsw" and man["count"] == 60
    # 30 of 90 masked is past the compaction fraction: save() rebuilt it without them
    assert man["deleted_ids"] == []


def test_empty_index_search(index_dir, embedder):
    with SearchIndex.open(index_dir, embedder) as idx:
        for mode in ("dense", "lexical", "hybrid"):
            res = idx.search(SearchRequest("anything", mode=mode))
            assert res.results == [] and res.total == 0
    assert not (index_dir / VECTORS_FILE).exists()


def test_import_search_is_cheap():
    code = (
        "import sys, search; heavy = [m for m in ('numpy', 'faiss', 'torch', 'sentence_transformers', 'Stemmer')"
        " if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.fixture
def hubs_kept(monkeypatch):
    """Hub scores stay through small changes, as in a large collection (past MAX_REFERENCE, a
    change under a tenth keeps the reference). A new reference rescores every passage, and FAISS,
    which holds the scores, is then rebuilt: see test_new_hub_scores_reach_a_reader_exactly."""
    from nordsearch.search import indexer as indexer_module

    monkeypatch.setattr(indexer_module, "MAX_REFERENCE", 10)
    monkeypatch.setattr(indexer_module, "HUB_REFRESH_AT_SAVE", 10.0)


def test_reader_catches_up_without_rebuilding(index_dir, embedder, monkeypatch, hubs_kept):
    with SearchIndex.open(index_dir, embedder) as idx:
        _corpus(idx)
    reader = SearchIndex.open(index_dir, embedder)
    writer = SearchIndex.open(index_dir, embedder)
    try:
        assert len(reader.search(SearchRequest("bus", k=3, mode="dense")).results) == 3  # loads vectors.faiss
        from nordsearch.search.vector_space import VectorSpace

        def no_rebuild(self, **_):
            raise AssertionError("a flat index should catch up by id difference")

        monkeypatch.setattr(VectorSpace, "_build_from_store", no_rebuild)
        writer.add(make_file("new", ["freshly added waterfront plan"], source="/c/new.txt"))
        writer.remove("en1")
        writer.save()
        res = reader.search(SearchRequest("freshly added waterfront plan", k=100, mode="dense"))
        ids = {h.document_id for h in res.results}
        assert res.results[0].document_id == "new" and "en1" not in ids and res.total == 61
    finally:
        reader.close()
        writer.close()


def test_new_hub_scores_reach_a_reader_exactly(index_dir, embedder):
    with SearchIndex.open(index_dir, embedder) as idx:
        _corpus(idx)
    reader = SearchIndex.open(index_dir, embedder)
    try:
        request = SearchRequest("bus lanes in the city", k=5, mode="dense", snippets=False)
        reader.search(request)
        stamp = reader.store.hub_stamp()[0]
        with SearchIndex.open(index_dir, embedder) as writer:  # any change re-scores a small index
            writer.add(make_file("new", ["bus lanes and bus stops everywhere"], source="/c/new.txt"))
        assert reader.store.hub_stamp()[0] != stamp
        qv = reader._retriever().query_vector(request.q)
        hits = reader.search(request).results
        ids, every = reader.centered_vectors(reader.store.vector_ids().tolist())
        exact = dict(
            zip(ids.tolist(), every @ qv - request.hub_weight * reader.store.hub_scores(ids), strict=True)
        )
        got = [exact[reader.store.vector_id_of(h.passage_id)] for h in hits]
        np.testing.assert_allclose([h.score for h in hits], got, atol=1e-5)
        # and they are the best five by that score among all passages
        np.testing.assert_allclose(got, sorted(exact.values(), reverse=True)[:5], atol=1e-5)
    finally:
        reader.close()


@pytest.mark.parametrize("hnsw_threshold", [10**9, 1])  # flat, then HNSW over float16
def test_exact_dense_scores_are_the_nearest_search_scores(index_dir, embedder, hnsw_threshold):
    # hybrid scores lexical hits outside the dense pool from the rows FAISS holds: the same score
    # the dense search gives them, so fusion never mixes two scales
    with SearchIndex.open(index_dir, embedder, hnsw_threshold=hnsw_threshold) as idx:
        _corpus(idx)
    reader = SearchIndex.open(index_dir, embedder, hnsw_threshold=hnsw_threshold)
    try:
        qv = reader._retriever().query_vector("bus lanes in the city")
        every = reader.store.vector_ids().tolist()
        nearest = dict(reader.space.nearest(qv, len(every), None, 0.3))
        assert reader.space.kind == ("hnsw" if hnsw_threshold == 1 else "flat")
        exact = reader._retriever().score_exact(qv, [*every[::2], 10**9], 0.3)
        assert sorted(exact) == sorted(every[::2])  # an id nobody holds is simply absent
        np.testing.assert_allclose(
            [exact[v] for v in every[::2]], [nearest[v] for v in every[::2]], atol=1e-5
        )
    finally:
        reader.close()


def test_save_is_a_noop_when_disk_is_current(index_dir, embedder):
    with SearchIndex.open(index_dir, embedder) as idx:
        _corpus(idx)
    mtime = (index_dir / VECTORS_FILE).stat().st_mtime_ns
    with SearchIndex.open(index_dir, embedder) as idx:
        assert idx.save() is False
        assert idx.search(SearchRequest("bus", k=1, mode="dense")).results
    assert (index_dir / VECTORS_FILE).stat().st_mtime_ns == mtime


def test_remove_source(index):
    assert index.remove_source("/c/fi1.txt") and not index.remove_source("/c/fi1.txt")
    assert index.document("fi1") is None
    assert index.search(SearchRequest("bus", k=10, mode="dense", languages=["fi"])).results == []


def test_hnsw_masked_deletions_persist(index_dir, embedder, hubs_kept):
    with SearchIndex.open(index_dir, embedder, hnsw_threshold=50) as idx:
        _corpus(idx)
        idx.add(make_file("small", ["a small harbour note"], source="/c/small.txt"))
    with SearchIndex.open(index_dir, embedder, hnsw_threshold=50) as idx:
        assert (
            idx.search(SearchRequest("a small harbour note", k=1, mode="dense")).results[0].document_id
            == "small"
        )
        idx.remove("small")
    man = json.loads((index_dir / MANIFEST_FILE).read_text())
    assert man["index_type"] == "hnsw" and len(man["deleted_ids"]) == 1 and man["count"] == 90
    with SearchIndex.open(index_dir, embedder, hnsw_threshold=50) as idx:
        res = idx.search(SearchRequest("a small harbour note", k=100, mode="dense"))
        assert "small" not in {h.document_id for h in res.results} and len(res.results) == 90


def test_search_never_builds_hnsw_but_save_does(index_dir, embedder):
    with SearchIndex.open(index_dir, embedder) as idx:
        _corpus(idx)
    (index_dir / VECTORS_FILE).unlink()
    (index_dir / MANIFEST_FILE).unlink()
    idx = SearchIndex.open(index_dir, embedder, hnsw_threshold=50, lock_timeout=0.1)
    try:
        assert len(idx.search(SearchRequest("bus", k=5, mode="dense")).results) == 5
        assert idx.stats().index_type == "flat"  # rebuilt flat inside the query, and saved
        assert idx.save() is True
        assert json.loads((index_dir / MANIFEST_FILE).read_text())["index_type"] == "hnsw"
    finally:
        idx.close()


def test_warm_loads_what_the_first_search_needs(index_dir, embedder, monkeypatch):
    with SearchIndex.open(index_dir, embedder) as idx:
        _corpus(idx)
    idx = SearchIndex.open(index_dir, embedder)
    try:
        idx.warm()
        from nordsearch.search import lexical_cache
        from nordsearch.search.vectors import VectorIndex

        def no_load(*_args, **_kwargs):
            raise AssertionError("warm() should have loaded it")

        monkeypatch.setattr(VectorIndex, "load", no_load)
        monkeypatch.setattr(lexical_cache, "load", no_load)
        monkeypatch.setattr(lexical_cache, "build", no_load)
        assert len(idx.search(SearchRequest("bus lanes", k=3)).results) == 3
    finally:
        idx.close()
    with SearchIndex.open(index_dir / "empty", embedder) as empty:
        empty.warm()  # nothing indexed yet: nothing to load, no error
