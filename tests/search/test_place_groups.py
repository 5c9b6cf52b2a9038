"""group="country"/"city": the best documents of each place side by side (fake embedder)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nordsearch.search import SearchIndex, SearchRequest
from tests.search.search_helpers import FakeEmbedder, make_file

Q = "winter cycling snow clearing cycle lanes"


@pytest.fixture
def index(index_dir: Path, embedder: FakeEmbedder):
    idx = SearchIndex.open(index_dir, embedder)

    def on_topic(tag: str) -> list[str]:
        return [
            f"winter cycling snow clearing cycle lanes {w} {tag}{w}"
            for w in ("east", "west", "north", "south")
        ]

    # Finland: many close matches; Sweden and Denmark: one weak match each, far below every Finnish
    # document in a plain ranking; one document without a country
    for i, city in enumerate(("Oulu", "Oulu", "Tampere", "Tampere", "Lahti", "Lahti")):
        idx.add(make_file(f"fi{i}", on_topic(f"fi{i}"), metadata={"country": "FI", "city": city}))
    idx.add(
        make_file(
            "se",
            ["cycle parking at stations", "district heating"],
            metadata={"country": "SE", "city": "Umeå"},
        )
    )
    idx.add(
        make_file("dk", ["snow on harbour quays", "bus lanes"], metadata={"country": "dk", "city": "Aarhus"})
    )
    idx.add(make_file("none", on_topic("none")))
    yield idx
    idx.close()


def places(res) -> list[tuple[str, str]]:
    return [(h.group_value, h.document_id) for h in res.results]


def test_every_country_gets_its_own_best_documents_even_when_another_outranks_them_all(index):
    plain = index.search(SearchRequest(Q, k=6, group="document"))
    assert not {"se", "dk"} & {h.document_id for h in plain.results}  # a top list alone would lose them
    res = index.search(SearchRequest(Q, k=2, group="country"))
    got = places(res)
    assert [g for g, _ in got][:2] == ["FI", "FI"] and sorted(g for g, _ in got[2:]) == ["SE", "dk"], got
    assert ("SE", "se") in got and ("dk", "dk") in got
    assert "none" not in {d for _, d in got}  # no country in its metadata: in no group
    assert res.total == 6 + 1 + 1 and res.has_more  # FI has four more documents
    for hit in res.results:  # document-level hits, each with its best passages
        assert hit.passages and hit.passages[0].passage_id == hit.passage_id
    fi = [h.score for h in res.results if h.group_value == "FI"]
    assert fi == sorted(fi, reverse=True)
    # places in the order of their best document
    firsts = [
        next(h.score for h in res.results if h.group_value == g) for g in dict.fromkeys(g for g, _ in got)
    ]
    assert firsts == sorted(firsts, reverse=True)


def test_the_requests_own_filters_narrow_the_places(index):
    res = index.search(SearchRequest(Q, k=3, group="country", countries=["fi", "SE"]))
    assert {g for g, _ in places(res)} == {"FI", "SE"}
    res = index.search(SearchRequest(Q, k=1, group="city", countries=["FI"]))
    assert len(res.results) == 3 and all(h.document_id.startswith("fi") for h in res.results)
    assert {g for g, _ in places(res)} == {"Oulu", "Tampere", "Lahti"}  # one document each


def test_paging_counts_documents_within_each_place(index):
    first = index.search(SearchRequest(Q, k=2, group="country", countries=["FI"]))
    second = index.search(SearchRequest(Q, k=2, offset=2, group="country", countries=["FI"]))
    ids = [h.document_id for h in first.results + second.results]
    assert len(ids) == 4 == len(set(ids)) and second.has_more
