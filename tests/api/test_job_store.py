"""api.job_store: jobs in the index's database, one runner at a time, orphans reported interrupted."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from nordsearch.api.job_store import JobStore


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return JobStore(tmp_path / "store.sqlite", keep=3)


def _outcome(source: str, status: str = "indexed") -> dict:
    return {
        "source": source,
        "status": status,
        "document_id": "d",
        "passages": 2,
        "code": None,
        "reason": None,
    }


def test_jobs_are_claimed_oldest_first_and_their_files_kept_in_order(store: JobStore):
    store.add("a", "paths", ["/x"], force=False, names={})
    store.add("b", "upload", ["/y"], force=True, names={"/y": "Y.pdf"})
    assert store.pending()
    fd = store.try_lock()
    assert fd is not None
    try:
        job = store.claim()
        assert job["id"] == "a" and job["status"] == "running" and job["started_at"]
        store.set_total("a", 2)
        store.add_file("a", _outcome("/x/1"))
        store.add_file("a", _outcome("/x/2", "failed"))
        store.finish("a", "done", result={"indexed": 1, "files": ["left out"]}, error=None)
        assert store.claim()["id"] == "b"
    finally:
        store.unlock(fd)
    a = store.get("a")
    assert a["status"] == "done" and a["total"] == 2 and a["result"] == {"indexed": 1}
    assert [f["source"] for f in a["files"]] == ["/x/1", "/x/2"] and a["files"][1]["status"] == "failed"
    assert store.get("b")["names"] == {"/y": "Y.pdf"} and store.get("b")["force"] is True
    assert [j["id"] for j in store.recent()] == ["b", "a"]


def test_one_runner_at_a_time(store: JobStore, tmp_path: Path):
    other = JobStore(tmp_path / "store.sqlite")  # as another server process would open it
    fd = store.try_lock()
    assert fd is not None
    try:
        assert other.try_lock() is None
    finally:
        store.unlock(fd)
    fd = other.try_lock()
    assert fd is not None
    other.unlock(fd)


def test_a_job_left_running_by_a_dead_runner_is_interrupted(store: JobStore):
    store.add("a", "paths", ["/x"], force=False, names={})
    store.add("b", "paths", ["/y"], force=False, names={})
    fd = store.try_lock()
    store.claim()  # "a" runs ...
    store.add_file("a", _outcome("/x/1"))
    store.unlock(fd)  # ... and its process dies: the OS lets go of the lock
    fd = store.try_lock()
    try:
        assert store.claim()["id"] == "b"
    finally:
        store.unlock(fd)
    a = store.get("a")
    assert a["status"] == "interrupted" and "submit it again" in a["error"] and a["finished_at"]
    assert [f["source"] for f in a["files"]] == ["/x/1"]  # what it did before is still reported


def test_only_the_latest_finished_jobs_are_kept(store: JobStore):
    for i in range(5):
        store.add(f"j{i}", "paths", [], force=False, names={})
        fd = store.try_lock()
        store.claim()
        store.add_file(f"j{i}", _outcome(f"/f{i}"))
        store.finish(f"j{i}", "done", result={}, error=None)
        store.unlock(fd)
    assert [j["id"] for j in store.recent()] == ["j4", "j3", "j2"]
    assert not store.pending()
    with sqlite3.connect(store.database) as c:  # the files of deleted jobs go with them
        assert c.execute("SELECT COUNT(*) FROM job_files").fetchone()[0] == 3


def test_a_files_extraction_warnings_are_kept_and_an_older_table_gains_the_column(tmp_path: Path):
    """Issue 12, point 2: what extraction noticed (pypdf's complaints) reaches the job API as it
    reaches `index --report`."""
    path = tmp_path / "store.sqlite"
    old = sqlite3.connect(path)  # the job_files table as a version before warnings made it
    old.executescript(
        "CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,"
        " status TEXT NOT NULL, force INTEGER NOT NULL, paths TEXT NOT NULL, names TEXT NOT NULL,"
        " created_at TEXT NOT NULL, started_at TEXT, finished_at TEXT, total INTEGER NOT NULL DEFAULT 0,"
        " result TEXT, error TEXT);"
        "CREATE TABLE job_files (job_seq INTEGER NOT NULL REFERENCES jobs(seq) ON DELETE CASCADE,"
        " ordinal INTEGER NOT NULL, source TEXT NOT NULL, status TEXT NOT NULL, document_id TEXT,"
        " passages INTEGER NOT NULL, code TEXT, reason TEXT, PRIMARY KEY (job_seq, ordinal));"
        "INSERT INTO jobs(id, kind, status, force, paths, names, created_at) VALUES"
        " ('old', 'paths', 'done', 0, '[]', '{}', 'then');"
        "INSERT INTO job_files VALUES (1, 0, '/old.pdf', 'indexed', 'd', 1, NULL, NULL);"
    )
    old.close()
    store = JobStore(path)
    assert store.get("old")["files"][0]["warnings"] == []
    store.add("new", "paths", ["/x"], force=False, names={})
    store.add_file("new", {**_outcome("/x/a.pdf"), "warnings": ["pypdf: Ignoring wrong pointing object 6"]})
    store.add_file("new", _outcome("/x/b.txt"))
    files = JobStore(path).get("new")["files"]
    assert [f["warnings"] for f in files] == [["pypdf: Ignoring wrong pointing object 6"], []]
