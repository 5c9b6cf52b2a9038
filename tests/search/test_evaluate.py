import math
from pathlib import Path

import pytest

from nordsearch.search.evaluate import (
    EvalQuery,
    capped_recall,
    doc_key,
    document_ranking,
    evaluate,
    format_table,
    load_qrels,
    load_queries,
    mrr,
    ndcg,
    precision,
    recall,
)


def test_doc_key_maps_text_twin_to_its_pdf():
    assert doc_key("/x/fi_ohjelma_2011_text_twin.md") == "fi_ohjelma_2011.pdf"
    assert doc_key("/x/fi_ohjelma_2011.pdf") == "fi_ohjelma_2011.pdf"


def test_document_rank_is_rank_of_best_passage():
    assert document_ranking(["/a/x.md", "/a/y.md", "/b/x.md", "z_text_twin.md", "z.pdf"]) == [
        "x.md",
        "y.md",
        "z.pdf",
    ]


def test_ndcg_hand_computed():
    grades = {"a": 2, "b": 1}
    # ranking b, c, a: dcg = 1/log2(2) + 0 + 3/log2(4) = 1 + 1.5; ideal = 3/1 + 1/log2(3)
    expected = (1 + 3 / 2) / (3 + 1 / math.log2(3))
    assert ndcg(["b", "c", "a"], grades) == pytest.approx(expected)
    assert ndcg(["a", "b"], grades) == pytest.approx(1.0)
    assert ndcg(["c"], {}) == 0.0


def test_recall_mrr_precision():
    grades = {"a": 2, "b": 1, "c": 2}
    ranking = ["x", "b", "y", "a"]
    assert recall(ranking, grades, 10) == pytest.approx(2 / 3)
    assert recall(ranking, grades, 2) == pytest.approx(1 / 3)
    assert mrr(ranking, grades) == pytest.approx(0.5)
    assert precision(ranking, grades, 5) == pytest.approx(2 / 5)
    assert capped_recall(ranking, grades, 10, 2) == pytest.approx(1 / 2)
    many = {f"d{i}": 2 for i in range(20)}
    assert capped_recall([f"d{i}" for i in range(10)], many, 10, 2) == pytest.approx(1.0)


def test_evaluate_groups_by_language_and_cross_lingual(tmp_path: Path):
    (tmp_path / "q.jsonl").write_text(
        '{"id": "q1", "lang": "fi", "text": "a", "cross_lingual": true}\n'
        '{"id": "q2", "lang": "sv", "text": "b", "cross_lingual": false}\n',
        encoding="utf-8",
    )
    (tmp_path / "qrels.tsv").write_text("q1 0 a.md 2\nq2 0 b.md 1\n", encoding="utf-8")
    queries = load_queries(tmp_path / "q.jsonl")
    qrels = load_qrels(tmp_path / "qrels.tsv")
    runs = {"q1": ["/c/a.md"], "q2": ["/c/x.md", "/c/b.md"]}
    (report,) = evaluate(queries, qrels, lambda q, mode: runs[q.qid], modes=["dense"])
    assert report.groups["lang:fi"]["ndcg@10"] == pytest.approx(1.0)
    assert report.groups["lang:sv"]["mrr@10"] == pytest.approx(0.5)
    assert report.groups["cross-lingual"]["xl_recall@10"] == pytest.approx(1.0)
    assert report.groups["all"]["queries"] == 2
    assert report.groups["monolingual"]["mrr@10"] == pytest.approx(0.5)
    table = format_table([report]).splitlines()  # the Markdown the README shows
    assert table[0] == "| mode | nDCG@10 | R@10 | R@100 | MRR@10 | P@5 | xl R@10 (1 cross-lingual queries) |"
    assert (
        table[2]
        == "| dense (centred vectors, hub correction) | 0.815 | 1.000 | 1.000 | 0.750 | 0.200 | 1.000 |"
    )
    assert table[4] == "| nDCG@10 by query group | fi (1) | sv (1) | cross-lingual (1) | monolingual (1) |"
    assert table[6].startswith("| dense (centred vectors, hub correction) | 1.000 | 0.631 | 1.000 | 0.631 |")


def test_bad_qrels_line_names_file_and_line(tmp_path: Path):
    bad = tmp_path / "qrels.tsv"
    bad.write_text("q1 0 a.md\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"qrels.tsv:1"):
        load_qrels(bad)
    assert EvalQuery("x", "y").lang == ""


def test_baseline_ranks_by_plain_cosine_of_the_raw_vectors(tmp_path: Path):
    from nordsearch.search import SearchIndex
    from nordsearch.search.evaluate import BASELINE, rank_with_index
    from tests.search.search_helpers import FakeEmbedder, make_file

    embedder = FakeEmbedder()
    idx = SearchIndex.open(tmp_path / "index", embedder)
    try:
        idx.add(make_file("a", ["tram depot plan", "school meals"], source="/c/a.txt"))
        idx.add(make_file("b", ["flood barrier", "tram depot"], language="fi", source="/c/b.txt"))
        ranking = rank_with_index(idx)(EvalQuery("q", "tram depot"), BASELINE)
        texts = ["tram depot plan", "school meals", "flood barrier", "tram depot"]
        sims = embedder.embed_passages(texts) @ embedder.embed_queries(["tram depot"])[0]
        expected = [
            ["/c/a.txt", "/c/a.txt", "/c/b.txt", "/c/b.txt"][i] for i in (-sims).argsort(kind="stable")
        ]
        assert ranking == expected and ranking[0] == "/c/b.txt"
    finally:
        idx.close()
