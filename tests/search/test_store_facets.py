"""search.store_facets through the Store and a search: documents per language, country, year and
theme among the documents holding what a search pages through."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nordsearch.search import SearchIndex, SearchRequest
from tests.search.search_helpers import FakeEmbedder, make_file, upsert


def _add(store, embedder, doc, texts, language="en", country=None, year=None, themes=None):
    metadata = {k: v for k, v in (("country", country), ("year", year)) if v is not None}
    return upsert(
        store, embedder, make_file(doc, texts, language=language, metadata=metadata, themes=themes)
    ).added_ids


def test_facets_count_documents_among_the_passages_given(store, embedder):
    a = _add(store, embedder, "a", ["a one", "a two"], "fi", "FI", 2024, [["transport"], ["housing"]])
    b = _add(store, embedder, "b", ["b one"], "sv", " SE ", 2023, [["transport"]])
    c = _add(store, embedder, "c", ["c one", "c two"], "sv")  # no country, year or theme
    every = store.facet_counts(None)
    assert every == {
        "language": {"sv": 2, "fi": 1},
        "country": {"FI": 1, "SE": 1},  # trimmed as the filter compares it
        "year": {"2023": 1, "2024": 1},
        "theme": {"transport": 2, "housing": 1},
    }
    assert store.facet_counts(np.array(sorted([a[1], *c]))) == {
        "language": {"fi": 1, "sv": 1}, "country": {"FI": 1}, "year": {"2024": 1},
        "theme": {"housing": 1, "transport": 1},  # the document's own themes
    }  # fmt: skip
    assert store.facet_counts(np.array(b)) == {
        "language": {"sv": 1}, "country": {"SE": 1}, "year": {"2023": 1}, "theme": {"transport": 1}
    }  # fmt: skip
    assert store.facet_counts(np.zeros(0, dtype=np.int64)) == {f: {} for f in every}
    store.delete_document("b")  # a new generation: read again
    assert store.facet_counts(None)["country"] == {"FI": 1}


def test_every_search_reports_the_facets_of_what_it_pages_through(tmp_path: Path):
    idx = SearchIndex.open(tmp_path / "index", FakeEmbedder())
    idx.add(make_file("fi", ["winter cycling in Oulu", "snow on cycle lanes"], language="fi",
                      metadata={"country": "FI"}))  # fmt: skip
    idx.add(
        make_file("sv", ["vinter cykling", "district heating"], language="sv", metadata={"country": "SE"})
    )
    idx.add(make_file("da", ["harbour baths"], language="da", metadata={"country": "DK"}))
    res = idx.search(SearchRequest("winter cycling", k=1))
    assert res.facets["country"] == {"DK": 1, "FI": 1, "SE": 1}  # dense: every passage is eligible
    assert len(res.results) == 1  # facets count the whole set, not the page
    res = idx.search(SearchRequest("cycling", k=5, mode="lexical"))
    assert res.facets["language"] == {"fi": 1}  # lexical: only passages holding a query word
    res = idx.search(SearchRequest("winter cycling", k=5, languages=["sv", "da"], group="document"))
    assert res.facets["language"] == {"da": 1, "sv": 1} and res.total == 2
    res = idx.search(SearchRequest("winter cycling", k=5, group="country"))
    assert res.facets["country"] == {"DK": 1, "FI": 1, "SE": 1}
    idx.close()
