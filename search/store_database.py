"""The SQLite plumbing every part of the store (search.store) shares: connections, the write
transaction, and the meta table with the generation counter.

Thread-safe without serialising readers: writes go through one connection (one transaction at a
time), and every other thread reads through a connection of its own, so under WAL searches run
concurrently with each other and with a writer, each statement seeing the last committed state.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nordsearch.search.errors import IndexMismatchError


def _casefold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def on_read_only_disk(path: Path) -> bool:
    """An existing database whose folder cannot be written (a read-only mount, a snapshot)."""
    return path.exists() and not os.access(path.parent, os.W_OK)


def connect(path: Path, *, read_only: bool) -> sqlite3.Connection:
    """A connection for any thread; ``read_only`` opens the file immutable (nothing written, not even
    the -shm a WAL reader otherwise needs)."""
    if read_only:
        target, uri = f"{path.resolve().as_uri()}?mode=ro&immutable=1", True
    else:
        target, uri = str(path), False
    return sqlite3.connect(target, isolation_level=None, check_same_thread=False, timeout=30.0, uri=uri)


class StoreDatabase:
    """One SQLite database file: the write connection, a read connection per thread, and meta."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        # An index on a read-only filesystem (a mounted snapshot, a shared drive) can still be
        # searched: SQLite opens it immutable, since WAL readers otherwise need to write -shm.
        self.read_only = on_read_only_disk(self.path)
        self.conn = self._connect()  # the write connection
        self.lock = threading.RLock()  # the write connection: one transaction at a time
        self._tx_owner: int | None = None  # thread inside transaction(): reads its own writes
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()  # not lock: a long write must not delay a new reader
        if self.read_only:
            return
        self.conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed document survives power loss, not just a process crash; indexing
        # time is dominated by embedding, so the extra fsync per document is noise.
        self.conn.execute("PRAGMA synchronous=FULL")

    # -- connections and transactions -----------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = connect(self.path, read_only=self.read_only)
        conn.create_function("casefold", 1, _casefold, deterministic=True)  # used by search.filters
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def reader(self) -> sqlite3.Connection:
        """The connection this thread reads with: the write connection inside its own transaction,
        else one of the thread's own."""
        if self._tx_owner == threading.get_ident():
            return self.conn
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
            conn.execute("PRAGMA query_only=ON")
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def in_transaction(self) -> bool:
        """True on the thread inside transaction(): what it reads may yet roll back, so it must not
        be cached."""
        return self._tx_owner == threading.get_ident()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception (nothing half-written)."""
        with self.lock:
            outer = self._tx_owner
            self.conn.execute("BEGIN IMMEDIATE")
            self._tx_owner = threading.get_ident()
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")
            finally:
                self._tx_owner = outer

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self.reader().execute(sql, params).fetchall()

    def close(self) -> None:
        with self.lock, self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
            self.conn.close()

    # -- meta -----------------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self.reader().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        """Write one meta value; only inside transaction()."""
        self.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def put_meta(self, key: str, value: str) -> None:
        """Store a derived value (e.g. language offsets). Does not bump the generation: it changes
        no document, passage or vector."""
        with self.transaction():
            self.set_meta(key, value)

    def generation(self) -> int:
        return int(self.meta("generation") or 0)

    def bump_generation(self, changed_passages: int = 0) -> tuple[int, int]:
        """Next generation; also counts the passages added or removed since the hub reference was
        built (search.index decides from it when to rebuild the reference)."""
        before = int(self.meta("generation") or 0)
        self.set_meta("generation", str(before + 1))
        if changed_passages:
            self.set_meta("hub_changes", str(int(self.meta("hub_changes") or 0) + changed_passages))
        return before, before + 1

    def model(self) -> tuple[str, int] | None:
        """(model name, dimension) the stored vectors were made with; None for a fresh index."""
        rows = dict(self.query("SELECT key, value FROM meta WHERE key IN ('model', 'dimension')"))
        name, dim = rows.get("model"), rows.get("dimension")
        return (name, int(dim)) if name is not None and dim is not None else None

    def set_model(self, name: str, dimension: int) -> None:
        with self.transaction():
            current = self.model()
            if current is not None and current != (name, dimension):
                raise IndexMismatchError(
                    f"index was built with model {current[0]!r} (dimension {current[1]}), not {name!r} "
                    f"(dimension {dimension}); re-index with --rebuild or use the model {current[0]!r}"
                )
            self.set_meta("model", name)
            self.set_meta("dimension", str(dimension))
