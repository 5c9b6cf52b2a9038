"""Split an ExtractedDocument into retrievable passages.

The text is cut into units (headings, sentences, whole list/table blocks) and units are packed
into passages of about Settings.passage_min_words..passage_max_words words:

- a sentence is never cut, except one longer than the maximum (cut at word boundaries);
- a heading is kept with the text that follows it (a passage never ends with a heading);
- a passage closes at every heading once it has text of its own: a passage never spans two
  sections, so its section and pages are the ones a citation needs; a short section is a short
  passage, and a heading directly above another (a parent's) stays with it;
- the next passage repeats the last sentence(s) of the previous one (overlap), except at a
  section start;
- lists and tables stay whole when they fit.

Every Passage's text is exactly ``doc.text[char_start:char_end]``.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

from nordsearch.ingest.language import detect_passage_languages
from nordsearch.ingest.records import ExtractedDocument, Heading, Passage, passage_id_for
from nordsearch.ingest.sentences import sentence_spans_many, trimmed_span
from nordsearch.ingest.settings import Settings

_WORD_RE = re.compile(r"\S+")


@dataclass(slots=True)
class Unit:
    """A piece of text that is never cut: a heading, a sentence, a line, or a whole block."""

    start: int
    end: int
    words: int
    kind: str  # "heading" | "sentence" | "block" | "line"
    level: int = 0


# A newline that begins a blank line ends a block. Blocks are the text between such newlines:
# matching the blocks themselves with a repeated group cost the regex engine ~100 bytes of stack
# per character (1 GB for a 10 MB file without a blank line).
_BLOCK_END_RE = re.compile(r"\n(?=[ \t]*\n)")


def _blocks(text: str) -> list[tuple[int, int]]:
    """Blank-line separated blocks as [start, end) offsets (trailing whitespace trimmed)."""
    ends = [m.start() for m in _BLOCK_END_RE.finditer(text)]
    bounds = zip([0, *(e + 1 for e in ends)], [*ends, len(text)], strict=True)
    spans = (trimmed_span(text, start, end) for start, end in bounds)
    return [span for span in spans if span]


def _word_chunks(text: str, start: int, end: int, max_words: int, kind: str) -> list[Unit]:
    """Cut an over-long span at word boundaries into pieces of at most max_words words."""
    words = list(_WORD_RE.finditer(text, start, end))
    out = []
    for i in range(0, len(words), max_words):
        chunk = words[i : i + max_words]
        out.append(Unit(chunk[0].start(), chunk[-1].end(), len(chunk), kind))
    return out


def _units(doc: ExtractedDocument, language: str, max_words: int) -> list[Unit]:
    text = doc.text
    headings = {h.start: h for h in doc.headings}
    blocks = _blocks(text)
    kinds: list[str] = []
    prose: list[int] = []  # indices of blocks that need sentence segmentation
    for i, (start, end) in enumerate(blocks):
        h = headings.get(start)
        if h is not None and end - start <= len(h.text) + 8 and "\n" not in text[start:end]:
            kinds.append("heading")
        elif "\n" in text[start:end]:
            kinds.append("lines")
        else:
            kinds.append("prose")
            prose.append(i)
    sentences = dict(
        zip(
            prose,
            sentence_spans_many((text[blocks[i][0] : blocks[i][1]] for i in prose), language),
            strict=True,
        )
    )

    units: list[Unit] = []

    def add(start: int, end: int, kind: str) -> None:
        n = len(_WORD_RE.findall(text, start, end))
        if n == 0:
            return
        if n > max_words:
            units.extend(_word_chunks(text, start, end, max_words, kind))
        else:
            units.append(Unit(start, end, n, kind))

    for i, (start, end) in enumerate(blocks):
        kind = kinds[i]
        if kind == "heading":
            units.append(
                Unit(start, end, len(_WORD_RE.findall(text, start, end)), "heading", headings[start].level)
            )
        elif kind == "lines":
            n = len(_WORD_RE.findall(text, start, end))
            if n <= max_words:
                units.append(Unit(start, end, n, "block"))  # a list or table kept whole
            else:
                pos = start
                for line in text[start:end].split("\n"):
                    if line.strip():
                        add(pos + (len(line) - len(line.lstrip())), pos + len(line.rstrip()), "line")
                    pos += len(line) + 1
        else:
            for s, e in sentences[i] or [(0, end - start)]:
                add(start + s, start + e, "sentence")
    return units


class _SectionIndex:
    """Heading path (" > "-joined) at any offset: the nearest preceding heading per level."""

    def __init__(self, headings: list[Heading]) -> None:
        self.headings = sorted(headings, key=lambda h: h.start)
        self.starts = [h.start for h in self.headings]
        self.paths: list[str] = []
        stack: list[Heading] = []
        for h in self.headings:
            while stack and stack[-1].level >= h.level:
                stack.pop()
            stack.append(h)
            self.paths.append(" > ".join(x.text for x in stack))

    def at(self, offset: int) -> str:
        i = bisect_right(self.starts, offset) - 1
        return self.paths[i] if i >= 0 else ""


def _pack(units: list[Unit], min_words: int, max_words: int, overlap: int) -> list[tuple[int, int, int]]:
    """Group units into passages; returns (first unit, first new unit, last unit + 1) triples.

    "first new unit" is the first unit that is not overlap from the previous passage (the
    passage's section is taken there).
    """
    groups: list[tuple[int, int, int]] = []
    first = new = 0  # current passage: units[first:i], units[new:i] are not overlap
    words = 0

    i = 0
    n = len(units)
    while i < n:
        u = units[i]
        has_new_content = any(x.kind != "heading" for x in units[new:i])
        close = False
        if has_new_content:
            if u.kind == "heading" or words + u.words > max_words:
                close = True
        elif words + u.words > max_words and new > first:
            # Only overlap so far and it does not fit with this unit: drop the overlap.
            first = new
            words = sum(x.words for x in units[first:i])
        if close:
            # Never end with a heading: trailing headings move to the next passage.
            end = i
            while end > new and units[end - 1].kind == "heading":
                end -= 1
            groups.append((first, new, end))
            start_next = end
            if units[start_next].kind != "heading" and overlap > 0:
                # Repeat the last sentence(s) of the closed passage (not headings or whole tables).
                k = end
                while k > new and end - k < overlap and units[k - 1].kind in ("sentence", "line"):
                    k -= 1
                first = k if k < end else start_next
            else:
                first = start_next
            new = start_next
            words = sum(x.words for x in units[first:i])
            continue  # re-examine unit i against the new passage
        words += u.words
        i += 1
    if new < n and any(x.kind != "heading" for x in units[new:n]) or (not groups and n):
        groups.append((first, new, n))
    elif groups and new < n:
        # Only headings remain (document ends with headings): attach them to the last passage.
        a, b, _ = groups[-1]
        groups[-1] = (a, b, n)
    # A short tail joins the previous passage when both fit within the maximum.
    if len(groups) >= 2:
        a, b, c = groups[-1]
        pa, pb, pc = groups[-2]
        tail = sum(u.words for u in units[b:c])
        if tail < min_words and sum(u.words for u in units[pa:c]) <= max_words and units[b].kind != "heading":
            groups[-2:] = [(pa, pb, c)]
    return groups


def _first_text(units: list[Unit], new: int, end: int) -> int:
    """The first unit of a passage's own text that is not a heading: its section is the one that
    text is in (a parent heading above the first child's is in the passage, not its section)."""
    return next((j for j in range(new, end) if units[j].kind != "heading"), min(new, end - 1))


def split_passages(
    doc: ExtractedDocument, document_id: str, document_language: str, settings: Settings
) -> list[Passage]:
    """Cut a document into Passages (offsets into doc.text, pages, section path, language), sized
    by ``settings``' passage_min_words, passage_max_words and passage_overlap_sentences."""
    min_words = max(1, settings.passage_min_words)
    max_words = max(min_words, settings.passage_max_words)
    units = _units(doc, document_language, max_words)
    if not units:
        return []
    sections = _SectionIndex(doc.headings)
    passages: list[Passage] = []
    for first, new, end in _pack(units, min_words, max_words, settings.passage_overlap_sentences):
        start_char, end_char = units[first].start, units[end - 1].end
        text = doc.text[start_char:end_char]
        if not text.strip():
            continue
        ordinal = len(passages)
        passages.append(
            Passage(
                passage_id=passage_id_for(document_id, ordinal),
                document_id=document_id,
                ordinal=ordinal,
                text=text,
                language=document_language,  # refined below, all passages at once
                char_start=start_char,
                char_end=end_char,
                page_start=doc.page_at(start_char),
                page_end=doc.page_at(end_char - 1),
                section=sections.at(units[_first_text(units, new, end)].start),
                sentences=[(u.start - start_char, u.end - start_char) for u in units[first:end]],
                page_breaks=[
                    (pg.start - start_char, pg.number) for pg in doc.pages if start_char < pg.start < end_char
                ],
            )
        )
    for passage, language in zip(
        passages, detect_passage_languages([p.text for p in passages], document_language), strict=True
    ):
        passage.language = language
    return passages
