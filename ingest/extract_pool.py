"""Extraction in worker processes, each file under a time and a memory limit.

A hostile or broken file (a decompression bomb, a page of a million nested tags, a PDF whose parser
loops) must cost only itself. Each worker extracts one file at a time; one past its deadline is
killed and replaced, one that dies (past its memory limit, or a crash in a C library) is replaced,
and in both cases the file it held fails with a reason naming the limit while every other file goes
on. A thread reads the workers' results while the caller embeds the previous ones, so extraction
overlaps with encoding; at most two files per worker are extracted ahead of the caller.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from nordsearch.ingest.records import IngestError

T = TypeVar("T")
# what a worker runs for one file: (path, content hash the index holds or None) -> result
WorkerFn = Callable[[str, "str | None"], Any]


@dataclass(frozen=True, slots=True)
class Limits:
    seconds: float  # wall-clock time one file may take
    memory_mb: int  # address space one file may add to a warmed-up worker; 0 = no limit


@dataclass(slots=True)
class _Worker:
    process: Any
    conn: Any
    ready: bool = False
    task: tuple[int, str] | None = None  # (task number, path) it holds
    deadline: float = 0.0


def _worker_main(conn: Any, fn: WorkerFn, memory_mb: int, cpu_seconds: float) -> None:
    """A worker's loop: warm up, cap the address space, then extract files until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    import resource

    import nordsearch.ingest.warm  # noqa: F401  (loaded already when forked from the preloaded server)

    if memory_mb:
        limit = _address_space() + memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    conn.send(("ready", None))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        if message is None:
            return
        number, args = message
        # a backstop should the parent die while we spin on a hostile file: CPU time is capped
        used = resource.getrusage(resource.RUSAGE_SELF)
        soft = int(used.ru_utime + used.ru_stime + cpu_seconds) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (soft, resource.RLIM_INFINITY))
        try:
            result = fn(*args)
        except MemoryError:
            result = _too_big(args[0], memory_mb)
        except Exception as exc:
            result = IngestError(args[0], "extraction_failed", f"{type(exc).__name__}: {exc}")
        try:
            conn.send((number, result))
        except MemoryError:
            conn.send((number, _too_big(args[0], memory_mb)))


def _too_big(path: str, memory_mb: int) -> IngestError:
    return IngestError(path, "too_large", f"extracting it needs more than the {memory_mb} MiB a file may use")


def _address_space() -> int:
    from pathlib import Path

    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


TIMED_OUT = "timed out"


def _failed(path: str, failure: str, limits: Limits) -> IngestError:
    if failure == TIMED_OUT:
        return IngestError(path, "timeout", f"extraction took longer than {limits.seconds:g} s")
    return IngestError(path, "extraction_failed", f"the extraction process {failure}")


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        if name == "SIGKILL":
            return "killed (SIGKILL: most likely out of memory)"
        return f"killed by {name}"
    return f"exited with status {exitcode}"


class ExtractionPool(Generic[T]):
    """``processes`` workers running ``fn`` under ``limits``; :meth:`run` yields results as they come."""

    def __init__(self, fn: WorkerFn, processes: int, limits: Limits) -> None:
        import multiprocessing

        # forkserver: the parent may already hold torch threads, and fork() after that can deadlock.
        # The server preloads the extraction libraries (ingest/warm.py) when it first starts.
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(["nordsearch.ingest.warm"])
        self._fn = fn
        self._n = max(1, processes)
        self._limits = limits
        self._workers: list[_Worker] = []
        self._results: queue.Queue[tuple[int | None, Any]] = queue.Queue()
        self._wake_r, self._wake_w = os.pipe()
        self._stop = False
        self._lock = threading.Lock()
        self._taken = 0  # results the caller has taken (read under _lock)

    def run(
        self, tasks: Iterable[tuple[T, str, str | None]], started: Callable[[], None] | None = None
    ) -> Iterator[tuple[T, Any]]:
        """Yield ``(tag, result)`` for each ``(tag, path, known)`` in completion order. ``started``
        runs in the caller's thread once the workers are starting (the caller's one-time work)."""
        items = list(tasks)
        if not items:
            return
        tags = {i: item[0] for i, item in enumerate(items)}
        todo = deque((i, path, known) for i, (_, path, known) in enumerate(items))
        manager = threading.Thread(target=self._manage, args=(todo,), name="extraction-pool", daemon=True)
        manager.start()
        try:
            if started is not None:
                started()
            for _ in range(len(items)):
                number, result = self._results.get()
                if number is None:
                    raise RuntimeError("the extraction pool failed") from result
                with self._lock:
                    self._taken += 1
                os.write(self._wake_w, b"x")  # room for one more file ahead
                yield tags[number], result
        finally:
            self._stop = True
            os.write(self._wake_w, b"x")
            manager.join()
            self._shutdown()

    # -- the manager thread ---------------------------------------------------------------------

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe()
        cpu_seconds = 2 * self._limits.seconds  # wall time under load can exceed CPU time, not twice
        process = self._ctx.Process(
            target=_worker_main,
            args=(child, self._fn, self._limits.memory_mb, cpu_seconds),
            name="nordsearch-extract",
            daemon=True,
        )
        process.start()
        child.close()
        return _Worker(process, parent)

    def _manage(self, todo: deque[tuple[int, str, str | None]]) -> None:
        try:
            self._loop(todo)
        except BaseException as exc:  # a bug here must reach the caller, not leave it waiting
            self._results.put((None, exc))

    def _loop(self, todo: deque[tuple[int, str, str | None]]) -> None:
        from multiprocessing.connection import wait

        # started here, not by the caller: the first start waits for the fork server's preload
        # (~3 s), which the caller's own one-time work overlaps
        self._workers = [self._spawn() for _ in range(min(self._n, len(todo)))]
        done = 0
        while not self._stop:
            with self._lock:
                ahead = done - self._taken  # results waiting for the caller
            for worker in self._workers:
                busy = sum(w.task is not None for w in self._workers)
                if worker.ready and worker.task is None and todo and ahead + busy < 2 * self._n:
                    number, path, known = todo.popleft()
                    try:
                        worker.conn.send((number, (path, known)))
                    except OSError:  # it died just now: the file waits for the next worker
                        todo.appendleft((number, path, known))
                        continue
                    worker.task = (number, path)
                    worker.deadline = time.monotonic() + self._limits.seconds
            busy_deadlines = [w.deadline for w in self._workers if w.task is not None]
            timeout = max(0.0, min(busy_deadlines) - time.monotonic()) if busy_deadlines else None
            handles: list[Any] = [self._wake_r]
            for w in self._workers:
                handles += [w.conn, w.process.sentinel]
            ready = wait(handles, timeout)
            if self._wake_r in ready:
                os.read(self._wake_r, 4096)
            for worker in list(self._workers):
                failure = self._check(worker, ready)
                if failure is None:
                    continue
                if failure == "":  # a result came
                    done += 1
                    continue
                self._workers.remove(worker)
                worker.conn.close()
                if worker.task is not None:
                    number, path = worker.task
                    self._results.put((number, _failed(path, failure, self._limits)))
                    done += 1
                elif not worker.ready:  # died while warming up: no file would fare better
                    for number, path, _ in todo:
                        self._results.put(
                            (number, _failed(path, f"could not start ({failure})", self._limits))
                        )
                    done += len(todo)
                    todo.clear()
                if todo:
                    self._workers.append(self._spawn())

    def _check(self, worker: _Worker, ready: list[Any]) -> str | None:
        """None: nothing happened; "": a result (or the ready signal) was taken in; otherwise why the
        worker is gone (it has been reaped)."""
        if worker.conn in ready:
            try:
                number, result = worker.conn.recv()
            except (EOFError, OSError):
                worker.process.join(5)
                return _death(worker.process.exitcode)
            if number == "ready":
                worker.ready = True
                return None
            self._results.put((number, result))
            worker.task = None
            return ""
        if worker.process.sentinel in ready:
            worker.process.join(5)
            return _death(worker.process.exitcode)
        if worker.task is not None and time.monotonic() >= worker.deadline:
            worker.process.kill()
            worker.process.join(5)
            return TIMED_OUT
        return None

    def _shutdown(self) -> None:
        for worker in self._workers:
            with contextlib.suppress(OSError):
                worker.conn.send(None)
        for worker in self._workers:
            worker.process.join(2)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(5)
            worker.conn.close()
        self._workers.clear()
        os.close(self._wake_r)
        os.close(self._wake_w)
