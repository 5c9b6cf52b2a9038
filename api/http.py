"""The HTTP service (FastAPI). Errors are RFC 7807 problem+json documents that say what was wrong."""

from __future__ import annotations

import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.service import document_json, documents_json, open_index, search_json, split_csv
from ingest.settings import Settings, get_settings

PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


class IndexHolder:
    """The open index and the lock that serialises access to it."""

    def __init__(self, index_dir: Path, settings: Settings) -> None:
        self.index_dir = index_dir
        self.settings = settings
        self.lock = threading.RLock()
        self.index = None
        self.error: str | None = None

    def load(self) -> None:
        try:
            self.index = open_index(self.index_dir, self.settings, create=True)
        except Exception as exc:  # reported by /ready and every index route, not a crash loop
            self.error = f"{type(exc).__name__}: {exc}"

    def get(self):
        if self.index is None:
            raise HTTPException(503, f"index not loaded: {self.error or 'still starting'}")
        return self.index


def create_app(index_dir: Path | None = None, settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    holder = IndexHolder(Path(index_dir or settings.index), settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        holder.load()
        yield
        if holder.index is not None:
            holder.index.close()

    app = FastAPI(
        title="nordsearch",
        version="0.1.0",
        description="Multilingual search over Nordic urban-planning documents (fi, sv, nb, da, en).",
        lifespan=lifespan,
    )
    app.state.holder = holder

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                  405: "Method Not Allowed", 413: "Content Too Large", 415: "Unsupported Media Type",
                  503: "Service Unavailable"}
        return problem(exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(p) for p in e.get("loc", ()) if p not in ("query", "body")), "message": e["msg"]}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem(422, "Invalid request", detail, errors=errors)

    @app.get("/health", tags=["service"], summary="Liveness")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", tags=["service"], summary="Readiness: the index is loaded")
    def ready() -> JSONResponse:
        if holder.index is None:
            return problem(503, "Service Unavailable", f"index not loaded: {holder.error or 'starting'}")
        return JSONResponse({"status": "ready", "index": str(holder.index_dir)})

    @app.get("/search", tags=["search"], summary="Search passages with a question in any language")
    def search(
        q: Annotated[str, Query(min_length=1, max_length=2000, description="Question or keywords.")],
        k: Annotated[int, Query(ge=1, le=200)] = 10,
        offset: Annotated[int, Query(ge=0, le=10000)] = 0,
        mode: Annotated[str, Query(pattern="^(hybrid|dense|lexical)$")] = "hybrid",
        lang: Annotated[list[str] | None, Query(description="Languages, e.g. fi,sv")] = None,
        theme: Annotated[list[str] | None, Query(description="Theme ids")] = None,
    ) -> dict[str, Any]:
        with holder.lock:
            return search_json(holder.get(), q, k=k, offset=offset, mode=mode, languages=split_csv(lang),
                               themes=split_csv(theme))

    @app.get("/documents", tags=["documents"], summary="The indexed documents")
    def documents() -> dict[str, Any]:
        with holder.lock:
            return documents_json(holder.get())

    @app.get("/documents/{document_id}", tags=["documents"], summary="One document with its passages")
    def document(document_id: str) -> dict[str, Any]:
        with holder.lock:
            idx = holder.get()
            doc = idx.document(document_id)
            if doc is None:
                raise HTTPException(404, f"no document with id {document_id!r}")
            data = document_json(doc)
            data["passages"] = [
                {key: p.get(key) for key in ("passage_id", "ordinal", "language", "page_start", "page_end",
                                              "section", "char_start", "char_end", "themes", "text")}
                for p in (_as_plain(x) for x in idx.passages(document_id))
            ]
            return data

    from fastapi.staticfiles import StaticFiles

    from api.web import web_router

    app.include_router(web_router(holder))
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    return app


def _as_plain(obj: Any) -> dict[str, Any]:
    from api.service import as_dict

    return as_dict(obj)
