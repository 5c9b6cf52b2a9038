"""Plain text and Markdown extractors.

Markdown syntax is stripped *before* text is appended to the builder, so heading offsets
refer to the cleaned text that is stored (never to the raw Markdown source).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from nordsearch.ingest.extract.builder import TextBuilder
from nordsearch.ingest.extract.normalize import normalize_line
from nordsearch.ingest.records import ExtractedDocument, IngestError

_ENCODINGS = ("utf-8-sig", "utf-16") + ("cp1252", "latin-1")


def decode_text(data: bytes, source: str) -> str:
    """Decode bytes as UTF-8 (with or without BOM), UTF-16 when it has a BOM, else cp1252."""
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise IngestError(source, "corrupt_file", "binary data in a text file")
    for encoding in _ENCODINGS:
        if encoding == "utf-16" and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
            continue
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1", errors="replace")  # latin-1 never fails; kept for type checkers


def _read(path: Path, data: bytes | None) -> str:
    if data is None:
        data = path.read_bytes()
    return decode_text(data, str(path)).replace("\r\n", "\n").replace("\r", "\n")


def _paragraphs(lines: list[str]) -> list[list[str]]:
    """Group lines into blank-line separated chunks."""
    chunks: list[list[str]] = []
    current: list[str] = []
    for line in lines:
        if line.strip():
            current.append(line)
        elif current:
            chunks.append(current)
            current = []
    if current:
        chunks.append(current)
    return chunks


# ---------------------------------------------------------------------------------------------
# Plain text
# ---------------------------------------------------------------------------------------------
_TXT_UNDERLINE_RE = re.compile(r"^\s*(=+|-+)\s*$")
_BULLET_RE = re.compile(r"^\s*(?:[-*+•‣◦▪–]|\d{1,3}[.)])\s+")


def _looks_like_caps_heading(line: str) -> bool:
    letters = [c for c in line if c.isalpha()]
    return (
        len(letters) >= 3
        and len(line) <= 80
        and all(c.isupper() for c in letters)
        and not line.rstrip().endswith((".", ",", ";"))
    )


# Running headers / page numbers of text converted from PDF: a short line repeated this often.
MIN_RUNNING_REPEATS = 5
MAX_RUNNING_LINE_CHARS = 60
_NOT_RUNNING_RE = re.compile(r"^\s*(?:#|\||>|[-*+•–]\s|\d{1,3}[.)]\s|!\[|```|~~~|\[)")
_NUMBER_ONLY_RE = re.compile(r"^\s*[-–(\[]*\s*\d{1,4}\s*[-–)\]]*\s*$")


def _looks_running(line: str) -> bool:
    text = line.strip()
    if not text or len(text) > MAX_RUNNING_LINE_CHARS or _NOT_RUNNING_RE.match(line):
        return False
    if _NUMBER_ONLY_RE.match(text):
        return True  # a page number
    return not text.endswith((".", "!", "?", ":", ";", ","))


def remove_repeated_lines(lines: list[str]) -> tuple[list[str], int]:
    """Drop running headers/footers and page numbers left in text converted from PDF.

    A line goes only if (a) it is short, not Markdown structure (heading, table row, list item)
    and not a sentence, (b) its key (case-folded, digits masked) occurs at least
    MIN_RUNNING_REPEATS times, and (c) every line of its paragraph qualifies too, so a repeated
    line inside real prose is kept. Headings that repeat a few times ("Background") are kept.
    Returns the kept lines and the number removed.
    """
    from nordsearch.ingest.extract.pdf_layout import line_key

    counts: dict[str, int] = {}
    for line in lines:
        if line.strip():
            key = line_key(line)
            counts[key] = counts.get(key, 0) + 1
    running = [
        bool(line.strip()) and counts[line_key(line)] >= MIN_RUNNING_REPEATS and _looks_running(line)
        for line in lines
    ]
    drop = [False] * len(lines)
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        j = i
        while j < len(lines) and lines[j].strip():
            j += 1
        if all(running[i:j]):
            for k in range(i, j):
                drop[k] = True
        i = j
    kept = [line for line, d in zip(lines, drop, strict=True) if not d]
    return kept, sum(drop)


def extract_txt(path: Path, data: bytes | None = None) -> ExtractedDocument:
    raw = _read(path, data)
    builder = TextBuilder()
    title: str | None = None
    lines, removed = remove_repeated_lines(raw.split("\n"))
    for chunk in _paragraphs(lines):
        # An underlined first line ("Title\n=====") is a heading; so is a short ALL CAPS line.
        if len(chunk) >= 2 and _TXT_UNDERLINE_RE.match(chunk[1]) and len(chunk[0].strip()) <= 120:
            level = 1 if chunk[1].strip().startswith("=") else 2
            builder.add_heading(chunk[0], level)
            title = title or normalize_line(chunk[0])
            chunk = chunk[2:]
        elif _looks_like_caps_heading(chunk[0]) and (
            len(chunk) == 1 or not _looks_like_caps_heading(chunk[1])
        ):
            builder.add_heading(chunk[0], 2)
            chunk = chunk[1:]
        if not chunk:
            continue
        # Keep line structure for lists and short-line blocks (addresses, menus); join wrapped prose.
        if any(_BULLET_RE.match(line) for line in chunk) or (
            len(chunk) > 2 and max(len(line.strip()) for line in chunk) < 40
        ):
            builder.add_lines(chunk)
        else:
            builder.add_paragraph("\n".join(chunk))
    if title is None:
        title = _first_line_title(builder)
    return builder.build(
        str(path), "txt", title=title, metadata={"removed_running_lines": removed} if removed else None
    )


def _first_line_title(builder: TextBuilder) -> str | None:
    """A plain-text document's first short line is its title in practice (web page saves, seeds)."""
    if builder.headings and builder.headings[0].start == 0:
        return builder.headings[0].text
    text = builder.build("", "txt").text
    first = text.split("\n", 1)[0].strip()
    return first if first and len(first) <= 150 and not first.endswith(".") else None


# ---------------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------------
_ATX_RE = re.compile(r"^\s{0,3}(#{1,6})(?:\s+(.*?))?\s*#*\s*$")
_SETEXT_RE = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_FENCE_RE = re.compile(r"^\s{0,3}(```|~~~)")
_HR_RE = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_MD_BULLET_RE = re.compile(r"^(\s*)([-*+])\s+")
_MD_ORDERED_RE = re.compile(r"^\s*\d{1,3}[.)]\s+")
_TABLE_SEP_RE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_LINK_DEF_RE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*\S+")
_QUOTE_RE = re.compile(r"^\s{0,3}>\s?")

_IMAGE_RE = re.compile(r"!\[[^\]]*\]\([^)]*\)|!\[[^\]]*\]\[[^\]]*\]")
_LINK_RE = re.compile(r"\[([^\]]*)\]\((?:[^()]|\([^)]*\))*\)")
_REF_LINK_RE = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_AUTOLINK_RE = re.compile(r"<((?:https?|mailto):[^>\s]+)>")
_HTML_TAG_RE = re.compile(r"</?[A-Za-z][^>]*>")
_BOLD_RE = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EM_STAR_RE = re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])")
_EM_UNDER_RE = re.compile(r"(?<![\w_])_(?=[^\s_])(.+?)(?<=[^\s_])_(?![\w_])")
_STRIKE_RE = re.compile(r"~~(.+?)~~")
_CODE_RE = re.compile(r"`+([^`]*)`+")
_ESCAPE_RE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~])")


def strip_inline_markdown(text: str) -> str:
    """Remove inline Markdown: images dropped, links -> their text, emphasis/code markers removed."""
    text = _IMAGE_RE.sub("", text)
    text = _LINK_RE.sub(r"\1", text)
    text = _REF_LINK_RE.sub(r"\1", text)
    text = _AUTOLINK_RE.sub(r"\1", text)
    text = _HTML_TAG_RE.sub(" ", text)
    text = _CODE_RE.sub(r"\1", text)
    text = _BOLD_RE.sub(r"\2", text)
    text = _EM_STAR_RE.sub(r"\1", text)
    text = _EM_UNDER_RE.sub(r"\1", text)
    text = _STRIKE_RE.sub(r"\1", text)
    return _ESCAPE_RE.sub(r"\1", text)


def _split_front_matter(raw: str) -> tuple[dict[str, Any], str]:
    """YAML front matter (---\\n...\\n---) becomes metadata, not text."""
    if not raw.startswith("---\n"):
        return {}, raw
    end = raw.find("\n---", 4)
    if end == -1:
        return {}, raw
    block, rest = raw[4:end], raw[end + 4 :]
    try:
        import yaml

        meta = yaml.safe_load(block)
    except Exception:  # malformed front matter is still not body text
        meta = None
    if not isinstance(meta, dict):
        meta = {}
    return {str(k): v for k, v in meta.items()}, rest.split("\n", 1)[1] if "\n" in rest else ""


_SENTENCE_END_RE = re.compile(r"[.!?:;,]\W*$")


def _is_line_list(lines: list[str]) -> bool:
    """Lines that are a list without markers (tables of contents, figure lists, names) rather
    than wrapped prose: three or more short lines, none ending like a sentence."""
    return len(lines) >= 3 and all(len(x) <= 120 and not _SENTENCE_END_RE.search(x) for x in lines)


def _table_row(line: str) -> str:
    cells = [strip_inline_markdown(c).strip() for c in line.strip().strip("|").split("|")]
    return " | ".join(c for c in cells if c)


def extract_markdown(path: Path, data: bytes | None = None) -> ExtractedDocument:
    raw = _read(path, data)
    front, body = _split_front_matter(raw)
    builder = TextBuilder()
    lines, removed = remove_repeated_lines(body.split("\n"))
    paragraph: list[str] = []
    block_lines: list[str] = []  # list items / table rows / code: line structure kept
    block_kind = ""

    def flush() -> None:
        nonlocal paragraph, block_lines, block_kind
        if paragraph:
            if _is_line_list(paragraph):
                builder.add_lines([strip_inline_markdown(line) for line in paragraph])
            else:
                builder.add_paragraph(strip_inline_markdown(" ".join(paragraph)))
            paragraph = []
        if block_lines:
            builder.add_lines(block_lines)
            block_lines = []
        block_kind = ""

    i = 0
    in_fence = False
    while i < len(lines):
        line = lines[i]
        if _FENCE_RE.match(line):
            flush()
            in_fence = not in_fence
            i += 1
            continue
        if in_fence:
            if line.strip():
                block_lines.append(line)
                block_kind = "code"
            i += 1
            continue
        stripped = _QUOTE_RE.sub("", line)
        if not stripped.strip():
            flush()
            i += 1
            continue
        atx = _ATX_RE.match(stripped)
        if atx:
            flush()
            builder.add_heading(strip_inline_markdown(atx.group(2) or ""), len(atx.group(1)))
            i += 1
            continue
        # Setext: a single paragraph line underlined by === (h1) or --- (h2).
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if (
            not paragraph
            and not block_lines
            and _SETEXT_RE.match(nxt)
            and not _MD_BULLET_RE.match(stripped)
            and "|" not in stripped
        ):
            builder.add_heading(strip_inline_markdown(stripped), 1 if nxt.strip().startswith("=") else 2)
            i += 2
            continue
        if _HR_RE.match(stripped) or _LINK_DEF_RE.match(stripped):
            flush()
            i += 1
            continue
        if stripped.lstrip().startswith("|") or (block_kind == "table" and "|" in stripped):
            if block_kind != "table":
                flush()
                block_kind = "table"
            if not _TABLE_SEP_RE.match(stripped):
                row = _table_row(stripped)
                if row:
                    block_lines.append(row)
            i += 1
            continue
        bullet = _MD_BULLET_RE.match(stripped)
        if bullet or _MD_ORDERED_RE.match(stripped):
            if block_kind != "list":
                flush()
                block_kind = "list"
            item = stripped[bullet.end() :] if bullet else stripped.strip()
            block_lines.append(strip_inline_markdown(item))
            i += 1
            continue
        if block_kind == "list" and line.startswith((" ", "\t")):
            # A wrapped continuation of the previous list item.
            block_lines[-1] += " " + strip_inline_markdown(stripped.strip())
            i += 1
            continue
        if block_kind:
            flush()
        paragraph.append(stripped.strip())
        i += 1
    flush()

    metadata = {k: v for k, v in front.items() if isinstance(v, str | int | float | bool)}
    if removed:
        metadata["removed_running_lines"] = removed
    title = metadata.get("title") if isinstance(metadata.get("title"), str) else None
    if not title and builder.headings:
        title = min(builder.headings, key=lambda h: (h.level, h.start)).text
    return builder.build(
        str(path), "md", title=normalize_line(str(title)) if title else None, metadata=metadata
    )
