"""Pages rendered outside the web router: an error as a page (404, 422, 503, …) and the key form,
for a browser that asked for HTML; API clients keep their problem+json."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse

from nordsearch.api.i18n import LABELS, LANGUAGE_NAMES, UI_LANGUAGES, pick_ui_language

TEMPLATES = Path(__file__).parent / "templates"


@lru_cache(maxsize=1)
def templates():
    """The page templates (Jinja2, autoescaped), for the web router and the pages made here."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


def request_ui_language(request: Request) -> str:
    """The UI language of a page request: ?ui=, then the cookie the page sets, then the browser's."""
    return pick_ui_language(
        request.query_params.get("ui") or request.cookies.get("nordsearch_ui"),
        request.headers.get("accept-language"),
    )


def wants_html(request: Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("accept", "")


def standalone_page(
    request: Request, template: str, status_code: int, headers: dict[str, str] | None = None, **extra: Any
) -> HTMLResponse:
    """``template`` with what base.html needs (UI language from ?ui=, the cookie or the browser)."""
    ui = request_ui_language(request)

    def switch_url(code: str) -> str:
        return f"{request.url.path}?{urlencode({**dict(request.query_params), 'ui': code})}"

    html = (
        templates()
        .get_template(template)
        .render(
            ui=ui,
            t=LABELS[ui],
            ui_languages=UI_LANGUAGES,
            switch_url=switch_url,
            language_names=LANGUAGE_NAMES[ui],
            **extra,
        )  # fmt: skip
    )
    return HTMLResponse(html, status_code=status_code, headers=headers)


def error_page(request: Request, status: int, detail: str) -> HTMLResponse:
    """The error a browser gets instead of raw JSON: what happened in its language, the reason, and
    the way back to the search."""
    return standalone_page(request, "error.html", status, status=status, detail=detail)
