"""Helpers shared by the ingest tests (generated PDFs, corpus manifest).

Named uniquely (not helpers.py) because pytest puts this folder on sys.path.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from pathlib import Path


def corpus_manifest(corpus: Path) -> list[dict[str, str]]:
    with (corpus / "MANIFEST.tsv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def sidecar_language(path: Path) -> str | None:
    side = path.with_name(path.name + ".json")
    if not side.is_file():
        return None
    return json.loads(side.read_text(encoding="utf-8")).get("language")


def make_pdf(
    pages: Iterable[list[str]],
    header: str | None = None,
    footer: str | None = None,
    numbers: bool = False,
    title: str | None = None,
) -> bytes:
    """A text PDF (reportlab): one list of body lines per page, optional running header,
    footer and page numbers ("{n}" in header/footer is replaced by the page number)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    if title:
        c.setTitle(title)
    pages = list(pages)
    for n, lines in enumerate(pages, start=1):
        c.setFont("Helvetica", 10)
        if header:
            c.drawString(60, 800, header.replace("{n}", str(n)))
        y = 760
        for line in lines:
            c.drawString(60, y, line)
            y -= 14
        if footer:
            c.drawString(60, 50, footer.replace("{n}", str(n)).replace("{total}", str(len(pages))))
        if numbers:
            c.drawString(520, 30, str(n))
        c.showPage()
    c.save()
    return buf.getvalue()


def make_blank_pdf() -> bytes:
    """A PDF without any text: only a drawn rectangle (what a scan without OCR looks like)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    c.rect(100, 100, 300, 400, fill=1)
    c.showPage()
    c.save()
    return buf.getvalue()


def make_two_column_pdf(
    left: list[str],
    right: list[str],
    heading: str | list[str] | None = None,
    footer: str | None = None,
    pages: int = 1,
) -> bytes:
    """A two-column text PDF (reportlab): ``left``/``right`` are the body lines of each column,
    drawn line by line *interleaved* in the content stream (left line 1, right line 1, ...), so
    only text positions tell the columns apart. ``heading`` is a larger bold line at the top
    (a list: one per page)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    for n in range(1, pages + 1):
        y = 770
        title = heading[n - 1] if isinstance(heading, list) else heading
        if title:
            c.setFont("Helvetica-Bold", 16)
            c.drawString(60, y, title)
            y -= 34
        c.setFont("Helvetica", 10)
        for i in range(max(len(left), len(right))):
            if i < len(left):
                c.drawString(60, y, left[i])
            if i < len(right):
                c.drawString(310, y, right[i])
            y -= 13
        if footer:
            c.setFont("Helvetica", 8)
            c.drawString(60, 30, footer.replace("{n}", str(n)))
        c.showPage()
    c.save()
    return buf.getvalue()
