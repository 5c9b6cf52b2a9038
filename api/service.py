"""The operations the CLI and the HTTP service share, so both give the same result shapes."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nordsearch.ingest.settings import Settings
    from nordsearch.search.index import SearchIndex
    from nordsearch.search.query import SearchRequest


def resolve_index_dir(index: Path | str | None, settings: Settings) -> Path:
    """--index DIR, else NORDSEARCH_INDEX (``settings.index``), else the default under the current
    directory."""
    return Path(index) if index else Path(settings.index)


def open_index(
    index_dir: Path,
    settings: Settings,
    *,
    with_model: bool = True,
    create: bool = True,
    embedder: Any = None,
) -> SearchIndex:
    from nordsearch.search.embedder import get_embedder
    from nordsearch.search.index import SearchIndex

    if embedder is None:
        embedder = get_embedder(settings) if with_model else None
    return SearchIndex.open(
        index_dir, embedder=embedder, create=create, hnsw_threshold=settings.hnsw_threshold,
        theme_thresholds=settings.theme_thresholds, settings=settings,
    )  # fmt: skip


def warm_model_cache(settings: Settings) -> None:
    """Embed the product's fixed texts (centring's parallel texts, the theme definitions) into the
    model cache now, as a first write would (search.model_cache), so that no index pays it."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="nordsearch-warm-") as tmp:
        index = open_index(Path(tmp), settings)
        try:
            index.prepare()
        finally:
            index.close()


def as_dict(obj: Any) -> Any:
    """A record (dataclass or pydantic model) as plain JSON-ready data."""
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, list | tuple):
        return [as_dict(o) for o in obj]
    return obj


HIT_FIELDS = (
    "passage_id",
    "document_id",
    "title",
    "source",
    "language",
    "page",
    "page_end",
    "section",
    "text",
    "score",
    "themes",
    "snippet",
    "highlights",
    "best_sentence",
    "best_sentence_span",
    "duplicates",
    "passages",
    "group_value",
)


def search_json(index: SearchIndex, request: SearchRequest) -> dict[str, Any]:
    """Run a search; the JSON shape of `nordsearch search --json`, GET and POST /search (the
    request comes from api.request.to_search_request, whichever face it came through). Document
    ids may be prefixes (as `nordsearch documents` prints them); one that names no document or
    several raises a DocumentIdError (a ValueError), so a typo is an error, never an empty result."""
    if request.document_ids:
        from dataclasses import replace

        request = replace(request, document_ids=[index.resolve_document_id(d) for d in request.document_ids])
    response = index.search(request)
    results = []
    for hit in response.results:
        data = as_dict(hit)
        row = {key: data.get(key) for key in HIT_FIELDS}
        row["passages"] = [
            {key: p.get(key) for key in HIT_FIELDS if key not in ("passages", "group_value")}
            for p in row.get("passages") or []
        ]
        results.append(row)
    return {
        "query": request.q,
        "mode": request.mode,
        "k": request.k,
        "offset": request.offset,
        "total": getattr(response, "total", len(results)),
        "group": request.group,
        "has_more": getattr(response, "has_more", False),
        "facets": getattr(response, "facets", {}),
        "results": results,
    }


DOC_FIELDS = (
    "document_id",
    "title",
    "source",
    "language",
    "format",
    "pages",
    "passage_count",
    "size_bytes",
    "content_hash",
    "indexed_at",
    "themes",
    "metadata",
)


def document_json(doc: Any) -> dict[str, Any]:
    data = as_dict(doc)
    return {key: data.get(key) for key in DOC_FIELDS}


def documents_json(
    index: SearchIndex, filters: Any = None, limit: int = 50, offset: int = 0
) -> dict[str, Any]:
    """A page of documents (sorted by title) with the total for paging; `documents --json` and GET /documents."""
    docs = index.documents(filters, limit=limit, offset=offset)
    return {
        "documents": [document_json(d) for d in docs],
        "total": index.count_documents(filters),
        "limit": limit,
        "offset": offset,
    }


def similar_documents_json(
    index: SearchIndex, document_id: str, k: int = 10, *, other_languages: bool = False,
    other_countries: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """Documents most similar to one document, in any language (or only in others, or only of
    other countries), the document itself excluded."""
    items = index.similar_documents(
        document_id, k=k, other_languages=other_languages, other_countries=other_countries
    )
    return {
        "document_id": document_id,
        "other_languages": other_languages,
        "other_countries": other_countries,
        "results": [as_dict(item) for item in items],
    }


def similar_text_json(
    index: SearchIndex, text: str, k: int = 10, exclude_document: str | None = None, passages: bool = False,
    *, other_languages: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """Documents (or passages) most similar to a raw text, in any language (or only in others)."""
    items = index.similar_to_text(
        text, k=k, exclude_document=exclude_document, passages=passages, other_languages=other_languages
    )
    return {"other_languages": other_languages, "results": [as_dict(item) for item in items]}


def stats_json(index: SearchIndex) -> dict[str, Any]:
    """`nordsearch stats --json` and GET /stats: the index's stats plus passages/documents per theme."""
    data = as_dict(index.stats().to_dict())
    if "passages_by_theme" not in data:
        data["passages_by_theme"], data["documents_by_theme"] = index.store.theme_counts()
    return data


def themes_json(lang: str | None = None) -> dict[str, Any]:
    """The taxonomy's themes with labels and definitions in ``lang`` (English when unknown)."""
    from nordsearch.ingest.records import normalize_language
    from nordsearch.ingest.taxonomy import load_taxonomy

    code = normalize_language(lang) or "en"
    tax = load_taxonomy()
    return {
        "language": code,
        "themes": [
            {"id": t, "label": tax.label(t, code), "definition": tax.definition(t, code)} for t in tax.ids
        ],
    }


def document_or_404(index: SearchIndex, document_id: str) -> Any:
    """The document ``document_id`` names (its id or a unique beginning of it), or the HTTP error
    that names the id: 404 for none, 422 for an ambiguous prefix (the API and the web page alike)."""
    from fastapi import HTTPException

    from nordsearch.search.errors import AmbiguousDocumentIdError, UnknownDocumentError

    try:
        doc = index.document(index.resolve_document_id(document_id))
    except UnknownDocumentError as exc:
        raise HTTPException(404, str(exc)) from None
    except AmbiguousDocumentIdError as exc:
        raise HTTPException(422, str(exc)) from None
    if doc is None:  # removed between the two reads
        raise HTTPException(404, f"no document with id {document_id!r}")
    return doc
