"""api.connections on its own: which responses close their connection (the real server of
several processes is tests/api/test_serve.py)."""

from __future__ import annotations

import asyncio

from nordsearch.api.connections import RecycleConnections


async def _app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": [(b"connection", b"keep-alive")]})
    await send({"type": "http.response.body", "body": b"ok"})


def _connection_headers(middleware: RecycleConnections, client: tuple[str, int] | None) -> list[bytes]:
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "client": client, "path": "/", "method": "GET", "headers": []}
    asyncio.run(middleware(scope, None, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert sent[-1]["body"] == b"ok"
    return [v for k, v in start["headers"] if k == b"connection"]


def test_every_nth_response_of_a_connection_closes_it_and_others_count_apart():
    mw = RecycleConnections(_app, requests=3)
    a, b = ("127.0.0.1", 5001), ("127.0.0.1", 5002)
    seen_a = [_connection_headers(mw, a) for _ in range(6)]
    assert seen_a == [[b"keep-alive"], [b"keep-alive"], [b"close"]] * 2  # replaced, never doubled
    assert _connection_headers(mw, b) == [b"keep-alive"]  # b's count is its own


def test_requests_without_a_client_address_pass_untouched():
    mw = RecycleConnections(_app, requests=1)
    assert _connection_headers(mw, None) == [b"keep-alive"]
