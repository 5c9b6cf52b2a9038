"""The HTTP service over a real server on loopback, driven by httpx like any client."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from nordsearch.api import schemas
from tests.conftest import nordsearch_cli

pytestmark = pytest.mark.slow


def test_health_ready_and_openapi(client: httpx.Client):
    health = client.get("/health").json()
    assert health["status"] == "ok" and isinstance(health["process"], int)
    assert client.get("/ready").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/search" in spec["paths"] and "/documents/{document_id}" in spec["paths"]
    assert client.get("/docs").status_code == 200


def test_search_matches_cli_shape(client: httpx.Client, corpus_index):
    q = "vinterväghållning av cykelbanor"
    api = client.get("/search", params={"q": q, "k": 5}).json()
    cli = subprocess.run(
        [*nordsearch_cli(), "search", q, "-k", "5", "--json", "--index", str(corpus_index)],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=600,
    )
    cli_data = json.loads(cli.stdout)
    schemas.SearchResult.model_validate(api)  # the server encodes it itself: hold it to the schema
    assert set(api) == set(cli_data)
    assert [h["passage_id"] for h in api["results"]] == [h["passage_id"] for h in cli_data["results"]]
    assert set(api["results"][0]) == set(cli_data["results"][0])


def test_search_language_filter(client: httpx.Client):
    data = client.get("/search", params={"q": "cycling in winter", "lang": "nb", "k": 3}).json()
    assert data["results"] and all(h["language"] == "nb" for h in data["results"])


def test_documents_and_document(client: httpx.Client):
    docs = client.get("/documents").json()["documents"]
    assert len(docs) >= 15
    pdf = next(d for d in docs if d["format"] == "pdf")
    one = client.get(f"/documents/{pdf['document_id']}").json()
    assert one["title"] == pdf["title"]
    assert one["passages"] and all(p["page_start"] >= 1 for p in one["passages"])


@pytest.mark.parametrize(
    ("path", "status", "needle"),
    [
        ("/documents/does-not-exist", 404, "does-not-exist"),
        ("/search?q=", 422, "q"),
        ("/search?q=x&k=0", 422, "k"),
        ("/search?q=x&mode=bogus", 422, "mode"),
    ],
)
def test_errors_are_problem_json_naming_the_problem(
    client: httpx.Client, path: str, status: int, needle: str
):
    r = client.get(path)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and needle in body["detail"]


def test_web_page_renders_grouped_results(client: httpx.Client):
    r = client.get("/", params={"q": "skybrud og regnvand", "ui": "sv"})
    assert r.status_code == 200
    assert 'lang="sv"' in r.text and "Sök" in r.text
    assert 'class="doc"' in r.text
    # every hit links to its passage in the document view, which leads back to this search
    links = [html.unescape(h) for h in re.findall(r'class="in-document" href="([^"]+)"', r.text)]
    assert links and all("#" in link for link in links)
    target = urlsplit(links[0])
    view = client.get(f"{target.path}?{target.query}")
    assert f'id="{target.fragment}"' in view.text  # the anchor exists
    back = html.unescape(re.search(r'class="back" href="([^"]+)"', view.text).group(1))
    assert back.startswith("/?") and parse_qs(back[2:])["q"] == ["skybrud og regnvand"]
    assert client.get(back).text.count('class="doc"') == r.text.count('class="doc"')
    r = client.get("/", headers={"Accept-Language": "fi-FI,fi;q=0.9,en;q=0.5"})
    assert 'lang="fi"' in r.text and "Hae" in r.text


def test_facet_counts_in_the_api_and_as_links_that_narrow_the_page(client: httpx.Client):
    """Issue 12, point 5: every search response counts documents per language, country, year and
    theme; the page shows them as links, and a link's search holds that many documents."""
    q = "skybrud og regnvand"
    data = client.get("/search", params={"q": q, "group": "document"}).json()
    assert set(data["facets"]) == {"language", "country", "year", "theme"}
    assert sum(data["facets"]["language"].values()) == data["total"]  # one language per document
    sv = client.get("/search", params={"q": q, "group": "document", "lang": "sv"}).json()
    assert sv["total"] == data["facets"]["language"]["sv"] and sv["facets"]["language"] == {"sv": sv["total"]}
    page = client.get("/", params={"q": q, "ui": "en"}).text
    links = {
        m[1]: html.unescape(m[0])
        for m in re.findall(r'<a href="([^"]+)" data-facet="language">([^<]+?) <span', page)
    }
    assert "Swedish" in links, links
    grouped = client.get("/", params={"q": q, "ui": "en", "group": "document", "k": 3}).text
    assert f'<p class="count">1–3 / {data["total"]} documents</p>' in grouped  # the result count
    narrowed = client.get(links["Swedish"]).text
    assert narrowed.count('class="lang">Swedish') == narrowed.count('class="doc"') > 0
    # on a page already filtered to two languages, a language's link narrows to it alone
    two = client.get("/", params=[("q", q), ("ui", "en"), ("lang", "sv"), ("lang", "da")]).text
    link = html.unescape(re.search(r'<a href="([^"]+)" data-facet="language">Danish', two).group(1))
    assert parse_qs(urlsplit(link).query)["lang"] == ["da"]
