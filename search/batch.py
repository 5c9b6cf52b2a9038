"""Batch indexing of files and folders: parallel extraction, incremental, per-file errors.

A file whose stat (mtime, size) is the one recorded when it was indexed is skipped unread; any
other file is read and hashed once, in its worker, and that hash is both the "changed?" answer and
the document id (a touched file with the same bytes is not extracted again).

Extraction runs in worker processes (it is CPU-bound and pure); embedding and the index writes run
in this process, one transaction per document, so an interrupt keeps every committed document and
the next run carries on where this one stopped.
"""

from __future__ import annotations

import errno
import functools
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

from nordsearch.ingest.extract import supported_suffixes
from nordsearch.ingest.records import IngestedFile, IngestError

if TYPE_CHECKING:
    from nordsearch.ingest.settings import Settings
    from nordsearch.search.index import SearchIndex

# What became of each file in a batch; the CLI's summary, the job API and its schema count these.
# "skipped": a file inside a given folder that is no document nordsearch reads (a spreadsheet, an
# image): listed so the user sees it was not indexed, but not a failure (a file named on its own
# with such a type is one).
Status = Literal["indexed", "unchanged", "skipped", "failed", "removed"]
STATUSES: tuple[Status, ...] = get_args(Status)


@dataclass(frozen=True, slots=True)
class SameContent:
    """A worker's answer for a file whose bytes hash to what the index holds: nothing to extract."""

    digest: str


Extracted = IngestedFile | IngestError | SameContent
# extraction of one file: (path, content hash the index holds for it or None) -> result
Extract = Callable[[str, "str | None"], Extracted]


@dataclass(frozen=True, slots=True)
class _Todo:
    path: Path
    known: str | None  # the content hash indexed for this source, when it is still stored
    mtime: float | None  # the stat taken before the file is read: a change after it is seen next run
    size: int | None


@dataclass(slots=True)
class FileOutcome:
    source: str
    status: Status
    document_id: str | None = None
    passages: int = 0
    code: str | None = None  # machine-readable failure code (IngestError.code)
    reason: str | None = None
    warnings: list[str] = field(default_factory=list)  # what extraction noticed (an indexed file)


@dataclass(slots=True)
class BatchReport:
    outcomes: list[FileOutcome] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def failed(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def passages(self) -> int:
        return sum(o.passages for o in self.outcomes if o.status == "indexed")

    @property
    def exit_code(self) -> int:
        """0 when every file is in the index, 1 when some failed (the rest are still indexed)."""
        return 1 if self.failed or self.interrupted else 0

    def to_dict(self) -> dict:
        return {
            **{status: self.count(status) for status in STATUSES},
            "passages": self.passages,
            "seconds": round(self.seconds, 2),
            "interrupted": self.interrupted,
            "files": [asdict(o) for o in self.outcomes],
        }


class Progress:
    """What the batch reports while it runs; the CLI draws a bar from it, jobs store it."""

    def start(self, total_files: int) -> None: ...

    def advance(self, outcome: FileOutcome) -> None: ...

    def finish(self) -> None: ...


IGNORE_FILE = ".nordsearchignore"


def discover(paths: Iterable[Path]) -> tuple[list[Path], list[FileOutcome]]:
    """Expand files and folders (recursively) into the supported files, in a stable order.

    Sidecar ``FILE.json`` files and hidden files are not documents, and a folder may list what is not
    a document (sources of generated files, READMEs) in a ``.nordsearchignore`` file: one glob per line,
    relative to that folder, a trailing ``/`` for folders. Other files of an unsupported type inside a
    folder come back as "skipped" outcomes. A path that does not exist, or a file given by name with an
    unsupported type, is a failure of its own.
    """
    found: dict[str, Path] = {}
    errors: list[FileOutcome] = []
    for path in paths:
        if path.is_dir():
            for sub in _walk(path, [], set()):
                if isinstance(sub, FileOutcome):
                    errors.append(sub)
                else:
                    found.setdefault(str(sub.resolve()), sub)
        elif path.is_file():
            if path.suffix.lower() in supported_suffixes():
                found.setdefault(str(path.resolve()), path)
            else:
                errors.append(_unsupported(path, "failed"))
        else:
            errors.append(_missing(path))
    return list(found.values()), errors


def _missing(path: Path) -> FileOutcome:
    """A path that names no file or folder: a broken or looping link says so."""
    if path.is_symlink():
        try:
            path.resolve(strict=True)
            reason = "a symbolic link to something that is neither a file nor a folder"
        except RuntimeError:  # Python 3.11 raises this for a loop
            reason = "a symbolic link loop"
        except OSError as exc:
            reason = "a symbolic link loop" if exc.errno == errno.ELOOP else "a broken symbolic link"
        return FileOutcome(str(path), "failed", code="unreadable", reason=reason)
    return FileOutcome(str(path), "failed", code="not_found", reason="no such file or folder")


def _walk(folder: Path, rules: list[tuple[Path, str]], seen: set[Path]) -> Iterator[Path | FileOutcome]:
    """Documents under ``folder``, honouring the ignore rules of it and of the folders above it;
    a folder reached again through a link is walked once."""
    real = folder.resolve()
    if real in seen:
        return
    seen.add(real)
    ignore = folder / IGNORE_FILE
    if ignore.is_file():
        lines = ignore.read_text(encoding="utf-8", errors="replace").splitlines()
        rules = rules + [(folder, ln.strip()) for ln in lines if ln.strip() and not ln.startswith("#")]
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        yield FileOutcome(str(folder), "failed", code="unreadable", reason=str(exc.strerror or exc))
        return
    for entry in entries:
        if entry.name.startswith(".") or _ignored(entry, rules):
            continue
        if entry.is_dir():
            yield from _walk(entry, rules, seen)
        elif entry.suffix.lower() not in supported_suffixes():
            if not _is_sidecar(entry):
                yield _unsupported(entry, "skipped")
        elif entry.is_file():
            yield entry
        else:  # a supported name that is not a readable file: a broken link, a loop, a device
            yield _missing(entry)


def _unsupported(path: Path, status: Status) -> FileOutcome:
    reason = f"unsupported file type {path.suffix or '(none)'!r}"
    return FileOutcome(str(path), status, code="unsupported_format", reason=reason)


def _is_sidecar(entry: Path) -> bool:
    """``report.pdf.json``: the metadata of ``report.pdf`` (present or not), not a file of its own."""
    return entry.suffix.lower() == ".json" and Path(entry.stem).suffix.lower() in supported_suffixes()


def _ignored(entry: Path, rules: list[tuple[Path, str]]) -> bool:
    from fnmatch import fnmatch

    for base, pattern in rules:
        rel = entry.relative_to(base).as_posix()
        if pattern.endswith("/"):
            if entry.is_dir() and (fnmatch(rel, pattern[:-1]) or fnmatch(entry.name, pattern[:-1])):
                return True
        elif fnmatch(rel, pattern) or fnmatch(entry.name, pattern):
            return True
    return False


def source_key(path: Path) -> str:
    """The source stored for a file: its absolute path, so re-runs from another folder still match."""
    return str(path.resolve())


def _outside(path: Path, roots: tuple[str, ...]) -> IngestError | None:
    """The error for a file that (now) resolves outside ``roots``, e.g. through a link made after
    the request was checked; None when it is inside."""
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return None  # reading it will say what is wrong
    if any(real.is_relative_to(root) for root in roots):
        return None
    return IngestError(
        str(path), "outside_roots", "the file resolves outside the folders the server may index from"
    )


def _ingest_worker(
    path_str: str, known: str | None, settings: Settings, roots: tuple[str, ...] | None = None
) -> Extracted:
    # Runs in an extraction pool's worker, which turns any other exception (a library failure on a
    # strange file, running out of memory) into a per-file IngestError. The settings travel with
    # every file (pickled), so a worker never falls back to its own environment's.
    # The file is read and hashed once: that hash both answers "changed?" and is the document id.
    # With ``roots`` (the server's), the file is checked against them again just before it is read.
    from nordsearch.ingest.pipeline import ingest_file, read_source

    try:
        if roots is not None and (error := _outside(Path(path_str), roots)) is not None:
            return error
        source = read_source(Path(path_str), settings)
        if source.digest == known:
            return SameContent(source.digest)
        return ingest_file(Path(path_str), settings, source)
    except IngestError as exc:
        return exc


def index_paths(
    index: SearchIndex,
    paths: Iterable[Path],
    *,
    settings: Settings,
    workers: int = 0,
    prune: bool = False,
    force: bool = False,
    progress: Progress | None = None,
    ingest: Extract | None = None,
    roots: list[Path] | None = None,
) -> BatchReport:
    """Index files and folders into ``index``, extracting them with ``settings`` (``ingest``
    replaces the extraction, for tests); see the module docstring for the guarantees. With
    ``roots``, a file that resolves outside them when it is listed or read fails (the server's
    NORDSEARCH_INDEX_ROOTS: a link made during a job cannot lead out)."""
    allowed = None if roots is None else tuple(str(r.resolve()) for r in roots)
    if ingest is None:
        ingest = functools.partial(_ingest_worker, settings=settings, roots=allowed)
    started = time.monotonic()
    progress = progress or Progress()
    files, outcomes = discover(list(paths))
    report = BatchReport(outcomes=list(outcomes))
    progress.start(len(files) + len(outcomes))
    for outcome in outcomes:
        progress.advance(outcome)

    todo: list[_Todo] = []
    for path in files:
        if allowed is not None and (error := _outside(path, allowed)) is not None:
            outcome, item = _failure(path, error), None
        else:
            outcome, item = _check(index, path, force)
        if item is not None:
            todo.append(item)
        if outcome is not None:
            report.outcomes.append(outcome)
            progress.advance(outcome)

    # Smallest files first: the encoder waits for the first extraction only (afterwards extraction
    # runs ahead of it), so a small first file starts it sooner (bench_encoder: 3.6 s of a 32 s run
    # were spent waiting for a 150-page PDF).
    todo.sort(key=lambda item: item.size or 0)
    try:
        # the writer's one-time work, ahead, only when some file is new: a known file whose stat
        # changed is most often touched, not changed, and then nothing is written at all
        prepare = index.prepare if any(item.known is None for item in todo) else None
        for item, result in _extract_all(todo, settings, workers, ingest, prepare):
            outcome = _store(index, item, result)
            report.outcomes.append(outcome)
            progress.advance(outcome)
        if prune:
            keep = {source_key(p) for p in files}
            for doc_id, source in index.prune(keep):
                report.outcomes.append(FileOutcome(source, "removed", document_id=doc_id))
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        index.save()
        progress.finish()
        report.seconds = time.monotonic() - started
    return report


def _check(index: SearchIndex, path: Path, force: bool) -> tuple[FileOutcome | None, _Todo | None]:
    """Unchanged (the stat is the one recorded when it was indexed: no byte read), unreadable, or
    to extract, with the hash the index holds so the worker can still find it unchanged."""
    try:
        stat = path.stat()
    except OSError as exc:
        return FileOutcome(str(path), "failed", code="unreadable", reason=str(exc.strerror or exc)), None
    state = index.file_state(source_key(path))
    if state is not None and not force and state.matches(stat.st_mtime, stat.st_size):
        return FileOutcome(str(path), "unchanged", document_id=state.content_hash), None
    known = state.content_hash if state is not None and not force else None
    return None, _Todo(path, known, stat.st_mtime, stat.st_size)


def _extract_all(
    todo: list[_Todo], settings: Settings, workers: int, ingest: Extract, prepare: Callable[[], None] | None
) -> Iterator[tuple[_Todo, Extracted]]:
    """Yield (item, result) as extractions finish, in worker processes under the settings' time and
    memory limits, a few files ahead; ``prepare`` (the writer's one-time work) runs meanwhile."""
    if not todo:
        return
    from nordsearch.ingest.extract_pool import ExtractionPool, Limits

    # default: processes for one core fewer than the machine has, leaving the encoder's threads a
    # core of their own. Extraction is far faster than encoding (~60 PDF pages/s), so one process
    # keeps up; two of them on 2 cores slowed the whole run by taking cores from the encoder.
    # Never in this process, even for one file: a hostile file must hit the limits, not the indexer.
    n = workers or max(1, (os.cpu_count() or 1) - 1)
    pool: ExtractionPool[_Todo] = ExtractionPool(
        ingest, min(n, len(todo)), Limits(settings.extract_timeout, settings.extract_memory_mb)
    )
    yield from pool.run(((item, source_key(item.path), item.known) for item in todo), started=prepare)


def _failure(path: Path, error: IngestError) -> FileOutcome:
    return FileOutcome(str(path), "failed", code=error.code, reason=error.reason)


def _store(index: SearchIndex, item: _Todo, result: Extracted) -> FileOutcome:
    path = item.path
    if isinstance(result, IngestError):
        return _failure(path, result)
    if isinstance(result, SameContent):
        index.touch_file(source_key(path), item.mtime, item.size)
        return FileOutcome(str(path), "unchanged", document_id=result.digest)
    if not result.passages:
        return FileOutcome(str(path), "failed", code="empty", reason="no text to index")
    result.document.source = source_key(path)
    index.add(result, mtime=item.mtime)
    return FileOutcome(
        str(path), "indexed", document_id=result.document.document_id, passages=len(result.passages),
        warnings=list(result.warnings),
    )  # fmt: skip
