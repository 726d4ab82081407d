"""Keep-alive connections spread over the workers: a busy worker asks its clients to reconnect now and then.

The workers share one listening socket, and a worker that wakes up first accepts every connection waiting, so a
client opening 16 keep-alive connections at once often lands 12 or all 16 of them on one worker, which then does
the work of two while the other idles (bench/serving.py measured 16/0 and 12/4 splits: ~600 req/s where a fair
split gives ~1,100). So a response carries ``Connection: close`` (as a proxy's ``max_requests_per_connection``
does) at a rate that grows with the requests the worker has in flight: a worker holding most connections sheds
them fast, one holding few keeps them, and reconnected clients land on either worker, which evens the split out.
Closing at a fixed rate would not: a lightly loaded worker answers faster and would shed its few connections as
often as the crowded one. A reconnect on the loopback costs well under a millisecond.
"""

from __future__ import annotations

from typing import Any

SHED_EVERY = 200
"""A response closes its connection each time the in-flight counts summed over responses pass this: with 16
requests in flight every ~12th response, with 2 every ~100th."""


class RecycleConnections:
    """ASGI middleware: ``connection: close`` on HTTP responses at a rate proportional to this worker's load."""

    def __init__(self, app: Any, every: int = SHED_EVERY) -> None:
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.app, self.every = app, every
        self.in_flight = 0
        self.load = 0
        """The in-flight counts summed over responses since the last close."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, self._sender(send))
        finally:
            self.in_flight -= 1

    def _sender(self, send: Any) -> Any:
        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start" and self._shed():
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        return sending

    def _shed(self) -> bool:
        """Whether this response closes its connection (counts this worker's requests in flight)."""
        self.load += self.in_flight
        if self.load < self.every:
            return False
        self.load -= self.every
        return True
