"""LexicalIndex against the real thing: SQLite FTS5 bm25() over the store's schema (no mocks)."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nordsearch.search import lexical_index as lmod
from nordsearch.search.lexical import analyze_passage, analyze_query
from nordsearch.search.lexical_index import LexicalIndex
from tests.search.search_helpers import fts_match_expression

# The store's FTS5 setup (search/store.py): external content table kept in sync by triggers, so
# deletes go through FTS5's 'delete' command exactly as they do in production.
SCHEMA = """
CREATE TABLE passages(rowid INTEGER PRIMARY KEY, lexical TEXT NOT NULL);
CREATE VIRTUAL TABLE passages_fts USING fts5(
    lexical, content='passages', content_rowid='rowid', tokenize='unicode61 remove_diacritics 0'
);
CREATE TRIGGER passages_ai AFTER INSERT ON passages BEGIN
    INSERT INTO passages_fts(rowid, lexical) VALUES (new.rowid, new.lexical);
END;
CREATE TRIGGER passages_ad AFTER DELETE ON passages BEGIN
    INSERT INTO passages_fts(passages_fts, rowid, lexical) VALUES ('delete', old.rowid, old.lexical);
END;
CREATE TRIGGER passages_au AFTER UPDATE OF lexical ON passages BEGIN
    INSERT INTO passages_fts(passages_fts, rowid, lexical) VALUES ('delete', old.rowid, old.lexical);
    INSERT INTO passages_fts(rowid, lexical) VALUES (new.rowid, new.lexical);
END;
CREATE TEMP TABLE allowed(id INTEGER PRIMARY KEY);
"""


class Fts:
    """The reference: the store's lexical_search/lexical_count queries on an in-memory database."""

    def __init__(self) -> None:
        self.db = sqlite3.connect(":memory:")
        self.db.executescript(SCHEMA)

    def insert(self, ids: Sequence[int], texts: Sequence[str]) -> None:
        self.db.executemany(
            "INSERT INTO passages(rowid, lexical) VALUES (?, ?)", zip(map(int, ids), texts, strict=True)
        )

    def delete(self, ids: Sequence[int]) -> None:
        self.db.executemany("DELETE FROM passages WHERE rowid = ?", [(int(i),) for i in ids])

    def update(self, rowid: int, text: str) -> None:
        self.db.execute("UPDATE passages SET lexical = ? WHERE rowid = ?", (text, rowid))

    def _where(self, allowed: np.ndarray | None) -> str:
        self.db.execute("DELETE FROM allowed")
        if allowed is None:
            return ""
        self.db.executemany("INSERT INTO allowed(id) VALUES (?)", [(int(i),) for i in allowed])
        return " AND p.rowid IN (SELECT id FROM allowed)"

    def search(
        self, terms: Sequence[str], k: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        match = fts_match_expression(list(terms))
        if match is None:
            return []
        rows = self.db.execute(
            "SELECT p.rowid, bm25(passages_fts) AS s FROM passages_fts"
            " JOIN passages p ON p.rowid = passages_fts.rowid"
            f" WHERE passages_fts MATCH ?{self._where(allowed)} ORDER BY s, p.rowid LIMIT ?",
            (match, k),
        ).fetchall()
        return [(int(r[0]), -float(r[1])) for r in rows]

    def count(self, terms: Sequence[str], allowed: np.ndarray | None = None) -> int:
        match = fts_match_expression(list(terms))
        if match is None:
            return 0
        sql = "SELECT count(*) FROM passages_fts JOIN passages p ON p.rowid = passages_fts.rowid"
        return self.db.execute(
            f"{sql} WHERE passages_fts MATCH ?{self._where(allowed)}", (match,)
        ).fetchone()[0]


def assert_same(ours: list[tuple[int, float]], ref: list[tuple[int, float]]) -> None:
    assert [i for i, _ in ours] == [i for i, _ in ref]  # order exactly, ties by id included
    for (_, a), (_, b) in zip(ours, ref, strict=True):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0), (a, b)


def assert_matches_fts(
    index: LexicalIndex, fts: Fts, queries: Sequence[Sequence[str]], ks: Sequence[int], allowed=None
) -> None:
    for terms in queries:
        for k in ks:
            assert_same(index.search(terms, k, allowed), fts.search(terms, k, allowed))
        assert index.match_count(terms, allowed) == fts.count(terms, allowed)


# -- a realistic corpus -------------------------------------------------------------------------

SENTENCES = [
    ("fi", "Joukkoliikenteen kehittäminen on yleiskaavan tärkein tavoite vuoteen 2030 mennessä."),
    ("fi", "Asemakaavan muutos koskee Hakaniemen kaupunginosan katuja ja joukkoliikennettä."),
    ("fi", "Kaupungin keskustan pysäköintiä vähennetään ja kävelykatuja lisätään."),
    ("fi", "Raitiotie yhdistää kaupungin asemat; raitiotien rakentaminen alkaa 2026."),
    ("sv", "Kollektivtrafiken ska byggas ut i hela staden enligt översiktsplanen."),
    ("sv", "Detaljplanen för hamnen medger nya bostäder och en park vid vattnet."),
    ("sv", "Staden planerar cykelbanor längs alla huvudgator och kollektivtrafikstråk."),
    ("en", "The city plan prioritises public transport, cycling and walking over private cars."),
    ("en", "Housing density near stations increases; the plan adds parks and green corridors."),
    ("en", "Public transport public transport: the tram line connects the harbour to the city centre."),
    ("nb", "Kommuneplanen legger til rette for flere boliger nær kollektivknutepunkter."),
    ("da", "Lokalplanen for havnen giver mulighed for nye boliger og en by med grønne områder."),
]
QUESTIONS = [
    "joukkoliikenne kaupungissa",
    "kollektivtrafik i staden",
    "public transport city plan",
    "raitiotie tram",
    "boliger havnen",
    "parks",
    "pysäköinti",
    "nothing matches xyzzy",
]


def _realistic() -> tuple[np.ndarray, list[str]]:
    ids = np.array([7 + 13 * i for i in range(len(SENTENCES))][::-1], dtype=np.int64)  # not in order
    return ids, [analyze_passage(text, lang) for lang, text in SENTENCES]


def test_realistic_corpus_scores_and_order_equal_fts5():
    ids, texts = _realistic()
    fts = Fts()
    fts.insert(ids, texts)
    index = LexicalIndex.build(ids, texts)
    queries = [analyze_query(q) for q in QUESTIONS]
    assert any(fts.search(q, 3) for q in queries) and not fts.search(queries[-1], 3)
    assert_matches_fts(index, fts, queries, ks=[1, 3, 100])
    allowed = np.sort(ids[::3])
    assert_matches_fts(index, fts, queries, ks=[1, 2, 100], allowed=allowed)


def test_filter_restricts_before_the_top_k():
    """A strict filter still yields its k best: the top k of a global ranking would hold none of them."""
    ids, texts = _realistic()
    fts = Fts()
    fts.insert(ids, texts)
    index = LexicalIndex.build(ids, texts)
    terms = analyze_query("public transport city plan")
    ranked = [i for i, _ in fts.search(terms, 100)]
    allowed = np.sort(np.array(ranked[-2:], dtype=np.int64))  # the two weakest matches only
    got = index.search(terms, 2, allowed)
    assert [i for i, _ in got] == ranked[-2:]
    assert_same(got, fts.search(terms, 2, allowed))


def test_update_is_remove_then_add_as_the_store_trigger_does():
    ids, texts = _realistic()
    fts = Fts()
    fts.insert(ids, texts)
    index = LexicalIndex.build(ids, texts)
    target = int(ids[4])
    new_text = analyze_passage("Raitiotie ja joukkoliikenne korvaavat pysäköinnin.", "fi")
    fts.update(target, new_text)
    index.remove(np.array([target]))
    index.add(np.array([target]), [new_text])
    assert index.count == len(ids) and index.segment_count == 2
    assert_matches_fts(index, fts, [analyze_query(q) for q in QUESTIONS], ks=[2, 100])


def test_idf_floor_and_repeated_query_terms_follow_fts5():
    # avgdl = 8 / 4 = 2; "a" is in 3 of 4 rows: log((4 - 3 + .5) / (3 + .5)) < 0, floored at 1e-6;
    # "b" is in exactly half: log(1) = 0, floored too.
    ids, texts = np.array([1, 2, 3, 4]), ["a b", "a a c", "a", "b d"]
    fts = Fts()
    fts.insert(ids, texts)
    index = LexicalIndex.build(ids, texts)
    assert_matches_fts(index, fts, [["a"], ["b"], ["a", "a"], ["c", "a", "c"], ["d", "b"]], ks=[1, 4])
    assert index.search(["a"], 1)[0][1] == pytest.approx(1e-6 * 2.2 / (1 + 1.2 * (0.25 + 0.75 * 1 / 2)))
    # FTS5 makes each quoted term its own phrase: a repeated term counts twice, and so does ours
    assert index.search(["c", "c"], 1)[0][1] == pytest.approx(2 * index.search(["c"], 1)[0][1])


def test_empty_rows_count_in_n_and_avgdl():
    ids, texts = np.array([5, 6, 7, 8, 9]), ["", "x y", "", "y", "x x x"]
    fts = Fts()
    fts.insert(ids, texts)
    index = LexicalIndex.build(ids, texts)
    assert index.count == 5
    assert_matches_fts(index, fts, [["x"], ["y"], ["y", "x"]], ks=[1, 5])


# -- random corpora ---------------------------------------------------------------------------

WORDS = ["a", "a", "a", "b", "b", "c", "d", "e", "f"]  # repeats: "a" lands in most rows (idf floor)
_texts = st.lists(st.sampled_from(WORDS), max_size=7).map(" ".join)  # short: many exact ties


@st.composite
def scenarios(draw):
    n1, n2 = draw(st.integers(0, 30)), draw(st.integers(0, 15))
    ids = draw(st.lists(st.integers(1, 2**40), min_size=n1 + n2, max_size=n1 + n2, unique=True))
    texts = draw(st.lists(_texts, min_size=n1 + n2, max_size=n1 + n2))
    absent = draw(st.lists(st.integers(1, 2**40).filter(lambda i: i not in ids), max_size=3))
    removed = draw(st.lists(st.sampled_from(ids), max_size=len(ids))) if ids else []
    queries = draw(
        st.lists(st.lists(st.sampled_from([*set(WORDS), "zz"]), max_size=5), min_size=1, max_size=4)
    )
    allowed = draw(st.lists(st.sampled_from(ids + absent), max_size=len(ids))) if ids else []
    k = draw(st.integers(1, n1 + n2 + 2))
    return n1, ids, texts, absent, removed, queries, np.unique(np.array(allowed, dtype=np.int64)), k


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_random_corpora_match_fts5_through_add_remove_and_compact(scenario):
    n1, ids, texts, absent, removed, queries, allowed, k = scenario
    fts = Fts()
    fts.insert(ids[:n1], texts[:n1])
    index = LexicalIndex.build(np.array(ids[:n1], dtype=np.int64), texts[:n1])
    assert_matches_fts(index, fts, queries, ks=[k])

    fts.insert(ids[n1:], texts[n1:])
    index.add(np.array(ids[n1:], dtype=np.int64), texts[n1:])
    assert_matches_fts(index, fts, queries, ks=[k])

    fts.delete(removed)
    index.remove(np.array(removed + absent, dtype=np.int64))
    live = sorted(set(ids) - set(removed))
    assert index.ids().tolist() == live and index.count == len(live)
    assert_matches_fts(index, fts, queries, ks=[1, k])
    assert_matches_fts(index, fts, queries, ks=[k], allowed=allowed)
    for terms in queries:  # a filter yields min(k, matching passages it admits)
        admitted = fts.count(terms, allowed)
        assert len(index.search(terms, k, allowed)) == min(k, admitted)

    before = [index.search(terms, k, allowed) for terms in queries]
    index.compact()
    assert index.deleted_count == 0 and index.segment_count == (1 if live else 0)
    assert [index.search(terms, k, allowed) for terms in queries] == before  # bit for bit
    # the merged segment's positions must still be right for further changes
    fts.delete(live[::2])
    index.remove(np.array(live[::2], dtype=np.int64))
    assert_matches_fts(index, fts, queries, ks=[k])


def test_present_terms_are_what_each_passage_holds():
    index, fts = _multi_segment_index()  # three segments, some passages removed
    ids = index.ids().tolist()
    asked = [*ids[::5], 10**9]  # and an id the index does not hold
    terms = ["w0", "w3", "w3", "w39", "nope"]
    got = index.present_terms(terms, asked)
    texts = dict(fts.db.execute("SELECT rowid, lexical FROM passages"))
    for i in asked:
        held = set(texts[i].split()) if i in ids else set()
        assert got[i] == held & set(terms), i


# -- persistence --------------------------------------------------------------------------------


def _multi_segment_index() -> tuple[LexicalIndex, Fts]:
    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(40)]
    fts, index = Fts(), LexicalIndex.build(np.zeros(0, dtype=np.int64), [])
    next_id = 1
    for _ in range(3):
        ids = np.arange(next_id, next_id + 50, dtype=np.int64) * 3
        next_id += 50
        texts = [" ".join(rng.choice(words, size=int(rng.integers(0, 30)))) for _ in ids]
        fts.insert(ids, texts)
        index.add(ids, texts)
    gone = [3 * i for i in range(1, 151, 7)]
    fts.delete(gone)
    index.remove(np.array(gone))
    return index, fts


QUERIES = [["w0", "w1"], ["w5"], ["w3", "w9", "w17", "w33"], ["nope"]]


def test_save_load_roundtrip_gives_identical_results(tmp_path: Path):
    index, fts = _multi_segment_index()
    assert index.segment_count == 3 and index.deleted_count > 0
    path = tmp_path / "lexical.npz"
    index.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["lexical.npz"]  # no temp left, no ".npz.npz"
    loaded = LexicalIndex.load(path)
    assert loaded is not None
    assert loaded.count == index.count and loaded.deleted_count == index.deleted_count
    assert np.array_equal(loaded.ids(), index.ids())
    allowed = index.ids()[::2]
    for terms in QUERIES:
        assert loaded.search(terms, 10) == index.search(terms, 10)
        assert loaded.search(terms, 5, allowed) == index.search(terms, 5, allowed)
    assert_matches_fts(loaded, fts, QUERIES, ks=[10])
    loaded.add(np.array([10**9]), ["w5 w5"])  # the loaded index keeps working
    fts.insert([10**9], ["w5 w5"])
    assert_matches_fts(loaded, fts, QUERIES, ks=[10])


def test_empty_index(tmp_path: Path):
    index = LexicalIndex.build(np.zeros(0, dtype=np.int64), [])
    assert index.count == 0 and index.ids().tolist() == []
    assert index.search(["a"], 10) == [] and index.match_count(["a"]) == 0
    index.save(tmp_path / "x.npz")
    loaded = LexicalIndex.load(tmp_path / "x.npz")
    assert loaded is not None and loaded.count == 0 and loaded.search(["a"], 3) == []


def test_empty_terms_and_non_positive_k():
    index = LexicalIndex.build(np.array([1, 2]), ["a b", "b"])
    assert index.search([], 10) == [] and index.match_count([]) == 0
    assert index.search(["a"], 0) == []
    assert index.search(["zz"], 10) == [] and index.match_count(["zz"]) == 0
    assert index.search(["a"], 10, np.zeros(0, dtype=np.int64)) == []
    assert [i for i, _ in index.search(["b"], 10)] == [2, 1]  # shorter passage first


def test_load_missing_truncated_or_garbage_returns_none(tmp_path: Path):
    index, _ = _multi_segment_index()
    path = tmp_path / "lexical.npz"
    assert LexicalIndex.load(path) is None
    index.save(path)
    data = path.read_bytes()
    for cut in (0, 10, len(data) // 2, len(data) - 1):
        path.write_bytes(data[:cut])
        assert LexicalIndex.load(path) is None, cut
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    assert LexicalIndex.load(path) is None
    np.save(path.with_suffix(".npy"), np.arange(3))  # a readable numpy file that is not an index
    assert LexicalIndex.load(path.with_suffix(".npy")) is None
    assert LexicalIndex.load(tmp_path) is None  # a directory


def _resave(path: Path, change) -> None:
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    change(arrays)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


@pytest.mark.parametrize(
    "change",
    [
        lambda a: a.update(version=np.array([lmod.FORMAT_VERSION + 1])),
        lambda a: a.update(segments=np.array([7])),
        lambda a: a.update(s1_positions=a["s1_positions"] + 1000),
        lambda a: a.update(s0_freqs=a["s0_freqs"][:-1]),
        lambda a: a.update(s0_indptr=a["s0_indptr"][::-1].copy()),
        lambda a: a.update(s2_ids=a["s2_ids"][::-1].copy()),
        lambda a: a.update(s0_live=a["s0_live"].astype(np.int8)),
        lambda a: a.update(s1_terms=np.frombuffer(b"w1\nw1", dtype=np.uint8)),
        lambda a: a.update(s1_ids=a["s0_ids"]),  # the same live ids in two segments
        lambda a: a.pop("s2_lengths"),
    ],
)
def test_load_rejects_inconsistent_arrays(tmp_path: Path, change):
    index, _ = _multi_segment_index()
    path = tmp_path / "lexical.npz"
    index.save(path)
    assert LexicalIndex.load(path) is not None
    _resave(path, change)
    assert LexicalIndex.load(path) is None


def test_build_is_deterministic_whatever_the_input_order(tmp_path: Path):
    rng = np.random.default_rng(1)
    ids = rng.choice(10**6, size=60, replace=False).astype(np.int64)
    texts = [" ".join(rng.choice(list("abcdefgh"), size=int(rng.integers(0, 9)))) for _ in ids]
    perm = rng.permutation(len(ids))
    LexicalIndex.build(ids, texts).save(tmp_path / "a.npz")
    LexicalIndex.build(ids[perm], [texts[i] for i in perm]).save(tmp_path / "b.npz")
    with np.load(tmp_path / "a.npz") as a, np.load(tmp_path / "b.npz") as b:
        assert a.files == b.files
        for key in a.files:
            assert a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key]), key


# -- segments and compaction -----------------------------------------------------------------


def test_compact_drops_deleted_rows_and_keeps_results(tmp_path: Path):
    index, fts = _multi_segment_index()
    before = [index.search(terms, 20) for terms in QUERIES]
    index.compact()
    assert index.segment_count == 1 and index.deleted_count == 0 and not index.needs_compaction
    assert [index.search(terms, 20) for terms in QUERIES] == before
    assert_matches_fts(index, fts, QUERIES, ks=[20])
    index.save(tmp_path / "c.npz")
    with np.load(tmp_path / "c.npz") as z:
        assert z["segments"].tolist() == [1]
        assert np.array_equal(z["s0_ids"], index.ids()) and bool(z["s0_live"].all())
        vocab = z["s0_terms"].tobytes().decode().split("\n")
    held = {t for terms in fts.db.execute("SELECT lexical FROM passages") for t in terms[0].split()}
    assert set(vocab) == held  # terms only deleted rows had are gone


def test_needs_compaction_by_segments_and_by_deleted_share():
    index = LexicalIndex.build(np.array([1]), ["a"])
    for i in range(lmod.COMPACT_SEGMENTS - 1):
        index.add(np.array([100 + i]), ["a b"])
    assert index.segment_count == lmod.COMPACT_SEGMENTS and not index.needs_compaction
    index.add(np.array([999]), ["b"])
    assert index.needs_compaction
    index.compact()
    assert not index.needs_compaction and index.count == lmod.COMPACT_SEGMENTS + 1

    index = LexicalIndex.build(np.arange(1, 11), ["a"] * 10)
    index.remove(np.array([1, 2]))
    assert index.deleted_count == 2 and not index.needs_compaction  # exactly 20%
    index.remove(np.array([3, 3, 42]))  # a repeat and an absent id count once / not at all
    assert index.deleted_count == 3 and index.count == 7 and index.needs_compaction


def test_add_rejects_live_ids_but_accepts_removed_ones():
    index = LexicalIndex.build(np.array([1, 2]), ["a", "b"])
    with pytest.raises(ValueError):
        index.add(np.array([2, 3]), ["c", "d"])
    with pytest.raises(ValueError):
        LexicalIndex.build(np.array([4, 4]), ["a", "b"])
    index.remove(np.array([2]))
    index.add(np.array([2]), ["c"])
    assert index.ids().tolist() == [1, 2] and index.search(["b"], 5) == [] and index.match_count(["c"]) == 1
    index.remove(np.array([2]))  # only the live copy goes; the dead row must not be counted again
    assert index.count == 1 and index.ids().tolist() == [1] and index.match_count(["a"]) == 1
    assert index.segment_count == 1 and index.deleted_count == 1  # the all-dead segment is dropped


def test_ties_at_the_kth_score_go_to_the_smallest_ids():
    rng = np.random.default_rng(5)
    ids = rng.choice(10**9, size=300, replace=False).astype(np.int64)
    index = LexicalIndex.build(ids, ["p q"] * 299 + ["q"])  # 299 identical scores, one better
    best = int(ids[-1])
    got = index.search(["q"], 6)
    assert [i for i, _ in got] == [best, *sorted(ids[:-1].tolist())[:5]]
    assert len({s for _, s in got[1:]}) == 1


def test_dense_and_sparse_accumulation_agree(monkeypatch):
    index, fts = _multi_segment_index()
    sparse = [index.search(terms, 30) for terms in QUERIES]
    monkeypatch.setattr(lmod, "DENSE_SHARE", 0.0)  # every query takes the dense path
    assert [index.search(terms, 30) for terms in QUERIES] == sparse
    monkeypatch.setattr(lmod, "DENSE_SHARE", math.inf)  # and now the sort path
    assert [index.search(terms, 30) for terms in QUERIES] == sparse
    assert_matches_fts(index, fts, QUERIES, ks=[30])


class _Payload:
    """Unpickling this makes a folder: the proof that a loader ran code from a file."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return (os.mkdir, (self.marker,))


def test_a_saved_index_carrying_a_pickle_is_refused_without_running_it(tmp_path):
    import numpy as np

    marker = tmp_path / "ran"
    path = tmp_path / "lexical.npz"
    with open(path, "wb") as fh:
        np.savez(fh, meta=np.array([_Payload(marker)], dtype=object))
    assert LexicalIndex.load(path) is None  # rebuilt from the store by its caller, never unpickled
    assert not marker.exists()


@pytest.mark.parametrize(
    ("candidates", "admitted", "span"), [(50, 5000, 10_000), (5000, 6000, 10_000), (5000, 60, 10**9)]
)
def test_members_by_lookup_or_mask_is_set_membership(candidates, admitted, span):
    """_members answers by binary search (few candidates, or ids spread thin) or by a mask over
    the id range (many): both are plain membership, ids past the largest admitted one included."""
    from nordsearch.search.lexical_index import _members

    rng = np.random.default_rng(candidates)
    allowed = np.unique(rng.integers(0, span, admitted))
    ids = rng.integers(0, span + 100, candidates)
    np.testing.assert_array_equal(_members(ids, allowed), np.isin(ids, allowed))
