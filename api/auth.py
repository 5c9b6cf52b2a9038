"""API keys: who may read and who may write.

* ``NORDSEARCH_API_KEYS`` (comma-separated) are write keys; a write key may also read.
* ``NORDSEARCH_READ_KEYS`` (comma-separated) are read-only keys.
* Reads need a key when read keys are configured, or when write keys are configured and
  ``NORDSEARCH_OPEN_READS`` is false; otherwise reads are open.
* Writes need a write key when write keys are configured. With read keys but no write keys,
  writes are disabled (403). With no keys at all the service is open (a local, single-user setup).

A key is sent as ``X-API-Key: KEY`` or ``Authorization: Bearer KEY`` (the web page may also use
the ``nordsearch_key`` cookie). Keys are kept only as SHA-256 digests, computed at start-up, and a
presented key is compared with every stored digest with ``hmac.compare_digest`` (no early exit),
so neither the keys nor their prefixes leak through timing. No key -> 401, a wrong key or a
read-only key for a write -> 403; both are problem+json documents naming what was wrong.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPBearer

from nordsearch.ingest.settings import Settings

KEY_COOKIE = "nordsearch_key"
Access = Literal["read", "write"]

# Declared for the OpenAPI schema (the "Authorize" button of /docs); checked by KeyRing.
api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="A write key (NORDSEARCH_API_KEYS) or a read-only key."
)
bearer = HTTPBearer(auto_error=False, description="The same key as `Authorization: Bearer KEY`.")


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def _split(value: str) -> list[str]:
    return [k.strip() for k in (value or "").split(",") if k.strip()]


@dataclass(frozen=True, slots=True)
class KeyRing:
    write: tuple[bytes, ...]
    read: tuple[bytes, ...]
    open_reads: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        return cls(
            tuple(_digest(k) for k in _split(settings.api_keys)),
            tuple(_digest(k) for k in _split(settings.read_keys)),
            settings.open_reads,
        )

    @property
    def reads_need_key(self) -> bool:
        return bool(self.read) or (bool(self.write) and not self.open_reads)

    @property
    def writes_need_key(self) -> bool:
        return bool(self.write) or bool(self.read)

    def classify(self, key: str) -> Access | None:
        """ "write", "read" or None (unknown key); constant time in the key's content."""
        digest = _digest(key)
        is_write = False
        is_read = False
        for stored in self.write:
            is_write |= hmac.compare_digest(digest, stored)
        for stored in self.read:
            is_read |= hmac.compare_digest(digest, stored)
        return "write" if is_write else "read" if is_read else None

    def check(self, key: str | None, need: Access) -> None:
        """Raise 401/403 unless ``key`` grants ``need``."""
        required = self.reads_need_key if need == "read" else self.writes_need_key
        if not required:
            return
        if need == "write" and not self.write:
            raise HTTPException(403, "writes are disabled on this server (no NORDSEARCH_API_KEYS configured)")
        if not key:
            raise HTTPException(
                401,
                f"an API key is required to {need}: send it as X-API-Key: KEY or Authorization: Bearer KEY",
                headers={"WWW-Authenticate": 'Bearer realm="nordsearch"'},
            )
        access = self.classify(key)
        if access is None:
            raise HTTPException(403, "the API key is not valid")
        if need == "write" and access != "write":
            raise HTTPException(403, "the API key is read-only; writes need a key from NORDSEARCH_API_KEYS")


def presented_key(request: Request, *, cookie: bool = False) -> str | None:
    """The key a request carries: X-API-Key, else Authorization: Bearer, else (web page) the cookie."""
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if cookie:
        return request.cookies.get(KEY_COOKIE) or None
    return None


def _ring(request: Request) -> KeyRing:
    return request.app.state.keyring


async def require_read(
    request: Request, _h: str | None = Security(api_key_header), _b: object = Security(bearer)
) -> None:
    """Dependency: the request may read (see the module docstring). The checks are async (they do
    no I/O) so that FastAPI runs them in the event loop: a sync dependency takes a trip through
    the thread pool on every request, where it queues behind searches."""
    _ring(request).check(presented_key(request), "read")


async def require_write(
    request: Request, _h: str | None = Security(api_key_header), _b: object = Security(bearer)
) -> None:
    """Dependency: the request may write."""
    _ring(request).check(presented_key(request), "write")


async def require_read_web(request: Request) -> None:
    """Dependency of the web page: like require_read, but the key may also come from a cookie."""
    _ring(request).check(presented_key(request, cookie=True), "read")


def document_security(app, write_operations: set[tuple[str, str]]) -> None:
    """Make /openapi.json say which routes need a key *on this server*: the security requirement
    is dropped from read routes when reads are open, and from the ``write_operations``
    ((method, path) pairs) when writes are."""
    ring: KeyRing = app.state.keyring
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = build()
            for path, ops in schema.get("paths", {}).items():
                for method, op in ops.items():
                    write = (method.upper(), path) in write_operations
                    if not (ring.writes_need_key if write else ring.reads_need_key):
                        op.pop("security", None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
