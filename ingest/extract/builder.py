"""TextBuilder: assembles an ExtractedDocument's text block by block while recording offsets.

Extractors describe structure (heading, paragraph, lines, page breaks); the builder owns the
joining rules (blank line between blocks) so every format produces the same text shape and
every Heading/PageSpan offset is correct by construction.
"""

from __future__ import annotations

from typing import Any

from nordsearch.ingest.extract.normalize import normalize_line
from nordsearch.ingest.records import ExtractedDocument, Heading, PageSpan

BLOCK_SEP = "\n\n"


class TextBuilder:
    def __init__(self) -> None:
        self._parts: list[str] = []
        self._length = 0
        self.headings: list[Heading] = []
        self.pages: list[PageSpan] = []
        self._page_number: int | None = None
        self._page_start = 0

    @property
    def length(self) -> int:
        return self._length

    def _append_block(self, block: str) -> int:
        """Append a non-empty block (already normalised); returns its start offset."""
        if self._length:
            self._parts.append(BLOCK_SEP)
            self._length += len(BLOCK_SEP)
        start = self._length
        self._parts.append(block)
        self._length += len(block)
        return start

    def add_heading(self, text: str, level: int) -> None:
        text = normalize_line(text)
        if not text:
            return
        start = self._append_block(text)
        self.headings.append(Heading(level=max(1, min(6, level)), text=text, start=start))

    def add_paragraph(self, text: str) -> int | None:
        """A paragraph: its lines are joined with spaces (line breaks inside are just wrapping)."""
        text = normalize_line(" ".join(text.split("\n")))
        return self._append_block(text) if text else None

    def add_lines(self, lines: list[str]) -> int | None:
        """A block whose line breaks matter (list items, table rows, addresses): kept one per line."""
        clean = [c for c in (normalize_line(line) for line in lines) if c]
        return self._append_block("\n".join(clean)) if clean else None

    def add_raw_block(self, block: str) -> int | None:
        """A block the caller has already normalised (keeps its internal newlines)."""
        return self._append_block(block) if block else None

    # Pages -----------------------------------------------------------------------------------
    def start_page(self, number: int) -> None:
        self.end_page()
        self._page_number = number
        # The page starts where its first block will start (after the separator).
        self._page_start = self._length + (len(BLOCK_SEP) if self._length else 0)

    def end_page(self) -> None:
        if self._page_number is None:
            return
        start = min(self._page_start, self._length)
        self.pages.append(PageSpan(number=self._page_number, start=start, end=max(start, self._length)))
        self._page_number = None

    def build(
        self,
        source: str,
        fmt: str,
        title: str | None = None,
        metadata: dict[str, Any] | None = None,
        warnings: list[str] | None = None,
    ) -> ExtractedDocument:
        self.end_page()
        return ExtractedDocument(
            source=source,
            format=fmt,
            text="".join(self._parts),
            title=title,
            pages=list(self.pages),
            headings=list(self.headings),
            metadata=dict(metadata or {}),
            warnings=list(warnings or []),
        )
