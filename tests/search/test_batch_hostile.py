"""A catalogue of hostile and broken files indexed in one batch beside good ones: each bad file fails
alone with a reason (or is read safely), every good file is indexed, and the batch ends."""

from __future__ import annotations

import zipfile
from pathlib import Path

from nordsearch.ingest.settings import Settings
from nordsearch.search import SearchIndex
from nordsearch.search.batch import index_paths
from tests.ingest.ingest_testutils import make_pdf
from tests.search.search_helpers import FakeEmbedder
from tests.search.test_batch import TEXTS, _write_corpus

MEMORY_MB = 512  # per file, beyond a warm worker: small, so the bomb below is caught quickly
SENTENCE = "Kaupunki rakentaa uusia pyöräteitä ja parantaa joukkoliikennettä koko seudulla."


def _raw_pdf(objects: list[bytes]) -> bytes:
    """A PDF of these objects (numbered from 1, the first the catalogue) with a correct xref table:
    hand-made, so that its page tree can lie."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _page_tree_pdf(kids: bytes, count: int) -> bytes:
    text = b"BT /F1 12 Tf 72 712 Td (Kaupunki rakentaa uusia pyoratieta ja parantaa joukkoliikennetta.) Tj ET"
    return _raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, count),
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
            b" /Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d >>\nstream\n" % len(text) + text + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ]
    )


def _encrypted(pdf: bytes, user_password: str) -> bytes:
    import io

    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt(user_password=user_password, owner_password="owner")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _docx_bomb(path: Path, uncompressed_mb: int) -> None:
    """A valid DOCX whose document.xml inflates from ~1 MB to ``uncompressed_mb`` MB (a zip bomb)."""
    import io

    import docx

    template = io.BytesIO()
    docx.Document().save(template)
    w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    with (
        zipfile.ZipFile(template) as src,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z,
    ):
        for item in src.infolist():
            if item.filename != "word/document.xml":
                z.writestr(item, src.read(item))
        with z.open("word/document.xml", "w", force_zip64=True) as out:
            out.write(f'<?xml version="1.0"?><w:document xmlns:w="{w}"><w:body><w:p><w:r><w:t>'.encode())
            chunk = b" " * 2**20
            for _ in range(uncompressed_mb):
                out.write(chunk)
            out.write(b"</w:t></w:r></w:p></w:body></w:document>")


def _catalogue(folder: Path) -> dict[str, str | None]:
    """name -> the failure code expected, or None when the file must be indexed."""
    expected: dict[str, str | None] = {}

    def add(name: str, data: bytes | str, code: str | None) -> None:
        path = folder / name
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        expected[name] = code

    deep = "<div>" * 100_000 + "Kaupunki rakentaa viherkattoja ja sadepuutarhoja." * 20 + "</div>" * 100_000
    add("deep.html", f"<html><body><h1>Syvä</h1>{deep}</body></html>", None)
    add("one_line.txt", "Kommunen bygger nya cykelbanor längs kusten. " * 30_000, None)  # 1.4 MB, no break
    add("many_lines.txt", (SENTENCE + "\n") * 100, None)  # one line repeated: not running text
    add("latin1.txt", ("Hyvä kaupunki on kävelijän ja pyöräilijän kaupunki. " * 20).encode("latin-1"), None)
    add("utf16.txt", ("Staden bygger nya cykelbanor längs kusten. " * 20).encode("utf-16"), None)
    add(
        "mixed_scripts.md",
        "# Pyörätiet\n\n" + "Kaupunki rakentaa 自転車道 и велодорожки وطرق uusia pyöräteitä. " * 20,
        None,
    )
    pdf = make_pdf([[SENTENCE, SENTENCE.replace("pyöräteitä", "katuja")]] * 4)
    add("same_on_every_page.pdf", make_pdf([[SENTENCE]] * 3), None)  # the header rule must not take it all
    add("owner_password_only.pdf", _encrypted(pdf, ""), None)
    add("password.pdf", _encrypted(pdf, "secret"), "corrupt_file")
    add("truncated.pdf", pdf[: len(pdf) // 2], "corrupt_file")
    add("page_tree_loop.pdf", _page_tree_pdf(b"2 0 R 3 0 R", 2), "corrupt_file")
    add("claims_100000_pages.pdf", _page_tree_pdf(b"3 0 R", 100_000), None)
    add("empty.txt", "", "empty")
    add("blank.md", "\n\n   \n\t\n", "empty")
    add("garbage.pdf", b"%PDF-1.7\n" + bytes(range(256)) * 64, "corrupt_file")
    add("not_a_pdf.pdf", b"just some text, no PDF header", "corrupt_file")
    add("binary.html", b"\x00\x01\x02" * 5000, "corrupt_file")
    add("not_a_zip.docx", b"PK\x03\x04 truncated", "corrupt_file")
    _docx_bomb(folder / "bomb.docx", uncompressed_mb=4 * MEMORY_MB)
    expected["bomb.docx"] = "too_large"
    (folder / "loop_a.txt").symlink_to("loop_b.txt")
    (folder / "loop_b.txt").symlink_to("loop_a.txt")
    (folder / "dangling.md").symlink_to(folder / "gone.md")
    (folder / "again").symlink_to(folder)  # a folder loop: walked once
    expected.update({"loop_a.txt": "unreadable", "loop_b.txt": "unreadable", "dangling.md": "unreadable"})
    return expected


def test_hostile_files_fail_alone_and_good_ones_are_indexed(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    _write_corpus(folder)
    expected = _catalogue(folder)
    settings = Settings(extract_memory_mb=MEMORY_MB, extract_timeout=60)
    with SearchIndex.open(tmp_path / "index", FakeEmbedder()) as index:
        report = index_paths(index, [folder], settings=settings, workers=1)
    outcomes = {Path(o.source).name: o for o in report.outcomes}
    assert set(outcomes) == set(TEXTS) | set(expected)
    for name in TEXTS:
        assert outcomes[name].status == "indexed", outcomes[name]
    for name, code in expected.items():
        outcome = outcomes[name]
        if code is None:
            assert outcome.status == "indexed" and outcome.passages > 0, outcome
        else:
            assert (outcome.status, outcome.code) == ("failed", code), outcome
            assert outcome.reason  # a reason a person can read
    assert report.exit_code == 1 and not report.interrupted


def _vanishing_ingest(path: str, known: str | None) -> object:
    """The real extraction, except that a file named vanish* is deleted just before it is read and
    one named change* is rewritten just after (both in the worker, as another program would)."""
    from nordsearch.search.batch import _ingest_worker

    if Path(path).name.startswith("vanish"):
        Path(path).unlink()
    result = _ingest_worker(path, known, Settings())
    if Path(path).name.startswith("change"):
        Path(path).write_text(SENTENCE.replace("pyöräteitä", "raitioteitä") + " Muutettu.", encoding="utf-8")
    return result


def test_a_file_that_vanishes_or_changes_while_it_is_read(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    _write_corpus(folder)
    (folder / "vanish.txt").write_text(SENTENCE, encoding="utf-8")
    (folder / "change.txt").write_text(SENTENCE, encoding="utf-8")
    index_dir = tmp_path / "index"
    with SearchIndex.open(index_dir, FakeEmbedder()) as index:
        report = index_paths(index, [folder], settings=Settings(), workers=1, ingest=_vanishing_ingest)
    outcomes = {Path(o.source).name: o for o in report.outcomes}
    vanished = outcomes["vanish.txt"]
    assert (vanished.status, vanished.code) == ("failed", "unreadable")
    assert "No such file" in vanished.reason
    assert outcomes["change.txt"].status == "indexed"
    assert sum(o.status == "indexed" for o in outcomes.values()) == len(TEXTS) + 1

    # the stat was taken before the read: the change after it is seen by the next run
    with SearchIndex.open(index_dir, FakeEmbedder()) as index:
        again = index_paths(index, [folder], settings=Settings(), workers=1)
        changed = {Path(o.source).name: o for o in again.outcomes}["change.txt"]
        assert changed.status == "indexed"
        (doc,) = [d for d in index.documents(limit=100) if d.source.endswith("change.txt")]
        assert "Muutettu" in " ".join(p.text for p in index.passages(doc.document_id))


def _swapping_ingest(path: str, known: str | None, roots: tuple[str, ...], secret: str) -> object:
    """The real extraction, after replacing a file named swap* by a link to ``secret`` (outside the
    roots): what another user could do between the server's check and the read."""
    from nordsearch.search.batch import _ingest_worker

    if Path(path).name.startswith("swap"):
        Path(path).unlink()
        Path(path).symlink_to(secret)
    return _ingest_worker(path, known, Settings(), roots=roots)


def test_files_outside_the_roots_fail_when_listed_or_read(tmp_path: Path) -> None:
    import functools

    folder = tmp_path / "root"
    _write_corpus(folder)
    secret = tmp_path / "secret.txt"
    secret.write_text(SENTENCE + " Salainen.", encoding="utf-8")
    (folder / "link.txt").symlink_to(secret)  # there before the batch: refused when listed
    (folder / "swap.txt").write_text(SENTENCE, encoding="utf-8")  # swapped for a link before the read
    roots = [folder]
    ingest = functools.partial(_swapping_ingest, roots=(str(folder.resolve()),), secret=str(secret))
    with SearchIndex.open(tmp_path / "index", FakeEmbedder()) as index:
        report = index_paths(index, [folder], settings=Settings(), workers=1, roots=roots, ingest=ingest)
        texts = " ".join(p.text for d in index.documents(limit=100) for p in index.passages(d.document_id))
    outcomes = {Path(o.source).name: o for o in report.outcomes}
    for name in ("link.txt", "swap.txt"):
        assert (outcomes[name].status, outcomes[name].code) == ("failed", "outside_roots"), outcomes[name]
    assert all(outcomes[name].status == "indexed" for name in TEXTS)
    assert "Salainen" not in texts
