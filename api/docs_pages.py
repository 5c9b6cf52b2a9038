"""/docs and /redoc that work offline: FastAPI's defaults load Swagger UI and ReDoc from a CDN,
which users' servers (and this project's machines) cannot reach, so the pages stayed blank.

The assets come from the ``fastapi-offline`` package (MIT), which ships them as files; only the
files are used, the pages are FastAPI's own HTML pointed at them.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/static/api-docs"


def assets_dir() -> Path:
    """The folder holding swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js, favicon.png."""
    return Path(str(files("fastapi_offline") / "static"))


# ReDoc's sidebar shows a logo it fetches from its CDN, whatever the options: pointed at a file of
# ours, the page makes no request off this server (a real Chromium test refuses every other).
_REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@lru_cache(maxsize=1)
def _redoc_script() -> bytes:
    script = (assets_dir() / "redoc.standalone.js").read_text(encoding="utf-8")
    return script.replace(_REDOC_LOGO, f"{ASSETS_URL}/favicon.png").encode("utf-8")


def add_docs_pages(app: FastAPI) -> None:
    """Serve the assets under ASSETS_URL and the two pages; the app must be built with
    ``docs_url=None, redoc_url=None`` (FastAPI would otherwise register its CDN pages first)."""
    title = f"{app.title} API"

    @app.get(f"{ASSETS_URL}/redoc.standalone.js", include_in_schema=False)
    def redoc_script() -> Response:
        return Response(_redoc_script(), media_type="text/javascript; charset=utf-8")

    app.mount(ASSETS_URL, StaticFiles(directory=assets_dir()), name="api-docs-assets")
    redirect = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}", title=title, oauth2_redirect_url=f"{root}{redirect}",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
        )  # fmt: skip

    @app.get(redirect, include_in_schema=False)
    def swagger_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}", title=title, redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png", with_google_fonts=False,
        )  # fmt: skip
