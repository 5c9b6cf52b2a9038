"""Indexing jobs: a background thread per server process runs the service's indexing writes.

Jobs (uploads saved under ``<index>/uploads/``, or folders inside the configured roots) are rows
in the index's database (api.job_store), so every server process answers for every job and a job
outlives a restart. They run one at a time across all processes, in submission order, through
``search.batch.index_paths``; progress (``search.batch.Progress``), per-file errors and the final
report are written as they come (the last ``MAX_JOBS`` finished jobs are kept). A job whose
process died is reported ``interrupted``; queued jobs wait for the next start.

Consistency for readers — the design chosen:

* The service has ONE ``SearchIndex``. Reads (search, listing, a document, stats, the web page)
  take no service-wide lock: each thread reads the store through its own SQLite connection (WAL:
  every statement sees the last committed state) and FAISS under the read side of the index's
  read-write lock, so searches run side by side and beside the worker.
* A document is one store transaction, and its vectors enter FAISS in one step under the write
  side of that lock after the commit: a search sees a whole document or none of it (between the
  two steps, its passages can be found lexically but not yet densely). A passage deleted after
  a search ranked it is simply left out of that search's page.
* ``IndexHolder.lock`` only keeps this process's writers apart: the worker takes it per document
  (``LockedIndex.add``), for prune and for ``save()``, and ``DELETE /documents/{id}`` takes it too.
* The expensive part of a write, embedding the passages, runs *outside* that lock: the worker
  embeds first (``PrefetchEmbedder.prefetch``, in small batches) and ``SearchIndex.add`` then
  finds the vectors ready. The model itself is used by one thread at a time (a fast tokenizer is
  not safe for concurrent calls), so a query waits at most for one small batch of passages.
* The index's inter-process writer lock is taken at a job's first write and released by the
  ``save()`` at its end (``index_paths`` always saves), so the CLI can index between jobs.
  ``DELETE /documents/{id}`` saves straight away unless a job is running (whose final save then
  persists the deletion).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nordsearch.api.job_store import FINISHED, JobKind, JobStatus, JobStore
from nordsearch.search.batch import STATUSES, FileOutcome, Progress
from nordsearch.search.embedder import Spans, embed_with_sentences

if TYPE_CHECKING:
    import numpy as np

    from nordsearch.ingest.records import Document, IngestedFile
    from nordsearch.ingest.settings import Settings
    from nordsearch.search.store import FileState

log = logging.getLogger(__name__)

MAX_JOBS = 200  # finished jobs kept in the database
STORE_FILE = "store.sqlite"  # the index's database (search.store), which holds the jobs tables too
PREFETCH_BATCH = 16


class PrefetchEmbedder:
    """Wraps the service's embedder: serialises use of the model, and lets the writer embed a
    document's passages before it takes the index lock (see the module docstring)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self._model_lock = threading.Lock()
        # text -> (vector, the sentence spans embedded with it, their vectors)
        self._ready: dict[str, tuple[np.ndarray, tuple | None, np.ndarray | None]] = {}
        self._ready_lock = threading.Lock()

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        with self._model_lock:
            return self.inner.embed_queries(texts)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self.embed_passages_with_sentences(texts, None)[0]

    def embed_passages_with_sentences(
        self, texts: list[str], spans: Sequence[Spans] | None
    ) -> tuple[np.ndarray, list[np.ndarray] | None]:
        import numpy as np

        with self._ready_lock:
            rows = [self._ready.get(t) for t in texts]
        usable = all(
            r is not None and (spans is None or r[1] == _spans_key(spans[i])) for i, r in enumerate(rows)
        )
        if texts and usable:
            vectors = np.stack([r[0] for r in rows]).astype(np.float32, copy=False)  # type: ignore[index]
            sentences = [r[2] for r in rows]  # type: ignore[index]
            return vectors, (None if spans is None or any(s is None for s in sentences) else sentences)
        with self._model_lock:
            return embed_with_sentences(self.inner, texts, spans)

    def prefetch(self, texts: list[str], spans: Sequence[Spans] | None = None) -> None:
        """Embed ``texts`` (and their sentence ``spans``) now, a batch at a time so queries
        interleave, for the next add()."""
        for i in range(0, len(texts), PREFETCH_BATCH):
            batch = texts[i : i + PREFETCH_BATCH]
            batch_spans = spans[i : i + PREFETCH_BATCH] if spans is not None else None
            with self._model_lock:
                matrix, sentences = embed_with_sentences(self.inner, batch, batch_spans)
            with self._ready_lock:
                for j, (text, vector) in enumerate(zip(batch, matrix, strict=True)):
                    key = _spans_key(batch_spans[j]) if batch_spans is not None else None
                    self._ready[text] = (vector, key, sentences[j] if sentences is not None else None)

    def clear(self) -> None:
        with self._ready_lock:
            self._ready.clear()


def _spans_key(spans: Spans) -> tuple[tuple[int, int], ...]:
    return tuple((int(a), int(b)) for a, b in spans)


class LockedIndex:
    """What ``index_paths`` sees of the service's index: each write under the holder's lock."""

    def __init__(self, holder: Any) -> None:
        self.holder = holder

    def file_state(self, source: str) -> FileState | None:
        return self.holder.get().file_state(source)  # a read: no lock

    def prepare(self) -> None:
        with self.holder.lock:
            self.holder.get().prepare()

    def touch_file(self, source: str, mtime: float | None, size: int | None) -> None:
        with self.holder.lock:
            self.holder.get().touch_file(source, mtime, size)

    def add(self, ingested: IngestedFile, *, mtime: float | None = None) -> Document:
        from nordsearch.search.index import passage_embedding_text

        idx = self.holder.get()
        embedder = getattr(self.holder, "embedder", None)
        if isinstance(embedder, PrefetchEmbedder):
            embedder.prefetch(
                [passage_embedding_text(ingested.document, p) for p in ingested.passages],
                [p.sentences for p in ingested.passages],
            )
        try:
            with self.holder.lock:
                return idx.add(ingested, mtime=mtime)
        finally:
            if isinstance(embedder, PrefetchEmbedder):
                embedder.clear()

    def prune(self, existing_sources: Any) -> list[tuple[str, str]]:
        with self.holder.lock:
            return self.holder.get().prune(existing_sources)

    def save(self) -> bool:
        with self.holder.lock:
            return self.holder.get().save()


@dataclass
class Job:
    """A job as the database holds it now (a snapshot: ask the manager again for news)."""

    id: str
    kind: JobKind
    paths: list[Path]
    force: bool = False
    names: dict[str, str] = field(default_factory=dict)  # saved path -> the uploaded file name
    status: JobStatus = "queued"
    created_at: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    total: int = 0
    outcomes: list[FileOutcome] = field(default_factory=list)
    result: dict[str, Any] | None = None
    error: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Job:
        return cls(
            id=row["id"], kind=row["kind"], paths=[Path(p) for p in row["paths"]], force=row["force"],
            names=row["names"], status=row["status"], created_at=row["created_at"],
            started_at=row["started_at"], finished_at=row["finished_at"], total=row["total"],
            outcomes=[FileOutcome(**f) for f in row["files"]], result=row["result"], error=row["error"],
        )  # fmt: skip

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def _file(self, o: FileOutcome) -> dict[str, Any]:
        return {
            "source": o.source,
            "filename": self.names.get(o.source),
            "status": o.status,
            "document_id": o.document_id,
            "passages": o.passages,
            "code": o.code,
            "reason": o.reason,
            "warnings": list(o.warnings),
        }

    def to_dict(self) -> dict[str, Any]:
        outcomes = list(self.outcomes)
        counts = {s: sum(1 for o in outcomes if o.status == s) for s in STATUSES}
        result = None
        if self.result is not None:
            result = {k: v for k, v in self.result.items() if k != "files"}
            result["files"] = [self._file(o) for o in outcomes]
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "progress": {
                "total": self.total,
                "done": len(outcomes),
                **counts,
                "passages": sum(o.passages for o in outcomes if o.status == "indexed"),
            },
            "errors": [self._file(o) for o in outcomes if o.status == "failed"],
            "result": result,
            "error": self.error,
        }


class JobProgress(Progress):
    """Each file's outcome is written to the job's rows as it comes: any process can show it."""

    def __init__(self, store: JobStore, job_id: str) -> None:
        self.store, self.job_id = store, job_id

    def start(self, total_files: int) -> None:
        self.store.set_total(self.job_id, total_files)

    def advance(self, outcome: FileOutcome) -> None:
        self.store.add_file(self.job_id, asdict(outcome))


class JobManager:
    """This process's side of the jobs queue: submits jobs to the index's database, and runs one
    thread that takes queued jobs (its own or another server process's) whenever no other
    process is running one (see api.job_store)."""

    def __init__(self, holder: Any, settings: Settings, ingest: Any = None, *, poll: float = 1.0) -> None:
        self.holder = holder
        self.settings = settings  # the service's, from create_app: every job extracts with them
        self.ingest = ingest  # tests: a stand-in for search.batch's extraction
        self.poll = poll  # seconds between looks for jobs other processes queued
        self._store: JobStore | None = None
        self._store_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    @property
    def store(self) -> JobStore:
        # opened on first use: the database is the index's, which the holder creates on load
        with self._store_lock:
            if self._store is None:
                self._store = JobStore(Path(self.holder.index_dir) / STORE_FILE, keep=MAX_JOBS)
            return self._store

    def start(self) -> None:
        """Start this process's runner; first report jobs a dead process left running, so they
        read as interrupted from the first request on."""
        if self._thread is None:
            if self.store.read_only:  # nothing can be indexed into it: no runner
                return
            fd = self.store.try_lock()
            if fd is not None:
                try:
                    self.store.interrupt_orphans()
                finally:
                    self.store.unlock(fd)
            self._stopping.clear()
            self._thread = threading.Thread(target=self._loop, name="nordsearch-jobs", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Let the running job finish (up to ``timeout``). Queued jobs stay queued in the database:
        the next server start (or another server process) runs them."""
        if self._thread is None:
            return
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout)
        self._thread = None

    @property
    def busy(self) -> bool:
        """True while a job is queued or running in any of the service's processes."""
        return self.store.pending()

    def submit(
        self,
        kind: JobKind,
        paths: list[Path],
        *,
        force: bool = False,
        names: dict[str, str] | None = None,
    ) -> Job:
        job_id = uuid.uuid4().hex
        self.store.add(job_id, kind, [str(p) for p in paths], force=force, names=dict(names or {}))
        self.start()
        self._wake.set()
        job = self.get(job_id)
        assert job is not None
        return job

    def get(self, job_id: str) -> Job | None:
        row = self.store.get(job_id)
        return Job.from_row(row) if row is not None else None

    def list(self) -> list[Job]:
        return [Job.from_row(r) for r in self.store.recent()]

    def wait(self, job_id: str, timeout: float) -> Job | None:
        """The job once it has finished, or as it is when ``timeout`` seconds have passed."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            left = deadline - time.monotonic()
            if job is None or job.finished or left <= 0:
                return job
            with self._changed:  # woken when this process finishes a job; else look again soon
                self._changed.wait(min(left, 0.2))

    def _loop(self) -> None:
        while not self._stopping.is_set():
            if self.store.pending():
                fd = self.store.try_lock()
                if fd is not None:
                    try:
                        while not self._stopping.is_set() and (row := self.store.claim()) is not None:
                            self._run(Job.from_row(row))
                    finally:
                        self.store.unlock(fd)
            self._wake.wait(self.poll)
            self._wake.clear()

    def _roots(self, job: Job) -> list[Path]:
        """Where a job's files must still lie when they are read: uploads in the index's uploads
        folder, server-side paths inside NORDSEARCH_INDEX_ROOTS."""
        from nordsearch.api.roots import parse_roots

        if job.kind == "upload":
            return [Path(self.holder.index_dir) / "uploads"]
        return parse_roots(self.settings.index_roots)

    def _run(self, job: Job) -> None:
        from nordsearch.search.batch import index_paths

        try:
            self.holder.get()
            report = index_paths(
                LockedIndex(self.holder),
                job.paths,
                settings=self.settings,
                workers=self.settings.workers,
                force=job.force,
                progress=JobProgress(self.store, job.id),
                ingest=self.ingest,
                roots=self._roots(job),
            )
            self.store.finish(job.id, "done", result=report.to_dict(), error=None)
        except Exception as exc:  # the job fails with a reason; the service carries on
            log.exception("job %s failed", job.id)
            error = f"{type(exc).__name__}: {getattr(exc, 'detail', None) or exc}"
            self.store.finish(job.id, "failed", result=None, error=error)
        finally:
            with self._changed:
                self._changed.notify_all()
