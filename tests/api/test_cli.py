"""The `nordsearch` command, run as a user runs it: a real process, the real model, real files."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import CORPUS, copy_index, nordsearch_cli

pytestmark = pytest.mark.slow


def run(*args: str, env: dict[str, str] | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*nordsearch_cli(), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
    )


def test_help_lists_commands():
    # how fast it starts is measured by bench/bench_cli.py; here: that it works and imports little
    proc = run("--help")
    assert proc.returncode == 0
    for command in ("index", "search", "documents", "serve", "stats", "remove", "themes", "model"):
        assert command in proc.stdout
    # options show what to type, not a Python type
    for command in ("index", "search", "documents", "similar", "serve", "eval"):
        text = run(command, "--help", env={"COLUMNS": "200"}).stdout
        options = text.split("Options:")[1]
        assert not re.search(r"<(str|int|path|list)", options, re.I) and "--index DIR" in options, options
    assert "--lang LANG" in run("search", "--help", env={"COLUMNS": "200"}).stdout


def test_help_imports_no_heavy_library():
    code = (
        "import sys; sys.argv=['nordsearch','--help']\nimport nordsearch.api.cli as cli\ntry:\n    cli.app()\n"
        "except SystemExit:\n    pass\nheavy=[m for m in ('torch','numpy','faiss','sentence_transformers',"
        "'spacy','lingua','pypdf','fastapi') if m in sys.modules]\nprint('HEAVY', heavy)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in proc.stdout, proc.stdout + proc.stderr


def test_finnish_question_finds_swedish_passages(corpus_index: Path):
    proc = run(
        "search",
        "miten kaupungit ovat lisänneet pyöräilyä talvella?",
        "-k",
        "10",
        "--json",
        "--index",
        str(corpus_index),
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["query"].startswith("miten")
    hits = data["results"]
    assert len(hits) == 10
    for hit in hits:
        assert {"passage_id", "document_id", "title", "source", "language", "page", "text", "score"} <= set(
            hit
        )
        assert Path(hit["source"]).exists()
    swedish = [h for h in hits if h["language"] == "sv"]
    assert swedish, [(h["language"], h["title"]) for h in hits]
    # The relevant Swedish document is the winter-cycling evaluation, not some other Swedish text.
    assert any(Path(h["source"]).name == "sv_vintercykling.txt" for h in swedish), [
        h["source"] for h in swedish
    ]


def test_language_filter_and_documents(corpus_index: Path):
    proc = run(
        "search",
        "stormwater and cloudbursts",
        "--lang",
        "da,sv",
        "-k",
        "5",
        "--json",
        "--index",
        str(corpus_index),
    )
    assert proc.returncode == 0, proc.stderr
    hits = json.loads(proc.stdout)["results"]
    assert hits and {h["language"] for h in hits} <= {"da", "sv"}

    proc = run("documents", "--json", "--index", str(corpus_index))
    docs = json.loads(proc.stdout)["documents"]
    assert {d["language"] for d in docs} == {"fi", "sv", "nb", "da", "en"}
    pdfs = [d for d in docs if d["format"] == "pdf"]
    assert pdfs and all(d["pages"] >= 3 for d in pdfs)
    assert all(d["passage_count"] > 0 for d in docs)
    proc = run("documents", "--json", "--limit", "2", "--offset", "1", "--index", str(corpus_index))
    page = json.loads(proc.stdout)
    assert [d["document_id"] for d in page["documents"]] == [d["document_id"] for d in docs[1:3]]
    assert page["total"] == len(docs) and page["limit"] == 2 and page["offset"] == 1

    proc = run("search", "stormwater and cloudbursts", "--lang", "da,sv", "-k", "5", "--export", "csv",
               "--base-url", "http://planning.example/", "--index", str(corpus_index))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert [r["passage_id"] for r in rows] == [h["passage_id"] for h in hits]  # the same search, as rows
    assert all(r["title"] and r["city"] and r["country"] in ("DK", "SE") and r["year"] for r in rows), rows
    assert any(r["page"] for r in rows)  # the PDFs
    assert rows[0]["link"] == f"http://planning.example/view/{rows[0]['document_id']}#{rows[0]['passage_id']}"
    proc = run("search", "stormwater", "--export", "xml", "--index", str(corpus_index))
    assert proc.returncode == 2 and "csv, jsonl" in proc.stderr

    # the 12-character id `documents` prints filters a search; a prefix of several ids, or of none,
    # is a usage error that names it (21 ids over 16 hex digits: some first digit is shared)
    short = pdfs[0]["document_id"][:12]
    proc = run("search", "stormwater", "--document", short, "--json", "--index", str(corpus_index))
    assert proc.returncode == 0, proc.stderr
    assert {h["document_id"] for h in json.loads(proc.stdout)["results"]} == {pdfs[0]["document_id"]}
    firsts = [d["document_id"][0] for d in docs]
    shared = next(c for c in firsts if firsts.count(c) > 1)
    for given, words in ((shared, "ambiguous"), ("zz", "no document with id 'zz'")):
        proc = run("search", "stormwater", "--document", given, "--index", str(corpus_index))
        assert proc.returncode == 2 and words in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_documents_lists_every_document(tmp_path: Path):
    folder = tmp_path / "notes"
    folder.mkdir()
    for i in range(57):  # more than a page of the API (50)
        (folder / f"note{i:02d}.txt").write_text(f"Pyöräpysäköinti asemalla {i}.", encoding="utf-8")
    assert run("index", str(folder), "--index", str(tmp_path / "idx"), "--quiet").returncode == 0
    proc = run("documents", "--json", "--index", str(tmp_path / "idx"))
    data = json.loads(proc.stdout)
    assert len(data["documents"]) == data["total"] == 57
    table = run("documents", "--index", str(tmp_path / "idx"), env={"COLUMNS": "200"}).stdout
    assert all(d["document_id"][:12] in table for d in data["documents"])


def test_reindex_unchanged_folder_does_no_work(corpus_index: Path, tmp_path: Path):
    report = tmp_path / "r.json"
    proc = run("index", str(CORPUS), "--index", str(corpus_index), "--quiet", "--report", str(report))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(report.read_text())
    assert data["indexed"] == 0 and data["unchanged"] >= 15 and data["passages"] == 0


def test_bad_file_is_reported_and_the_rest_indexed(tmp_path: Path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "good.md").write_text(
        "# Vinterväghållning\n\nKommunen prioriterar cykelbanor vid snöröjning och sandning. "
        "Huvudstråken plogas före klockan sju på morgonen, och sopsaltning används på de viktigaste "
        "pendlingsstråken så att fler kan cykla året runt.\n",
        encoding="utf-8",
    )
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF garbage")
    (folder / "budget.xlsx").write_bytes(b"PK\x03\x04")  # not a document nordsearch reads
    index_dir = tmp_path / "idx"
    report = tmp_path / "report.json"
    # with the progress bar (wide, so rich wraps no path)
    proc = run(
        "index", str(folder), "--index", str(index_dir), "--report", str(report), env={"COLUMNS": "400"}
    )
    assert proc.returncode == 1
    assert (proc.stdout + proc.stderr).count("broken.pdf") == 1  # each failure printed once
    assert "1 indexed, 0 unchanged, 1 skipped, 1 failed" in proc.stdout
    data = json.loads(report.read_text())
    assert data["indexed"] == 1 and data["failed"] == 1 and data["skipped"] == 1
    failed = [f for f in data["files"] if f["status"] == "failed"]
    assert failed[0]["source"].endswith("broken.pdf") and failed[0]["reason"]
    skipped = [f for f in data["files"] if f["status"] == "skipped"]
    assert skipped[0]["source"].endswith("budget.xlsx") and skipped[0]["code"] == "unsupported_format"

    # The index is intact and searchable after the failure.
    proc = run("search", "snöröjning cykel", "--json", "--index", str(index_dir))
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["results"][0]["source"].endswith("good.md")


def test_usage_errors_exit_2_and_missing_index_is_one_line(tmp_path: Path):
    proc = run("search", "x", "--mode", "nonsense", "--index", str(tmp_path))
    assert proc.returncode == 2 and "--mode" in proc.stderr
    proc = run("search", "x", "-k", "0", "--lang", "klingon", "--index", str(tmp_path))
    assert proc.returncode == 2 and "-k" in proc.stderr and "--lang" in proc.stderr  # one check, all named
    assert "fi, sv, nb, da, en" in proc.stderr  # with the valid values
    proc = run("search", "x", "--theme", "cycling", "--index", str(tmp_path))
    assert proc.returncode == 2 and "--theme" in proc.stderr and "transport" in proc.stderr
    proc = run("search", "x", "--index", str(tmp_path / "nothing"))
    assert proc.returncode == 1
    assert "no index at" in proc.stderr and "Traceback" not in proc.stderr
    proc = run("index")
    assert proc.returncode == 2
    proc = run("index", str(tmp_path / "no-such-folder"), "--index", str(tmp_path / "new"))
    assert (
        proc.returncode == 2 and "no such file or folder" in proc.stderr and "no-such-folder" in proc.stderr
    )
    assert not (tmp_path / "new").exists()  # nothing created for a typo
    proc = run("similar", "--file", str(tmp_path / "missing.pdf"), "--index", str(tmp_path))
    assert proc.returncode == 2 and "no such file" in proc.stderr and "missing.pdf" in proc.stderr
    proc = run("serve", "--index", str(tmp_path / "nothing"), "--port", "1")
    assert proc.returncode == 1 and "no index at" in proc.stderr and "nordsearch index" in proc.stderr
    assert not (tmp_path / "nothing").exists()


def test_search_answers_while_another_process_indexes(
    corpus_index: Path, shared_corpus: Path, tmp_path: Path
):
    """A search is a read: it must neither wait for nor fail on the writer lock that another
    process indexing the same index holds (it used to save on exit and end with "another process
    is writing to the index")."""
    import sqlite3

    index = tmp_path / "index"
    copy_index(corpus_index, index)

    def generation() -> int:
        with sqlite3.connect(f"file:{index / 'store.sqlite'}?mode=ro", uri=True) as c:
            return int(c.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])

    before = generation()
    writer = subprocess.Popen(
        [*nordsearch_cli(), "index", str(shared_corpus), "--index", str(index)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 600
        while generation() == before:  # wait until the writer has committed a document
            assert writer.poll() is None, "the indexer ended before committing anything"
            assert time.monotonic() < deadline, "the indexer committed nothing in 10 minutes"
            time.sleep(0.5)
        proc = run("search", "talvipyöräily", "-k", "5", "--json", "--index", str(index))
        still_writing = writer.poll() is None
    finally:
        writer.kill()
        writer.wait()
    assert still_writing, "the indexer finished first: the test proved nothing"
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["results"]
