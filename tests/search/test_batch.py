"""Batch indexing (search.batch.index_paths) with the real ingest pipeline and a fake embedder:
incremental re-runs, replaced and pruned documents, per-file failures, interrupts, ignore files,
exit codes and parallel extraction."""

from __future__ import annotations

import functools
import json
import os
import time
from pathlib import Path

import pytest

from nordsearch.ingest.settings import Settings
from nordsearch.search import SearchIndex
from nordsearch.search.batch import BatchReport, FileOutcome, discover, index_paths, source_key
from tests.search.search_helpers import FakeEmbedder

TEXTS = {
    "fi_hulevesi.txt": (
        "Hulevesiohjelma\n\nKaupunki rakentaa viherkattoja ja sadepuutarhoja, jotta hulevedet imeytyvät "
        "maahan eivätkä kuormita viemäriverkkoa. Rankkasateiden tulvareitit merkitään asemakaavoihin, "
        "ja puistoja muotoillaan niin, että ne voivat varastoida vettä lyhyen aikaa."
    ),
    "sv_cykel.md": (
        "# Vintercykling\n\nKommunen sopsaltar de viktigaste cykelstråken varje morgon före klockan sju. "
        "Resultaten visar att antalet cyklister under vintern har ökat med en tredjedel sedan försöket "
        "började, och att olyckorna på is har minskat tydligt."
    ),
    "nb_fortetting.txt": (
        "Fortetting ved stasjoner\n\nKommunen skal bygge tett rundt jernbanestasjonene, med boliger og "
        "arbeidsplasser innenfor gangavstand. Parkeringsnormen senkes, og nye boligprosjekter må vise "
        "hvordan beboerne kan klare seg uten egen bil i hverdagen."
    ),
    "da_skybrud.md": (
        "# Skybrudsplan\n\nKommunen anlægger skybrudsveje og grønne veje, som leder regnvandet væk fra "
        "husene og ud i havnen. Parkerne bliver indrettet, så de kan rumme store mængder vand under et "
        "skybrud, og bruges til leg og ophold resten af tiden."
    ),
    "en_partnership.txt": (
        "State and city partnerships\n\nAgreements between the state and city regions tie public "
        "transport investments to commitments on land use and housing. Regular follow-up with shared "
        "indicators keeps both partners engaged over the whole agreement period."
    ),
}


def _write_corpus(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, text in TEXTS.items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        paths[name] = path
    return paths


def _doc_ids(index: SearchIndex) -> set[str]:
    return {d.document_id for d in index.documents(limit=1000)}


@pytest.fixture
def corpus(tmp_path: Path) -> dict[str, Path]:
    return _write_corpus(tmp_path / "docs")


def _run(index_dir: Path, paths: list[Path], embedder: FakeEmbedder, **kwargs) -> BatchReport:
    with SearchIndex.open(index_dir, embedder) as index:
        return index_paths(index, paths, settings=Settings(), workers=kwargs.pop("workers", 1), **kwargs)


def test_rerun_on_unchanged_folder_does_no_embedding(index_dir: Path, corpus: dict[str, Path]) -> None:
    folder = next(iter(corpus.values())).parent
    first = DocumentCountingEmbedder()
    report = _run(index_dir, [folder], first)
    assert report.count("indexed") == len(TEXTS) and report.exit_code == 0
    assert first.documents == len(TEXTS)

    again = FakeEmbedder()
    report = _run(index_dir, [folder], again)
    assert report.count("unchanged") == len(TEXTS) and report.count("indexed") == 0
    assert again.calls == 0  # nothing was embedded
    assert report.exit_code == 0


def _counting_ingest(path: str, known: str | None, log: Path) -> object:
    """The real extraction, logging each whole-file read ("read NAME") and each extraction
    ("extract NAME") to ``log``: it runs in a worker process, where the test cannot look."""
    from unittest import mock

    from nordsearch.ingest import pipeline
    from nordsearch.search.batch import _ingest_worker

    real_read, real_extract = Path.read_bytes, pipeline.extract

    def note(what: str, name: str) -> None:
        with log.open("a") as out:
            out.write(f"{what} {name}\n")

    def read(self: Path) -> bytes:
        note("read", self.name)
        return real_read(self)

    def extract(p: Path, **kw: object) -> object:
        note("extract", p.name)
        return real_extract(p, **kw)

    with mock.patch.object(Path, "read_bytes", read), mock.patch.object(pipeline, "extract", extract):
        return _ingest_worker(path, known, Settings())


def test_each_file_is_read_and_hashed_at_most_once(
    index_dir: Path, corpus: dict[str, Path], tmp_path: Path
) -> None:
    log = tmp_path / "reads.log"
    hashed: list[str] = []  # whole-file reads: every hash of a file is a read of it
    extracted: list[str] = []

    def run(**kwargs) -> BatchReport:
        log.write_text("")
        ingest = functools.partial(_counting_ingest, log=log)
        report = _run(index_dir, [folder], FakeEmbedder(), ingest=ingest, **kwargs)
        lines = [line.split(" ", 1) for line in log.read_text().splitlines()]
        hashed[:] = [name for what, name in lines if what == "read"]
        extracted[:] = [name for what, name in lines if what == "extract"]
        return report

    folder = corpus["fi_hulevesi.txt"].parent
    for path in corpus.values():  # written a minute ago: not in the clock tick of the record
        os.utime(path, (time.time() - 60, time.time() - 60))
    assert run().count("indexed") == len(TEXTS)
    assert len(hashed) == len(TEXTS) and len(extracted) == len(TEXTS)  # once each, not twice

    report = run()  # stat unchanged: not a byte read
    assert report.count("unchanged") == len(TEXTS) and hashed == [] and extracted == []

    touched = corpus["sv_cykel.md"]
    stat = touched.stat()
    os.utime(touched, (stat.st_atime, stat.st_mtime + 10))  # a checkout or copy: same bytes, new mtime
    report = run()
    assert report.count("unchanged") == len(TEXTS) and len(hashed) == 1 and extracted == []
    assert run().count("unchanged") == len(TEXTS) and hashed == []  # the new stat was recorded

    report = run(force=True)
    assert report.count("indexed") == len(TEXTS) and len(hashed) == len(TEXTS)


def test_a_file_rewritten_in_the_same_clock_tick_is_read_again(
    index_dir: Path, corpus: dict[str, Path]
) -> None:
    folder = corpus["fi_hulevesi.txt"].parent
    _run(index_dir, [folder], FakeEmbedder())
    path = corpus["en_partnership.txt"]
    os.utime(path)  # written just now, and its stat recorded at once: in the same clock tick
    stat = path.stat()
    with SearchIndex.open(index_dir, FakeEmbedder()) as index:
        index.touch_file(source_key(path), stat.st_mtime, stat.st_size)
        index.save()
    path.write_text(TEXTS["en_partnership.txt"].replace("state", "State"), encoding="utf-8")  # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # a coarse clock: the same mtime
    report = _run(index_dir, [folder], FakeEmbedder())
    assert report.count("indexed") == 1 and report.count("unchanged") == len(TEXTS) - 1


def test_changed_file_replaces_its_passages(index_dir: Path, corpus: dict[str, Path]) -> None:
    folder = corpus["fi_hulevesi.txt"].parent
    embedder = FakeEmbedder()
    _run(index_dir, [folder], embedder)
    with SearchIndex.open(index_dir, embedder) as index:
        before_ids = _doc_ids(index)
        count = index.count_documents()
        old_id = next(
            d.document_id for d in index.documents(limit=100) if d.source.endswith("fi_hulevesi.txt")
        )
        old_passages = {p.passage_id for p in index.passages(old_id)}
    assert old_passages

    corpus["fi_hulevesi.txt"].write_text(
        TEXTS["fi_hulevesi.txt"] + "\n\nUusi kappale: viherkatot ovat pakollisia uusissa kortteleissa.",
        encoding="utf-8",
    )
    report = _run(index_dir, [folder], embedder)
    assert report.count("indexed") == 1 and report.count("unchanged") == len(TEXTS) - 1
    with SearchIndex.open(index_dir, embedder) as index:
        assert index.count_documents() == count
        after_ids = _doc_ids(index)
        assert old_id not in after_ids and len(after_ids - before_ids) == 1
        assert index.passages(old_id) == []
        new_id = (after_ids - before_ids).pop()
        new_passages = index.passages(new_id)
        assert not old_passages & {p.passage_id for p in new_passages}
        assert any("viherkatot ovat pakollisia" in p.text for p in new_passages)


def test_prune_removes_documents_whose_files_are_gone(index_dir: Path, corpus: dict[str, Path]) -> None:
    folder = corpus["sv_cykel.md"].parent
    embedder = FakeEmbedder()
    _run(index_dir, [folder], embedder)
    corpus["sv_cykel.md"].unlink()

    report = _run(index_dir, [folder], embedder)  # without prune: kept
    assert report.count("removed") == 0
    with SearchIndex.open(index_dir, embedder) as index:
        assert index.count_documents() == len(TEXTS)

    report = _run(index_dir, [folder], embedder, prune=True)
    removed = [o for o in report.outcomes if o.status == "removed"]
    assert [Path(o.source).name for o in removed] == ["sv_cykel.md"]
    with SearchIndex.open(index_dir, embedder) as index:
        assert index.count_documents() == len(TEXTS) - 1
        assert not any(d.source.endswith("sv_cykel.md") for d in index.documents(limit=100))


def test_corrupt_pdf_is_reported_and_the_rest_indexed(
    index_dir: Path, corpus: dict[str, Path], tmp_path: Path
) -> None:
    folder = corpus["nb_fortetting.txt"].parent
    bad = folder / "rapport.pdf"
    bad.write_bytes(b"%PDF-1.4\n" + b"\x00garbage" * 50)
    empty = folder / "tom.txt"
    empty.write_text("", encoding="utf-8")
    report = _run(index_dir, [folder], FakeEmbedder())
    assert report.count("indexed") == len(TEXTS)
    failed = {Path(o.source).name: o for o in report.failed}
    assert set(failed) == {"rapport.pdf", "tom.txt"}
    assert failed["rapport.pdf"].code == "corrupt_file" and failed["rapport.pdf"].reason
    assert failed["tom.txt"].code == "empty"
    assert report.exit_code == 1
    # The JSON report (what --report writes) lists every failed file with its reason.
    data = json.loads(json.dumps(report.to_dict()))
    listed = {Path(f["source"]).name: f for f in data["files"] if f["status"] == "failed"}
    assert listed["rapport.pdf"]["code"] == "corrupt_file" and listed["rapport.pdf"]["reason"]
    assert data["failed"] == 2 and data["indexed"] == len(TEXTS)


def test_what_extraction_noticed_in_an_indexed_file_is_in_the_report(index_dir: Path, tmp_path: Path) -> None:
    import re

    from tests.ingest.ingest_testutils import make_pdf

    folder = tmp_path / "docs"
    folder.mkdir()
    data = make_pdf([["Kaupunki rakentaa pyöräteitä talvella ja kunnostaa reittejä."] * 30])
    (folder / "damaged.pdf").write_bytes(
        re.sub(rb"startxref\s+(\d+)", lambda m: b"startxref\n" + str(int(m[1]) + 7).encode(), data)
    )
    report = _run(index_dir, [folder], FakeEmbedder())
    (outcome,) = report.outcomes
    assert outcome.status == "indexed" and any("startxref" in w for w in outcome.warnings), outcome
    listed = json.loads(json.dumps(report.to_dict()))["files"][0]
    assert listed["warnings"] == outcome.warnings


# One distinctive phrase per test document: tells document embeddings apart from any other
# embedding the index may do (e.g. theme definitions).
MARKERS = [text.split("\n\n", 1)[1][:30] for text in TEXTS.values()]


class DocumentCountingEmbedder(FakeEmbedder):
    """Counts the calls that embed passages of the test documents; raises KeyboardInterrupt
    (a Ctrl-C) while embedding the ``interrupt_at``-th document."""

    def __init__(self, interrupt_at: int | None = None) -> None:
        super().__init__()
        self.interrupt_at = interrupt_at
        self.documents = 0

    def embed_passages(self, texts: list[str]):
        if any(m in t for t in texts for m in MARKERS):
            self.documents += 1
            if self.documents == self.interrupt_at:
                raise KeyboardInterrupt
        return super().embed_passages(texts)


def test_interrupt_keeps_committed_documents_and_next_run_continues(
    index_dir: Path, corpus: dict[str, Path]
) -> None:
    folder = corpus["da_skybrud.md"].parent
    report = _run(index_dir, [folder], DocumentCountingEmbedder(interrupt_at=3))
    assert report.interrupted and report.exit_code == 1
    assert report.count("indexed") == 2
    with SearchIndex.open(index_dir, FakeEmbedder()) as index:
        assert index.count_documents() == 2  # the two committed documents survived

    embedder = DocumentCountingEmbedder()
    report = _run(index_dir, [folder], embedder)
    assert report.count("unchanged") == 2 and report.count("indexed") == len(TEXTS) - 2
    assert embedder.documents == len(TEXTS) - 2  # only the remaining documents were embedded
    assert report.exit_code == 0
    with SearchIndex.open(index_dir, embedder) as index:
        assert index.count_documents() == len(TEXTS)


def test_nordsearchignore_honoured(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    _write_corpus(folder)
    (folder / "src").mkdir()
    (folder / "src" / "draft.md").write_text("# Draft\n\nNot a document.", encoding="utf-8")
    (folder / "README.md").write_text("# Readme\n\nAbout this folder.", encoding="utf-8")
    (folder / "notes.txt.json").write_text("{}", encoding="utf-8")  # a sidecar, never a document
    (folder / ".nordsearchignore").write_text("# comments are fine\nsrc/\nREADME.md\n", encoding="utf-8")
    files, errors = discover([folder])
    assert not errors
    assert sorted(p.name for p in files) == sorted(TEXTS)


def test_unsupported_files_in_a_folder_are_skipped_not_failed(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    _write_corpus(folder)
    (folder / "budget.xlsx").write_bytes(b"PK\x03\x04 not a document")
    (folder / "plan.png").write_bytes(b"\x89PNG")
    (folder / "orphan.json").write_text("{}", encoding="utf-8")  # names no document: not a sidecar
    files, outcomes = discover([folder])
    assert sorted(p.name for p in files) == sorted(TEXTS)
    skipped = {Path(o.source).name: o for o in outcomes}
    assert sorted(skipped) == ["budget.xlsx", "orphan.json", "plan.png"]
    assert {o.status for o in skipped.values()} == {"skipped"}
    assert skipped["budget.xlsx"].reason == "unsupported file type '.xlsx'"
    report = BatchReport(outcomes=[*outcomes, FileOutcome("/a.txt", "indexed")])
    assert report.exit_code == 0 and report.to_dict()["skipped"] == 3
    # named on its own, an unsupported file is the user's mistake: a failure
    _, named = discover([folder / "budget.xlsx"])
    assert [o.status for o in named] == ["failed"] and named[0].code == "unsupported_format"


def test_exit_codes() -> None:
    ok = BatchReport(outcomes=[FileOutcome("/a.txt", "indexed"), FileOutcome("/b.txt", "unchanged")])
    assert ok.exit_code == 0
    some_failed = BatchReport(outcomes=[*ok.outcomes, FileOutcome("/c.pdf", "failed", code="corrupt_file")])
    assert some_failed.exit_code == 1
    assert BatchReport(interrupted=True).exit_code == 1
    files, errors = discover([Path("/no/such/folder")])
    assert not files and errors[0].code == "not_found"


def test_parallel_extraction_with_two_workers(index_dir: Path, corpus: dict[str, Path]) -> None:
    folder = corpus["en_partnership.txt"].parent
    (folder / "broken.pdf").write_bytes(b"not a pdf at all")
    embedder = FakeEmbedder()
    report = _run(index_dir, [folder], embedder, workers=2)
    assert report.count("indexed") == len(TEXTS)
    assert [Path(o.source).name for o in report.failed] == ["broken.pdf"]
    with SearchIndex.open(index_dir, embedder) as index:
        sources = {d.source for d in index.documents(limit=100)}
        languages = {Path(d.source).name[:2]: d.language for d in index.documents(limit=100)}
    assert sources == {source_key(p) for p in corpus.values()}
    assert languages == {"fi": "fi", "sv": "sv", "nb": "nb", "da": "da", "en": "en"}


def test_the_writer_prepares_while_workers_extract(
    index_dir: Path, corpus: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_prepare, real_add = SearchIndex.prepare, SearchIndex.add
    monkeypatch.setattr(SearchIndex, "prepare", lambda self: events.append("prepare") or real_prepare(self))
    monkeypatch.setattr(
        SearchIndex, "add", lambda self, f, **kw: events.append("add") or real_add(self, f, **kw)
    )
    folder = corpus["en_partnership.txt"].parent
    assert _run(index_dir, [folder], FakeEmbedder(), workers=2).count("indexed") == len(TEXTS)
    # the one-time work ran once, before any extracted file was taken in (the workers had them all)
    assert events == ["prepare"] + ["add"] * len(TEXTS)
    with SearchIndex.open(index_dir, FakeEmbedder()) as index:
        assert index.language_offsets() is not None  # what prepare computed was stored by the writer
