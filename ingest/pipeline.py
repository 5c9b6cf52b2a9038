"""ingest_file: one file in, one IngestedFile (Document + Passages) out.

A pure function of the file (and its sidecar) and the settings it is given: no index, no model,
no global state other than cached language/sentence tools, so it can run in worker processes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nordsearch.ingest.extract import extract, format_for, get_extractor
from nordsearch.ingest.language import detect_document_language
from nordsearch.ingest.passages import split_passages
from nordsearch.ingest.records import (
    Document,
    ExtractedDocument,
    IngestedFile,
    IngestError,
    content_hash,
    normalize_language,
)
from nordsearch.ingest.settings import Settings
from nordsearch.ingest.sidecar import read_sidecar

_POOR_TITLE_RE = re.compile(
    r"^(untitled|document|dokument|asiakirja|pöytäkirja|referat|\W*|\d+)$", re.IGNORECASE
)


def _good_title(title: str | None) -> bool:
    return bool(title) and len(title) >= 3 and not _POOR_TITLE_RE.match(title.strip())


def choose_title(extracted: str | None, sidecar: dict[str, Any], path: Path) -> str:
    """Sidecar title, else the file's own title when it is meaningful, else the file stem."""
    side = sidecar.get("title")
    if isinstance(side, str) and side.strip():
        return side.strip()
    if extracted and _good_title(extracted):
        return extracted.strip()
    return path.stem.replace("_", " ").strip() or path.name


@dataclass(frozen=True, slots=True)
class SourceBytes:
    """A file's bytes and their content hash, read once: the hash is the document id and decides
    whether an indexed file changed, so extraction and that check share one read and one hash."""

    data: bytes
    digest: str


def read_source(path: Path | str, settings: Settings) -> SourceBytes:
    """Read a supported file within the size limit; raises IngestError (unsupported_format before
    reading a byte, too_large before reading it whole, unreadable when it cannot be read)."""
    path = Path(path)
    source = str(path)
    get_extractor(path)
    try:
        size = path.stat().st_size
    except OSError as exc:  # gone since it was listed, or no permission
        raise IngestError(source, "unreadable", f"cannot read the file: {exc.strerror or exc}") from exc
    if size > settings.max_file_bytes:
        raise IngestError(source, "too_large", f"file is {size} bytes, limit is {settings.max_file_bytes}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IngestError(source, "unreadable", f"cannot read the file: {exc.strerror or exc}") from exc
    return SourceBytes(data, content_hash(data))


def ingest_file(
    path: Path | str, settings: Settings, source_bytes: SourceBytes | None = None
) -> IngestedFile:
    """Extract, describe and split one file with ``settings`` (size limit, OCR, passage sizes),
    from ``source_bytes`` when the caller has read it already. Raises IngestError when it cannot
    be ingested."""
    path = Path(path)
    source = str(path)
    read = source_bytes or read_source(path, settings)
    data, document_id = read.data, read.digest

    warnings: list[str] = []
    sidecar = read_sidecar(path, warnings)
    try:
        doc: ExtractedDocument = extract(path, data=data, max_bytes=settings.max_file_bytes)
    except IngestError as exc:
        if exc.code != "no_text_layer" or not settings.ocr:
            raise
        from nordsearch.ingest.extract.ocr import ocr_available, ocr_pdf

        if not ocr_available():
            raise
        doc = ocr_pdf(path, data)  # raises no_text_layer itself when OCR reads nothing
    warnings.extend(doc.warnings)

    hint = normalize_language(sidecar.get("language")) or normalize_language(doc.metadata.get("language"))
    hint = hint or normalize_language(str(doc.metadata.get("html_lang", ""))[:2])
    language = detect_document_language(doc.text, hint=hint)
    if language is None:
        language = hint or "en"
        warnings.append(f"language could not be detected; using {language!r}")

    passages = split_passages(doc, document_id, language, settings)
    if not passages:
        raise IngestError(source, "empty", "the document has no indexable text")

    metadata: dict[str, Any] = {k: v for k, v in doc.metadata.items() if k != "title"}
    metadata.update(sidecar)
    if doc.title:
        metadata["extracted_title"] = doc.title
    if hint and hint != language:
        metadata["language_hint"] = hint
    document = Document(
        document_id=document_id,
        source=source,
        title=choose_title(doc.title, sidecar, path),
        language=language,
        format=format_for(path) or doc.format,
        pages=len(doc.pages),
        size_bytes=len(data),
        content_hash=document_id,
        metadata=metadata,
        passage_count=len(passages),
    )
    return IngestedFile(document=document, passages=passages, warnings=warnings)


def warm_up() -> None:
    """Load what every file needs (the extractors' libraries, the language detector, the sentence
    splitters), so a fresh worker process measures its limits from a steady state."""
    import importlib

    from nordsearch.ingest.extract import supported_suffixes
    from nordsearch.ingest.language import get_detector
    from nordsearch.ingest.records import LANGUAGES
    from nordsearch.ingest.sentences import get_nlp

    for module in ("bs4", "lxml.etree", "pypdf", "docx", "yaml"):
        importlib.import_module(module)
    supported_suffixes()
    get_detector()
    for language in LANGUAGES:
        get_nlp(language)


__all__ = ["SourceBytes", "choose_title", "ingest_file", "read_source", "warm_up"]
