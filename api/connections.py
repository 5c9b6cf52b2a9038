"""Keep-alive connections spread over the server's processes.

The processes share one listening socket and the kernel hands a new connection to whichever
accepts first, so a few keep-alive clients that connect at once can split 7/1 over two processes
and stay that way: the busy process then answers for most of them while the other waits
(bench/bench_search.py: 8 clients got 0.7-1.4x one client on uneven splits, 2.2x on 4/4). So a
connection is closed after a few requests (``Connection: close`` on the response, as nginx's
``keepalive_requests`` or Envoy's ``max_requests_per_connection`` do); the client reconnects, and
the process that accepts first is the one whose event loop is free, i.e. the less busy one.
"""

from __future__ import annotations

from typing import Any

REQUESTS_PER_CONNECTION = 8  # a reconnect costs ~0.3 ms on loopback: < 0.5 % of 8 searches
_MAX_TRACKED = 4096  # connections remembered per process; beyond it the table starts over


class RecycleConnections:
    """ASGI middleware: every ``requests``-th response on one connection carries Connection: close."""

    def __init__(self, app: Any, requests: int = REQUESTS_PER_CONNECTION) -> None:
        self.app = app
        self.requests = requests
        self._served: dict[tuple[str, int], int] = {}

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        client = scope.get("client") if scope["type"] == "http" else None
        if not client:
            await self.app(scope, receive, send)
            return
        key = (client[0], client[1])
        served = self._served.get(key, 0) + 1
        if served < self.requests:
            if len(self._served) >= _MAX_TRACKED:  # connections that closed themselves linger here
                self._served.clear()
            self._served[key] = served
            await self.app(scope, receive, send)
            return
        self._served.pop(key, None)

        async def closing_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, closing_send)
