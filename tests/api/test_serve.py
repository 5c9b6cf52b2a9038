"""api.serve with a real server of several processes on loopback: they share one port, see each
other's writes and jobs, and the jobs outlive a killed server."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from nordsearch.api.connections import REQUESTS_PER_CONNECTION
from tests.api.conftest import kill_server, start_server, stop_server
from tests.conftest import copy_index

pytestmark = pytest.mark.slow

KEY = "serve-test-key"
CORPUS = Path(__file__).resolve().parents[2] / "corpus"


def _env(root: Path | None = None) -> dict[str, str]:
    env = {"NORDSEARCH_SERVE_PROCESSES": "2", "NORDSEARCH_API_KEYS": KEY, "NORDSEARCH_WORKERS": "1"}
    if root is not None:
        env["NORDSEARCH_INDEX_ROOTS"] = str(root)
    return env


def _answering_processes(base: str, tries: int = 60) -> set[int]:
    """The processes that answered ``tries`` requests, each on a new connection."""
    seen: set[int] = set()
    for _ in range(tries):
        seen.add(httpx.get(f"{base}/health", timeout=30).json()["process"])
        if len(seen) > 1:
            break
    return seen


def test_processes_share_the_port_and_see_each_others_writes(corpus_index: Path, tmp_path: Path):
    index = tmp_path / "index"
    copy_index(corpus_index, index)
    proc, base = start_server(index, _env())
    try:
        pids = _answering_processes(base)
        assert len(pids) == 2
        for pid in pids:  # FAISS's OpenMP threads sleep between searches (api.serve.OMP_ENV)
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            assert b"OMP_WAIT_POLICY=PASSIVE" in environ
        doc = tmp_path / "lulea.md"
        doc.write_text(
            "# Snöröjning i Luleå\n\nLuleå kommun plogar cykelbanorna före bilvägarna varje morgon, och "
            "gångtunnlarna värms så att ingen halkar på vägen till skolan. Antalet vintercyklister har "
            "fördubblats på fem år sedan kommunen började prioritera cykelstråken.\n",
            encoding="utf-8",
        )
        with doc.open("rb") as f:
            r = httpx.post(f"{base}/documents", files={"files": f}, headers={"X-API-Key": KEY}, timeout=300)
        assert r.status_code == 201, r.text
        job_id, doc_id = r.json()["id"], r.json()["result"]["files"][0]["document_id"]
        answered: set[int] = set()
        for _ in range(20):  # new connections: both processes answer some of them
            with httpx.Client(base_url=base, timeout=60) as c:
                answered.add(c.get("/health").json()["process"])
                hits = c.get("/search", params={"q": "Luleå plogar cykelbanorna", "k": 3}).json()["results"]
                assert doc_id in {h["document_id"] for h in hits}
                job = c.get(f"/jobs/{job_id}", headers={"X-API-Key": KEY})
                assert job.status_code == 200 and job.json()["status"] == "done"
        assert len(answered) == 2, "one process answered every request: the test proved nothing"
        # a keep-alive connection is closed after every REQUESTS_PER_CONNECTION-th answer, so a few
        # long-lived clients get spread over the processes again and again (api.connections)
        with httpx.Client(base_url=base, timeout=60) as c:
            closes = [
                c.get("/health").headers.get("connection") == "close"
                for _ in range(2 * REQUESTS_PER_CONNECTION)
            ]
        every = REQUESTS_PER_CONNECTION
        assert closes == [(i + 1) % every == 0 for i in range(2 * every)]
    finally:
        stop_server(proc)


def _slow_folder(root: Path, count: int) -> Path:
    """``count`` documents of corpus/ text, each made unique, in a folder under ``root``."""
    folder = root / "batch"
    folder.mkdir(parents=True)
    sources = sorted(CORPUS.glob("*.md"))
    for i in range(count):
        src = sources[i % len(sources)]
        text = src.read_text(encoding="utf-8") + f"\n\nVersion {i} av dokumentet.\n"
        (folder / f"{i:02d}_{src.name}").write_text(text, encoding="utf-8")
    return folder


def _wait_for(client: httpx.Client, job_id: str, done: Callable[[dict], bool], timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/jobs/{job_id}").json()
        if done(job):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not get there: {job}")


def test_jobs_survive_a_killed_server(corpus_index: Path, tmp_path: Path):
    index = tmp_path / "index"
    copy_index(corpus_index, index)
    root = tmp_path / "root"
    folder = _slow_folder(root, 16)
    proc, base = start_server(index, _env(root))
    try:
        with httpx.Client(base_url=base, timeout=60, headers={"X-API-Key": KEY}) as c:
            first = c.post("/jobs", json={"paths": [str(folder)]}).json()["id"]
            one_file = str(sorted(folder.iterdir())[0])
            second_id = c.post("/jobs", json={"paths": [one_file]}).json()["id"]
            seen = _wait_for(c, first, lambda j: j["status"] == "running" and j["progress"]["done"] >= 1)
            assert seen["progress"]["done"] < 16, "the job finished before the kill: the test proved nothing"
            assert c.get(f"/jobs/{second_id}").json()["status"] == "queued"
    finally:
        kill_server(proc)

    proc, base = start_server(index, _env(root))
    try:
        with httpx.Client(base_url=base, timeout=60, headers={"X-API-Key": KEY}) as c:
            job = c.get(f"/jobs/{first}").json()
            assert job["status"] == "interrupted" and "submit it again" in job["error"]
            assert (
                job["progress"]["done"] >= seen["progress"]["done"]
            )  # the outcomes recorded before the kill
            # the queued job runs after the restart
            assert _wait_for(c, second_id, lambda j: j["status"] in ("done", "failed"))["status"] == "done"
            # submitting the interrupted job again finishes it: what it had indexed is unchanged
            again = c.post("/jobs", json={"paths": [str(folder)]}).json()["id"]
            result = _wait_for(c, again, lambda j: j["status"] in ("done", "failed"))
            assert result["status"] == "done" and result["progress"]["failed"] == 0
            assert result["progress"]["indexed"] + result["progress"]["unchanged"] == 16
            assert result["progress"]["unchanged"] >= 1
            listed = [j["id"] for j in c.get("/jobs").json()["jobs"]]
            assert listed[:3] == [again, second_id, first]
    finally:
        stop_server(proc)


def test_exposure_warning_only_beyond_loopback_without_keys():
    from nordsearch.api.serve import exposure_warning
    from nordsearch.ingest.settings import Settings

    open_ = Settings(api_keys="", read_keys="")
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        assert exposure_warning(host, open_) is None
    for host in ("0.0.0.0", "::", "192.168.1.20", "intranet.example"):
        warning = exposure_warning(host, open_)
        assert warning is not None and host in warning and "NORDSEARCH_API_KEYS" in warning
    assert exposure_warning("0.0.0.0", Settings(api_keys="k", read_keys="")) is None
    assert exposure_warning("0.0.0.0", Settings(api_keys="", read_keys="r")) is None


def test_serve_on_all_interfaces_without_keys_warns_loudly_at_start(tmp_path: Path):
    import os
    import subprocess

    from tests.api.conftest import free_port
    from tests.conftest import nordsearch_cli

    env = {k: v for k, v in os.environ.items() if k not in ("NORDSEARCH_API_KEYS", "NORDSEARCH_READ_KEYS")}
    cmd = [*nordsearch_cli(), "serve", "--create", "--index", str(tmp_path / "index"), "--host", "0.0.0.0"]
    cmd.append("--port")
    proc = subprocess.Popen(
        [*cmd, str(free_port())], env=env, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        first = proc.stderr.readline()
    finally:
        kill_server(proc)
    assert first.startswith("nordsearch: WARNING: listening on 0.0.0.0 with no API keys"), first


def test_a_second_writer_process_waits_for_a_server_job_or_says_why_and_corrupts_nothing(
    corpus_index: Path, tmp_path: Path
):
    """`nordsearch index` run against the index while the server's job writes to it: the CLI
    waits for the writer lock (or, past its wait, fails with one clear line); either way both
    writers' documents are whole and the store, FAISS and BM25 agree."""
    import os
    import subprocess
    from datetime import datetime

    from tests.api.test_cli_crash import _assert_consistent
    from tests.conftest import nordsearch_cli

    index = tmp_path / "index"
    copy_index(corpus_index, index)
    folder = tmp_path / "cli-docs"
    folder.mkdir()
    for n in range(2):
        (folder / f"brimnes-{n}.md").write_text(
            f"# Brimnesvik {n}\n\n" + "Brimnesvik bygger bostäder nära pendeltåget och nya cykelstråk. " * 20,
            encoding="utf-8",
        )
    proc, base = start_server(index, env_extra=_env())
    try:
        with httpx.Client(base_url=base, timeout=120, headers={"X-API-Key": KEY}) as api:
            before = api.get("/stats").json()["documents"]
            body = " ".join(
                f"Kvarter {i} i Ystadvik får regnbäddar, gröna tak och genomsläppliga ytor mot skyfall."
                for i in range(150)
            )
            files = [
                ("files", (f"plan-{n}.md", f"# Dagvattenplan {n}\n\n{body}\n".encode(), "text/markdown"))
                for n in range(8)
            ]
            job_id = api.post("/documents", files=files, params={"background": "true"}).json()["id"]
            deadline = time.monotonic() + 120
            while api.get(f"/jobs/{job_id}").json()["status"] != "running":
                assert time.monotonic() < deadline, "the job never started"
                time.sleep(0.1)
            cli_started = datetime.now().astimezone()
            cli = subprocess.run(
                [*nordsearch_cli(), "index", str(folder), "--index", str(index), "--quiet"],
                capture_output=True, text=True, timeout=600, env={**os.environ, "HF_HUB_OFFLINE": "1"},
            )  # fmt: skip
            deadline = time.monotonic() + 600
            while (job := api.get(f"/jobs/{job_id}").json())["status"] not in ("done", "failed"):
                assert time.monotonic() < deadline, "the job did not finish"
                time.sleep(0.5)
    finally:
        stop_server(proc)
    assert job["status"] == "done" and job["progress"]["indexed"] == 8, job
    # the two writers overlapped: the CLI began while the job ran and found its lock taken
    assert datetime.fromisoformat(job["finished_at"]) > cli_started
    assert "Traceback" not in cli.stderr
    print(f"second writer: exit {cli.returncode}, job finished {job['finished_at']}, CLI began {cli_started}")
    if cli.returncode == 0:
        added = 2
    else:
        assert cli.returncode == 1 and "another process is writing to the index" in cli.stderr, cli.stderr
        assert len(cli.stderr.strip().splitlines()) == 1, cli.stderr
        added = 0
    assert _assert_consistent(index) == before + 8 + added
