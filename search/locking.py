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

from search.errors import IndexLockedError


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
