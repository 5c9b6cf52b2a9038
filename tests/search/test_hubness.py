from __future__ import annotations

import numpy as np
import pytest

from nordsearch.search import SearchIndex, SearchRequest
from nordsearch.search.embedder import normalize_rows
from nordsearch.search.hubness import hub_scores
from nordsearch.search.vector_space import VectorSpace
from tests.search.search_helpers import make_file


def _unit(*rows: list[float]) -> np.ndarray:
    return normalize_rows(np.array(rows, dtype=np.float32))


def test_generic_vector_scores_highest():
    # three unrelated English rows; in Swedish one row halfway between all three and one about
    # something else: the generic row is the hub
    m = _unit([1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [1, 1, 1, 0], [0, 0, 0, 1])
    langs = ["en", "en", "en", "sv", "sv"]
    hubs = hub_scores(m, langs, k=2)
    assert int(np.argmax(hubs)) == 3 and hubs[4] == pytest.approx(0.0, abs=1e-6)
    # a row's score is the mean of its k best other-language cosines
    assert hubs[0] == pytest.approx(np.sort(m[3:] @ m[0])[-2:].mean(), abs=1e-6)


def test_same_language_neighbours_do_not_count():
    # row 0 has an identical twin in its own language; only the other language is looked at
    m = _unit([1, 0], [1, 0], [0, 1])
    hubs = hub_scores(m, ["en", "en", "fi"], k=1)
    assert hubs[0] == pytest.approx(0.0, abs=1e-6) and hubs[2] == pytest.approx(0.0, abs=1e-6)


def test_monolingual_index_is_not_penalised():
    assert not hub_scores(_unit([1, 0], [0, 1], [1, 1]), ["fi", "fi", "fi"]).any()
    assert len(hub_scores(np.zeros((0, 4), dtype=np.float32), [])) == 0


def test_rows_without_other_language_reference_get_the_mean():
    # the sample (rows 0 and 4) is all Finnish: the Finnish rows have nothing to compare with
    m = _unit([1, 0], [0.9, 0.1], [0.5, 0.5], [0.1, 0.9], [0, 1])
    hubs = hub_scores(m, ["fi", "sv", "sv", "sv", "fi"], k=2, max_reference=2)
    assert hubs[0] == pytest.approx(hubs[1:4].mean()) and hubs[4] == pytest.approx(hubs[1:4].mean())


def test_sampled_reference_is_deterministic_and_close_to_exact():
    # rows leaning by varying amounts towards one shared direction: genuine hubs of all degrees
    rng = np.random.default_rng(1)
    lean = rng.uniform(0, 2, size=(600, 1))
    m = normalize_rows(rng.normal(size=(600, 16)) + lean * np.eye(16)[0])
    langs = ["fi", "sv", "en"] * 200
    exact = hub_scores(m, langs, k=10)
    sampled = hub_scores(m, langs, k=10, max_reference=300)
    assert np.array_equal(sampled, hub_scores(m, langs, k=10, max_reference=300))
    assert np.corrcoef(exact, sampled)[0, 1] > 0.85


class TableEmbedder:
    """Texts mapped to hand-chosen vectors, so the geometry of a test is exact."""

    name, dimension = "table-embedder", 4

    def __init__(self, table: dict[str, list[float]]) -> None:
        self.table = table

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        # texts not in the table (theme definitions for the tagger) get a zero vector
        return normalize_rows(np.array([self.table.get(t, [0, 0, 0, 0]) for t in texts], dtype=np.float32))

    embed_queries = embed_passages


@pytest.fixture
def hub_index(index_dir):
    # three unrelated English passages; in Swedish a generic passage halfway between all of them
    # (a hub) and a specific one; the query is a little closer to the generic passage
    table = {"a": [1, 0, 0, 0], "b": [0, 1, 0, 0], "c": [0, 0, 1, 0], "generic": [1, 1, 1, 0],
             "specific": [1, 0, 0, 2], "question": [1, 0, 0, 0.1]}  # fmt: skip
    idx = SearchIndex.open(index_dir, TableEmbedder(table), centering=False)
    idx.add(make_file("en", ["a", "b", "c"], language="en"))
    idx.add(make_file("sv", ["generic", "specific"], language="sv"))
    yield idx
    idx.close()


def _dense_order(idx: SearchIndex, q: str, w: float) -> list[str]:
    res = idx.search(
        SearchRequest(q, k=20, mode="dense", hub_weight=w, snippets=False, collapse_duplicates=False)
    )
    return [h.passage_id for h in res.results]


def test_hub_weight_demotes_the_generic_passage(hub_index):
    generic, specific = "sv-00000", "sv-00001"
    plain = _dense_order(hub_index, "question", 0.0)
    assert plain.index(generic) < plain.index(specific)
    reduced = _dense_order(hub_index, "question", 0.3)
    assert reduced.index(specific) < reduced.index(generic)


@pytest.mark.parametrize("w", [0.3, 3.0])
def test_dense_with_hub_weight_is_exact(index_dir, w):
    # FAISS ranks by cosine; the fetch-until-safe loop must give the top k of cosine - w * hub
    # exactly (a large w forces several fetch rounds)
    # the first 120 passages huddle around one direction (hubs, and the query's nearest by
    # cosine); the true top k lies below the first fetch
    rng = np.random.default_rng(7)
    texts = [f"t{i}" for i in range(300)]
    table = {
        t: (np.array([4.0, 0, 0, 0]) * (i < 120) + rng.normal(size=4)).tolist() for i, t in enumerate(texts)
    }
    table["question"] = [1, 0.3, 0, 0]
    idx = SearchIndex.open(index_dir, TableEmbedder(table), centering=False)
    try:
        for n, lang in enumerate(("en", "fi", "sv")):
            idx.add(make_file(lang, texts[n::3], language=lang))
        retriever = idx._retriever()
        qv = retriever.query_vector("question")
        view = idx.space.corpus()
        brute = view.matrix @ qv - w * idx.store.hub_scores(view.ids)
        expected = [int(view.ids[i]) for i in np.lexsort((view.ids, -brute))][:4]
        assert [v for v, _ in retriever.dense(qv, 4, None, w)] == expected
    finally:
        idx.close()


def _exact_hubs(idx: SearchIndex) -> dict[int, float]:
    view = idx.space.corpus()
    return dict(zip(view.ids.tolist(), hub_scores(view.matrix, view.languages).tolist(), strict=True))


def test_hub_scores_are_stored_at_write_time_and_exact_after_save(index_dir):
    rng = np.random.default_rng(3)
    texts = [f"t{i}" for i in range(90)]
    table = {t: rng.normal(size=4).tolist() for t in texts}
    idx = SearchIndex.open(index_dir, TableEmbedder(table), centering=False)
    try:
        for n, lang in enumerate(("en", "fi", "sv")):
            idx.add(make_file(lang, texts[n::3], language=lang))
            # every passage has a score as soon as its document is written (no NULL left behind)
            assert idx.store.hub_state(count_missing=True)[2] == 0
        idx.save()
        exact = _exact_hubs(idx)
        stored = idx.store.hub_scores(list(exact))
        np.testing.assert_allclose(stored, list(exact.values()), rtol=1e-6)
        assert idx.store.hub_min() == pytest.approx(min(exact.values()))
    finally:
        idx.close()


def test_a_small_addition_is_scored_against_the_stored_reference_and_a_large_one_rebuilds_it(
    index_dir, monkeypatch
):
    from nordsearch.search import indexer as indexer_module

    # past this many passages the reference counts as a sample and save() keeps it for small changes
    monkeypatch.setattr(indexer_module, "MAX_REFERENCE", 100)
    rng = np.random.default_rng(5)
    table = {f"t{i}": rng.normal(size=4).tolist() for i in range(400)}
    idx = SearchIndex.open(index_dir, TableEmbedder(table), centering=False)
    try:
        for n, lang in enumerate(("en", "fi", "sv")):
            idx.add(make_file(lang, [f"t{i}" for i in range(n, 300, 3)], language=lang))
        idx.save()
        reference = idx.store.hub_reference()
        assert reference is not None and reference.size == 300
        # 10 passages (3%) later: the reference stays, the new passages are scored against it
        idx.add(make_file("da", [f"t{i}" for i in range(300, 310)], language="da"))
        idx.save()
        assert idx.store.hub_reference().size == 300
        new_ids = idx.store.vector_ids_of("da")
        view = idx.space.corpus()
        rows = np.searchsorted(view.ids, new_ids)
        expected = reference.scores(view.matrix[rows], ["da"] * len(rows))
        np.testing.assert_allclose(idx.store.hub_scores(new_ids), expected, rtol=1e-6)
        # 90 more (over 10% since the reference was built): save() rebuilds it, scores are exact again
        idx.add(make_file("nb", [f"t{i}" for i in range(310, 400)], language="nb"))
        idx.save()
        assert idx.store.hub_reference().size == 400
        exact = _exact_hubs(idx)
        np.testing.assert_allclose(idx.store.hub_scores(list(exact)), list(exact.values()), rtol=1e-6)
    finally:
        idx.close()


def test_a_fresh_process_searches_without_reading_every_vector(hub_index, monkeypatch):
    """A search needs only its candidates' stored hub scores and the saved FAISS file: building the
    corpus view (every vector of the index) would make each process pay for the whole collection."""
    hub_index.save()
    fresh = SearchIndex.open(hub_index.path, hub_index.embedder, centering=False)
    try:
        monkeypatch.setattr(VectorSpace, "corpus", lambda self: pytest.fail("corpus view built in a search"))
        reduced = _dense_order(fresh, "question", 0.3)
        assert reduced.index("sv-00001") < reduced.index("sv-00000")  # the hub is still demoted
    finally:
        fresh.close()


def test_while_the_reference_is_the_whole_collection_any_write_is_rescored_at_save(index_dir):
    rng = np.random.default_rng(9)
    table = {f"t{i}": rng.normal(size=4).tolist() for i in range(120)}
    idx = SearchIndex.open(index_dir, TableEmbedder(table), centering=False)
    try:
        idx.add(make_file("en", [f"t{i}" for i in range(100)], language="en"))
        idx.save()
        idx.add(make_file("fi", [f"t{i}" for i in range(100, 103)], language="fi"))  # 3%
        idx.save()
        assert idx.store.hub_state() == (103, 0, 0)
        exact = _exact_hubs(idx)
        np.testing.assert_allclose(idx.store.hub_scores(list(exact)), list(exact.values()), rtol=1e-6)
    finally:
        idx.close()
