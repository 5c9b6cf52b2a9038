"""DOCX extractor (python-docx): paragraphs, headings and tables in document order.

python-docx lists paragraphs and tables separately; iterating the body XML keeps each table
where it stands between paragraphs.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from nordsearch.ingest.extract.builder import TextBuilder
from nordsearch.ingest.extract.normalize import normalize_line
from nordsearch.ingest.records import ExtractedDocument, IngestError

_HEADING_STYLE_RE = re.compile(r"^(?:heading|otsikko|rubrik|overskrift)\s*(\d)$", re.IGNORECASE)
_LIST_STYLE_RE = re.compile(r"list|luettelo|lista|liste", re.IGNORECASE)


def _heading_level(paragraph: Any) -> int | None:
    """Level from the style name: "Heading N" -> N; "Title" -> 1 (localised names included)."""
    try:
        style = paragraph.style
        names = [style.name or ""]
        if style.base_style is not None:
            names.append(style.base_style.name or "")
    except Exception:
        return None
    for name in names:
        m = _HEADING_STYLE_RE.match(name.strip())
        if m:
            return max(1, min(6, int(m.group(1))))
        if name.strip().lower() in ("title", "otsikko", "titel", "tittel"):
            return 1
    return None


def _is_list(paragraph: Any) -> bool:
    try:
        if _LIST_STYLE_RE.search(paragraph.style.name or ""):
            return True
    except Exception:
        pass
    ppr = paragraph._p.pPr
    return ppr is not None and ppr.numPr is not None


def _cell_text(cell: Any) -> str:
    return normalize_line(" ".join(p.text for p in cell.paragraphs))


def _table_rows(table: Any) -> list[str]:
    rows: list[str] = []
    for row in table.rows:
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            # Merged cells are returned once per grid column; keep each cell once.
            if previous is not None and cell._tc is previous:
                continue
            previous = cell._tc
            text = _cell_text(cell)
            if text:
                cells.append(text)
        if cells:
            rows.append(" | ".join(cells))
    return rows


def extract_docx(path: Path, data: bytes | None = None) -> ExtractedDocument:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    source = str(path)
    if data is None:
        data = path.read_bytes()
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # zipfile.BadZipFile, KeyError, lxml errors...
        raise IngestError.unreadable(source, "DOCX", exc) from exc

    builder = TextBuilder()
    title_from_style: str | None = None
    list_lines: list[str] = []

    def flush_list() -> None:
        nonlocal list_lines
        builder.add_lines(list_lines)
        list_lines = []

    body = document.element.body
    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            paragraph = Paragraph(child, document)
            text = paragraph.text
            if not normalize_line(text):
                continue
            level = _heading_level(paragraph)
            if level is not None:
                flush_list()
                builder.add_heading(text, level)
                if title_from_style is None and (paragraph.style.name or "").lower() == "title":
                    title_from_style = normalize_line(text)
            elif _is_list(paragraph):
                list_lines.append(text)
            else:
                flush_list()
                # Soft line breaks inside a paragraph are wrapping, not structure.
                builder.add_paragraph(text)
        elif tag == "tbl":
            flush_list()
            builder.add_lines(_table_rows(Table(child, document)))
    flush_list()

    metadata: dict[str, Any] = {}
    props = document.core_properties
    for name in ("title", "author", "subject", "keywords", "language"):
        value = getattr(props, name, None)
        if value:
            metadata[name] = normalize_line(str(value))[:500]
    if props.created:
        metadata["created"] = props.created.isoformat()
    title = metadata.get("title") or title_from_style
    if not title and builder.headings:
        top = min(h.level for h in builder.headings)
        title = next(h.text for h in builder.headings if h.level == top)
    return builder.build(source, "docx", title=title, metadata=metadata)
