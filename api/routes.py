"""Routes added to the service by ``create_app``: /themes, /stats, uploads, deletes and jobs, plus
the upload-size guard. Reads need ``require_read``, writes ``require_write`` (api.auth)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import JSONResponse

from nordsearch.api import schemas
from nordsearch.api.auth import require_read, require_write
from nordsearch.api.jobs import JobManager
from nordsearch.api.roots import check_tree, resolve_in_roots
from nordsearch.api.service import document_or_404
from nordsearch.ingest.sidecar import SIDECAR_KEYS

SYNC_MAX_FILES = 5  # POST /documents answers with the result itself up to this many files ...
SYNC_MAX_BYTES = 5 * 1024 * 1024  # ... and bytes; bigger uploads become a job (202)
SYNC_WAIT_SECONDS = 120.0  # a small upload still running after this becomes a job too
CHUNK = 1024 * 1024
UPLOADS = "uploads"
WRITE_OPERATIONS = {
    ("POST", "/documents"),
    ("DELETE", "/documents/{document_id}"),
    ("POST", "/jobs"),
    ("GET", "/jobs"),
    ("GET", "/jobs/{job_id}"),
}  # the routes below that take require_write


def _problem_json(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


class BodyLimit:
    """ASGI middleware: a write request's body may not exceed ``max_bytes`` (413 before the body is
    parsed when Content-Length says so; counted while streaming otherwise)."""

    def __init__(self, app: Any, max_bytes: int, paths: tuple[str, ...] = ("/documents", "/jobs")) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.paths = paths

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes + 64 * 1024  # room for the multipart framing and form fields
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await self._too_large(send, int(length))
            return
        seen = 0

        async def counting_receive() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:  # an HTTPException passes through FastAPI's body parsing as itself
                    raise HTTPException(413, self._detail(seen))
            return message

        await self.app(scope, counting_receive, send)

    def _detail(self, size: int) -> str:
        return (
            f"the upload is over {size} bytes; the limit is {self.max_bytes} bytes "
            "(NORDSEARCH_UPLOAD_MAX_BYTES)"
        )

    async def _too_large(self, send: Any, size: int) -> None:
        response = _problem_json(413, "Content Too Large", self._detail(size))
        await response({"type": "http"}, None, send)


def _safe_name(name: str) -> str:
    """A file name without any folder part or odd characters (uploads never choose where they land)."""
    base = re.split(r"[\\/]", name or "")[-1].strip().lstrip(".")
    base = re.sub(r"[^\w.\- ]+", "_", base, flags=re.UNICODE)[:150]
    return base or "upload"


def extra_routes(holder: Any, jobs: JobManager, settings: Any, roots: list[Path]) -> APIRouter:
    read = [Depends(require_read)]
    write = [Depends(require_write)]

    def writable() -> None:
        if jobs.store.read_only:
            raise HTTPException(
                409,
                f"the index at {holder.index_dir} is on a read-only disk: it can be searched, not changed",
            )

    change = [*write, Depends(writable)]  # what writes to the index: refused on a read-only disk
    router = APIRouter()
    uploads_dir = Path(holder.index_dir) / UPLOADS

    @router.get(
        "/themes",
        tags=["themes"],
        dependencies=read,
        response_model=schemas.Themes,
        responses=schemas.problems(401, 403, 422),
        summary="The theme taxonomy with labels",
    )
    def themes(
        lang: Annotated[
            schemas.UiLang,
            Query(description=f"Label language: {schemas.LANGUAGE_LIST}.", examples=["fi"]),
        ] = "en",
    ) -> dict[str, Any]:
        from nordsearch.api.service import themes_json

        return themes_json(lang)

    @router.get(
        "/stats",
        tags=["service"],
        dependencies=read,
        response_model=schemas.Stats,
        responses=schemas.problems(401, 403, 503),
        summary="Documents, passages per language and theme, index size, model",
    )
    def stats() -> dict[str, Any]:
        from nordsearch.api.service import stats_json

        return stats_json(holder.get())

    @router.delete(
        "/documents/{document_id}",
        tags=["documents"],
        dependencies=change,
        response_model=schemas.Removed,
        responses=schemas.problems(401, 403, 404, 409, 422, 503),
        summary="Remove a document (and its uploaded file, if it was uploaded)",
    )
    def delete_document(document_id: str) -> dict[str, Any]:
        from nordsearch.search.errors import IndexLockedError

        with holder.lock:
            idx = holder.get()
            doc = document_or_404(idx, document_id)
            try:
                idx.remove(doc.document_id)
                if not jobs.busy:  # a running job's final save persists this removal
                    idx.save()
            except IndexLockedError as exc:
                raise HTTPException(409, str(exc)) from None
        _forget_upload(Path(doc.source), uploads_dir)
        return {"document_id": doc.document_id, "removed": True}

    @router.post(
        "/documents",
        tags=["documents"],
        dependencies=change,
        status_code=201,
        response_model=schemas.JobOut,
        responses={
            202: {"model": schemas.JobOut, "description": "Accepted as a job: follow GET /jobs/{id}"},
            **schemas.problems(400, 401, 403, 409, 413, 415, 422, 503),
        },
        summary="Upload and index files (PDF, HTML, DOCX, TXT, Markdown)",
        description=(
            "Multipart upload: one or more files in the form field `files`, optional `metadata` (a JSON "
            f"object applied to every file: {', '.join(SIDECAR_KEYS)}). Small "
            f"uploads (up to {SYNC_MAX_FILES} files and {SYNC_MAX_BYTES // (1024 * 1024)} MB) are indexed "
            "before the answer (201, the finished job); larger ones, or `background=true`, become a job "
            "(202 with Location: /jobs/{id}). Every file's outcome is in the job's `result.files`."
        ),
    )
    async def upload(
        request: Request,
        files: Annotated[list[UploadFile], File(description="The documents.", min_length=1)],
        metadata: Annotated[
            str | None, Form(description='JSON object, e.g. {"city": "Oulu", "year": 2023}')
        ] = None,
        background: Annotated[bool, Query(description="Always answer 202 with a job.")] = False,
    ) -> JSONResponse:
        from nordsearch.ingest.extract import supported_suffixes

        holder.get()
        if not files:
            raise HTTPException(422, "files: give at least one file")
        if len(files) > settings.upload_max_files:
            raise HTTPException(
                413,
                f"{len(files)} files in one upload; the limit is {settings.upload_max_files} "
                "(NORDSEARCH_UPLOAD_MAX_FILES)",
            )
        meta = _parse_metadata(metadata)
        suffixes = set(supported_suffixes())
        bad = [
            f.filename or "(no name)"
            for f in files
            if Path(_safe_name(f.filename or "")).suffix.lower() not in suffixes
        ]
        if bad:
            raise HTTPException(
                415,
                f"unsupported file type: {', '.join(bad[:10])} (supported: {', '.join(sorted(suffixes))})",
            )
        saved, names, total = await _save_uploads(files, uploads_dir, settings.upload_max_bytes, meta)
        job = jobs.submit("upload", saved, force=bool(meta), names=names)
        small = len(saved) <= SYNC_MAX_FILES and total <= SYNC_MAX_BYTES
        if not background and small:
            import anyio

            job = await anyio.to_thread.run_sync(jobs.wait, job.id, SYNC_WAIT_SECONDS) or job
        data = job.to_dict()
        if job.finished and not background:
            if job.status == "failed":
                return _problem_json(503, "Service Unavailable", f"indexing failed: {job.error}", job=data)
            if data["progress"]["failed"] and not (
                data["progress"]["indexed"] or data["progress"]["unchanged"]
            ):
                reasons = "; ".join(f"{e['filename']}: {e['reason']}" for e in data["errors"][:10])
                return _problem_json(
                    422, "Unprocessable Content", f"no file could be indexed: {reasons}", job=data
                )
            return JSONResponse(data, status_code=201)
        return JSONResponse(data, status_code=202, headers={"Location": f"/jobs/{job.id}"})

    @router.post(
        "/jobs",
        tags=["jobs"],
        dependencies=change,
        status_code=202,
        response_model=schemas.JobOut,
        responses=schemas.problems(400, 401, 403, 404, 409, 413, 422, 503),
        summary="Index files and folders on the server (inside NORDSEARCH_INDEX_ROOTS) as a job",
    )
    def create_job(body: schemas.JobRequest) -> JSONResponse:
        holder.get()
        paths = []
        for given in body.paths:
            path = resolve_in_roots(given, roots)
            check_tree(path, roots)
            paths.append(path)
        job = jobs.submit("paths", paths, force=body.force)
        return JSONResponse(job.to_dict(), status_code=202, headers={"Location": f"/jobs/{job.id}"})

    @router.get(
        "/jobs",
        tags=["jobs"],
        dependencies=write,
        response_model=schemas.JobList,
        responses=schemas.problems(401, 403),
        summary="Recent jobs, newest first",
    )
    def list_jobs() -> dict[str, Any]:
        return {"jobs": [j.to_dict() for j in jobs.list()]}

    @router.get(
        "/jobs/{job_id}",
        tags=["jobs"],
        dependencies=write,
        response_model=schemas.JobOut,
        responses=schemas.problems(401, 403, 404),
        summary="A job's progress, per-file errors and result",
    )
    def get_job(job_id: str) -> dict[str, Any]:
        job = jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job with id {job_id!r}")
        return job.to_dict()

    return router


def _parse_metadata(metadata: str | None) -> dict[str, Any]:
    if not metadata or not metadata.strip():
        return {}
    try:
        data = json.loads(metadata)
    except json.JSONDecodeError as exc:
        raise HTTPException(422, f"metadata: not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise HTTPException(422, "metadata: must be a JSON object")
    unknown = sorted(set(data) - set(SIDECAR_KEYS))
    if unknown:
        raise HTTPException(
            422, f"metadata: unknown fields {', '.join(unknown)} (allowed: {', '.join(SIDECAR_KEYS)})"
        )
    return data


async def _save_uploads(
    files: list[UploadFile], uploads_dir: Path, max_bytes: int, meta: dict[str, Any]
) -> tuple[list[Path], dict[str, str], int]:
    """Save each upload as uploads/<sha256[:16]>/<name> (the same file uploaded again lands on the
    same path, so it is recognised as unchanged), with a sidecar for the metadata."""
    incoming = uploads_dir / ".incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    names: dict[str, str] = {}
    total = 0
    temps: list[Path] = []
    try:
        for upload in files:
            name = _safe_name(upload.filename or "")
            digest = hashlib.sha256()
            temp = incoming / f"{len(temps)}-{id(upload)}-{name}"
            temps.append(temp)
            size = 0
            with temp.open("wb") as out:
                while chunk := await upload.read(CHUNK):
                    size += len(chunk)
                    total += len(chunk)
                    if total > max_bytes:
                        raise HTTPException(
                            413, f"the upload exceeds {max_bytes} bytes (NORDSEARCH_UPLOAD_MAX_BYTES)"
                        )
                    digest.update(chunk)
                    out.write(chunk)
            if size == 0:
                raise HTTPException(422, f"files: {upload.filename!r} is empty")
            folder = uploads_dir / digest.hexdigest()[:16]
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / name
            temp.replace(target)
            _drop_twins(folder, keep=target)
            sidecar = target.with_name(target.name + ".json")
            if meta:
                sidecar.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
            else:
                with contextlib.suppress(FileNotFoundError):
                    sidecar.unlink()
            saved.append(target)
            names[str(target.resolve())] = upload.filename or name
    finally:
        for temp in temps:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
    return saved, names, total


def _drop_twins(folder: Path, keep: Path) -> None:
    """The same bytes uploaded under another name: the index keeps one document for them (its id is
    the content hash), now with the new name, so the older copy would be an orphan."""
    sidecar = keep.with_name(keep.name + ".json")
    for path in folder.iterdir():
        if path not in (keep, sidecar) and path.is_file():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def _forget_upload(source: Path, uploads_dir: Path) -> None:
    """Delete an uploaded file (and its sidecar) once its document is removed; other files stay."""
    try:
        folder = source.parent
        if not folder.resolve().is_relative_to(uploads_dir.resolve()):
            return
        for path in (source, source.with_name(source.name + ".json")):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        if folder != uploads_dir and not any(folder.iterdir()):
            shutil.rmtree(folder, ignore_errors=True)
    except OSError:
        pass
