"""Result shaping on a small index with the fake embedder: grouping by document, paging,
near-duplicate collapsing, snippets, and similar documents/passages/texts."""

from __future__ import annotations

from pathlib import Path

import pytest

from nordsearch.search import SearchIndex, SearchRequest
from tests.search.search_helpers import FakeEmbedder, make_file

SHARED = "the joint climate programme of the five nordic capitals sets common targets for district heating"


@pytest.fixture
def index(index_dir: Path, embedder: FakeEmbedder):
    idx = SearchIndex.open(index_dir, embedder)
    idx.add(make_file("bike1", [f"winter cycling snow clearing cycle lanes part {i}" for i in range(6)] + [SHARED],
                      source="/c/bike1.txt"))  # fmt: skip
    idx.add(make_file("bike2", [f"winter cycling gritting cycle paths stage {i}" for i in range(4)] + [SHARED],
                      source="/c/bike2.txt"))  # fmt: skip
    idx.add(make_file("bike3", ["winter cycling in Umeå: cycle lanes are cleared of snow first"], language="sv",
                      source="/c/bike3.txt"))  # fmt: skip
    idx.add(make_file("heat", [f"district heating network heat pumps section {i}" for i in range(5)],
                      source="/c/heat.txt"))  # fmt: skip
    yield idx
    idx.close()


def test_group_by_document_one_hit_per_document_with_best_passages(index):
    res = index.search(SearchRequest("winter cycling cycle lanes snow", k=3, group="document"))
    docs = [h.document_id for h in res.results]
    assert res.group == "document" and len(docs) == len(set(docs)) == 3
    for hit in res.results:
        assert 1 <= len(hit.passages) <= 3
        assert hit.passages[0].passage_id == hit.passage_id
        assert all(p.document_id == hit.document_id for p in hit.passages)
        assert [p.score for p in hit.passages] == sorted((p.score for p in hit.passages), reverse=True)


@pytest.mark.parametrize("group", ["passage", "document"])
def test_pages_do_not_overlap(index, group):
    first = index.search(SearchRequest("winter cycling", k=2, group=group))
    second = index.search(SearchRequest("winter cycling", k=2, offset=2, group=group))
    key = (lambda h: h.passage_id) if group == "passage" else (lambda h: h.document_id)
    assert first.has_more and not {key(h) for h in first.results} & {key(h) for h in second.results}


def test_a_documents_passages_beyond_the_cap_wait_for_the_other_documents(index):
    """One long report matching the query must not fill a page of passages (the Finnish winter
    cycling programme's ten short sections took 8 of the top 10 for a Finnish question)."""
    q = "winter cycling snow clearing cycle lanes part"

    def bike1_before_the_last_other(res) -> int:
        docs = [h.document_id for h in res.results]
        last_other = max(i for i, d in enumerate(docs) if d != "bike1")
        return docs[:last_other].count("bike1")

    plain = index.search(SearchRequest(q, k=8, passages_per_document=10, snippets=False))
    assert bike1_before_the_last_other(plain) > 3  # the case the cap is for
    res = index.search(SearchRequest(q, k=8, snippets=False))
    assert len(res.results) == 8 and bike1_before_the_last_other(res) == 3
    # restricted to two documents: every passage comes, the capped ones last, and scores never go up
    two = index.search(SearchRequest(q, k=12, document_ids=["bike1", "heat"], snippets=False))
    docs = [h.document_id for h in two.results]
    assert len(docs) == 7 + 5 and sorted(docs[:6]) == ["bike1"] * 3 + ["heat"] * 3  # three of each first
    assert [h.score for h in two.results] == sorted((h.score for h in two.results), reverse=True)
    # restricted to one document, its passages all come, best first (never fewer than k)
    one = index.search(SearchRequest(q, k=5, document_ids=["bike1"], snippets=False))
    assert [h.document_id for h in one.results] == ["bike1"] * 5
    assert [h.score for h in one.results] == sorted((h.score for h in one.results), reverse=True)


def test_a_hit_cites_the_page_of_its_best_sentence(index_dir: Path, embedder: FakeEmbedder):
    text = "District heating plans are on page four. Snow clearing of cycle lanes is on page five."
    f = make_file("paged", [text])
    p = f.passages[0]
    cut = text.index("Snow")
    p.page_start, p.page_end = 4, 5
    p.sentences, p.page_breaks = [(0, cut - 1), (cut, len(text))], [(cut, 5)]
    idx = SearchIndex.open(index_dir, embedder)
    idx.add(f)
    hit = idx.search(SearchRequest("snow clearing cycle lanes", k=1)).results[0]
    assert hit.best_sentence.startswith("Snow") and (hit.page, hit.page_end) == (5, 5)
    plain = idx.search(SearchRequest("snow clearing cycle lanes", k=1, snippets=False)).results[0]
    assert (plain.page, plain.page_end) == (4, 5)  # without a best sentence: the passage's pages
    assert idx.passages("paged")[0].page_breaks == [(cut, 5)]  # stored and read back
    idx.close()


def test_same_text_in_two_reports_is_collapsed(index):
    res = index.search(SearchRequest(SHARED, k=10, mode="lexical"))
    shared = [h for h in res.results if h.text == SHARED]
    assert len(shared) == 1 and len(shared[0].duplicates) == 1
    res = index.search(SearchRequest(SHARED, k=10, mode="lexical", collapse_duplicates=False))
    assert sum(h.text == SHARED for h in res.results) == 2


def test_hits_carry_snippet_highlights_and_best_sentence(index):
    res = index.search(SearchRequest("snow cycle lanes", k=3))
    for hit in res.results:
        assert hit.snippet and hit.best_sentence
        s, e = hit.best_sentence_span
        assert hit.snippet[s:e] == hit.best_sentence
        marked = {hit.snippet[a:b].lower() for a, b in hit.highlights}
        assert marked and marked <= {"snow", "cycle", "cycling", "lanes", "lane"}  # same stems
    plain = index.search(SearchRequest("snow cycle lanes", k=3, snippets=False))
    assert all(not h.snippet for h in plain.results)


def test_similar_documents_exclude_the_document_itself(index):
    items = index.similar_documents("bike1", k=5)
    ids = [i.document_id for i in items]
    assert "bike1" not in ids and ids[0] in {"bike2", "bike3"} and len(ids) == 3
    assert all(i.text and i.passage_id for i in items)
    assert index.similar_documents("nope") == []


def test_similar_passages_come_from_other_documents(index):
    pid = index.passages("bike1")[0].passage_id
    items = index.similar_passages(pid, k=4)
    assert items and all(i.document_id != "bike1" for i in items)
    assert index.similar_passages("missing-00000") is None


def test_similar_to_text_with_exclusion(index):
    items = index.similar_to_text("heat pumps and the district heating network", k=2)
    assert items[0].document_id == "heat"
    items = index.similar_to_text("heat pumps and the district heating network", k=2, exclude_document="heat")
    assert "heat" not in {i.document_id for i in items}
    passages = index.similar_to_text("winter cycling cycle lanes", k=3, passages=True)
    assert len(passages) == 3 and len({p.passage_id for p in passages}) == 3


def test_documents_from_files_with_the_same_name_are_each_others_similar_cases(index_dir: Path, embedder):
    """Two cities' plan.pdf are two documents: "same document" is decided by the document id and
    the content, never by the file name."""
    with SearchIndex.open(index_dir, embedder) as idx:
        idx.add(make_file("oulu", [f"winter cycling snow clearing cycle lanes in Oulu part {i}" for i in range(4)],
                          source="/uploads/aa11/plan.pdf"))  # fmt: skip
        idx.add(make_file("umea", [f"winter cycling gritting cycle paths in Umeå stage {i}" for i in range(3)],
                          source="/uploads/bb22/plan.pdf"))  # fmt: skip
        idx.add(make_file("heat", [f"district heating network heat pumps section {i}" for i in range(3)],
                          source="/uploads/cc33/heat.pdf"))  # fmt: skip
        assert "umea" in {i.document_id for i in idx.similar_documents("oulu", k=5)}
        assert "oulu" in {i.document_id for i in idx.similar_documents("umea", k=5)}
        pid = idx.passages("oulu")[0].passage_id
        assert "umea" in {i.document_id for i in idx.similar_passages(pid, k=5)}
        text = "winter cycling snow clearing cycle lanes"
        assert "umea" in {i.document_id for i in idx.similar_to_text(text, k=5, exclude_document="oulu")}


def test_a_copy_of_the_same_text_in_another_file_is_not_a_similar_case(index_dir: Path, embedder):
    """The same text as a PDF and as its Markdown export (other bytes, so another document id, and
    cut into passages a little differently): one document, never each other's similar case. The
    text decides, not the vectors: the fake embedder gives the same words in another order the
    same vector, and that document is a similar case."""
    texts = [f"winter cycling snow clearing cycle lanes part {i}" for i in range(6)]
    shuffled = [" ".join(reversed(t.split())) for t in texts]
    with SearchIndex.open(index_dir, embedder) as idx:
        idx.add(make_file("pdf", texts, source="/c/plan.pdf"))
        idx.add(make_file("md", [" ".join(texts[:2]), *texts[2:]], source="/c/plan_text_twin.md"))
        idx.add(make_file("reordered", shuffled, source="/c/reordered.pdf"))
        idx.add(make_file("other", [f"winter cycling gritting cycle paths stage {i}" for i in range(4)],
                          source="/c/other.pdf"))  # fmt: skip
        for doc in ("pdf", "md"):
            assert {i.document_id for i in idx.similar_documents(doc, k=5)} == {"reordered", "other"}
        assert "pdf" in {i.document_id for i in idx.similar_documents("reordered", k=5)}
        pid = idx.passages("pdf")[0].passage_id
        assert "md" not in {i.document_id for i in idx.similar_passages(pid, k=10)}
        text = "winter cycling snow clearing"
        assert "md" not in {i.document_id for i in idx.similar_to_text(text, k=5, exclude_document="pdf")}


def test_a_documents_minhash_is_the_union_of_its_passages():
    from nordsearch.search.duplicates import minhash_jaccard, signature, union_minhash

    a, b = "winter cycling snow clearing cycle lanes", "district heating network heat pumps"
    doc = union_minhash([signature(a), signature(b)])
    assert minhash_jaccard(doc, union_minhash([signature(b), signature(a)])) == 1.0
    assert minhash_jaccard(doc, union_minhash([signature(a)])) < 1.0
    assert minhash_jaccard(union_minhash([signature(a)]), union_minhash([signature(b)])) < 0.2
    assert union_minhash([signature("")]) is None


def test_bad_group_is_rejected():
    with pytest.raises(ValueError):
        SearchRequest("x", group="chapter")  # type: ignore[arg-type]
