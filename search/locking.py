"""An inter-process writer lock (fcntl) so two writers never interleave their changes to one index.

Readers do not take it: SQLite WAL gives them consistent snapshots, and the vector index notices
other writers through the store's ``generation`` counter. The OS drops the lock if the holder
dies, so a crashed indexer never leaves the index locked.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from nordsearch.search.errors import IndexLockedError


class WriterLock:
    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise IndexLockedError(
                        f"another process is writing to the index ({self.path.parent}); "
                        "wait for it to finish and try again"
                    ) from None
                time.sleep(0.05)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None


class ReadWriteLock:
    """Many readers or one writer, within one process (the in-memory vector index: FAISS searches
    may run side by side, but not beside an add or a rebuild). Writers are preferred, so a stream
    of searches cannot starve the indexer. Re-entrant for the writer; readers must not upgrade."""

    def __init__(self) -> None:
        import threading

        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer: int | None = None
        self._depth = 0
        self._waiting_writers = 0

    def acquire_read(self) -> None:
        import threading

        with self._cond:
            if self._writer == threading.get_ident():  # the writer may read what it holds
                self._depth += 1
                return
            while self._writer is not None or self._waiting_writers:
                self._cond.wait()
            self._readers += 1

    def release_read(self) -> None:
        import threading

        with self._cond:
            if self._writer == threading.get_ident():
                self._depth -= 1
                return
            self._readers -= 1
            if not self._readers:
                self._cond.notify_all()

    def acquire_write(self) -> None:
        import threading

        me = threading.get_ident()
        with self._cond:
            if self._writer == me:
                self._depth += 1
                return
            self._waiting_writers += 1
            while self._writer is not None or self._readers:
                self._cond.wait()
            self._waiting_writers -= 1
            self._writer, self._depth = me, 1

    def release_write(self) -> None:
        with self._cond:
            self._depth -= 1
            if not self._depth:
                self._writer = None
                self._cond.notify_all()

    def read(self) -> _Held:
        return _Held(self.acquire_read, self.release_read)

    def write(self) -> _Held:
        return _Held(self.acquire_write, self.release_write)


class _Held:
    def __init__(self, acquire, release) -> None:  # noqa: ANN001
        self._acquire, self._release = acquire, release

    def __enter__(self) -> None:
        self._acquire()

    def __exit__(self, *exc: object) -> None:
        self._release()
