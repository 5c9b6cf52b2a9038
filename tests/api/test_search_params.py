"""One search request shape for every face: GET /search (query parameters), POST /search (JSON
body) and the web page read the same SearchParams, so the same filters give the same results and
the same mistakes the same 422. In process (FastAPI's TestClient), over a small index with a fake
embedder; the real-model versions are in test_http_read.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from nordsearch.api.http import create_app
from nordsearch.api.request import LIST_FIELDS, SearchParams, to_search_request
from nordsearch.ingest.settings import Settings
from nordsearch.search import SearchIndex
from tests.search.search_helpers import FakeEmbedder, make_file

BUS = ["bus lanes in the city centre", "more bus lanes and bus stops", "cycling lanes beside bus lanes"]


def _texts(doc_id: str, n: int = 3) -> list[str]:  # distinct texts: duplicate collapsing stays out
    return [f"{text} of {doc_id} plan {i}" for i, text in enumerate(BUS[:n])]


FILES = [
    make_file("oulu20", _texts("oulu20"), metadata={"city": "Oulu", "country": "FI", "year": 2020}),
    make_file("oulu12", _texts("oulu12", 2), metadata={"city": "Oulu", "country": "FI", "year": 2012}),
    make_file(
        "malmo", _texts("malmo"), language="sv", metadata={"city": "Malmö", "country": "SE", "year": 2018}
    ),
    make_file(
        "nordic", _texts("nordic"), metadata={"city": "Nordic", "country": "FI, SE, NO, DK", "year": 2024}
    ),
    make_file("themed", _texts("themed"), metadata={"year": 2021}, themes=[["circular-economy"]] * 3),
]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    index_dir = tmp_path_factory.mktemp("params") / "index"
    app = create_app(index_dir, settings=Settings())
    index = SearchIndex.open(index_dir, embedder=FakeEmbedder(), create=True)
    for f in FILES:
        index.add(f)
    app.state.holder.index = index  # no lifespan: the fake index stands in for the loaded one
    try:
        yield TestClient(app)
    finally:
        index.close()


def _as_query(body: dict) -> list[tuple[str, str]]:
    """A JSON body as GET query parameters: a list as the parameter repeated."""
    pairs = []
    for name, value in body.items():
        pairs += [(name, str(v)) for v in value] if isinstance(value, list) else [(name, str(value))]
    return pairs


FILTERS = [
    ({"city": ["oulu"]}, {"oulu20", "oulu12"}),
    ({"city": ["Oulu", "MALMÖ"]}, {"oulu20", "oulu12", "malmo"}),
    ({"country": ["SE"]}, {"malmo"}),
    ({"country": ["FI, SE, NO, DK"]}, {"nordic"}),  # a free-text value with commas is one value
    ({"year_from": 2019}, {"oulu20", "nordic", "themed"}),
    ({"year_to": 2015}, {"oulu12"}),
    ({"year_from": 2013, "year_to": 2020}, {"oulu20", "malmo"}),
    ({"document_id": ["malmo", "themed"]}, {"malmo", "themed"}),
    ({"document_id": ["malmo,themed"]}, {"malmo", "themed"}),
    ({"lang": ["sv"]}, {"malmo"}),
    ({"theme": ["circular-economy"]}, {"themed"}),
    ({"city": ["oulu"], "year_from": 2015, "group": "document"}, {"oulu20"}),
]


@pytest.mark.parametrize(("filters", "documents"), FILTERS)
@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_get_and_post_give_the_same_results_for_the_same_filters(client, filters, documents, mode):
    body = {"q": "bus lanes", "k": 20, "mode": mode, **filters}
    got = client.get("/search", params=_as_query(body))
    posted = client.post("/search", json=body)
    assert got.status_code == posted.status_code == 200, (got.text, posted.text)
    assert got.json() == posted.json()
    assert {h["document_id"] for h in got.json()["results"]} == documents


def test_get_ignores_unknown_parameters_but_post_refuses_them(client):
    assert client.get("/search", params={"q": "bus", "ui": "fi", "_": "123"}).status_code == 200
    r = client.post("/search", json={"q": "bus", "ui": "fi"})
    assert r.status_code == 422 and "ui" in r.json()["detail"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"q": "bus", "mode": "fuzzy"}, "mode"),
        ({"q": "bus", "k": 0}, "k"),
        ({"q": "bus", "k": 201}, "k"),
        ({"q": "bus", "offset": -1}, "offset"),
        ({"q": "bus", "group": "pages"}, "group"),
        ({"q": "bus", "year_from": "soon"}, "year_from"),
        ({"q": "bus", "lang": ["klingon"]}, "lang"),
        ({"q": "bus", "theme": ["Not a theme id"]}, "theme"),
        ({"q": "bus", "theme": ["transport,cycling"]}, "theme"),  # well-formed, not in the taxonomy
        ({"q": "bus", "city": [""]}, "city"),
        ({"q": ""}, "q"),
    ],
)
def test_invalid_values_get_the_same_422_from_get_and_post(client, params, field):
    got = client.get("/search", params=_as_query(params))
    posted = client.post("/search", json=params)
    assert got.status_code == posted.status_code == 422
    assert got.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in got.json()["errors"]] == [e["field"] for e in posted.json()["errors"]]
    assert got.json()["errors"][0]["field"].startswith(field)
    assert field in got.json()["detail"]


def test_unknown_values_are_named_with_the_valid_ones(client):
    theme = client.get("/search", params={"q": "bus", "theme": "cycling"}).json()["detail"]
    assert "unknown theme 'cycling'" in theme and "transport" in theme and "low-carbon" in theme
    lang = client.post("/search", json={"q": "bus", "lang": ["fi", "klingon"]}).json()["detail"]
    assert "unknown language 'klingon'" in lang and "fi, sv, nb, da, en" in lang


def test_a_document_id_prefix_works_everywhere_and_an_ambiguous_one_is_named(client):
    """Issue 12: the 12-character prefix `nordsearch documents` prints names a document in every
    request that takes an id; a prefix of several ids, or of none, is an error, never an empty 200."""
    get = client.get("/search", params={"q": "bus lanes", "document_id": "malm"})
    post = client.post("/search", json={"q": "bus lanes", "document_id": ["malm"]})
    for r in (get, post):
        assert r.status_code == 200 and {h["document_id"] for h in r.json()["results"]} == {"malmo"}
    for given, status, words in (("oulu", 422, "ambiguous"), ("nope", 422, "no document")):
        for r in (
            client.get("/search", params={"q": "bus", "document_id": given}),
            client.post("/search", json={"q": "bus", "document_id": [given]}),
        ):
            assert (
                r.status_code == status and words in r.json()["detail"] and repr(given) in r.json()["detail"]
            )
    doc = client.get("/documents/oulu2")
    assert (
        doc.status_code == 200 and doc.json()["document_id"] == "oulu20" and len(doc.json()["passages"]) == 3
    )
    ambiguous = client.get("/documents/oulu")
    assert (
        ambiguous.status_code == 422 and "(oulu12…, oulu20…); give more of it" in ambiguous.json()["detail"]
    )
    assert client.get("/documents/nope").status_code == 404
    similar = client.get("/documents/malm/similar", params={"k": 2}).json()["results"]
    assert similar and "malmo" not in {i["document_id"] for i in similar}
    body = {"text": "bus lanes of malmo plan", "k": 5, "exclude_document": "malm"}
    assert "malmo" not in {i["document_id"] for i in client.post("/similar", json=body).json()["results"]}
    assert client.get("/view/malm").status_code == 200 and "oulu20" not in client.get("/view/malm").text


def test_a_browser_gets_errors_as_pages_in_its_language_and_api_clients_problem_json(client):
    html = {"accept": "text/html,application/xhtml+xml", "accept-language": "nb-NO,nb;q=0.9"}
    page = client.get("/view/nope", headers=html)
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert '<html lang="nb">' in page.text and "Siden finnes ikke" in page.text
    assert "no document with id &#39;nope&#39;" in page.text and 'href="/?ui=nb"' in page.text
    page = client.get("/no/such/page", headers={**html, "accept-language": "da"})
    assert (
        page.status_code == 404
        and "Siden findes ikke" in page.text
        and "no page at /no/such/page" in page.text
    )
    page = client.get("/view/oulu", headers=html)  # an ambiguous prefix
    assert page.status_code == 422 and "Noe gikk galt" in page.text and "ambiguous" in page.text
    for r in (
        client.get("/view/nope"),
        client.get("/no/such/page"),
        client.get("/documents/nope", headers=html),
    ):
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"


def test_the_page_speaks_all_five_languages(client):
    for ui, button in (("fi", "Hae"), ("sv", "Sök"), ("nb", "Søk"), ("da", "Søg"), ("en", "Search")):
        page = client.get("/", params={"ui": ui, "q": "bus lanes"})
        assert f'<html lang="{ui}">' in page.text and f">{button}</button>" in page.text, ui
    page = client.get("/", headers={"accept-language": "no"})  # "Norwegian": bokmål
    assert '<html lang="nb">' in page.text


def test_results_export_as_citation_rows_in_csv_and_json_lines(client):
    import csv
    import io
    import json

    from nordsearch.api.export import FIELDS

    params = {"q": "bus lanes", "country": "SE", "k": 3}
    r = client.get("/search/export", params={**params, "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="nordsearch-results.csv"' in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert tuple(rows[0]) == FIELDS and len(rows) == 3
    assert {(x["title"], x["city"], x["country"], x["year"], x["language"]) for x in rows} == {
        ("Title malmo", "Malmö", "SE", "2018", "sv")
    }
    assert [x["rank"] for x in rows] == ["1", "2", "3"]
    assert all(x["link"] == f"http://testserver/view/malmo#{x['passage_id']}" for x in rows)
    lines = client.get("/search/export", params={**params, "format": "jsonl", "offset": 1}).text.splitlines()
    records = [json.loads(line) for line in lines]
    assert [x["rank"] for x in records] == [2, 3] and records[0]["year"] == 2018 and records[0]["url"] is None
    assert {x["passage_id"] for x in records} < {x["passage_id"] for x in rows}
    assert client.get("/search/export", params={**params, "format": "xml"}).status_code == 422
    assert client.get("/search/export", params={"q": "bus", "document_id": "nope"}).status_code == 422
    page = client.get("/", params={"q": "bus lanes", "ui": "en"}).text
    assert "/search/export?format=csv&amp;q=bus+lanes" in page and "Export with citations" in page


def test_similar_cases_can_be_limited_to_other_countries(client):
    near = client.get("/documents/oulu20/similar", params={"k": 10}).json()["results"]
    assert "oulu12" in {i["document_id"] for i in near}  # same country, FI
    abroad = client.get("/documents/oulu20/similar", params={"k": 10, "other_countries": "true"}).json()
    assert abroad["other_countries"] is True
    assert {i["document_id"] for i in abroad["results"]} == {
        "malmo",
        "nordic",
        "themed",
    }  # SE, "FI, SE, …", none
    r = client.get("/documents/themed/similar", params={"other_countries": "true"})
    assert r.status_code == 422 and "no country" in r.json()["detail"]


def test_a_query_of_spaces_is_422_on_both(client):
    for r in (client.get("/search", params={"q": "   "}), client.post("/search", json={"q": "   "})):
        assert r.status_code == 422 and "empty" in r.json()["detail"]


def test_the_web_page_reads_the_same_parameters(client):
    page = client.get("/", params=[("q", "bus lanes"), ("city", "malmö"), ("ui", "en")])
    assert page.status_code == 200
    assert 'data-document-id="malmo"' in page.text and 'data-document-id="oulu20"' not in page.text
    # the form shows the city, country and year filters it searched with, so the next question keeps them
    assert (
        '<input type="text" name="city" value="malmö"' in page.text
        and 'name="city" value="malmö">' not in page.text
    )
    assert '<details class="filters" open>' in page.text
    page = client.get(
        "/", params=[("q", "bus lanes"), ("year_from", "2019"), ("country", "FI"), ("ui", "fi")]
    )
    assert 'name="year_from" value="2019"' in page.text and 'name="country" value="FI"' in page.text
    assert "Kaupunki, maa, vuosi" in page.text and 'data-document-id="oulu20"' in page.text
    assert 'data-document-id="oulu12"' not in page.text  # 2012
    page = client.get("/", params=[("q", "bus lanes"), ("mode", "dense")])  # no input: a hidden one
    assert (
        '<input type="hidden" name="mode" value="dense">' in page.text
        and '<details class="filters">' in page.text
    )
    # the form's "all languages" sends lang= (empty): no filter, not an error
    page = client.get("/", params=[("q", "bus lanes"), ("lang", ""), ("year_to", "2015")])
    assert 'data-document-id="oulu12"' in page.text and 'data-document-id="malmo"' not in page.text
    page = client.get("/", params={"q": "bus", "mode": "fuzzy"})
    assert page.status_code == 200 and 'class="error"' in page.text and "mode" in page.text
    page = client.get("/", params={"q": "bus", "offset": "soon"})  # a hand-edited URL: a message
    assert page.status_code == 200 and 'class="error"' in page.text and "offset" in page.text


def test_a_document_card_shows_its_best_passage_and_folds_the_rest(client):
    page = client.get("/", params={"q": "bus lanes", "k": 10, "ui": "en"}).text
    cards = page.split('<li class="doc"')[1:]
    assert cards and len({c.split('"')[1] for c in cards}) == len(cards)  # one card per document
    folded = [c for c in cards if '<details class="more">' in c]
    assert folded, "with 10 passages of 5 documents some card holds more than one"
    for card in folded:
        best, rest = card.split('<details class="more">', 1)
        hit = '<div class="hit">'
        assert best.count(hit) == 1 and rest.count(hit) >= 1
        assert f"More from this document ({rest.count(hit)})" in rest


def test_a_hit_links_to_its_original_file_and_a_missing_one_is_named(client):
    page = client.get("/", params={"q": "bus lanes", "ui": "en"}).text
    assert 'class="original" href="/documents/' in page and ">Original file</a>" in page
    r = client.get("/documents/malmo/file")  # the fake index's sources are not files
    assert r.status_code == 404 and "no longer at" in r.json()["detail"]


def test_the_home_page_shows_the_collection_and_example_questions(client):
    import html
    import re

    page = html.unescape(client.get("/", params={"ui": "en"}).text)
    assert "In the collection" in page and f"{len(FILES)} documents" in page
    facets = re.findall(r'<span class="facet">([^<]*)</span>', page)
    assert "English 4" in facets and "Swedish 1" in facets  # per language
    assert "FI 2" in facets and "SE 1" in facets and "FI, SE, NO, DK 1" in facets  # per country, as written
    assert any(f.startswith("Circular economy") for f in facets), facets  # per theme, by its label
    examples = re.findall(r'<li lang="(\w+)"><a href="/\?q=([^"&]+)&', page)
    assert [lang for lang, _ in examples] == ["fi", "sv", "nb", "da", "en"]
    assert "Try asking" in page and client.get("/", params={"q": "bus"}).text.count("In the collection") == 0


def test_the_web_page_pages_keep_every_filter(client):
    page = client.get("/", params=[("q", "bus lanes"), ("k", "1"), ("country", "FI"), ("ui", "en")])
    assert "offset=1" in page.text and "country=FI" in page.text and "k=1" in page.text


def test_to_search_request_maps_every_field():
    params = SearchParams(
        q="  bus  ", k=5, offset=10, mode="dense", lang=["fi,sv", "no"], theme=["transport"],
        city=["Oulu"], country=["FI, SE"], year_from=2000, year_to=2020, document_id=["a,b"],
        group="document",
    )  # fmt: skip
    request = to_search_request(params)
    assert (request.q, request.k, request.offset, request.mode, request.group) == (
        "bus", 5, 10, "dense", "document",
    )  # fmt: skip
    assert request.languages == ["fi", "sv", "no"] and request.themes == ["transport"]
    assert request.cities == ["Oulu"] and request.countries == ["FI, SE"]
    assert (request.year_from, request.year_to, request.document_ids) == (2000, 2020, ["a", "b"])
    assert set(LIST_FIELDS) == {"lang", "theme", "city", "country", "document_id"}
