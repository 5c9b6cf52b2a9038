"""Crash-safe file replacement: a reader sees either the old file or the new one, never a torn one."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def fsync_dir(directory: Path) -> None:
    """Persist a rename: without fsync of the directory a power loss can forget the os.replace."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` via ``write(tmp_path)`` on a temp file in the same directory, then swap it in.

    Same directory because os.replace is only atomic within one filesystem. ``write`` gets a
    path (not a file object) so libraries that insist on opening the file themselves (faiss) fit.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:  # flush + fsync whatever the writer left in the OS cache
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if not isinstance(exc, OSError) and "No space left on device" in str(exc):
            # faiss reports a full disk as a RuntimeError with its C++ location: say it plainly
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from exc
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
