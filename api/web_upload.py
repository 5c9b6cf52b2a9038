"""The upload page: files (and the city, country and year they share) sent to POST /documents as a
background job, whose progress the page follows through GET /jobs/{id} (api/static/upload.js).

The page is a form and a script and holds no state: the write key, when the server needs one, is
typed into the page and sent as X-API-Key by the script, never stored."""

from __future__ import annotations

from functools import lru_cache

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from nordsearch.api.web_errors import TEMPLATES, request_ui_language, standalone_page


@lru_cache(maxsize=1)
def upload_labels() -> dict[str, dict[str, str]]:
    """The upload page's labels per UI language (templates/upload_labels.yaml)."""
    import yaml

    return yaml.safe_load((TEMPLATES / "upload_labels.yaml").read_text(encoding="utf-8"))


def upload_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/upload", response_class=HTMLResponse)
    def upload_page(request: Request) -> HTMLResponse:
        from nordsearch.ingest.extract import supported_suffixes

        ring = request.app.state.keyring
        return standalone_page(
            request, "upload.html", 200, u=upload_labels()[request_ui_language(request)],
            needs_key=bool(ring.write), disabled=bool(ring.read) and not ring.write,
            accept=",".join(supported_suffixes()),
        )  # fmt: skip

    return router
