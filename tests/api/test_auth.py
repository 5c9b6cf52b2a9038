"""API keys: hashed at start-up, compared in constant time; 401 without a key, 403 with a wrong one."""

from __future__ import annotations

import pytest
from fastapi import HTTPException
from starlette.requests import Request

from nordsearch.api.auth import KeyRing, presented_key
from nordsearch.ingest.settings import Settings


def ring(**kw) -> KeyRing:
    return KeyRing.from_settings(Settings(**kw))


def status(r: KeyRing, key: str | None, need: str) -> int:
    try:
        r.check(key, need)
    except HTTPException as exc:
        assert exc.detail  # every refusal says what was wrong
        return exc.status_code
    return 200


def test_keys_are_kept_only_as_digests():
    r = ring(api_keys="s3cret-write, other", read_keys="s3cret-read")
    assert len(r.write) == 2 and len(r.read) == 1
    assert all(isinstance(d, bytes) and len(d) == 32 for d in (*r.write, *r.read))
    assert b"s3cret" not in b"".join((*r.write, *r.read))
    assert r.classify("s3cret-write") == "write" and r.classify("other") == "write"
    assert r.classify("s3cret-read") == "read"
    assert r.classify("s3cret") is None and r.classify("") is None


def test_no_keys_configured_is_open():
    r = ring()
    assert status(r, None, "read") == 200 and status(r, None, "write") == 200


def test_write_keys_with_open_reads():
    r = ring(api_keys="w")
    assert status(r, None, "read") == 200
    assert status(r, None, "write") == 401
    assert status(r, "nope", "write") == 403
    assert status(r, "w", "write") == 200


def test_read_keys_make_reads_keyed_and_read_keys_cannot_write():
    r = ring(api_keys="w", read_keys="r")
    assert status(r, None, "read") == 401
    assert status(r, "bad", "read") == 403
    assert status(r, "r", "read") == 200 and status(r, "w", "read") == 200
    assert status(r, "r", "write") == 403


def test_closed_reads_without_read_keys():
    r = ring(api_keys="w", open_reads=False)
    assert status(r, None, "read") == 401 and status(r, "w", "read") == 200


def test_read_keys_only_disable_writes():
    r = ring(read_keys="r")
    assert status(r, "r", "write") == 403 and status(r, None, "write") == 403


def test_missing_key_challenge_header():
    with pytest.raises(HTTPException) as info:
        ring(api_keys="w").check(None, "write")
    assert info.value.status_code == 401 and "Bearer" in info.value.headers["WWW-Authenticate"]


def _request(headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw, "query_string": b""})


def test_key_from_header_bearer_or_cookie():
    assert presented_key(_request({"X-API-Key": " k1 "})) == "k1"
    assert presented_key(_request({"Authorization": "Bearer k2"})) == "k2"
    assert presented_key(_request({"Authorization": "Basic abc"})) is None
    assert presented_key(_request({"Cookie": "nordsearch_key=k3"})) is None
    assert presented_key(_request({"Cookie": "nordsearch_key=k3"}), cookie=True) == "k3"
