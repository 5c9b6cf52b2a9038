"""Indexing jobs kept in the index's database (``store.sqlite``), so that every server process sees
every job and a job outlives the process that ran it.

Two tables of their own: ``jobs`` (one row per job: what to index, its state and final report)
and ``job_files`` (one row per file outcome, written as the job goes). They are not part of the
document store's generation: a job's progress changes no search result.

Which process runs a job: whoever holds ``jobs.lock`` (an fcntl lock beside the database). A
runner takes it, claims the oldest queued job, runs it and lets go, so jobs run one at a time
across all the server's processes, in submission order. The operating system drops the lock when
its holder dies: a row still marked ``running`` while the lock is free belongs to a process that
is gone, and the next runner marks it ``interrupted``.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, Literal

from nordsearch.search.store_database import connect, on_read_only_disk

JobStatus = Literal["queued", "running", "done", "failed", "interrupted"]
JobKind = Literal["upload", "paths"]
FINISHED: tuple[JobStatus, ...] = ("done", "failed", "interrupted")
LOCK_FILE = "jobs.lock"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    force INTEGER NOT NULL,
    paths TEXT NOT NULL,
    names TEXT NOT NULL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    total INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, seq);
CREATE TABLE IF NOT EXISTS job_files (
    job_seq INTEGER NOT NULL REFERENCES jobs(seq) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    source TEXT NOT NULL,
    status TEXT NOT NULL,
    document_id TEXT,
    passages INTEGER NOT NULL,
    code TEXT,
    reason TEXT,
    warnings TEXT NOT NULL DEFAULT '[]',  -- what extraction noticed (JSON list), as in --report
    PRIMARY KEY (job_seq, ordinal)
);
"""

_FILE_FIELDS = ("source", "status", "document_id", "passages", "code", "reason")
_COLUMNS = (
    "seq, id, kind, status, force, paths, names, created_at, started_at, finished_at, total, result, error"
)


_INTERRUPT = (
    "UPDATE jobs SET status = 'interrupted', finished_at = ?,"
    " error = 'the server stopped while this job ran; submit it again to finish it' WHERE status = 'running'"
)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class JobStore:
    """The jobs tables of one index's database; thread-safe (a connection per thread)."""

    def __init__(self, database: Path, *, keep: int = 200) -> None:
        self.database = Path(database)
        self.keep = keep  # finished jobs kept; older ones are deleted as new ones arrive
        self._local = threading.local()
        self._lock_path = self.database.parent / LOCK_FILE
        # An index on a read-only disk is searched, never indexed into: its jobs are read as they
        # were left (none, when it never had any), and the service refuses writes (api.routes).
        self.read_only = on_read_only_disk(self.database)
        self._empty = self.read_only and not self._has_tables()
        if not self.read_only:
            with self._connection() as c:
                c.executescript(_SCHEMA)
                if not self._has_warnings():  # tables made by a version before warnings were kept
                    try:
                        c.execute("ALTER TABLE job_files ADD COLUMN warnings TEXT NOT NULL DEFAULT '[]'")
                    except sqlite3.OperationalError:
                        if not self._has_warnings():  # not a server process that added it meanwhile
                            raise
        # an older index on a read-only disk: its files are read without warnings
        self._warnings = "warnings" if self._empty or self._has_warnings() else "'[]'"

    def _has_warnings(self) -> bool:
        columns = self._connection().execute("PRAGMA table_info(job_files)").fetchall()
        return any(c[1] == "warnings" for c in columns)

    def _has_tables(self) -> bool:
        with closing(connect(self.database, read_only=True)) as c:
            return bool(c.execute("SELECT 1 FROM sqlite_master WHERE name = 'jobs'").fetchall())

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._empty:  # no jobs tables on a disk we may not write: an empty, in-memory set
                conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
                conn.executescript(_SCHEMA)
            else:
                conn = connect(self.database, read_only=self.read_only)
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA busy_timeout = 30000")
            self._local.conn = conn
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (IMMEDIATE: no deadlock upgrading a read)."""
        c = self._connection()
        c.execute("BEGIN IMMEDIATE")
        try:
            yield c
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def _write(self, sql: str, params: tuple = ()) -> None:
        with self._transaction() as c:
            c.execute(sql, params)

    # -- submitting and reading ----------------------------------------------------------------

    def add(
        self, job_id: str, kind: JobKind, paths: list[str], *, force: bool, names: dict[str, str]
    ) -> None:
        with self._transaction() as c:
            c.execute(
                "INSERT INTO jobs(id, kind, status, force, paths, names, created_at) VALUES (?,?,?,?,?,?,?)",
                (job_id, kind, "queued", int(force), json.dumps(paths), json.dumps(names), now()),
            )
            c.execute(
                "DELETE FROM jobs WHERE status IN ('done', 'failed', 'interrupted') AND seq NOT IN"
                " (SELECT seq FROM jobs ORDER BY seq DESC LIMIT ?)",
                (self.keep,),
            )

    def get(self, job_id: str) -> dict[str, Any] | None:
        rows = self._connection().execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchall()
        return self._with_files(rows[0]) if rows else None

    def recent(self, limit: int | None = None) -> list[dict[str, Any]]:
        rows = (
            self._connection()
            .execute(f"SELECT {_COLUMNS} FROM jobs ORDER BY seq DESC LIMIT ?", (limit or self.keep,))
            .fetchall()
        )
        return [self._with_files(r) for r in rows]

    def pending(self) -> bool:
        """True while a job is queued or running in any process."""
        rows = (
            self._connection()
            .execute("SELECT 1 FROM jobs WHERE status IN ('queued', 'running') LIMIT 1")
            .fetchall()
        )
        return bool(rows)

    def _with_files(self, row: tuple) -> dict[str, Any]:
        seq, job_id, kind, status, force, paths, names, created, started, finished, total, result, error = row
        files = (
            self._connection()
            .execute(
                f"SELECT source, status, document_id, passages, code, reason, {self._warnings} FROM job_files"
                " WHERE job_seq = ? ORDER BY ordinal",
                (seq,),
            )
            .fetchall()
        )
        return {
            "id": job_id, "kind": kind, "status": status, "force": bool(force), "paths": json.loads(paths),
            "names": json.loads(names), "created_at": created, "started_at": started, "finished_at": finished,
            "total": total, "result": json.loads(result) if result else None, "error": error,
            "files": [
                dict(zip(_FILE_FIELDS, f[:-1], strict=True)) | {"warnings": json.loads(f[-1] or "[]")}
                for f in files
            ],
        }  # fmt: skip

    # -- running (the holder of jobs.lock) -----------------------------------------------------

    def try_lock(self) -> int | None:
        """The runner's lock (an fd), or None when another runner holds it."""
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    @staticmethod
    def unlock(fd: int) -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def interrupt_orphans(self) -> None:
        """Holding the runner's lock: jobs still marked running belong to a process that died."""
        self._write(_INTERRUPT, (now(),))

    def claim(self) -> dict[str, Any] | None:
        """Holding the runner's lock: mark jobs left running by a dead process interrupted, then
        take the oldest queued job (now running), or None."""
        with self._transaction() as c:
            c.execute(_INTERRUPT, (now(),))
            rows = c.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1"
            ).fetchall()
            if rows:
                c.execute(
                    "UPDATE jobs SET status = 'running', started_at = ? WHERE seq = ?", (now(), rows[0][0])
                )
        return self.get(rows[0][1]) if rows else None

    def set_total(self, job_id: str, total: int) -> None:
        self._write("UPDATE jobs SET total = ? WHERE id = ?", (total, job_id))

    def add_file(self, job_id: str, outcome: dict[str, Any]) -> None:
        self._write(
            "INSERT INTO job_files(job_seq, ordinal, source, status, document_id, passages, code, reason,"
            " warnings) SELECT seq, (SELECT COUNT(*) FROM job_files f WHERE f.job_seq = jobs.seq), ?, ?, ?, ?,"
            " ?, ?, ? FROM jobs WHERE id = ?",
            (outcome["source"], outcome["status"], outcome.get("document_id"), int(outcome.get("passages") or 0),
             outcome.get("code"), outcome.get("reason"), json.dumps(list(outcome.get("warnings") or [])), job_id),
        )  # fmt: skip

    def finish(
        self, job_id: str, status: JobStatus, *, result: dict[str, Any] | None, error: str | None
    ) -> None:
        summary = {k: v for k, v in result.items() if k != "files"} if result is not None else None
        self._write(
            "UPDATE jobs SET status = ?, finished_at = ?, result = ?, error = ? WHERE id = ?",
            (status, now(), json.dumps(summary) if summary is not None else None, error, job_id),
        )
