"""Typed records that flow through the pipeline: file -> ExtractedDocument -> Passage -> index.

Every record carries its provenance (source path, pages, character offsets into the
document text) so a search result can always point back to where its words came from.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

# Languages the product supports end to end. "nb" stands for Norwegian (bokmål and nynorsk
# both map to it: planners search them as one language); "no" is accepted as an alias.
LANGUAGES: tuple[str, ...] = ("fi", "sv", "nb", "da", "en")
LANGUAGE_ALIASES: dict[str, str] = {"no": "nb", "nn": "nb", "nob": "nb", "nno": "nb"}
# Every spelling normalize_language accepts (what language parameters are validated against).
LANGUAGE_CODES: tuple[str, ...] = LANGUAGES + tuple(LANGUAGE_ALIASES)
FORMATS: tuple[str, ...] = ("pdf", "html", "docx", "txt", "md")


def normalize_language(code: str | None) -> str | None:
    """Map a language code or alias to one of LANGUAGES (or None when unknown)."""
    if not code:
        return None
    code = code.strip().lower()
    code = LANGUAGE_ALIASES.get(code, code)
    return code if code in LANGUAGES else None


def content_hash(data: bytes) -> str:
    """Stable content hash of a file's bytes (hex sha256)."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class PageSpan:
    """A page of the document: its 1-based number and [start, end) offsets in ExtractedDocument.text."""

    number: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Heading:
    """A heading found by the extractor: level 1..6, its text, and its offset in ExtractedDocument.text."""

    level: int
    text: str
    start: int


@dataclass(slots=True)
class ExtractedDocument:
    """What an extractor returns: the cleaned text of a whole document plus its structure.

    ``text`` is the single string that every offset refers to. For paged formats (PDF)
    ``pages`` covers it page by page; other formats have no pages (empty list).
    """

    source: str
    format: str
    text: str
    title: str | None = None
    pages: list[PageSpan] = field(default_factory=list)
    headings: list[Heading] = field(default_factory=list)
    # Facts from the file itself (e.g. PDF /Title, HTML <meta>) and from a sidecar FILE.json.
    metadata: dict[str, Any] = field(default_factory=dict)
    # Non-fatal notes for the user (e.g. "ocr used", "3 pages had no text").
    warnings: list[str] = field(default_factory=list)

    def page_at(self, offset: int) -> int | None:
        """The page number containing character ``offset`` (None for unpaged documents)."""
        if not self.pages:
            return None
        lo, hi = 0, len(self.pages) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.pages[mid].start <= offset:
                lo = mid
            else:
                hi = mid - 1
        return self.pages[lo].number


@dataclass(slots=True)
class Passage:
    """A retrievable unit of text with full provenance.

    ``char_start``/``char_end`` are offsets into the document's ``ExtractedDocument.text``;
    ``text`` is exactly ``document.text[char_start:char_end]``.
    """

    passage_id: str
    document_id: str
    ordinal: int
    text: str
    language: str
    char_start: int
    char_end: int
    page_start: int | None = None
    page_end: int | None = None
    section: str = ""  # nearest heading path, " > "-joined
    themes: list[str] = field(default_factory=list)  # theme ids, best first
    # [start, end) of each sentence (heading, list line, table block) relative to ``text``: the
    # units the passage was packed from. Empty when unknown (then split again when needed).
    sentences: list[tuple[int, int]] = field(default_factory=list)
    # (offset relative to ``text``, page number) of every page that begins inside the passage
    # after its first: a hit cites the page its best sentence is on, not where the passage starts
    page_breaks: list[tuple[int, int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def page_at(self, offset: int) -> int | None:
        """The page holding ``offset`` (relative to ``text``); None for an unpaged document."""
        page = self.page_start
        for start, number in self.page_breaks:
            if start > offset:
                break
            page = number
        return page


@dataclass(slots=True)
class Document:
    """Document-level metadata as stored in the index."""

    document_id: str  # = content hash of the file bytes
    source: str  # path (or URL) the document was indexed from
    title: str
    language: str
    format: str
    pages: int  # page count (0 for unpaged formats)
    size_bytes: int
    content_hash: str
    indexed_at: str = ""  # ISO 8601 UTC, set by the index
    metadata: dict[str, Any] = field(default_factory=dict)  # sidecar: url, city, country, year, publisher...
    themes: list[str] = field(default_factory=list)
    passage_count: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def passage_id_for(document_id: str, ordinal: int) -> str:
    """Stable passage id: the document id prefix plus the passage's position."""
    return f"{document_id[:16]}-{ordinal:05d}"


@dataclass(slots=True)
class IngestedFile:
    """The result of ingesting one file: its document record and its passages."""

    document: Document
    passages: list[Passage]
    warnings: list[str] = field(default_factory=list)


class IngestError(Exception):
    """A file that cannot be ingested. ``code`` is machine-readable, the message is for people."""

    def __init__(self, source: str, code: str, reason: str):
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.code = code  # e.g. "unsupported_format", "no_text_layer", "corrupt_file", "empty", "too_large"
        self.reason = reason

    @classmethod
    def unreadable(cls, source: str, kind: str, exc: BaseException) -> IngestError:
        """A file its library could not read. Running out of memory (a worker's limit, a zip bomb)
        says the file is too large, not damaged."""
        if isinstance(exc, MemoryError) or "allocate" in str(exc):  # zlib: "Unable to allocate output buffer"
            return cls(source, "too_large", f"reading the {kind} needs more memory than a file may use")
        return cls(source, "corrupt_file", f"cannot read {kind}: {exc}")

    def __reduce__(self):
        # Errors travel back from extraction worker processes as values: keep them picklable.
        return (type(self), (self.source, self.code, self.reason))
