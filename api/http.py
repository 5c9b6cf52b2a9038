"""The HTTP service (FastAPI). Errors are RFC 7807 problem+json documents that say what was wrong."""

from __future__ import annotations

import gc
import logging
import os
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from starlette.exceptions import HTTPException as StarletteHTTPException

from nordsearch.api import schemas
from nordsearch.api.auth import KeyRing, require_read, require_read_web
from nordsearch.api.export import ExportFormat
from nordsearch.api.request import SearchParams, SearchQueryParams, split_csv, to_search_request
from nordsearch.api.search_threads import in_search_thread
from nordsearch.api.service import document_json, document_or_404, documents_json, open_index, search_json
from nordsearch.ingest.records import FORMATS
from nordsearch.ingest.settings import Settings

PROBLEM = "application/problem+json"
WEB_PATHS = ("/view/", "/similar/")  # with "/" itself: the web page's routes


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


class IndexHolder:
    """The open index and the lock that keeps its writers apart (reads take none: see api.jobs)."""

    def __init__(self, index_dir: Path, settings: Settings) -> None:
        self.index_dir = index_dir
        self.settings = settings
        self.lock = threading.RLock()
        self.index = None
        self.embedder = None
        self.error: str | None = None

    def load(self) -> None:
        try:
            from nordsearch.api.jobs import PrefetchEmbedder
            from nordsearch.search.embedder import get_embedder

            self.embedder = PrefetchEmbedder(get_embedder(self.settings))
            index = open_index(self.index_dir, self.settings, create=True, embedder=self.embedder)
            try:
                index.warm()  # ready means a search answers at full speed, not after a cold load
            except Exception:  # e.g. no model here: lexical search and listings still work
                logging.getLogger("nordsearch").warning("could not warm the index", exc_info=True)
            self.index = index
        except Exception as exc:  # reported by /ready and every index route, not a crash loop
            self.error = f"{type(exc).__name__}: {exc}"

    def get(self):
        if self.index is None:
            raise HTTPException(503, f"index not loaded: {self.error or 'still starting'}")
        return self.index


def create_app(index_dir: Path | None = None, *, settings: Settings) -> FastAPI:
    """The service over ``index_dir`` (default ``settings.index``). ``settings`` are built once by
    the caller (``nordsearch serve``) and are the only ones the service and its jobs use."""
    holder = IndexHolder(Path(index_dir or settings.index), settings)
    from nordsearch.api.jobs import JobManager
    from nordsearch.api.roots import parse_roots

    jobs = JobManager(holder, settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        holder.load()
        # What start-up loaded (FastAPI, pydantic, the index's tables) lives as long as the process:
        # out of the collector's reach, a full collection no longer walks it in the middle of a
        # search (measured at 100k passages: pauses of up to 50 ms, a few per 300 searches).
        gc.freeze()
        if holder.index is not None:
            jobs.start()  # jobs queued before a restart (or by another server process) run now
        yield
        jobs.stop()
        if holder.index is not None:
            with holder.lock:
                holder.index.close()

    app = FastAPI(
        title="nordsearch",
        version="0.1.0",
        description=(
            "Multilingual search over Nordic urban-planning documents (fi, sv, nb, da, en).\n\n"
            "**Keys.** Writes (uploads, deletes, jobs) need a key from `NORDSEARCH_API_KEYS` when keys are "
            "configured; reads need one when `NORDSEARCH_READ_KEYS` is set. Send it as `X-API-Key: KEY` or "
            "`Authorization: Bearer KEY`. No key: 401; a wrong or read-only key: 403.\n\n"
            "**Errors** are RFC 7807 `application/problem+json` documents whose `detail` names what was wrong.\n\n"
            "**Indexing.** `POST /documents` uploads files (small uploads answer when indexed, larger ones "
            "become a job: 202 + `Location: /jobs/{id}`); `POST /jobs` indexes folders inside "
            "`NORDSEARCH_INDEX_ROOTS`. Searches go on meanwhile and see whole documents only."
        ),
        lifespan=lifespan,
        docs_url=None,  # offline pages instead of the CDN ones: api/docs_pages.py
        redoc_url=None,
    )
    app.state.holder = holder
    app.state.jobs = jobs
    app.state.keyring = KeyRing.from_settings(settings)
    read = [Depends(require_read)]

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        from nordsearch.api.web_auth import key_page
        from nordsearch.api.web_errors import error_page, wants_html

        if wants_html(request):  # a browser: a page, never raw JSON
            web = request.url.path == "/" or request.url.path.startswith(WEB_PATHS)
            if web and exc.status_code in (401, 403):
                return key_page(request, exc.status_code, str(exc.detail))
            if web:
                return error_page(request, exc.status_code, str(exc.detail))
            if exc.status_code == 404 and exc.detail == "Not Found":  # no such route
                return error_page(request, 404, f"no page at {request.url.path}")
        titles = {
            400: "Bad Request",
            401: "Unauthorized",
            403: "Forbidden",
            404: "Not Found",
            405: "Method Not Allowed",
            409: "Conflict",
            413: "Content Too Large",
            415: "Unsupported Media Type",
            422: "Unprocessable Content",
            503: "Service Unavailable",
        }
        response = problem(exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail))
        for name, value in (getattr(exc, "headers", None) or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": ".".join(str(p) for p in e.get("loc", ()) if p not in ("query", "body")),
                "message": e["msg"]
                + (
                    f" (got {e['input']!r})"
                    if isinstance(e.get("input"), str | int | float) and len(str(e["input"])) <= 80
                    else ""
                ),
            }
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem(422, "Invalid request", detail, errors=errors)

    @app.get("/health", tags=["service"], summary="Liveness", response_model=schemas.Health)
    def health() -> dict[str, Any]:
        return {"status": "ok", "process": os.getpid()}

    @app.get(
        "/ready",
        tags=["service"],
        summary="Readiness: the index is loaded",
        response_model=schemas.Ready,
        responses=schemas.problems(503),
    )
    def ready() -> JSONResponse:
        if holder.index is None:
            return problem(503, "Service Unavailable", f"index not loaded: {holder.error or 'starting'}")
        return JSONResponse({"status": "ready", "index": str(holder.index_dir)})

    def run_search(params: SearchParams) -> JSONResponse:
        idx = holder.get()
        try:
            body = search_json(idx, to_search_request(params))
        except ValueError as exc:  # what only the search core judges, e.g. a query of spaces: name it
            raise HTTPException(422, str(exc)) from None
        # encoded here, in the search's thread: returning the dict would have FastAPI validate it
        # against response_model and encode it in the event loop, ~2 ms a search that every other
        # request waited behind (the shape is the schema's: tests/api check it)
        return JSONResponse(body)

    @app.get(
        "/search",
        tags=["search"],
        summary="Search passages with a question in any language",
        dependencies=read,
        response_model=schemas.SearchResult,
        responses=schemas.problems(401, 403, 422, 503),
    )
    async def search(params: Annotated[SearchQueryParams, Query()]) -> Response:
        return await in_search_thread(app, run_search, params)

    @app.post(
        "/search",
        tags=["search"],
        dependencies=read,
        response_model=schemas.SearchResult,
        responses=schemas.problems(401, 403, 422, 503),
        summary="Search with a JSON body (the parameters of GET /search)",
    )
    async def search_post(body: SearchParams) -> Response:
        return await in_search_thread(app, run_search, body)

    @app.get(
        "/search/export",
        tags=["search"],
        summary="Search results as citation rows: CSV or JSON Lines (the parameters of GET /search)",
        description=(
            "One row per hit: rank, title, city, country, year, publisher, language, page, page_end, "
            "section, text, score, document_id, passage_id, source, url (the document's own address, "
            "from its sidecar) and link (the passage in this server's document view)."
        ),
        dependencies=read,
        responses={
            200: {"content": {"text/csv": {}, "application/x-ndjson": {}}},
            **schemas.problems(401, 403, 422, 503),
        },
    )
    async def search_export(
        request: Request,
        params: Annotated[SearchQueryParams, Query()],
        format: Annotated[ExportFormat, Query(description="csv or jsonl")] = "csv",
    ) -> Response:
        base = str(request.base_url)
        return await in_search_thread(app, run_export, params, format, base)

    def run_export(params: SearchParams, fmt: str, base: str) -> Response:
        from nordsearch.api.export import MEDIA_TYPES, citation_rows, render

        idx = holder.get()
        try:
            data = search_json(idx, to_search_request(params))
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        body = "".join(render(citation_rows(idx, data, base), fmt))  # type: ignore[arg-type]
        disposition = f'attachment; filename="nordsearch-results.{fmt}"'
        return Response(body, media_type=MEDIA_TYPES[fmt], headers={"Content-Disposition": disposition})

    @app.get(
        "/documents",
        tags=["documents"],
        summary="The indexed documents, paged and filterable",
        dependencies=read,
        response_model=schemas.DocumentList,
        responses=schemas.problems(401, 403, 422, 503),
    )
    def documents(
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
        lang: Annotated[
            list[schemas.Lang] | None,
            Query(description=f"Document languages ({schemas.LANGUAGE_LIST}), e.g. fi,sv"),
        ] = None,
        format: Annotated[list[str] | None, Query(description=", ".join(FORMATS))] = None,
        theme: Annotated[list[str] | None, Query(description="Theme ids")] = None,
        city: Annotated[list[str] | None, Query(description="Metadata city")] = None,
        country: Annotated[list[str] | None, Query(description="Metadata country")] = None,
        year_from: Annotated[int | None, Query(ge=0, le=9999)] = None,
        year_to: Annotated[int | None, Query(ge=0, le=9999)] = None,
    ) -> dict[str, Any]:
        from nordsearch.search.filters import DocumentFilter

        try:
            filters = DocumentFilter(
                languages=split_csv(lang) or [],
                formats=split_csv(format) or [],
                themes=split_csv(theme) or [],
                cities=split_csv(city) or [],
                countries=split_csv(country) or [],
                year_from=year_from,
                year_to=year_to,
            )
        except ValueError as exc:
            raise HTTPException(422, f"lang: {exc}") from None
        return documents_json(holder.get(), filters=filters, limit=limit, offset=offset)

    @app.get(
        "/documents/{document_id}",
        tags=["documents"],
        summary="One document with its passages",
        dependencies=read,
        response_model=schemas.DocumentDetail,
        responses=schemas.problems(401, 403, 404, 422, 503),
    )
    def document(document_id: str) -> dict[str, Any]:
        idx = holder.get()
        doc = document_or_404(idx, document_id)
        data = document_json(doc)
        data["passages"] = [
            {
                key: p.get(key)
                for key in (
                    "passage_id",
                    "ordinal",
                    "language",
                    "page_start",
                    "page_end",
                    "section",
                    "char_start",
                    "char_end",
                    "themes",
                    "text",
                )
            }
            for p in (_as_plain(x) for x in idx.passages(doc.document_id))
        ]
        return data

    @app.get(
        "/documents/{document_id}/similar",
        tags=["similar"],
        dependencies=read,
        responses=schemas.problems(401, 403, 404, 422, 503),
        summary="Documents most similar to one document, in any language (itself excluded)",
        description=(
            "`score` is the share (0-1) of document pairs in the same two languages that match less well "
            "(0.95: closer than 95 % of, say, Finnish-Swedish pairs), so scores compare across languages; "
            "`similarity` is the mean best-match cosine of the two documents' passages behind it."
        ),
    )
    def similar_documents(
        document_id: str,
        k: Annotated[int, Query(ge=1, le=200)] = 10,
        other_languages: Annotated[
            bool, Query(description="Only documents in another language than this one's: peers abroad.")
        ] = False,
        other_countries: Annotated[
            bool, Query(description="Only documents of another country than this one's (its metadata).")
        ] = False,
    ) -> dict[str, Any]:
        from nordsearch.api.service import similar_documents_json

        idx = holder.get()
        doc = document_or_404(idx, document_id)
        try:
            return similar_documents_json(
                idx, doc.document_id, k=k, other_languages=other_languages, other_countries=other_countries
            )
        except ValueError as exc:  # no country to compare with
            raise HTTPException(422, str(exc)) from None

    @app.post(
        "/similar",
        tags=["similar"],
        summary="Documents or passages most similar to a text",
        dependencies=read,
        responses=schemas.problems(401, 403, 404, 422, 503),
    )
    def similar_text(body: SimilarBody) -> dict[str, Any]:
        from nordsearch.api.service import similar_text_json

        idx = holder.get()
        exclude = document_or_404(idx, body.exclude_document).document_id if body.exclude_document else None
        return similar_text_json(
            idx, body.text, k=body.k, exclude_document=exclude, passages=body.passages,
            other_languages=body.other_languages,
        )  # fmt: skip

    from fastapi.staticfiles import StaticFiles

    from nordsearch.api.routes import BodyLimit, extra_routes
    from nordsearch.api.web import web_router

    app.include_router(extra_routes(holder, jobs, settings, parse_roots(settings.index_roots)))
    app.add_middleware(BodyLimit, max_bytes=settings.upload_max_bytes)
    app.include_router(web_router(holder), dependencies=[Depends(require_read_web)])
    from nordsearch.api.file_route import file_router

    app.include_router(file_router(holder), dependencies=[Depends(require_read_web)])  # a link: cookie too
    from nordsearch.api.web_upload import upload_router

    app.include_router(upload_router(), dependencies=[Depends(require_read_web)])
    from nordsearch.api.web_auth import key_router

    app.include_router(key_router())
    from nordsearch.api.auth import document_security
    from nordsearch.api.routes import WRITE_OPERATIONS

    document_security(app, WRITE_OPERATIONS)
    from nordsearch.api.docs_pages import add_docs_pages

    add_docs_pages(app)  # before /static, which would otherwise take its paths
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    return app


class SimilarBody(BaseModel):
    """POST /similar: a raw text (a case description, a paragraph of a plan) in any language."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=200_000)
    k: schemas.Int = Field(default=10, ge=1, le=200)  # not true/false (found by schemathesis)
    passages: StrictBool = Field(default=False, description="Return passages instead of documents.")
    exclude_document: str | None = Field(default=None, description="A document id to leave out.")
    other_languages: StrictBool = Field(
        default=False, description="Only results in another language than the text's: peers abroad."
    )


def _as_plain(obj: Any) -> dict[str, Any]:
    from nordsearch.api.service import as_dict

    return as_dict(obj)
