"""GET /documents/{id}/file: the original file a document was indexed from, so a hit can link to
it (a PDF opens at the hit's page: ``…/file#page=N``)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from nordsearch.api import schemas

# Shown in the browser: PDFs (their viewer runs no document scripts) and plain text. HTML, DOCX
# and Markdown are downloads: an indexed HTML page opened on this origin could run its scripts here.
INLINE = {".pdf": "application/pdf", ".txt": "text/plain; charset=utf-8"}


def file_router(holder) -> APIRouter:
    router = APIRouter()

    @router.get(
        "/documents/{document_id}/file",
        tags=["documents"],
        summary="The document's original file (a PDF opens in the browser: append #page=N)",
        responses={200: {"content": {"application/pdf": {}, "application/octet-stream": {}}},
                   **schemas.problems(401, 403, 404, 422, 503)},
        response_class=FileResponse,
    )  # fmt: skip
    def document_file(document_id: str) -> FileResponse:
        from nordsearch.api.service import document_or_404

        doc = document_or_404(holder.get(), document_id)
        path = Path(doc.source)
        if not path.is_file():
            raise HTTPException(
                404, f"the file {doc.document_id[:12]} was indexed from is no longer at {doc.source}"
            )
        inline = INLINE.get(path.suffix.lower())
        return FileResponse(
            path, media_type=inline or "application/octet-stream", filename=path.name,
            content_disposition_type="inline" if inline else "attachment",
            headers={"X-Content-Type-Options": "nosniff"},
        )  # fmt: skip

    return router
