"""A deadline for the request head: a client that opens a connection and sends half a request line or half its
headers, then stalls, gets ``408 Request Timeout`` and is closed; one that never sends a byte is closed.

uvicorn has no such deadline (its keep-alive timer only runs between requests) and BentoML builds the worker's
``uvicorn.Config`` itself, with no way to pass a protocol class. So the worker swaps the protocol uvicorn's
``http="auto"`` resolves to (h11 here: ``httptools`` is not installed) for this subclass before the server starts:
``install_head_timeout`` rewrites one entry of ``uvicorn.config.HTTP_PROTOCOLS``, read when uvicorn loads its
config after the service module is imported. The body's deadline is ``BodyLimitMiddleware``'s, in the app.
"""

from __future__ import annotations

import asyncio
import json

import uvicorn.config
from uvicorn.protocols.http.h11_impl import H11Protocol

from cxml.serving.security import DEFAULT_READ_TIMEOUT


def _timeout_response(seconds: float) -> bytes:
    body = json.dumps({"error": f"the request head did not arrive within {seconds:g} s"}).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class HeadTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol with a timer from the first byte of a request (or from the connection's opening)
    to the end of its head. Between requests uvicorn's keep-alive timer governs, as before."""

    head_timeout: float = DEFAULT_READ_TIMEOUT

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_begun = False
        self._head_timer: asyncio.TimerHandle | None = None
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        cycle = self.cycle
        super().data_received(data)
        if self.cycle is not cycle:  # a request head is complete: its body (if any) has the app's deadline
            self._cancel_head_timer()
            self._head_begun = False
        elif self.cycle is None or self.cycle.response_complete:  # bytes of a head that is not complete yet
            self._head_begun = True
            if self._head_timer is None:  # the first bytes after a keep-alive pause (uvicorn stopped its timer)
                self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._head_begun:  # a client that never sent a byte is owed no answer (a browser's preconnect)
            self.logger.info("%s: request head not complete within %g s, 408", self.client, self.head_timeout)
            self.transport.write(_timeout_response(self.head_timeout))
        self.transport.close()


def install_head_timeout(seconds: float) -> None:
    """Make uvicorn's default (``http="auto"``) protocol :class:`HeadTimeoutProtocol` with ``seconds``."""
    HeadTimeoutProtocol.head_timeout = seconds
    uvicorn.config.HTTP_PROTOCOLS["auto"] = f"{__name__}:{HeadTimeoutProtocol.__qualname__}"
