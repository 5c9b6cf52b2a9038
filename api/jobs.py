"""Indexing jobs: one background worker thread owns every indexing write of the HTTP service.

Jobs (uploads saved under ``<index>/uploads/``, or folders inside the configured roots) wait in a
FIFO queue; the worker runs them one at a time through ``search.batch.index_paths`` and records
progress (``search.batch.Progress``), per-file errors and the final report, kept in memory (the
last ``MAX_JOBS``).

Consistency for readers — the design chosen:

* The service has ONE ``SearchIndex``. Reads (search, listing, a document, stats, the web page)
  take no service-wide lock: each thread reads the store through its own SQLite connection (WAL:
  every statement sees the last committed state) and FAISS under the read side of the index's
  read-write lock, so searches run side by side and beside the worker.
* A document is one store transaction, and its vectors enter FAISS in one step under the write
  side of that lock after the commit: a search sees a whole document or none of it (between the
  two steps, its passages can be found lexically but not yet densely). A passage deleted after
  a search ranked it is simply left out of that search's page.
* ``IndexHolder.lock`` now only keeps writers apart: the worker takes it per document
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
import queue
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from nordsearch.search.batch import FileOutcome, Progress
from nordsearch.search.embedder import Spans, embed_with_sentences

if TYPE_CHECKING:
    import numpy as np

    from nordsearch.ingest.records import Document, IngestedFile
    from nordsearch.ingest.settings import Settings
    from nordsearch.search.store import FileState

log = logging.getLogger(__name__)

JobStatus = Literal["queued", "running", "done", "failed"]
MAX_JOBS = 200
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


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class Job:
    id: str
    kind: Literal["upload", "paths"]
    paths: list[Path]
    force: bool = False
    names: dict[str, str] = field(default_factory=dict)  # saved path -> the uploaded file name
    status: JobStatus = "queued"
    created_at: str = field(default_factory=_now)
    started_at: str | None = None
    finished_at: str | None = None
    total: int = 0
    outcomes: list[FileOutcome] = field(default_factory=list)
    result: dict[str, Any] | None = None
    error: str | None = None
    finished: threading.Event = field(default_factory=threading.Event)

    def _file(self, o: FileOutcome) -> dict[str, Any]:
        return {
            "source": o.source,
            "filename": self.names.get(o.source),
            "status": o.status,
            "document_id": o.document_id,
            "passages": o.passages,
            "code": o.code,
            "reason": o.reason,
        }

    def to_dict(self) -> dict[str, Any]:
        outcomes = list(self.outcomes)
        counts = {
            s: sum(1 for o in outcomes if o.status == s)
            for s in ("indexed", "unchanged", "failed", "removed")
        }
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
    def __init__(self, job: Job) -> None:
        self.job = job

    def start(self, total_files: int) -> None:
        self.job.total = total_files

    def advance(self, outcome: FileOutcome) -> None:
        self.job.outcomes.append(outcome)


class JobManager:
    """The queue of jobs and the one worker thread that runs them."""

    def __init__(self, holder: Any, settings: Settings, ingest: Any = None) -> None:
        self.holder = holder
        self.settings = settings  # the service's, from create_app: every job extracts with them
        self.ingest = ingest  # tests: a stand-in for search.batch's extraction
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._running: Job | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="nordsearch-jobs", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Let the running job finish (up to ``timeout``); queued jobs are dropped."""
        if self._thread is None:
            return
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put(None)
        self._thread.join(timeout)
        self._thread = None

    @property
    def busy(self) -> bool:
        return self._running is not None or not self._queue.empty()

    def submit(
        self,
        kind: Literal["upload", "paths"],
        paths: list[Path],
        *,
        force: bool = False,
        names: dict[str, str] | None = None,
    ) -> Job:
        job = Job(id=uuid.uuid4().hex, kind=kind, paths=list(paths), force=force, names=dict(names or {}))
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > MAX_JOBS:
                oldest = next((j for j in self._jobs.values() if j.finished.is_set()), None)
                if oldest is None:
                    break
                del self._jobs[oldest.id]
        self.start()
        self._queue.put(job)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def list(self) -> list[Job]:
        with self._lock:
            return list(reversed(self._jobs.values()))

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            self._running = job
            try:
                self._run(job)
            finally:
                self._running = None
                job.finished.set()

    def _run(self, job: Job) -> None:
        from nordsearch.search.batch import index_paths

        job.status = "running"
        job.started_at = _now()
        try:
            self.holder.get()
            report = index_paths(
                LockedIndex(self.holder),
                job.paths,
                settings=self.settings,
                workers=self.settings.workers,
                force=job.force,
                progress=JobProgress(job),
                ingest=self.ingest,
            )
            job.result = report.to_dict()
            job.status = "done"
        except Exception as exc:  # the job fails with a reason; the service carries on
            log.exception("job %s failed", job.id)
            job.error = f"{type(exc).__name__}: {getattr(exc, 'detail', None) or exc}"
            job.status = "failed"
        finally:
            job.finished_at = _now()
