"""The job manager: one worker thread, FIFO jobs, progress, per-file errors; writes under the holder's
lock one document at a time, with the embedding done before the lock is taken."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from nordsearch.api.jobs import JobManager, LockedIndex, PrefetchEmbedder
from nordsearch.ingest.records import Document, IngestedFile, IngestError, Passage
from nordsearch.ingest.settings import Settings


def other_thread_can_lock(lock) -> bool:
    out = []

    def probe():
        got = lock.acquire(blocking=False)
        if got:
            lock.release()
        out.append(got)

    t = threading.Thread(target=probe)
    t.start()
    t.join()
    return out[0]


class FakeEmbedder:
    name = "fake"
    dimension = 4

    def __init__(self, holder=None):
        self.calls: list[list[str]] = []
        self.lock_free_while_embedding: list[bool] = []
        self.holder = holder

    def embed_passages(self, texts):
        self.calls.append(list(texts))
        if self.holder is not None:
            self.lock_free_while_embedding.append(other_thread_can_lock(self.holder.lock))
        return np.ones((len(texts), 4), dtype=np.float32)

    def embed_queries(self, texts):
        return np.ones((len(texts), 4), dtype=np.float32)


class FakeIndex:
    def __init__(self, holder):
        self.holder = holder
        self.added: list[str] = []
        self.saves = 0
        self.lock_held_during_add: list[bool] = []

    def file_state(self, source):
        return None

    def touch_file(self, source, mtime, size):
        raise AssertionError("no file is indexed, so none can be unchanged")

    def prepare(self):
        pass

    def add(self, ingested, mtime=None):
        self.lock_held_during_add.append(not other_thread_can_lock(self.holder.lock))
        if self.holder.embedder is not None:
            self.holder.embedder.embed_passages([p.text for p in ingested.passages])
        time.sleep(0.02)
        self.added.append(ingested.document.source)
        return ingested.document

    def prune(self, keep):
        return []

    def save(self):
        self.saves += 1
        return True


class FakeHolder:
    def __init__(self, index_dir: Path, prefetch: bool = False):
        self.index_dir = index_dir  # where the jobs database is
        index_dir.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.inner = FakeEmbedder(self)
        self.embedder = PrefetchEmbedder(self.inner) if prefetch else None
        self.index = FakeIndex(self)

    def get(self):
        return self.index


def fake_ingest(source: str, known: str | None = None):
    path = Path(source)
    if "broken" in path.name:
        return IngestError(source, "corrupt_file", "the file is damaged")
    doc_id = path.stem
    doc = Document(
        document_id=doc_id,
        source=source,
        title=path.stem,
        language="sv",
        format="md",
        pages=0,
        size_bytes=10,
        content_hash=doc_id,
    )
    passages = [
        Passage(
            passage_id=f"{doc_id}-{i}",
            document_id=doc_id,
            ordinal=i,
            text=f"{doc_id} text {i}",
            language="sv",
            char_start=0,
            char_end=5,
        )
        for i in range(3)
    ]
    return IngestedFile(doc, passages)


def files(tmp_path: Path, *names: str) -> list[Path]:
    """Files where the server keeps uploads (index/uploads), which lies inside ROOTS too."""
    out = []
    for name in names:
        p = tmp_path / "index" / "uploads" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")
        out.append(p)
    return out


def test_job_runs_reports_progress_and_per_file_errors(tmp_path: Path):
    holder = FakeHolder(tmp_path / "index")
    manager = JobManager(holder, Settings(workers=1, index_roots=str(tmp_path)), ingest=fake_ingest)
    try:
        job = manager.submit(
            "upload",
            files(tmp_path, "a.md", "broken.md", "b.md"),
            names={str((tmp_path / "index" / "uploads" / "a.md").resolve()): "A.md"},
        )
        job = manager.wait(job.id, 30)
        assert job.finished
        data = job.to_dict()
        assert data["status"] == "done" and data["error"] is None
        assert data["progress"] == {
            "total": 3,
            "done": 3,
            "indexed": 2,
            "unchanged": 0,
            "skipped": 0,
            "failed": 1,
            "removed": 0,
            "passages": 6,
        }
        assert [e["code"] for e in data["errors"]] == ["corrupt_file"]
        assert data["errors"][0]["source"].endswith("broken.md") and data["errors"][0]["reason"]
        names = {f["filename"] for f in data["result"]["files"]}
        assert "A.md" in names
        assert holder.index.saves == 1  # the job's end releases the writer lock
        assert all(holder.index.lock_held_during_add)
        assert manager.get(job.id).to_dict() == data and manager.list()[0].to_dict() == data
    finally:
        manager.stop()


def test_jobs_run_one_at_a_time_in_order(tmp_path: Path):
    holder = FakeHolder(tmp_path / "index")
    manager = JobManager(holder, Settings(workers=1, index_roots=str(tmp_path)), ingest=fake_ingest)
    try:
        first = manager.submit("paths", files(tmp_path, "a1.md", "a2.md", "a3.md"))
        second = manager.submit("paths", files(tmp_path, "b1.md"))
        assert manager.busy
        assert manager.wait(second.id, 30).finished and manager.get(first.id).finished
        assert [Path(s).name for s in holder.index.added] == ["a1.md", "a2.md", "a3.md", "b1.md"]
        assert not manager.busy
    finally:
        manager.stop()


def test_a_job_that_breaks_fails_with_a_reason(tmp_path: Path):
    holder = FakeHolder(tmp_path / "index")

    def boom(_, mtime=None):
        raise RuntimeError("disk on fire")

    holder.index.add = boom
    manager = JobManager(holder, Settings(workers=1, index_roots=str(tmp_path)), ingest=fake_ingest)
    try:
        job = manager.wait(manager.submit("paths", files(tmp_path, "a.md")).id, 30)
        assert job.status == "failed" and "disk on fire" in job.error
        # the worker survives and takes the next job
        holder.index.add = FakeIndex(holder).add
        assert manager.wait(manager.submit("paths", files(tmp_path, "c.md")).id, 30).status == "done"
    finally:
        manager.stop()


def test_embedding_happens_before_the_lock_is_taken(tmp_path: Path):
    holder = FakeHolder(tmp_path / "index", prefetch=True)
    manager = JobManager(holder, Settings(workers=1, index_roots=str(tmp_path)), ingest=fake_ingest)
    try:
        job = manager.wait(manager.submit("upload", files(tmp_path, "a.md", "b.md")).id, 30)
        assert job.status == "done"
        # the model ran only in prefetch (outside the lock); add() found the vectors ready
        assert holder.inner.calls and all(holder.inner.lock_free_while_embedding)
        assert sum(len(c) for c in holder.inner.calls) == 6
        assert all(holder.index.lock_held_during_add)
    finally:
        manager.stop()


def test_locked_index_delegates_under_the_lock(tmp_path: Path):
    holder = FakeHolder(tmp_path / "index")
    locked = LockedIndex(holder)
    assert locked.file_state("x") is None
    assert locked.save() is True and locked.prune(set()) == []


def test_prefetch_embedder_falls_back_to_the_model():
    inner = FakeEmbedder()
    emb = PrefetchEmbedder(inner)
    emb.prefetch(["a", "b"])
    assert emb.embed_passages(["b", "a"]).shape == (2, 4) and len(inner.calls) == 1
    emb.embed_passages(["c"])
    assert inner.calls[-1] == ["c"]
    emb.clear()
    emb.embed_passages(["a"])
    assert inner.calls[-1] == ["a"]
    assert emb.embed_queries(["q"]).shape == (1, 4) and emb.dimension == 4 and emb.name == "fake"


def test_managers_of_two_processes_share_one_queue_and_run_one_job_at_a_time(tmp_path: Path):
    # two managers over one database stand for two server processes: each opens its own lock file
    # descriptor, and flock() keeps them apart exactly as it keeps processes apart
    intervals: list[tuple[float, float, str]] = []

    def timed(holder):
        plain = holder.index.add

        def add(ingested, mtime=None):
            start = time.monotonic()
            out = plain(ingested, mtime=mtime)
            intervals.append((start, time.monotonic(), ingested.document.source))
            return out

        holder.index.add = add
        return holder

    a, b = timed(FakeHolder(tmp_path / "index")), timed(FakeHolder(tmp_path / "index"))
    one = JobManager(a, Settings(workers=1, index_roots=str(tmp_path)), ingest=fake_ingest, poll=0.05)
    two = JobManager(b, Settings(workers=1, index_roots=str(tmp_path)), ingest=fake_ingest, poll=0.05)
    try:
        jobs = [
            one.submit("paths", files(tmp_path, "a1.md", "a2.md")),
            two.submit("paths", files(tmp_path, "b1.md", "b2.md")),
            one.submit("paths", files(tmp_path, "c1.md")),
        ]
        for job in jobs:
            assert two.wait(job.id, 30).status == "done"  # any process answers for any job
        assert [j.id for j in one.list()] == [j.id for j in reversed(jobs)]
        # submission order across both processes, and no two jobs' writes overlap in time
        assert [Path(s).name for _, _, s in sorted(intervals)] == [
            "a1.md",
            "a2.md",
            "b1.md",
            "b2.md",
            "c1.md",
        ]
        ends = sorted(intervals)
        assert all(prev[1] <= nxt[0] for prev, nxt in zip(ends, ends[1:], strict=False))
    finally:
        one.stop()
        two.stop()
