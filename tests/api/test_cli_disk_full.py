"""`nordsearch index` on a disk that fills up mid-batch (a real, size-limited tmpfs): one clear error
line, no traceback, and the index as it was committed before still opens, agrees with itself and
searches; once there is room again a re-run completes."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest

from nordsearch.search import SearchIndex
from nordsearch.search.query import SearchRequest
from tests.api.test_cli_crash import _assert_consistent
from tests.conftest import CORPUS, nordsearch_cli

pytestmark = pytest.mark.slow


@pytest.fixture
def small_disk(tmp_path: Path):
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:  # needs root (CI runs as root; say so rather than pass silently)
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(mount: Path, leave_bytes: int) -> Path:
    """Fill the filesystem until ``leave_bytes`` are free."""
    filler = mount / "filler"
    with filler.open("wb") as out:
        chunk = b"\0" * 2**16
        try:
            while os.statvfs(mount).f_bavail * os.statvfs(mount).f_frsize > leave_bytes + len(chunk):
                out.write(chunk)
                out.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def _index(folder: Path, index_dir: Path, model_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NORDSEARCH_MODEL": str(model_dir)}
    return subprocess.run(
        [*nordsearch_cli(), "index", str(folder), "--index", str(index_dir), "--quiet"],
        env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip


def test_a_full_disk_stops_with_a_clear_error_and_keeps_the_index(
    small_disk: Path, tmp_path: Path, e5_model_dir: Path
) -> None:
    first = tmp_path / "first"
    first.mkdir()
    for name in ("fi_talvipyorailyohjelma.md", "sv_vintercykling.txt"):
        (first / name).write_bytes((CORPUS / name).read_bytes())
    index_dir = small_disk / "index"
    assert _index(first, index_dir, e5_model_dir).returncode == 0
    before = _assert_consistent(index_dir)
    assert before == 2

    filler = _fill(small_disk, leave_bytes=400_000)
    run = _index(CORPUS, index_dir, e5_model_dir)
    assert run.returncode != 0
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert "Traceback" not in run.stderr and lines, run.stderr
    assert lines[-1].startswith("nordsearch: error: ") and len(lines) <= 2, run.stderr
    assert "No space left on device" in lines[-1] or "disk is full" in lines[-1], run.stderr

    filler.unlink()
    after = _assert_consistent(index_dir)  # what was committed before (and during) is whole
    assert after >= before
    with SearchIndex.open(index_dir) as index:
        assert index.search(SearchRequest(q="vintercykling", k=3)).results
    again = _index(CORPUS, index_dir, e5_model_dir)
    assert again.returncode == 0, again.stderr
    assert _assert_consistent(index_dir) > after


def _read_only_index(
    small_disk: Path, tmp_path: Path, model_dir: Path
) -> tuple[Path, Path, dict[str, bytes]]:
    """(the folder indexed, the index, its files' bytes): one document indexed on the small disk,
    which is then remounted read-only."""
    first = tmp_path / "first"
    first.mkdir()
    (first / "sv_vintercykling.txt").write_bytes((CORPUS / "sv_vintercykling.txt").read_bytes())
    index_dir = small_disk / "index"
    assert _index(first, index_dir, model_dir).returncode == 0
    files = {p.name: p.read_bytes() for p in index_dir.iterdir() if p.is_file()}
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    return first, index_dir, files


def test_a_read_only_index_still_searches_and_indexing_says_why_not(
    small_disk: Path, tmp_path: Path, e5_model_dir: Path
) -> None:
    first, index_dir, files = _read_only_index(small_disk, tmp_path, e5_model_dir)

    run = _index(CORPUS, index_dir, e5_model_dir)
    assert run.returncode != 0 and "Traceback" not in run.stderr, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("nordsearch: error: ") and "read-only" in lines[-1].lower(), run.stderr

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NORDSEARCH_MODEL": str(e5_model_dir)}
    search = subprocess.run(
        [*nordsearch_cli(), "search", "vintercykling", "--index", str(index_dir), "-k", "3", "--json"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert search.returncode == 0, search.stderr
    assert "sv_vintercykling" in search.stdout
    assert {p.name: p.read_bytes() for p in index_dir.iterdir() if p.is_file()} == files


def test_the_server_on_a_read_only_index_searches_and_refuses_writes_by_name(
    small_disk: Path, tmp_path: Path, e5_model_dir: Path, server_factory
) -> None:
    """`nordsearch serve` starts on an index on a read-only disk (its jobs tables may not even exist):
    searches and listings answer, writes are a 409 naming the disk, and no file changes."""
    import httpx

    first, index_dir, files = _read_only_index(small_disk, tmp_path, e5_model_dir)

    start, stop = server_factory
    proc, base = start(index_dir, env_extra={"NORDSEARCH_MODEL": str(e5_model_dir)})
    try:
        with httpx.Client(base_url=base, timeout=120) as api:
            hits = api.get("/search", params={"q": "vintercykling", "k": 3}).json()["results"]
            assert hits and "sv_vintercykling" in hits[0]["source"]
            assert api.get("/documents").json()["total"] == 1
            assert api.get("/jobs").json() == {"jobs": []}  # it never had any
            upload = api.post("/documents", files=[("files", ("a.md", b"# A\n\nText.\n", "text/markdown"))])
            job = api.post("/jobs", json={"paths": [str(first)]})
            delete = api.delete(f"/documents/{hits[0]['document_id']}")
            for r in (upload, job, delete):
                assert r.status_code == 409 and "read-only disk" in r.json()["detail"], r.text
    finally:
        stop(proc)
    assert {p.name: p.read_bytes() for p in index_dir.iterdir() if p.is_file()} == files
