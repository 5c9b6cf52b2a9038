"""api.web's document cards: the facts and the web address a card shows come from the document's
metadata (a real index with the fake embedder)."""

from __future__ import annotations

from pathlib import Path

from nordsearch.api.web import add_document_facts
from nordsearch.search import SearchIndex
from tests.search.search_helpers import FakeEmbedder, make_file


def test_a_card_shows_city_country_year_and_only_an_http_web_address(tmp_path: Path):
    idx = SearchIndex.open(tmp_path / "index", FakeEmbedder())
    metas = {
        "web": {"city": "Havnby", "country": "DK", "year": 2024, "url": "https://havnby.example/plan"},
        "script": {"city": " ", "year": 2023, "url": "javascript:alert(1)"},
        "none": {},
    }
    for doc, meta in metas.items():
        idx.add(make_file(doc, [f"text of {doc}"], metadata=meta))
    groups = [{"document_id": d} for d in (*metas, "gone")]
    add_document_facts(idx, groups)
    got = {g["document_id"]: (g["facts"], g["url"]) for g in groups}
    assert got == {
        "web": (["Havnby", "DK", "2024"], "https://havnby.example/plan"),
        "script": (["2023"], ""),  # never a javascript: link, and no empty city
        "none": ([], ""),
        "gone": ([], ""),  # removed since the search: the card still renders
    }
    idx.close()
