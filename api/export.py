"""Search results as citation rows (CSV or JSON Lines) for `nordsearch search --export` and
`GET /search/export`: one row per hit with what a planner pastes into a report (title, city,
country, year, publisher, page, section, language) and a stable link to the passage."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    from nordsearch.search.index import SearchIndex

ExportFormat = Literal["csv", "jsonl"]
EXPORT_FORMATS: tuple[str, ...] = get_args(ExportFormat)
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
# The columns, in order. "url" is the document's own address from its sidecar (where it was
# published), "link" the passage in this service's document view (given a base URL).
FIELDS = (
    "rank", "title", "city", "country", "year", "publisher", "language", "page", "page_end", "section",
    "text", "score", "document_id", "passage_id", "source", "url", "link",
)  # fmt: skip


def citation_rows(
    index: SearchIndex, data: dict[str, Any], base_url: str | None = None
) -> list[dict[str, Any]]:
    """One row per hit of a search_json answer (group=document: per document's best passage),
    its document's metadata read once per document."""
    docs: dict[str, dict[str, Any]] = {}
    rows = []
    for rank, hit in enumerate(data["results"], start=data.get("offset", 0) + 1):
        doc_id = hit["document_id"]
        if doc_id not in docs:
            doc = index.document(doc_id)
            docs[doc_id] = dict(doc.metadata or {}) if doc is not None else {}
        meta = docs[doc_id]
        link = f"{base_url.rstrip('/')}/view/{doc_id}#{hit['passage_id']}" if base_url else None
        rows.append(
            {
                "rank": rank, "title": hit["title"], "city": meta.get("city"), "country": meta.get("country"),
                "year": meta.get("year"), "publisher": meta.get("publisher"), "language": hit["language"],
                "page": hit.get("page"), "page_end": hit.get("page_end"), "section": hit.get("section") or None,
                "text": " ".join((hit.get("text") or "").split()), "score": hit["score"], "document_id": doc_id,
                "passage_id": hit["passage_id"], "source": hit["source"], "url": meta.get("url"), "link": link,
            }
        )  # fmt: skip
    return rows


def render(rows: list[dict[str, Any]], fmt: ExportFormat) -> Iterator[str]:
    """The rows as CSV (a header, then one line per row; empty for a missing value) or JSON Lines."""
    if fmt == "jsonl":
        for row in rows:
            yield json.dumps(row, ensure_ascii=False) + "\n"
        return
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\r\n")  # RFC 4180
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    yield buffer.getvalue()
