"""Pure text-layout repairs for PDF page text: running headers/footers, page numbers,
hyphenated line breaks, paragraph reconstruction and conservative heading guesses.

Kept free of pypdf so every rule can be unit- and property-tested on plain lists of lines.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

# How many non-empty lines at the top / bottom of a page can hold a running header / footer.
EDGE_LINES = 4
# A line (digits masked) must be on at least this share of pages (and on >= 2 pages) to count
# as running text. Half the pages: real headers repeat on (nearly) every page.
RUNNING_SHARE = 0.5
# Running headers/footers are short; a long line is body text even if it repeats.
MAX_RUNNING_LINE_CHARS = 160

_DIGITS_RE = re.compile(r"\d+")
_SPACE_RE = re.compile(r"\s+")
# "3", "- 3 -", "(3)", "Page 3", "s. 3", "3 / 34", "3 (34)", "Sivu 3 (34)", "3 of 34".
_PAGE_NUMBER_RE = re.compile(
    r"^[\s\-–—(\[]*(?:(?:page|p\.|sivu|side|sida|seite|s\.)\s*)?(\d{1,4})"
    r"\s*(?:(?:/|of|av|af|\(|\(\s*\))\s*\d{1,4}\s*\)?)?[\s\-–—)\]]*$",
    re.IGNORECASE,
)


def line_key(line: str) -> str:
    """Comparison key for running lines: case-folded, digits masked, whitespace collapsed."""
    return _SPACE_RE.sub(" ", _DIGITS_RE.sub("#", line.casefold())).strip()


def _edge_indices(lines: list[str]) -> tuple[list[int], list[int]]:
    """Indices of the lines that may be running text: a few at the top and bottom, but never
    more than a third of the page from each end (a short page is mostly body text)."""
    nonempty = [i for i, line in enumerate(lines) if line.strip()]
    k = max(1, min(EDGE_LINES, -(-len(nonempty) // 3)))
    if len(nonempty) < 2:
        return nonempty, []
    return nonempty[:k], nonempty[-k:]


def _page_number_of(line: str) -> int | None:
    m = _PAGE_NUMBER_RE.match(line)
    return int(m.group(1)) if m else None


def remove_running_lines(pages: list[list[str]]) -> tuple[list[list[str]], int]:
    """Drop running headers/footers and page numbers from the top/bottom lines of pages.

    A line is removed only if (a) it sits among the first/last EDGE_LINES non-empty lines of
    its page and (b) its digit-masked key occurs at that edge on >= 2 pages and on at least
    RUNNING_SHARE of the pages, or it is a page number that agrees with the page sequence.
    So a line whose key occurs once in the document is never removed, and a page keeps its
    repeated lines when they are all it holds (cleaning never empties a page that had text).
    Returns the cleaned pages and the number of lines removed.
    """
    n = len(pages)
    if n < 2:
        return [list(p) for p in pages], 0
    top_counts: Counter[str] = Counter()
    bottom_counts: Counter[str] = Counter()
    edges = [_edge_indices(p) for p in pages]
    for lines, (top, bottom) in zip(pages, edges, strict=True):
        top_counts.update({line_key(lines[i]) for i in top})
        bottom_counts.update({line_key(lines[i]) for i in bottom})
    needed = max(2, int(n * RUNNING_SHARE + 0.999))

    # Page numbers: the printed number minus the page index must be the same on many pages
    # (documents often start numbering at the cover or after it).
    offsets: Counter[int] = Counter()
    for index, (lines, (top, bottom)) in enumerate(zip(pages, edges, strict=True)):
        seen = set()
        for i in (*top[:2], *bottom[-2:]):
            number = _page_number_of(lines[i])
            if number is not None:
                seen.add(number - index)
        offsets.update(seen)
    good_offsets = {off for off, c in offsets.items() if c >= needed}

    cleaned: list[list[str]] = []
    removed = 0
    for index, (lines, (top, bottom)) in enumerate(zip(pages, edges, strict=True)):
        running: set[int] = set()
        for i in top:
            if top_counts[line_key(lines[i])] >= needed and _has_letters(lines[i]):
                running.add(i)
        for i in bottom:
            if bottom_counts[line_key(lines[i])] >= needed and _has_letters(lines[i]):
                running.add(i)
        numbers: set[int] = set()
        for i in (*top[:2], *bottom[-2:]):
            number = _page_number_of(lines[i])
            if number is not None and number - index in good_offsets:
                numbers.add(i)
        # A running header runs above a body: where it is all the page holds (the same sentence on
        # every page, a slide deck's titles), it is the body, and is kept.
        body_left = any(i not in running and i not in numbers and lines[i].strip() for i in range(len(lines)))
        drop = running | numbers if body_left else numbers
        removed += len(drop)
        cleaned.append([line for i, line in enumerate(lines) if i not in drop])
    return cleaned, removed


def _has_letters(line: str) -> bool:
    # Lines without letters ("§ 9", "2024") are too generic to call running text by repetition;
    # page numbers are handled separately, with their sequence as evidence. Long lines are
    # body text, not headers.
    return sum(c.isalpha() for c in line) >= 3 and len(line) <= MAX_RUNNING_LINE_CHARS


# ---------------------------------------------------------------------------------------------
# Hyphenation
# ---------------------------------------------------------------------------------------------
# Words after which a trailing hyphen is an elided compound ("lämpö- ja kosteustekninen",
# "bostads- och", "bolig- og", "short- and long-term"), not a word broken at the line end.
CONJUNCTIONS = frozenset(
    [
        "ja",
        "tai",
        "sekä",
        "eli",
        "että",
        "and",
        "or",
        "to",
        "och",
        "eller",
        "samt",
        "till",
        "og",
        "el.",
        "eller",
        "samt",
        "og/eller",
        "und",
        "oder",
    ]
)
_VOWELS = set("aeiouyåäöæø")


def join_hyphenated(previous: str, following: str) -> str | None:
    """Join two lines when ``previous`` ends in a word broken with a hyphen; else None.

    "kaupunki-" + "suunnittelu on" -> "kaupunkisuunnittelu on"; "ELY-" + "keskus" keeps the hyphen
    ("ELY-keskus"); "linja-" + "auto" keeps it (Finnish writes a hyphen between equal vowels);
    "lämpö-" + "ja kosteus" is an elided compound: not joined here.
    """
    if len(previous) < 2 or not previous.endswith("-") or not following:
        return None
    before = previous[-2]
    if not before.isalpha():
        return None
    first_word = following.split(" ", 1)[0]
    if first_word.casefold().strip(",.;:") in CONJUNCTIONS:
        return None
    first = following[0]
    if not first.isalpha():
        return None
    if (
        first.isupper()
        or before.isupper()
        or (before.casefold() == first.casefold() and first.casefold() in _VOWELS)
    ):
        return previous + following  # keep the hyphen: a real hyphenated compound
    return previous[:-1] + following


# ---------------------------------------------------------------------------------------------
# Paragraphs
# ---------------------------------------------------------------------------------------------
_SENTENCE_END = (".", "!", "?", ":", "…", '."', ".”", "?”", "!”", ".)")
_BULLET_RE = re.compile(r"^(?:[•▪◦‣●○■□►–\-*]|\(?\d{1,2}[.)]|[a-z][.)])\s+")


@dataclass(slots=True)
class Block:
    """A unit of page text: a paragraph (wrapped lines joined) or a block of kept lines."""

    kind: str  # "para" | "lines"
    lines: list[str]

    @property
    def text(self) -> str:
        return " ".join(self.lines) if self.kind == "para" else "\n".join(self.lines)


# "Godkendelse af dagsorden … 3" (dot leaders are normalised to "…" beforehand).
_TOC_LINE_RE = re.compile(r"(?:…|\.{3,})\s*\d{1,4}$")
_HYPHEN_END_RE = re.compile(r"[^\W\d_]-$")


def _ends_paragraph(line: str, long_limit: float, full_width: int) -> bool:
    if _HYPHEN_END_RE.search(line):
        return False  # "Rakennusten lämpö-" continues on the next line, whatever its length
    return len(line) < long_limit or (line.endswith(_SENTENCE_END) and len(line) < full_width * 0.9)


_BULLET_ONLY_RE = re.compile(r"^[•▪◦‣●○■□►–—\-*·]$")


def attach_bullets(lines: list[str]) -> list[str]:
    """A list marker on a line of its own ("–", "•") joins the item text that follows it."""
    out: list[str] = []
    pending: str | None = None
    for raw in lines:
        line = raw.strip()
        if _BULLET_ONLY_RE.match(line):
            if pending is not None:
                out.append(pending)
            pending = line
            continue
        if pending is not None and line:
            out.append(f"{pending} {line}")
            pending = None
            continue
        out.append(raw)
    if pending is not None:
        out.append(pending)
    return out


def typical_line_length(pages: list[list[str]]) -> int:
    """The length of a full line of body text (80th percentile of line lengths)."""
    lengths = sorted(len(line) for page in pages for line in page if len(line) > 1)
    if not lengths:
        return 80
    return max(20, lengths[int(len(lengths) * 0.8)])


def rebuild_paragraphs(lines: list[str], full_width: int) -> list[Block]:
    """Turn a page's hard-wrapped lines into blocks.

    A line of (nearly) full width continues its paragraph. A paragraph ends at a blank line,
    at a short line (the last line of a paragraph is short), or at a line ending in sentence
    punctuation that is not full width. Runs of short lines (names, list items, addresses,
    table rows) stay one per line in a "lines" block. Hyphenated line breaks are joined.
    """
    long_limit = full_width * 0.75
    lines = attach_bullets(lines)
    blocks: list[Block] = []
    para: list[str] = []

    def flush_para() -> None:
        nonlocal para
        if para:
            blocks.append(Block("para", para))
            para = []

    def add_short(line: str) -> None:
        if blocks and blocks[-1].kind == "lines":
            blocks[-1].lines.append(line)
        else:
            blocks.append(Block("lines", [line]))

    for raw in lines:
        line = raw.strip()
        if line and _TOC_LINE_RE.search(line):
            flush_para()  # a table-of-contents entry is a line of its own, however long
            add_short(line)
            continue
        if not line:
            flush_para()
            # A blank line also ends a run of short lines.
            if blocks and blocks[-1].kind == "lines":
                blocks.append(Block("lines", []))
            continue
        if para:
            joined = join_hyphenated(para[-1], line)
            if joined is not None:
                para[-1] = joined
                if len(line) < long_limit:
                    flush_para()
                continue
            if _BULLET_RE.match(line):
                flush_para()
            else:
                para.append(line)
                if _ends_paragraph(line, long_limit, full_width):
                    flush_para()
                continue
        if (len(line) >= long_limit and not line.endswith(_SENTENCE_END)) or _HYPHEN_END_RE.search(line):
            para = [line]  # a full line (or a word broken at its end): a paragraph starts
        elif (
            blocks
            and blocks[-1].kind == "lines"
            and blocks[-1].lines
            and (joined := join_hyphenated(blocks[-1].lines[-1], line))
        ):
            blocks[-1].lines[-1] = joined
        else:
            add_short(line)
    flush_para()
    return [b for b in blocks if b.lines]


# ---------------------------------------------------------------------------------------------
# Headings (used only when the PDF has no outline)
# ---------------------------------------------------------------------------------------------
_NUMBERED_HEADING_RE = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,3})\.?\s+(\S.*)$")


def guess_heading_level(line: str) -> int | None:
    """Heading level for a line that clearly looks like a heading, else None (conservative).

    Only numbered headings ("2.1 Liikenne") and short ALL-CAPS lines qualify; both must be short,
    have no final period and start with a capital after the number.
    """
    line = line.strip()
    words = line.split()
    if not 1 <= len(words) <= 12 or len(line) > 100 or line.endswith((".", ",", ";", ":")):
        return None
    m = _NUMBERED_HEADING_RE.match(line)
    if m:
        rest = m.group(2)
        if (
            rest[0].isupper()
            and sum(c.isalpha() for c in rest) >= 3
            and not any(c.isdigit() for c in rest[:1])
        ):
            return min(6, m.group(1).count(".") + 1)
        return None
    letters = [c for c in line if c.isalpha()]
    if len(letters) >= 4 and all(c.isupper() for c in letters) and len(words) <= 10:
        return 1
    return None
