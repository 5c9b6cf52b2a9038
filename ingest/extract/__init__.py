"""Format extractors behind one registry keyed by file suffix.

``extract(path)`` picks the extractor from the suffix, runs it, and enforces the checks every
format shares (size limit, non-empty text). Heavy libraries are imported inside the
extractor modules' functions, so importing this package stays cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from nordsearch.ingest.records import ExtractedDocument, IngestError

# Every extractor: (path, data=None) -> ExtractedDocument; ``data`` saves a second read.
Extractor = Callable[..., ExtractedDocument]

# suffix -> (module, function, format name). Resolved lazily: importing the PDF module
# should not be the price of ingesting a Markdown file.
_REGISTRY: dict[str, tuple[str, str, str]] = {
    ".pdf": ("nordsearch.ingest.extract.pdf", "extract_pdf", "pdf"),
    ".html": ("nordsearch.ingest.extract.html", "extract_html", "html"),
    ".htm": ("nordsearch.ingest.extract.html", "extract_html", "html"),
    ".docx": ("nordsearch.ingest.extract.docx", "extract_docx", "docx"),
    ".txt": ("nordsearch.ingest.extract.text", "extract_txt", "txt"),
    ".text": ("nordsearch.ingest.extract.text", "extract_txt", "txt"),
    ".md": ("nordsearch.ingest.extract.text", "extract_markdown", "md"),
    ".markdown": ("nordsearch.ingest.extract.text", "extract_markdown", "md"),
}


def supported_suffixes() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def format_for(path: Path) -> str | None:
    """The format name ("pdf", "html", ...) for a path, or None when unsupported."""
    entry = _REGISTRY.get(path.suffix.lower())
    return entry[2] if entry else None


def register(suffix: str, module: str, function: str, fmt: str) -> None:
    """Add or replace the extractor for a suffix (e.g. a plugin for .odt)."""
    _REGISTRY[suffix.lower()] = (module, function, fmt)


def get_extractor(path: Path) -> Extractor:
    entry = _REGISTRY.get(path.suffix.lower())
    if entry is None:
        raise IngestError(
            str(path),
            "unsupported_format",
            f"unsupported file type {path.suffix or '(none)'!r}; supported: {', '.join(supported_suffixes())}",
        )
    module, function, _ = entry
    extractor: Extractor = getattr(importlib.import_module(module), function)
    return extractor


def extract(path: Path | str, data: bytes | None = None, max_bytes: int | None = None) -> ExtractedDocument:
    """Extract one file into an ExtractedDocument, or raise IngestError.

    ``data`` is the file's bytes when the caller has already read them (the pipeline hashes them).
    """
    path = Path(path)
    extractor = get_extractor(path)
    try:
        size = len(data) if data is not None else path.stat().st_size
    except OSError as exc:
        raise IngestError(str(path), "corrupt_file", f"cannot read file: {exc}") from exc
    if max_bytes is not None and size > max_bytes:
        raise IngestError(str(path), "too_large", f"file is {size} bytes, limit is {max_bytes}")
    if size == 0:
        raise IngestError(str(path), "empty", "file is empty")
    doc = extractor(path, data)
    if not doc.text.strip():
        raise IngestError(str(path), "empty", "no text found in the document")
    return doc


__all__ = ["extract", "format_for", "get_extractor", "register", "supported_suffixes"]
