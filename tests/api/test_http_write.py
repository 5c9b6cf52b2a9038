"""Writes over a real server on loopback: keys, uploads, limits, jobs, deletes, index roots, and
searches that keep a consistent view while a job indexes. The server works on a copy of the
session's corpus index, so the shared one stays read-only."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

WRITE, READ = "write-key-1", "read-key-1"  # as tests/api/conftest.py configures write_server
W = {"X-API-Key": WRITE}
R = {"Authorization": f"Bearer {READ}"}
MAX_BYTES = 300_000
MAX_FILES = 4

SV = (
    "# Vinterväghållning i {city}\n\nKommunen prioriterar cykelbanor vid snöröjning och sandning. "
    "Huvudstråken plogas före klockan sju på morgonen, och sopsaltning används på de viktigaste "
    "pendlingsstråken så att fler kan cykla året runt i {city}.\n"
)
FI = (
    "# Hulevedet ja viherkatot {city}\n\n{city} ohjaa hulevedet viherkattojen, sadepuutarhojen ja "
    "avouomien kautta. Rankkasateiden tulvariskiä pienennetään viivyttämällä vettä korttelialueilla "
    "ennen kuin se johdetaan kunnalliseen verkostoon.\n"
)


def long_doc(n: int) -> str:
    body = " ".join(
        f"Kvarter {n}-{i} i Ystadvik får nya regnbäddar, gröna tak och genomsläppliga ytor som fördröjer dagvatten "
        f"vid skyfall, och gatorna planeras om för gående och cyklister i etapp {i}."
        for i in range(60)
    )
    return f"# Dagvattenplan {n}\n\n{body}\n"


@pytest.fixture(scope="module")
def roots(write_server) -> Path:
    return write_server.root


@pytest.fixture(scope="module")
def api(write_server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=write_server.url, timeout=180) as c:
        yield c


def problem(r: httpx.Response, status: int, needle: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and needle in body["detail"], body
    return body


def wait_job(api: httpx.Client, job_id: str, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = api.get(f"/jobs/{job_id}", headers=W).json()
        if data["status"] in ("done", "failed"):
            return data
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish")


def md(name: str, text: str) -> tuple[str, tuple[str, bytes, str]]:
    return ("files", (name, text.encode("utf-8"), "text/markdown"))


def test_reads_need_a_key_when_read_keys_are_configured(api: httpx.Client):
    problem(api.get("/search", params={"q": "cykel"}), 401, "API key")
    problem(api.get("/documents", headers={"X-API-Key": "guess"}), 403, "not valid")
    assert api.get("/search", params={"q": "cykel", "k": 2}, headers=R).status_code == 200
    assert api.get("/documents", headers={"Authorization": f"Bearer {WRITE}"}).status_code == 200
    assert (
        api.get("/", params={"q": "cykel"}, headers={"Cookie": f"nordsearch_key={READ}"}).status_code == 200
    )
    assert api.get("/", params={"q": "cykel"}).status_code == 401
    # liveness and readiness stay open for probes
    assert api.get("/health").status_code == 200 and api.get("/ready").status_code == 200


def test_writes_need_a_write_key(api: httpx.Client):
    r = api.post("/documents", files=[md("a.md", SV.format(city="Luleå"))])
    problem(r, 401, "API key")
    assert "Bearer" in r.headers["www-authenticate"]
    problem(api.post("/documents", files=[md("a.md", SV.format(city="Luleå"))], headers=R), 403, "read-only")
    problem(api.delete("/documents/x", headers={"X-API-Key": "wrong"}), 403, "not valid")
    problem(api.get("/jobs", headers=R), 403, "read-only")


def test_small_upload_is_indexed_before_the_answer(api: httpx.Client):
    r = api.post(
        "/documents",
        files=[md("luleå vinter.md", SV.format(city="Luleå"))],
        data={"metadata": '{"city": "Luleå", "country": "SE", "year": 2023}'},
        headers=W,
    )
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["status"] == "done" and job["progress"]["indexed"] == 1
    file = job["result"]["files"][0]
    assert file["filename"] == "luleå vinter.md" and file["status"] == "indexed"
    doc = api.get(f"/documents/{file['document_id']}", headers=R).json()
    assert doc["metadata"]["city"] == "Luleå" and doc["passages"]
    hits = api.post(
        "/search", json={"q": "snöröjning cykelbanor Luleå", "k": 5, "city": ["luleå"]}, headers=R
    ).json()["results"]
    assert hits and hits[0]["document_id"] == file["document_id"]
    # the same file again: recognised, not re-indexed
    again = api.post("/documents", files=[md("luleå vinter.md", SV.format(city="Luleå"))], headers=W).json()
    assert again["progress"]["unchanged"] == 1


def test_the_same_bytes_under_a_new_name_leave_no_orphan_file(api: httpx.Client, write_server):
    text = SV.format(city="Umeå")
    first = api.post("/documents", files=[md("umeå.md", text)], headers=W).json()
    renamed = api.post("/documents", files=[md("umeå vinter 2024.md", text)], headers=W).json()
    doc_id = first["result"]["files"][0]["document_id"]
    assert renamed["result"]["files"][0]["document_id"] == doc_id  # one document: same bytes
    doc = api.get(f"/documents/{doc_id}", headers=R).json()
    assert Path(doc["source"]).name == "umeå vinter 2024.md"
    folder = Path(doc["source"]).parent
    assert folder.is_relative_to(write_server.index / "uploads")
    assert sorted(p.name for p in folder.iterdir()) == ["umeå vinter 2024.md"]  # the old copy is gone


def test_upload_limits_and_types_name_the_problem(api: httpx.Client):
    problem(
        api.post(
            "/documents", files=[("files", ("virus.exe", b"MZ..", "application/octet-stream"))], headers=W
        ),
        415,
        "virus.exe",
    )
    many = [md(f"f{i}.md", SV.format(city=f"Stad{i}")) for i in range(MAX_FILES + 1)]
    problem(api.post("/documents", files=many, headers=W), 413, "limit is 4")
    big = [("files", ("big.txt", b"a " * (MAX_BYTES // 2 + 70_000), "text/plain"))]
    problem(api.post("/documents", files=big, headers=W), 413, "limit")
    problem(
        api.post("/documents", files=[md("x.md", "x")], data={"metadata": "[1]"}, headers=W), 422, "metadata"
    )
    problem(
        api.post("/documents", files=[md("x.md", "x")], data={"metadata": '{"owner": 1}'}, headers=W),
        422,
        "owner",
    )
    problem(api.post("/documents", headers=W), 422, "files")
    broken = [
        (
            "files",
            ("broken.pdf", b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF junk", "application/pdf"),
        )
    ]
    body = problem(api.post("/documents", files=broken, headers=W), 422, "broken.pdf")
    assert body["job"]["errors"][0]["code"]


def test_large_batch_becomes_a_job_and_searches_stay_consistent(api: httpx.Client):
    before = api.get("/stats", headers=R).json()["passages"]
    files = [md(f"dagvatten-{n}.md", long_doc(n)) for n in range(3)]
    files.append(("files", ("broken.pdf", b"%PDF-1.7 junk", "application/pdf")))
    r = api.post("/documents", files=files, params={"background": "true"}, headers=W)
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    assert r.headers["location"] == f"/jobs/{job_id}"
    totals, during = [], 0
    while True:
        status = api.get(f"/jobs/{job_id}", headers=W).json()["status"]
        s = api.get("/search", params={"q": "dagvatten skyfall regnbäddar", "k": 3}, headers=R)
        assert s.status_code == 200, s.text
        totals.append(s.json()["total"])
        during += status == "running"
        if status in ("done", "failed"):
            break
    job = wait_job(api, job_id)
    assert job["status"] == "done"
    assert job["progress"]["indexed"] == 3 and job["progress"]["failed"] == 1
    assert job["errors"][0]["filename"] == "broken.pdf" and job["errors"][0]["reason"]
    # every search saw the index between whole documents: before + the first i documents' passages
    steps = [before]
    for f in job["result"]["files"]:
        if f["status"] == "indexed":
            steps.append(steps[-1] + f["passages"])
    assert set(totals) <= set(steps), (totals, steps)
    assert totals == sorted(totals)
    assert during >= 1
    hits = api.get(
        "/search", params={"q": "Ystadvik regnbäddar", "k": 5, "mode": "lexical"}, headers=R
    ).json()
    assert hits["results"] and all(h["title"].startswith("Dagvattenplan") for h in hits["results"])


def test_server_side_job_inside_roots(api: httpx.Client, roots: Path):
    r = api.post("/jobs", json={"paths": ["plans"]}, headers=W)
    assert r.status_code == 202, r.text
    job = wait_job(api, r.json()["id"])
    assert job["status"] == "done" and job["progress"]["indexed"] == 2, job
    sources = {f["source"] for f in job["result"]["files"]}
    assert sources == {str((roots / "plans" / n).resolve()) for n in ("kiruna.md", "vaasa.md")}
    listed = api.get("/jobs", headers=W).json()["jobs"]
    assert listed[0]["id"] == job["id"]


@pytest.mark.parametrize(
    ("path", "status", "needle"),
    [
        ("../secret", 403, "outside"),
        ("/etc", 403, "outside"),
        ("escape/link", 403, "outside"),
        ("escape", 403, "symlinks lead outside"),
        ("plans/missing.md", 404, "no such file"),
    ],
)
def test_server_side_jobs_refuse_paths_outside_roots(api: httpx.Client, path: str, status: int, needle: str):
    problem(api.post("/jobs", json={"paths": [path]}, headers=W), status, needle)


def test_jobs_validation_and_unknown_job(api: httpx.Client):
    problem(api.post("/jobs", json={"paths": []}, headers=W), 422, "paths")
    problem(api.post("/jobs", json={"paths": ["plans"], "prune": True}, headers=W), 422, "prune")
    problem(api.get("/jobs/nope", headers=W), 404, "nope")


def test_delete_document(api: httpx.Client):
    r = api.post("/documents", files=[md("oulu.md", FI.format(city="Oulu"))], headers=W)
    doc_id = r.json()["result"]["files"][0]["document_id"]
    problem(api.delete(f"/documents/{doc_id}", headers=R), 403, "read-only")
    assert api.delete(f"/documents/{doc_id}", headers=W).json() == {"document_id": doc_id, "removed": True}
    problem(api.get(f"/documents/{doc_id}", headers=R), 404, doc_id)
    problem(api.delete(f"/documents/{doc_id}", headers=W), 404, doc_id)
    hits = api.get("/search", params={"q": "hulevedet viherkatot Oulu", "k": 10}, headers=R).json()["results"]
    assert doc_id not in {h["document_id"] for h in hits}


def test_stats_reflect_the_writes(api: httpx.Client):
    stats = api.get("/stats", headers=R).json()
    assert stats["documents"] >= 20 and stats["passages_by_language"]["sv"] > 0
    assert isinstance(stats["passages_by_theme"], dict) and stats["size_bytes"] > 0 and stats["model"]
