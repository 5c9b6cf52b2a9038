"""ExtractionPool: a file that hangs, eats memory or crashes its worker fails alone, with its reason."""

from __future__ import annotations

import os
import signal
import time

import pytest

from nordsearch.ingest.extract_pool import ExtractionPool, Limits
from nordsearch.ingest.records import IngestError


def _hostile(path: str, known: str | None) -> object:
    """What the worker runs: the file's name says how it misbehaves."""
    if "hang" in path:
        while True:  # a parser loop: busy, never returns
            pass
    if "sleep" in path:
        time.sleep(3600)
    if "hungry" in path:
        return bytearray(8 * 2**30)  # 8 GiB, far past the limit
    if "crash" in path:
        os.kill(os.getpid(), signal.SIGSEGV)  # a C library's crash
    if "raise" in path:
        raise ValueError("a library bug")
    return f"ok {path} {os.getpid()}"


def _run(names: list[str], processes: int = 1, seconds: float = 2.0) -> dict[str, object]:
    pool: ExtractionPool[str] = ExtractionPool(_hostile, processes, Limits(seconds, memory_mb=512))
    return dict(pool.run([(n, n, None) for n in names]))


def test_every_good_file_is_extracted_around_hostile_ones() -> None:
    names = ["a", "hang", "b", "hungry", "c", "crash", "d", "raise", "e", "sleep", "f"]
    started = time.monotonic()
    results = _run(names)
    assert set(results) == set(names)
    good = {n: r for n, r in results.items() if len(n) == 1}
    assert all(isinstance(r, str) and r.startswith(f"ok {n} ") for n, r in good.items())

    failures = {n: r for n, r in results.items() if n not in good}
    assert all(isinstance(r, IngestError) and r.source == n for n, r in failures.items())
    assert (failures["hang"].code, failures["hang"].reason) == ("timeout", "extraction took longer than 2 s")
    assert failures["sleep"].code == "timeout"
    assert failures["hungry"].code == "too_large" and "512 MiB" in failures["hungry"].reason
    assert failures["crash"].code == "extraction_failed" and "SIGSEGV" in failures["crash"].reason
    assert failures["raise"].reason == "ValueError: a library bug"
    # two files past the deadline cost about two deadlines, not a hung batch
    assert time.monotonic() - started < 60
    # the killed and crashed workers were replaced: files after them ran in new processes
    pids = {r.rsplit(" ", 1)[1] for r in good.values()}
    assert len(pids) >= 4


def test_two_workers_share_the_files_and_one_hung_file_does_not_stop_the_other() -> None:
    names = ["sleep", *"abcdefgh"]
    results = _run(names, processes=2, seconds=3.0)
    assert results["sleep"].code == "timeout"
    assert all(results[n].startswith(f"ok {n} ") for n in "abcdefgh")


def test_the_caller_may_stop_early_and_the_workers_go() -> None:
    import multiprocessing

    pool: ExtractionPool[str] = ExtractionPool(_hostile, 2, Limits(30.0, memory_mb=0))
    it = pool.run([(n, n, None) for n in ["a", "sleep", "b", "c"]])
    first = next(it)
    assert first[1].startswith("ok ")
    it.close()  # e.g. Ctrl-C in the indexer: the generator is closed
    time.sleep(0.5)
    assert not [p for p in multiprocessing.active_children() if p.name == "nordsearch-extract"]


@pytest.mark.parametrize("names", [[], ["a"]])
def test_small_batches(names: list[str]) -> None:
    assert set(_run(names)) == set(names)


def _ingest(path: str, known: str | None) -> object:
    from nordsearch.ingest.pipeline import ingest_file
    from nordsearch.ingest.settings import Settings

    return ingest_file(path, Settings())


@pytest.mark.slow
def test_a_50_mb_text_without_a_line_break_is_extracted_within_the_default_limits(tmp_path) -> None:
    from nordsearch.ingest.settings import Settings

    path = tmp_path / "one_line.txt"
    path.write_text("Kommunen bygger nya cykelbanor längs kusten. " * 1_100_000, encoding="utf-8")  # 50.6 MB
    settings = Settings()
    limits = Limits(settings.extract_timeout, settings.extract_memory_mb)
    ((_, result),) = ExtractionPool(_ingest, 1, limits).run([(path.name, str(path), None)])
    assert not isinstance(result, IngestError), result
    assert len(result.passages) > 20_000 and result.document.language == "sv"
    assert all(len(p.text.split()) <= settings.passage_max_words for p in result.passages)
