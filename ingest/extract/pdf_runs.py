"""Positioned text runs of a PDF page -> lines in reading order, plus heading candidates by font.

pypdf's plain ``extract_text`` follows the content stream. That is the right order for almost
every single-column page, but a two-column page may come out interleaved, and it says nothing
about font sizes. Here the page's text runs (text, x, y, font size, bold) are grouped into
lines, a column gutter is looked for, and a two-column page is read band by band: left column
top to bottom, then right column. Everything is pure (no pypdf) so it can be unit-tested.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

# Fragments in the top/bottom share of the page are running headers/footers: never part of a column.
MARGIN_SHARE = 0.08


@dataclass(slots=True)
class Run:
    """A piece of text on one baseline: left x, right x (estimated), baseline y (PDF units, y up)."""

    x0: float
    x1: float
    y: float
    size: float
    bold: bool
    text: str


@dataclass(slots=True)
class Line:
    """Runs on one baseline joined left to right."""

    x0: float
    x1: float
    y: float
    size: float
    bold: bool
    text: str


def _join_runs(runs: list[Run]) -> Line:
    runs = sorted(runs, key=lambda r: r.x0)
    text = runs[0].text
    for prev, run in zip(runs, runs[1:], strict=False):
        gap = run.x0 - prev.x1
        if text and not text.endswith(" ") and not run.text.startswith(" ") and gap > 0.15 * run.size:
            text += " "
        text += run.text
    size = max(runs, key=lambda r: len(r.text.strip())).size
    letters = sum(len(r.text.strip()) for r in runs)
    bold_letters = sum(len(r.text.strip()) for r in runs if r.bold)
    return Line(
        x0=runs[0].x0,
        x1=max(r.x1 for r in runs),
        y=statistics.mean(r.y for r in runs),
        size=size,
        bold=letters > 0 and bold_letters == letters,
        text=" ".join(text.split()),
    )


def group_lines(runs: list[Run], split_gap: float | None = None) -> list[Line]:
    """Group runs into lines: same baseline (within 40% of the font size) and horizontally near.

    Runs on one baseline farther apart than ``split_gap`` (default: 1.5 x font size) stay
    separate lines, so two columns side by side never merge.
    """
    runs = [r for r in runs if r.text.strip()]
    runs.sort(key=lambda r: (-r.y, r.x0))
    rows: list[list[Run]] = []
    for run in runs:
        if rows and abs(rows[-1][0].y - run.y) <= 0.4 * max(run.size, rows[-1][0].size):
            rows[-1].append(run)
        else:
            rows.append([run])
    lines: list[Line] = []
    for row in rows:
        row.sort(key=lambda r: r.x0)
        group = [row[0]]
        for run in row[1:]:
            gap = run.x0 - max(r.x1 for r in group)
            limit = split_gap if split_gap is not None else 1.5 * max(run.size, 6.0)
            if gap > limit:
                lines.append(_join_runs(group))
                group = [run]
            else:
                group.append(run)
        lines.append(_join_runs(group))
    return lines


def find_gutter(lines: list[Line], page_width: float, page_height: float) -> float | None:
    """The x where a right text column starts, when the page has two columns of text; else None.

    Evidence required: many lines start at one x in the middle of the page; few lines cross
    into it from the left; and the lines on both sides are mostly long (wrapped running text,
    not table cells).
    """
    body = [ln for ln in lines if MARGIN_SHARE * page_height < ln.y < (1 - MARGIN_SHARE) * page_height]
    if len(body) < 10:
        return None
    lo, hi = 0.3 * page_width, 0.7 * page_width
    starts: dict[int, int] = {}
    for ln in body:
        if lo <= ln.x0 <= hi:
            starts[round(ln.x0 / 2)] = starts.get(round(ln.x0 / 2), 0) + 1
    best: tuple[int, float] | None = None
    for key, count in starts.items():
        if count < 5:
            continue
        x_right = key * 2 - 2  # a little slack for rounding
        right = [ln for ln in body if ln.x0 >= x_right]
        left = [ln for ln in body if ln.x1 <= x_right - 3]
        crossing = [ln for ln in body if ln.x0 < x_right and ln.x1 > x_right - 3]
        if len(right) < 5 or len(left) < 5 or len(crossing) > 0.15 * len(body):
            continue
        if sum(len(ln.text) for ln in right) < 150 or sum(len(ln.text) for ln in left) < 150:
            continue
        left_x0 = min(ln.x0 for ln in left)
        right_x1 = max(ln.x1 for ln in right)
        left_full = sum(1 for ln in left if ln.x1 - left_x0 >= 0.6 * (x_right - left_x0))
        right_full = sum(1 for ln in right if ln.x1 - x_right >= 0.6 * (right_x1 - x_right))
        if left_full < 0.3 * len(left) or right_full < 0.3 * len(right):
            continue
        wordy = sum(1 for ln in right if len(ln.text.split()) >= 4)
        if wordy < 0.5 * len(right):
            continue  # a table's columns, not running text
        if best is None or len(right) > best[0]:
            best = (len(right), x_right)
    return best[1] if best else None


def _leading(lines: list[Line]) -> float:
    gaps = [a.y - b.y for a, b in zip(lines, lines[1:], strict=False) if 0 < a.y - b.y < 3 * a.size]
    return statistics.median(gaps) if gaps else (lines[0].size * 1.3 if lines else 12.0)


_BULLET_START = ("–", "•", "▪", "◦", "●", "■", "- ", "* ", "—")


def _merge_rows(lines: list[Line]) -> list[tuple[Line, int]]:
    """Lines of one column on the same baseline (table cells) merged: (line, number of cells)."""
    rows: list[tuple[Line, int]] = []
    group: list[Line] = []

    def flush() -> None:
        if not group:
            return
        if len(group) == 1:
            rows.append((group[0], 1))
        else:
            cells = sorted(group, key=lambda ln: ln.x0)
            merged = Line(
                x0=cells[0].x0,
                x1=max(c.x1 for c in cells),
                y=cells[0].y,
                size=max(c.size for c in cells),
                bold=all(c.bold for c in cells),
                text=" ".join(c.text for c in cells),
            )
            rows.append((merged, len(cells)))
        group.clear()

    for ln in sorted(lines, key=lambda ln: -ln.y):
        if group and abs(group[0].y - ln.y) > 0.4 * max(ln.size, group[0].size):
            flush()
        group.append(ln)
    flush()
    return rows


def _first_word_width(ln: Line) -> float:
    word = ln.text.split(" ", 1)[0]
    return (ln.x1 - ln.x0) / max(1, len(ln.text)) * len(word)


def _continues(prev: Line, ln: Line, right_edge: float) -> bool:
    """True when ``prev`` is a line wrapped by the layout: the first word of ``ln`` would not fit after it."""
    if ln.text.startswith(_BULLET_START) or abs(prev.size - ln.size) > 0.1 * max(prev.size, ln.size):
        return False
    if prev.bold != ln.bold and len(prev.text) < 80:
        return False  # a bold run-in heading line, then body text
    return prev.x1 + 0.3 * ln.size + _first_word_width(ln) > right_edge - 0.5 * ln.size


def _join_text(previous: str, following: str) -> str:
    from nordsearch.ingest.extract.pdf_layout import join_hyphenated

    joined = join_hyphenated(previous, following)
    return joined if joined is not None else f"{previous} {following}"


def _column_paragraphs(lines: list[Line]) -> list[tuple[str, Line, Line]]:
    """One column's text top to bottom as paragraphs (wrapped lines joined) and single lines.

    Returns (text, first line, last line); an empty text marks a vertical gap (paragraph break).
    """
    rows = _merge_rows(lines)
    if not rows:
        return []
    leading = _leading([r for r, _ in rows])
    right_edge = (
        max(r.x1 for r, cells in rows if cells == 1) if any(c == 1 for _, c in rows) else rows[0][0].x1
    )
    out: list[tuple[str, Line, Line]] = []
    first, cells0 = rows[0]
    text, start, last, last_cells = first.text, first, first, cells0
    for ln, cells in rows[1:]:
        gap = last.y - ln.y
        if gap <= 1.45 * leading and cells == 1 and last_cells == 1 and _continues(last, ln, right_edge):
            text = _join_text(text, ln.text)
        else:
            out.append((text, start, last))
            if gap > 1.45 * leading or abs(last.size - ln.size) > 0.15 * max(last.size, ln.size):
                out.append(("", last, ln))
            text, start = ln.text, ln
        last, last_cells = ln, cells
    out.append((text, start, last))
    return out


def _column_lines(lines: list[Line]) -> list[str]:
    return [t for t, _, _ in _column_paragraphs(lines)]


def order_lines(lines: list[Line], gutter: float | None, page_height: float) -> list[str]:
    """Page text in reading order, wrapped paragraphs joined into one line each.

    With a ``gutter`` (two columns), the page is cut into horizontal bands at lines that cross
    it (a full-width title, a wide table) and at the top/bottom margins; each band is read left
    column, then right column. A paragraph running from the foot of the left column to the top
    of the right one is joined. Without a gutter the page is one column.
    """
    if gutter is None:
        gutter = float("inf")
    lines = sorted(lines, key=lambda ln: -ln.y)
    top = [ln for ln in lines if ln.y >= (1 - MARGIN_SHARE) * page_height]
    bottom = [ln for ln in lines if ln.y <= MARGIN_SHARE * page_height]
    body = [ln for ln in lines if MARGIN_SHARE * page_height < ln.y < (1 - MARGIN_SHARE) * page_height]
    out: list[str] = [ln.text for ln in top]
    band: list[Line] = []

    def flush() -> None:
        if not band:
            return
        left = _column_paragraphs([ln for ln in band if ln.x0 < gutter])
        right = _column_paragraphs([ln for ln in band if ln.x0 >= gutter])
        if left and right and left[-1][0] and right[0][0]:
            edge = max(ln.x1 for ln in band if ln.x0 < gutter)
            if _continues(left[-1][2], right[0][1], edge):
                text = _join_text(left[-1][0], right[0][0])
                left[-1] = (text, left[-1][1], right[0][2])
                right = right[1:]
        for part in (left, right):
            if part:
                if out and out[-1] != "":
                    out.append("")
                out.extend(t for t, _, _ in part)
        band.clear()

    for ln in body:
        if ln.x0 < gutter and ln.x1 > gutter - 3:
            flush()
            if out and out[-1] != "":
                out.append("")
            out.append(ln.text)
            out.append("")
        else:
            band.append(ln)
    flush()
    if bottom and out and out[-1] != "":
        out.append("")
    out.extend(ln.text for ln in bottom)
    while out and out[-1] == "":
        out.pop()
    return out


def body_font_size(lines_per_page: list[list[Line]]) -> float:
    """The font size carrying most of the document's characters."""
    weight: dict[float, int] = {}
    for lines in lines_per_page:
        for ln in lines:
            key = round(ln.size * 2) / 2
            weight[key] = weight.get(key, 0) + len(ln.text)
    return max(weight, key=lambda k: weight[k]) if weight else 0.0


def _style(ln: Line) -> tuple[float, bool]:
    return (round(ln.size * 2) / 2, ln.bold)


# A heading is short; a "heading style" carrying a large share of the text is body text.
MAX_HEADING_CHARS = 100
MAX_HEADING_WORDS = 14
MAX_HEADING_STYLE_SHARE = 0.15


def style_shares(lines_per_page: list[list[Line]]) -> dict[tuple[float, bool], float]:
    """Share of the document's characters set in each (size, bold) style."""
    weight: dict[tuple[float, bool], int] = {}
    for lines in lines_per_page:
        for ln in lines:
            weight[_style(ln)] = weight.get(_style(ln), 0) + len(ln.text)
    total = sum(weight.values()) or 1
    return {k: v / total for k, v in weight.items()}


def heading_candidates(
    lines: list[Line], body_size: float, shares: dict[tuple[float, bool], float] | None = None
) -> list[tuple[float, bool, str]]:
    """Lines set in a larger font than the body (or bold, alone on their baseline, at body size),
    consecutive ones with the same style merged: (size, bold, text) in reading order.

    A merged group longer than a heading (chars, words) is emphasised body text, not a heading;
    so is a style that carries more than MAX_HEADING_STYLE_SHARE of the document (``shares``).
    """
    if body_size <= 0:
        return []
    rows: dict[int, int] = {}
    for ln in lines:
        rows[round(ln.y)] = rows.get(round(ln.y), 0) + 1
    groups: list[list[Line]] = []
    prev: Line | None = None
    for ln in sorted(lines, key=lambda ln: (-ln.y, ln.x0)):
        text = ln.text.strip()
        letters = sum(c.isalpha() for c in text)
        larger = ln.size >= body_size * 1.15
        bold_alone = ln.bold and ln.size >= body_size - 0.1 and rows.get(round(ln.y), 0) == 1
        is_heading = (
            (larger or bold_alone)
            and letters >= 1
            and not text.endswith((",", ";"))
            and (shares is None or shares.get(_style(ln), 0.0) <= MAX_HEADING_STYLE_SHARE)
        )
        if not is_heading:
            prev = None
            continue
        if (
            groups
            and prev is not None
            and _style(prev) == _style(ln)
            and 0 < prev.y - ln.y < 1.6 * ln.size
            and abs(prev.x0 - ln.x0) < 2 * ln.size
        ):
            groups[-1].append(ln)
        else:
            groups.append([ln])
        prev = ln
    out: list[tuple[float, bool, str]] = []
    for group in groups:
        text = " ".join(" ".join(ln.text for ln in group).split())
        larger = group[0].size >= body_size * 1.15
        if (
            len(text) > MAX_HEADING_CHARS
            or len(text.split()) > MAX_HEADING_WORDS
            or sum(c.isalpha() for c in text) < 3
            or (not larger and text.endswith("."))
        ):
            continue
        out.append((group[0].size, group[0].bold, text))
    return out


def heading_levels(
    candidates: list[tuple[float, bool, str]], body_size: float
) -> dict[tuple[float, bool], int]:
    """Level per heading style: larger sizes first, bold at body size last (at most level 6)."""
    styles = sorted({(round(s * 2) / 2, b) for s, b, _ in candidates}, key=lambda sb: (-sb[0], not sb[1]))
    return {style: min(6, i + 1) for i, style in enumerate(styles)}
