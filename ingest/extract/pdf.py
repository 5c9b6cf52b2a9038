"""PDF extractor (pypdf): page text -> cleaned paragraphs with one PageSpan per page.

Layout repairs live in ingest.extract.pdf_layout; this module handles pypdf, the outline
and metadata.
"""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path
from typing import Any

from nordsearch.ingest.extract.builder import TextBuilder
from nordsearch.ingest.extract.normalize import normalize_line
from nordsearch.ingest.extract.pdf_layout import (
    Block,
    guess_heading_level,
    rebuild_paragraphs,
    remove_running_lines,
    typical_line_length,
)
from nordsearch.ingest.extract.pdf_runs import (
    Line,
    Run,
    body_font_size,
    find_gutter,
    group_lines,
    heading_candidates,
    heading_levels,
    order_lines,
    style_shares,
)
from nordsearch.ingest.records import ExtractedDocument, IngestError

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
    _split_at_title_lines(blocks, {_compact(t) for _, t in titles})
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
                # Split "Title Body text..." into a heading and the rest, at a word boundary only:
                # "Maankäyttö" must not match the start of "Maankäytön, asumisen...".
                cut = _cut_after_compact(text, len(target))
                head, rest = text[:cut].strip(), text[cut:].strip()
                if head and rest and text[cut].isspace():
                    blocks[i] = Block("lines", [head.replace("\n", " ")])
                    blocks.insert(i + 1, Block(block.kind, [rest]))
                    found = {(k + 1 if k > i else k): v for k, v in found.items()}
                    found[i] = (level, title)
                    break
    return found


def _split_at_title_lines(blocks: list[Block], targets: set[str]) -> None:
    """Split blocks (in place) around any line after the first that is exactly a title, so a
    heading glued to the end of a list or paragraph becomes a block of its own."""
    out: list[Block] = []
    for block in blocks:
        if len(block.lines) < 2 or not any(_compact(x) in targets for x in block.lines[1:]):
            out.append(block)
            continue
        current: list[str] = []
        for k, line in enumerate(block.lines):
            if k > 0 and _compact(line) in targets:
                if current:
                    out.append(Block(block.kind, current))
                out.append(Block("lines", [line]))
                current = []
            else:
                current.append(line)
        if current:
            out.append(Block(block.kind, current))
    blocks[:] = out


def _cut_after_compact(text: str, n: int) -> int:
    """Offset in ``text`` just after its first ``n`` non-whitespace characters."""
    seen = 0
    for pos, ch in enumerate(text):
        if not ch.isspace():
            seen += 1
            if seen == n:
                return pos + 1
    return len(text)


class _ParserMessages(logging.Handler):
    """pypdf's log messages for one file, kept as the document's warnings: they go to the report
    of that file, not to the terminal of whoever indexes a folder (pypdf logs to the root logger's
    last resort, stderr, when the application configures no logging)."""

    LIMIT = 5  # distinct messages kept per file; a damaged PDF can repeat one per object

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        self.messages[message] = self.messages.get(message, 0) + 1

    def __enter__(self) -> _ParserMessages:
        logger = logging.getLogger("pypdf")
        self._propagate = logger.propagate
        logger.addHandler(self)
        logger.propagate = False
        return self

    def __exit__(self, *_: object) -> None:
        logger = logging.getLogger("pypdf")
        logger.removeHandler(self)
        logger.propagate = self._propagate

    def warnings(self) -> list[str]:
        out = [f"pypdf: {m}" + (f" ({n} times)" if n > 1 else "") for m, n in self.messages.items()]
        extra = len(out) - self.LIMIT
        return out[: self.LIMIT] + ([f"pypdf: {extra} more kinds of message"] if extra > 0 else [])


def extract_pdf(path: Path, data: bytes | None = None) -> ExtractedDocument:
    with _ParserMessages() as messages:
        doc = _extract_pdf(path, data)
    doc.warnings.extend(messages.warnings())
    return doc


def _extract_pdf(path: Path, data: bytes | None = None) -> ExtractedDocument:
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
        raise IngestError.unreadable(source, "PDF", exc) from exc
    if not page_objects:
        raise IngestError(source, "corrupt_file", "the PDF has no pages")

    warnings: list[str] = []
    raw_pages: list[list[str]] = []
    page_lines: list[list[Line]] = []
    failed = 0
    two_column = 0
    gutters: list[tuple[float | None, float]] = []
    fonts: dict[Any, Any] = {}
    for page in page_objects:
        runs: list[Run] = []
        try:
            text = page.extract_text(visitor_text=_run_collector(runs, fonts)) or ""
        except Exception:
            failed += 1
            text, runs = "", []
        lines = group_lines(runs)
        page_lines.append(lines)
        width, height = _page_size(page)
        gutter = find_gutter(lines, width, height) if width and height else None
        gutters.append((gutter, height))
        two_column += gutter is not None
        raw_pages.append([normalize_line(line) for line in text.split("\n")])
    if two_column:
        # Read every page from positions, so running headers/footers sit at the same edges.
        for index, (gutter, height) in enumerate(gutters):
            if page_lines[index]:
                raw_pages[index] = [normalize_line(x) for x in order_lines(page_lines[index], gutter, height)]
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
    font_headings = {} if by_page else _font_headings(page_lines)
    metadata = _read_metadata(reader)
    if two_column:
        metadata["two_column_pages"] = two_column
    return build_from_page_lines(
        source, raw_pages, by_page, metadata, warnings, font_headings, prejoined=bool(two_column)
    )


_BOLD_NAMES = ("bold", "black", "heavy", "semibold", "demi")


def _run_collector(runs: list[Run], fonts: dict[Any, Any] | None = None) -> Any:
    """A pypdf ``visitor_text`` callback that records positioned, sized runs of horizontal text.

    ``fonts`` caches parsed font metrics across the pages of a document.
    """
    fonts = {} if fonts is None else fonts

    def width_of(font_dict: Any, text: str, size: float) -> float:
        ref = getattr(font_dict, "indirect_reference", None)
        key = (ref.idnum, ref.generation) if ref is not None else id(font_dict)
        if key not in fonts:
            try:
                from pypdf.generic._font import Font

                fonts[key] = Font.from_font_resource(font_dict) if font_dict is not None else None
            except Exception:
                fonts[key] = None
        font = fonts[key]
        if font is not None:
            try:
                return float(font.get_text_width(text)) * size / 1000
            except Exception:
                pass
        return 0.5 * size * len(text)

    def visit(text: str, cm: Any, tm: Any, font_dict: Any, font_size: Any) -> None:
        if not text or not text.strip():
            return
        try:
            record(text, _mult(tm, cm), font_dict, float(font_size or 0))
        except Exception:
            return  # a run we cannot place is still in the plain text; never fail the page

    def record(text: str, m: list[float], font_dict: Any, size: float) -> None:
        if abs(m[1]) > 1e-3 or abs(m[2]) > 1e-3 or m[0] <= 0 or m[3] <= 0:
            return  # rotated or mirrored text: left to the plain extraction
        scale = m[3]
        name = str(font_dict.get("/BaseFont", "")).casefold() if font_dict is not None else ""
        bold = any(b in name for b in _BOLD_NAMES)
        x, y = m[4], m[5]
        for piece in text.split("\n"):
            if piece.strip():
                w = width_of(font_dict, piece, size) * m[0]
                runs.append(Run(x0=x, x1=x + w, y=y, size=size * scale, bold=bold, text=piece))
            y -= size * scale * 1.2

    return visit


def _mult(m: Any, n: Any) -> list[float]:
    """The product of two PDF matrices [a b c d e f] (text matrix x current transformation matrix)."""
    a, b, c, d, e, f = (float(v) for v in m)
    a2, b2, c2, d2, e2, f2 = (float(v) for v in n)
    return [
        a * a2 + b * c2,
        a * b2 + b * d2,
        c * a2 + d * c2,
        c * b2 + d * d2,
        e * a2 + f * c2 + e2,
        e * b2 + f * d2 + f2,
    ]


def _page_size(page: Any) -> tuple[float, float]:
    try:
        box = page.mediabox
        return float(box.width), float(box.height)
    except Exception:
        return 0.0, 0.0


def _font_headings(page_lines: list[list[Line]]) -> dict[int, list[tuple[int, str]]]:
    """Headings found by font (larger than the body, or bold lines of their own) per page index."""
    body = body_font_size(page_lines)
    shares = style_shares(page_lines)
    per_page = [heading_candidates(lines, body, shares) for lines in page_lines]
    total_lines = sum(len(lines) for lines in page_lines)
    found = sum(len(c) for c in per_page)
    if not found or found > 0.25 * total_lines:
        return {}  # nothing stands out, or the "body" font is not the body
    levels = heading_levels([c for cands in per_page for c in cands], body)
    return {
        index: [(levels[(round(s * 2) / 2, b)], normalize_line(t)) for s, b, t in cands]
        for index, cands in enumerate(per_page)
        if cands
    }


def build_from_page_lines(
    source: str,
    raw_pages: list[list[str]],
    outline_by_page: dict[int, list[tuple[int, str]]] | None = None,
    metadata: dict[str, Any] | None = None,
    warnings: list[str] | None = None,
    font_headings: dict[int, list[tuple[int, str]]] | None = None,
    prejoined: bool = False,
) -> ExtractedDocument:
    """Page lines (from pypdf or OCR) -> cleaned ExtractedDocument with PageSpans and headings.

    ``outline_by_page`` maps a 0-based page index to (level, title) outline entries; without an
    outline, ``font_headings`` (same shape: lines set in a heading font) are used where they are
    found in the text, and headings are also guessed conservatively from the lines.
    ``prejoined``: the lines are already whole paragraphs (read from text positions), so no line
    is joined to the next one.
    """
    by_page = outline_by_page or {}
    soft = {} if by_page else (font_headings or {})
    pages, removed = remove_running_lines([[normalize_line(x) for x in page] for page in raw_pages])
    width = 10**9 if prejoined else typical_line_length(pages)
    builder = TextBuilder()
    for index, lines in enumerate(pages):
        builder.start_page(index + 1)
        blocks = rebuild_paragraphs(lines, width)
        if by_page:
            marked = _mark_outline_headings(blocks, by_page.get(index, []))
        else:
            marked = _mark_outline_headings(blocks, soft.get(index, [])) if soft else {}
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
    from nordsearch.ingest.records import Heading

    start = builder.length + (2 if builder.length else 0)
    return Heading(level=level, text=title, start=start)


def _first_heading(doc: ExtractedDocument) -> str | None:
    if not doc.headings:
        return None
    top = min(h.level for h in doc.headings)
    return next(h.text for h in doc.headings if h.level == top)
