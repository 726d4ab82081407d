"""Connections shed by a busy worker: ``Connection: close`` at a rate that grows with its requests in flight."""

import asyncio

import pytest

from cxml.serving.balancing import RecycleConnections

pytestmark = pytest.mark.unit


async def _answer(scope, receive, send):
    """An endpoint that works a moment before and while it answers, so its requests overlap as a busy worker's."""
    await asyncio.sleep(0.001)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await asyncio.sleep(0.001)
    await send({"type": "http.response.body", "body": b"{}"})


def _closed(in_flight: int, requests: int, every: int = 200) -> int:
    """How many of ``requests`` responses (``in_flight`` at a time) told the client to close its connection."""
    middleware = RecycleConnections(_answer, every=every)
    closed = 0

    async def one() -> None:
        nonlocal closed

        async def send(message):
            nonlocal closed
            if message["type"] == "http.response.start":
                closed += (b"connection", b"close") in message["headers"]

        await middleware({"type": "http"}, None, send)

    async def run() -> None:
        for _ in range(requests // in_flight):
            await asyncio.gather(*(one() for _ in range(in_flight)))

    asyncio.run(run())
    assert middleware.in_flight == 0
    return closed


def test_a_crowded_worker_sheds_connections_much_faster_than_a_quiet_one():
    crowded, quiet = _closed(in_flight=16, requests=1600), _closed(in_flight=2, requests=1600)
    assert crowded == pytest.approx(1600 * 16 / 200, abs=16)  # ~ every 12th response
    assert quiet == pytest.approx(1600 * 2 / 200, abs=2)  # ~ every 100th
    assert crowded >= 6 * quiet


def test_a_single_client_reconnects_rarely():
    assert _closed(in_flight=1, requests=1000) == 5


def test_other_headers_stay_and_other_scopes_pass_through():
    middleware = RecycleConnections(_answer, every=1)
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    asyncio.run(middleware({"type": "http"}, None, send))
    assert sent[0]["headers"] == [(b"content-type", b"application/json"), (b"connection", b"close")]
    seen = []

    async def lifespan(scope, receive, send):
        seen.append(scope["type"])

    asyncio.run(RecycleConnections(lifespan, every=1)({"type": "lifespan"}, None, send))
    assert seen == ["lifespan"]
    with pytest.raises(ValueError, match="every"):
        RecycleConnections(_answer, every=0)
