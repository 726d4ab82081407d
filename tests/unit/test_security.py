"""The service's API key, JSON-only bodies, body limit and read timeout, on a real ASGI app served in-process
(Starlette's test client)."""

from __future__ import annotations

import asyncio
import time

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from cxml.serving.security import ApiKeyMiddleware, BodyLimitMiddleware, JsonOnlyMiddleware

pytestmark = pytest.mark.unit
KEY = "s3cret-key"


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse({"bytes": len(body)})


def client(**limits: int) -> TestClient:
    app = Starlette(routes=[Route("/churn", echo, methods=["POST"]), Route("/readyz", echo, methods=["GET"])])
    guarded = BodyLimitMiddleware(ApiKeyMiddleware(app, KEY), **limits)
    return TestClient(guarded)  # type: ignore[arg-type]


def test_requests_without_the_key_are_401_and_probes_stay_open() -> None:
    http = client()
    missing = http.post("/churn", json={})
    assert missing.status_code == 401 and "missing API key" in missing.json()["error"]
    assert http.post("/churn", json={}, headers={"X-API-Key": "s3cret-kez"}).status_code == 401
    assert http.post("/churn", json={}, headers={"X-API-Key": KEY}).status_code == 200
    assert http.post("/churn", json={}, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert http.post("/churn", json={}, headers={"Authorization": f"Basic {KEY}"}).status_code == 401
    assert http.get("/readyz").status_code == 200


def test_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        ApiKeyMiddleware(lambda *a: None, "")  # type: ignore[arg-type, return-value]


def test_bodies_over_the_limit_are_413_by_header_and_by_stream() -> None:
    http = client(max_bytes=100)
    ok = http.post("/churn", content=b"x" * 100, headers={"X-API-Key": KEY})
    assert ok.status_code == 200 and ok.json() == {"bytes": 100}
    big = http.post("/churn", content=b"x" * 101, headers={"X-API-Key": KEY})
    assert big.status_code == 413 and "over 100 bytes" in big.json()["error"]

    def chunks():  # no Content-Length: counted while it streams in
        yield b"x" * 60
        yield b"x" * 60

    streamed = http.post("/churn", content=chunks(), headers={"X-API-Key": KEY})
    assert streamed.status_code == 413


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "multipart/form-data; boundary=x", ""],
)
def test_bodies_that_are_not_json_are_415_before_they_are_read(content_type: str) -> None:
    http = TestClient(JsonOnlyMiddleware(Starlette(routes=[Route("/churn", echo, methods=["POST"])])))  # type: ignore[arg-type]
    refused = http.post("/churn", content=b'{"customer_id": "C1"}', headers={"content-type": content_type})
    assert refused.status_code == 415 and "application/json" in refused.json()["error"]
    for ok in ("application/json", "Application/JSON; charset=utf-8"):
        assert http.post("/churn", content=b"{}", headers={"content-type": ok}).status_code == 200
    assert http.post("/churn", content=b"{}").status_code == 200  # no Content-Type: JSON, as BentoML reads it


def test_a_body_that_stalls_is_408_after_the_read_timeout() -> None:
    sent: list[dict] = []

    async def stalled() -> dict:
        if not sent:
            sent.append({})
            return {"type": "http.request", "body": b'{"cust', "more_body": True}
        await asyncio.sleep(3600)  # the rest never comes
        return {}

    async def send(message: dict) -> None:
        sent.append(message)

    async def never(*_: object) -> None:
        raise AssertionError("the app must not see an unfinished body")

    middleware = BodyLimitMiddleware(never, read_timeout=0.2)  # type: ignore[arg-type]
    scope = {"type": "http", "method": "POST", "path": "/churn", "headers": []}
    t0 = time.monotonic()
    asyncio.run(middleware(scope, stalled, send))  # type: ignore[arg-type]
    assert time.monotonic() - t0 < 2
    assert sent[1]["status"] == 408 and b"within 0.2 s" in sent[2]["body"]
