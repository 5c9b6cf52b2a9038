"""More of the read API over the shared loopback server, and the CLI's --json giving the same shapes."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import nordsearch_cli

pytestmark = pytest.mark.slow


def cli_json(*args: str) -> dict:
    proc = subprocess.run(
        [*nordsearch_cli(), *args, "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_post_search_equals_get_search(client: httpx.Client):
    q = "hulevesien hallinta ja viherkatot"
    got = client.get("/search", params={"q": q, "k": 4, "lang": "fi,sv"}).json()
    posted = client.post("/search", json={"q": q, "k": 4, "lang": ["fi", "sv"]}).json()
    assert got == posted
    assert got["results"] and {h["language"] for h in got["results"]} <= {"fi", "sv"}


@pytest.mark.parametrize(
    ("filters", "cities"),
    [
        ({"city": ["havnby"]}, {"Havnby"}),
        ({"city": ["Älvstad", "KIVIKOSKI"]}, {"Älvstad", "Kivikoski"}),
        ({"country": ["NO"], "year_from": 2025}, {"Fjordvik"}),
        ({"country": ["FI"], "year_to": 2023}, {"Kivikoski"}),
        ({"country": ["FI, SE, NO, DK"]}, {"Nordic (comparative)"}),
    ],
)
def test_get_post_and_cli_honour_the_same_metadata_filters(
    client: httpx.Client, corpus_index: Path, filters: dict, cities: set[str]
):
    """GET /search used to ignore city, country, year_from/to and document_id: every face now reads
    the same request (api.request.SearchParams)."""
    body = {"q": "cycling in winter", "k": 8, **filters}
    query = [(n, str(x)) for n, v in body.items() for x in (v if isinstance(v, list) else [v])]
    got = client.get("/search", params=query).json()
    assert got == client.post("/search", json=body).json()
    options = [
        arg
        for n, v in filters.items()
        for x in (v if isinstance(v, list) else [v])
        for arg in (f"--{n.replace('_', '-')}", str(x))
    ]
    cli = cli_json("search", body["q"], "-k", "8", *options, "--index", str(corpus_index))
    assert [h["passage_id"] for h in cli["results"]] == [h["passage_id"] for h in got["results"]]
    docs = {d["document_id"]: d for d in client.get("/documents", params={"limit": 500}).json()["documents"]}
    assert got["results"] and {docs[h["document_id"]]["metadata"]["city"] for h in got["results"]} == cities


def test_get_post_and_cli_honour_the_document_filter(client: httpx.Client, corpus_index: Path):
    docs = client.get("/documents", params={"limit": 500}).json()["documents"]
    a, b = docs[0]["document_id"], docs[1]["document_id"]
    got = client.get("/search", params=[("q", "planning"), ("document_id", a), ("document_id", b)]).json()
    assert got == client.post("/search", json={"q": "planning", "document_id": [a, b]}).json()
    cli = cli_json("search", "planning", "--document", a, "--document", b, "--index", str(corpus_index))
    assert [h["passage_id"] for h in cli["results"]] == [h["passage_id"] for h in got["results"]]
    assert {h["document_id"] for h in got["results"]} == {a, b}


def test_post_search_document_filters_and_grouping(client: httpx.Client):
    docs = client.get("/documents", params={"limit": 500}).json()["documents"]
    target = docs[0]["document_id"]
    data = client.post("/search", json={"q": "planning", "k": 5, "document_id": [target]}).json()
    assert data["results"] and {h["document_id"] for h in data["results"]} == {target}
    grouped = client.post("/search", json={"q": "cycling in winter", "k": 3, "group": "document"}).json()
    ids = [h["document_id"] for h in grouped["results"]]
    assert grouped["group"] == "document" and len(ids) == len(set(ids))


def test_compare_by_country_in_the_api_the_cli_and_the_page(client: httpx.Client, corpus_index: Path):
    """Issue 12, point 5: for a Finnish question, the best documents of each country side by side."""
    q = "miten kaupungit ovat lisänneet pyöräilyä talvella?"
    got = client.get("/search", params={"q": q, "k": 2, "group": "country"}).json()
    assert got == client.post("/search", json={"q": q, "k": 2, "group": "country"}).json()
    places = [h["group_value"] for h in got["results"]]
    assert {"FI", "SE", "NO", "DK"} <= set(places)
    assert places == sorted(places, key=places.index)  # each place's documents together
    assert all(places.count(p) <= 2 for p in set(places)) and got["has_more"]
    assert all(h["passages"] and h["passages"][0]["passage_id"] == h["passage_id"] for h in got["results"])
    docs = {d["document_id"]: d for d in client.get("/documents", params={"limit": 500}).json()["documents"]}
    assert all(docs[h["document_id"]]["metadata"]["country"] == h["group_value"] for h in got["results"])
    cli = cli_json("search", q, "-k", "2", "--group", "country", "--index", str(corpus_index))
    assert [(h["group_value"], h["passage_id"]) for h in cli["results"]] == [
        (h["group_value"], h["passage_id"]) for h in got["results"]
    ]
    page = client.get("/", params={"q": q, "group": "country", "ui": "fi"}).text
    sections = re.findall(r'<section class="place">\s*<h2>([^<]+)</h2>', page)
    assert sections == list(dict.fromkeys(places))  # the page shows the API's places, in its order
    assert '<option value="country" selected>' in page


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"q": ""}, "q"),
        ({"q": "x", "k": 0}, "k"),
        ({"q": "x", "lang": ["klingon"]}, "klingon"),
        ({"q": "x", "mode": "fuzzy"}, "mode"),
        ({"q": "x", "unknown": 1}, "unknown"),
    ],
)
def test_post_search_errors_name_the_field(client: httpx.Client, body: dict, needle: str):
    r = client.post("/search", json=body)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert needle in r.json()["detail"]


def test_documents_are_paged_and_filterable(client: httpx.Client):
    first = client.get("/documents", params={"limit": 5}).json()
    assert first["limit"] == 5 and first["offset"] == 0 and len(first["documents"]) == 5
    assert first["total"] >= 15
    second = client.get("/documents", params={"limit": 5, "offset": 5}).json()
    assert not {d["document_id"] for d in first["documents"]} & {
        d["document_id"] for d in second["documents"]
    }
    swedish = client.get("/documents", params={"lang": "sv", "limit": 500}).json()
    assert swedish["documents"] and all(d["language"] == "sv" for d in swedish["documents"])
    assert swedish["total"] == len(swedish["documents"])
    pdfs = client.get("/documents", params={"format": "pdf"}).json()["documents"]
    assert pdfs and all(d["format"] == "pdf" for d in pdfs)
    r = client.get("/documents", params={"lang": "xx"})
    assert r.status_code == 422 and "lang" in r.json()["detail"] and "'xx'" in r.json()["detail"]


def test_document_detail_has_pages_and_themes(client: httpx.Client):
    pdf = client.get("/documents", params={"format": "pdf", "limit": 1}).json()["documents"][0]
    doc = client.get(f"/documents/{pdf['document_id']}").json()
    assert doc["pages"] >= 3 and isinstance(doc["themes"], list) and isinstance(doc["metadata"], dict)
    pages = {p["page_start"] for p in doc["passages"]}
    assert len(pages) >= 2 and all(isinstance(p["themes"], list) for p in doc["passages"])


def test_a_document_links_to_its_original_file(client: httpx.Client, tmp_path: Path):
    """Issue 12: a hit links to the file it came from; a PDF opens in the browser (#page=N), an
    HTML page is a download (opened on this origin, its scripts would run here)."""
    pdf = client.get("/documents", params={"format": "pdf", "limit": 1}).json()["documents"][0]
    r = client.get(f"/documents/{pdf['document_id'][:12]}/file")
    assert (
        r.status_code == 200
        and r.content.startswith(b"%PDF")
        and r.headers["content-type"] == "application/pdf"
    )
    assert (
        r.headers["content-disposition"].startswith("inline")
        and r.content == Path(pdf["source"]).read_bytes()
    )
    html = client.get("/documents", params={"format": "html", "limit": 1}).json()["documents"][0]
    r = client.get(f"/documents/{html['document_id']}/file")
    assert r.status_code == 200 and r.headers["content-disposition"].startswith("attachment")
    assert (
        r.headers["content-type"] == "application/octet-stream"
        and r.headers["x-content-type-options"] == "nosniff"
    )
    assert client.get("/documents/nope/file").status_code == 404


def test_themes_in_each_language(client: httpx.Client):
    fi = client.get("/themes", params={"lang": "fi"}).json()
    en = client.get("/themes").json()
    assert fi["language"] == "fi" and en["language"] == "en"
    assert [t["id"] for t in fi["themes"]] == [t["id"] for t in en["themes"]]
    assert fi["themes"][0]["label"] != en["themes"][0]["label"]
    r = client.get("/themes", params={"lang": "tlh"})
    assert r.status_code == 422 and "lang" in r.json()["detail"] and "'tlh'" in r.json()["detail"]


def test_stats(client: httpx.Client):
    s = client.get("/stats").json()
    assert s["documents"] >= 15 and s["passages"] > s["documents"]
    assert set(s["passages_by_language"]) == {"fi", "sv", "nb", "da", "en"}
    assert sum(s["passages_by_language"].values()) == s["passages"]
    assert isinstance(s["passages_by_theme"], dict) and isinstance(s["documents_by_theme"], dict)
    assert s["size_bytes"] > 0 and s["model"] == "multilingual-e5-small"


def test_cli_json_and_api_share_shapes(client: httpx.Client, corpus_index: Path):
    index = ["--index", str(corpus_index)]
    api_stats, cli_stats = client.get("/stats").json(), cli_json("stats", *index)
    assert set(api_stats) == set(cli_stats)
    assert {k: v for k, v in api_stats.items() if k != "size_bytes"} == {
        k: v for k, v in cli_stats.items() if k != "size_bytes"
    }
    api_docs, cli_docs = client.get("/documents").json(), cli_json("documents", *index)
    assert set(api_docs) == set(cli_docs)
    assert api_docs["documents"] == cli_docs["documents"]
    assert client.get("/themes", params={"lang": "sv"}).json() == cli_json("themes", "list", "--lang", "sv")


def test_unsupported_method_is_problem_json(client: httpx.Client):
    r = client.put("/search")
    assert r.status_code == 405 and r.headers["content-type"].startswith("application/problem+json")
    assert "GET" in r.headers.get("allow", "")
