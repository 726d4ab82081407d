"""ASGI middlewares of the service: an optional API key, JSON bodies only, and a limit on request size and time.

- ``ApiKeyMiddleware``: with ``CXML_API_KEY`` set, every request except the health probes must carry the key in
  ``X-API-Key`` (or ``Authorization: Bearer <key>``); otherwise 401. Keys are compared as SHA-256 digests with
  ``secrets.compare_digest``, so the time taken does not depend on how much of a guess is right.
- ``JsonOnlyMiddleware``: a request with a body (POST, PUT, PATCH) whose ``Content-Type`` is not
  ``application/json`` gets 415 before its body is read (BentoML would parse forms and multipart, and answered 500
  to a multipart body without a boundary). No ``Content-Type`` at all means JSON, as BentoML reads it.
- ``BodyLimitMiddleware``: a body over ``max_bytes`` (by ``Content-Length``, or counted as it streams in) gets
  413 before any model sees it, and a body that takes longer than ``read_timeout`` seconds to arrive (a client
  that stalls) gets 408; bodies within the limits are buffered and handed on whole.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = frozenset({"/livez", "/readyz", "/healthz"})
"""Health probes answer without the key (orchestrators cannot send one)."""
DEFAULT_MAX_BODY = 4 * 1024 * 1024
DEFAULT_READ_TIMEOUT = 10.0
"""Seconds a client has to send its whole body."""
JSON = b"application/json"
WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


async def _reply(send: Send, status: int, error: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"error": error}).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8")).digest()


class ApiKeyMiddleware:
    def __init__(self, app: ASGIApp, key: str) -> None:
        if not key:
            raise ValueError("the API key must not be empty")
        self.app, self._key = app, _digest(key)

    def _presented(self, scope: Scope) -> str | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if "x-api-key" in headers:
            return headers["x-api-key"]
        scheme, _, token = headers.get("authorization", "").partition(" ")
        return token if scheme.lower() == "bearer" and token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        presented = self._presented(scope)
        if presented is None or not secrets.compare_digest(_digest(presented), self._key):
            error = "missing API key" if presented is None else "wrong API key"
            await _reply(send, 401, f"{error}: send it as X-API-Key", [(b"www-authenticate", b"Bearer")])
            return
        await self.app(scope, receive, send)


class JsonOnlyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("method") in WITH_BODY:
            declared = next((v for k, v in scope.get("headers", []) if k.lower() == b"content-type"), JSON)
            media_type = declared.split(b";", 1)[0].strip().lower()
            if media_type != JSON:
                shown = media_type.decode("latin-1")[:100] or "empty"
                await _reply(send, 415, f"send the body as application/json (Content-Type was {shown})")
                return
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY, read_timeout: float = DEFAULT_READ_TIMEOUT):
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        if read_timeout <= 0:
            raise ValueError(f"read_timeout must be positive, got {read_timeout}")
        self.app, self.max_bytes, self.read_timeout = app, max_bytes, read_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = f"request body over {self.max_bytes:,} bytes; send fewer items per request"
        for name, value in scope.get("headers", []):
            if name.lower() == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await _reply(send, 413, too_large)
                return
        # Read the body first (at most max_bytes are held, for at most read_timeout seconds), then replay it: the
        # app never sees an oversized or unfinished one, and a stalled client costs a socket, not a request slot.
        chunks, seen = [], 0
        deadline = asyncio.get_running_loop().time() + self.read_timeout
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                await _reply(
                    send,
                    408,
                    f"the request body did not arrive within {self.read_timeout:g} s",
                    [(b"connection", b"close")],
                )
                return
            if message["type"] != "http.request":  # the client left before sending the whole body
                return
            chunks.append(message.get("body", b""))
            seen += len(chunks[-1])
            if seen > self.max_bytes:
                await _reply(send, 413, too_large)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands out the buffered body once, then waits on the connection (for a disconnect)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed
