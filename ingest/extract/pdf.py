"""PDF extractor (pypdf): page text -> cleaned paragraphs with one PageSpan per page.

Layout repairs live in ingest.extract.pdf_layout; this module handles pypdf, the outline
and metadata.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from ingest.extract.builder import TextBuilder
from ingest.extract.normalize import normalize_line
from ingest.extract.pdf_layout import (
    Block,
    guess_heading_level,
    rebuild_paragraphs,
    remove_running_lines,
    typical_line_length,
)
from ingest.records import ExtractedDocument, IngestError

# Producer titles that say nothing about the document.
_JUNK_TITLE_RE = re.compile(
    r"^(untitled|microsoft (word|powerpoint) - .*|document\d*|pöytäkirja|referat|\W*|.*\.(docx?|pdf|indd))$",
    re.IGNORECASE,
)
# Values PDF libraries fill in when the author gave none.
_PLACEHOLDER_VALUES = {"untitled", "anonymous", "unspecified", "unknown", "none", "(anonymous)"}
_METADATA_KEYS = {
    "/Title": "title",
    "/Author": "author",
    "/Subject": "subject",
    "/Keywords": "keywords",
    "/Creator": "creator",
    "/Producer": "producer",
    "/CreationDate": "created",
    "/ModDate": "modified",
}


def _compact(text: str) -> str:
    return "".join(text.split()).casefold()


def _read_metadata(reader: Any) -> dict[str, Any]:
    """Standard /Info fields only: producers stash megabytes of private data in custom keys."""
    out: dict[str, Any] = {}
    try:
        info = reader.metadata or {}
    except Exception:
        return out
    for key, name in _METADATA_KEYS.items():
        value = info.get(key)
        if value:
            text = normalize_line(str(value))[:500]
            if text and text.casefold() not in _PLACEHOLDER_VALUES:
                out[name] = text
    return out


def _outline_entries(reader: Any) -> list[tuple[int, int, str]]:
    """Flatten the PDF outline into (page index, depth, title)."""
    entries: list[tuple[int, int, str]] = []

    def walk(items: list[Any], depth: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, depth + 1)
                continue
            try:
                page = reader.get_destination_page_number(item)
                title = normalize_line(str(item.title or ""))
            except Exception:
                continue
            if title and page is not None and page >= 0:
                entries.append((page, depth, title))

    try:
        walk(reader.outline or [], 0)
    except Exception:
        return []
    return entries


def _mark_outline_headings(blocks: list[Block], titles: list[tuple[int, str]]) -> dict[int, tuple[int, str]]:
    """Find outline titles at block starts on a page; returns {block index: (level, title)}.

    A title may be spread over several blocks ("§ 9" / "Kokouksen laillisuus"): those blocks are
    merged into one. A title glued to the start of a paragraph is split off it.
    """
    found: dict[int, tuple[int, str]] = {}
    for level, title in titles:
        target = _compact(title)
        if not target:
            continue
        for i, block in enumerate(blocks):
            if i in found:
                continue
            joined = ""
            for j in range(i, min(i + 3, len(blocks))):
                joined += _compact(blocks[j].text)
                if joined == target:
                    merged = " ".join(b.text.replace("\n", " ") for b in blocks[i : j + 1])
                    blocks[i] = Block("lines", [merged])
                    for k in range(i + 1, j + 1):
                        blocks[k] = Block("lines", [])
                    found[i] = (level, title)
                    break
                if not target.startswith(joined):
                    break
            if i in found:
                break
            text = block.text
            if j == i and _compact(text).startswith(target) and len(_compact(text)) > len(target):
                # Split "Title Body text..." into a heading and the rest.
                cut = _cut_after_compact(text, len(target))
                head, rest = text[:cut].strip(), text[cut:].strip()
                if head and rest:
                    blocks[i] = Block("lines", [head.replace("\n", " ")])
                    blocks.insert(i + 1, Block(block.kind, [rest]))
                    found = {(k + 1 if k > i else k): v for k, v in found.items()}
                    found[i] = (level, title)
                    break
    return found


def _cut_after_compact(text: str, n: int) -> int:
    """Offset in ``text`` just after its first ``n`` non-whitespace characters."""
    seen = 0
    for pos, ch in enumerate(text):
        if not ch.isspace():
            seen += 1
            if seen == n:
                return pos + 1
    return len(text)


def extract_pdf(path: Path, data: bytes | None = None) -> ExtractedDocument:
    from pypdf import PdfReader

    source = str(path)
    if data is None:
        data = path.read_bytes()
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise IngestError(source, "corrupt_file", "the PDF is encrypted with a password")
        page_objects = list(reader.pages)
    except IngestError:
        raise
    except Exception as exc:  # pypdf raises many types for damaged files
        raise IngestError(source, "corrupt_file", f"cannot read PDF: {exc}") from exc
    if not page_objects:
        raise IngestError(source, "corrupt_file", "the PDF has no pages")

    warnings: list[str] = []
    raw_pages: list[list[str]] = []
    failed = 0
    for page in page_objects:
        try:
            text = page.extract_text() or ""
        except Exception:
            failed += 1
            text = ""
        raw_pages.append([normalize_line(line) for line in text.split("\n")])
    if not any(line for page in raw_pages for line in page):
        if failed == len(page_objects):
            raise IngestError(source, "corrupt_file", "no page of the PDF could be read")
        raise IngestError(
            source, "no_text_layer", "the PDF has no text layer (scanned images?); OCR it first"
        )
    if failed:
        warnings.append(f"{failed} page(s) could not be read")
    empty = sum(1 for page in raw_pages if not any(page))
    if empty:
        warnings.append(f"{empty} of {len(raw_pages)} pages had no text")

    outline = _outline_entries(reader)
    by_page: dict[int, list[tuple[int, str]]] = {}
    for page_index, depth, title in outline:
        by_page.setdefault(page_index, []).append((min(6, depth + 1), title))
    return build_from_page_lines(source, raw_pages, by_page, _read_metadata(reader), warnings)


def build_from_page_lines(
    source: str,
    raw_pages: list[list[str]],
    outline_by_page: dict[int, list[tuple[int, str]]] | None = None,
    metadata: dict[str, Any] | None = None,
    warnings: list[str] | None = None,
) -> ExtractedDocument:
    """Page lines (from pypdf or OCR) -> cleaned ExtractedDocument with PageSpans and headings.

    ``outline_by_page`` maps a 0-based page index to (level, title) outline entries; without an
    outline, headings are guessed conservatively from the lines.
    """
    by_page = outline_by_page or {}
    pages, removed = remove_running_lines([[normalize_line(x) for x in page] for page in raw_pages])
    width = typical_line_length(pages)
    builder = TextBuilder()
    for index, lines in enumerate(pages):
        builder.start_page(index + 1)
        blocks = rebuild_paragraphs(lines, width)
        marked = _mark_outline_headings(blocks, by_page.get(index, [])) if by_page else {}
        unplaced = [t for t in by_page.get(index, []) if t not in marked.values()]
        for level, title in unplaced:
            # An outline entry whose text we cannot find still marks where its section starts.
            builder.headings.append(_heading_at(builder, level, title))
        for i, block in enumerate(blocks):
            if not block.lines:
                continue
            if i in marked:
                builder.add_heading(block.text, marked[i][0])
            elif not by_page and len(block.lines) == 1 and (level := guess_heading_level(block.text)):
                builder.add_heading(block.text, level)
            elif block.kind == "para":
                builder.add_paragraph(block.text)
            else:
                builder.add_lines(block.lines)
    doc = builder.build(source, "pdf", metadata=metadata, warnings=warnings)
    doc.headings.sort(key=lambda h: h.start)
    doc.metadata["removed_running_lines"] = removed
    doc.metadata["page_count"] = len(raw_pages)
    title = doc.metadata.get("title")
    if not title or _JUNK_TITLE_RE.match(title):
        title = _first_heading(doc)
    doc.title = title
    return doc


def _heading_at(builder: TextBuilder, level: int, title: str) -> Any:
    from ingest.records import Heading

    start = builder.length + (2 if builder.length else 0)
    return Heading(level=level, text=title, start=start)


def _first_heading(doc: ExtractedDocument) -> str | None:
    if not doc.headings:
        return None
    top = min(h.level for h in doc.headings)
    return next(h.text for h in doc.headings if h.level == top)
