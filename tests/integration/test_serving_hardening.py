"""The service against a careless or hostile client, over HTTP on 127.0.0.1 (``bentoml serve``, an API key set):
bounded metrics, one quiet log line per client error, JSON bodies only, stalled bodies cut off, extreme numbers
refused by name, the Swagger page served offline, and one worker per core."""

from __future__ import annotations

import os
import re
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.integration.serving_fixtures import Served, _record, _server

pytestmark = pytest.mark.integration
KEY = "k-hardening"
AUTH = {"X-API-Key": KEY}
READ_TIMEOUT_S = 2
MULTIPART = b'--x\r\nContent-Disposition: form-data; name="customer_id"\r\n\r\nC00003\r\n--x--\r\n'


@dataclass
class Hardened:
    http: httpx.Client
    log: Path
    mark: str


@pytest.fixture(scope="module")
def hardened(served: Served) -> Iterator[Hardened]:
    mark = uuid.uuid4().hex
    env = {"CXML_API_KEY": KEY, "CXML_READ_TIMEOUT_S": str(READ_TIMEOUT_S), "CXML_TEST_MARK": mark}
    env["CXML_WORKERS"] = ""  # empty: the service default (one worker per core), not the tests' single worker
    with _server(served, **env) as http:
        yield Hardened(http, served.ws.root / f"server-{http.base_url.port}.log", mark)


def _metrics_size(http: httpx.Client) -> int:
    r = http.get("/metrics", headers=AUTH)
    assert r.status_code == 200
    return len(r.content)


def _random_paths(http: httpx.Client, n: int) -> None:
    for i in range(n):
        path = f"/{uuid.uuid4().hex[:8]}/{i}"
        headers = AUTH if i % 2 else {}
        r = http.post(path, json={}, headers=headers) if i % 3 == 0 else http.get(path, headers=headers)
        assert r.status_code in (401, 404, 405, 415), (path, r.status_code)


def test_random_paths_leave_metrics_the_same_size(hardened: Hardened) -> None:
    http = hardened.http
    assert http.post("/churn", json={"customer_id": "C00003", "top_k": 0}, headers=AUTH).status_code == 200
    _random_paths(http, 30)  # the one label of unknown paths exists now, per status
    before = _metrics_size(http)
    _random_paths(http, 2000)
    after = _metrics_size(http)
    assert abs(after - before) < 500, (before, after)
    text = http.get("/metrics", headers=AUTH).text
    endpoints = set(re.findall(r'endpoint="([^"]*)"', text))
    assert "other" in endpoints and "/churn" in endpoints and len(endpoints) < 30, endpoints


def _new_lines(log: Path, offset: int, expect: str) -> list[str]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = log.read_bytes()[offset:].decode()
        if expect in text:
            time.sleep(0.5)  # anything else the request makes the server write
            return log.read_bytes()[offset:].decode().splitlines()
        time.sleep(0.1)
    raise AssertionError(f"no {expect!r} in the log: {log.read_bytes()[offset:].decode()[-2000:]}")


@pytest.mark.parametrize(
    "body",
    [
        {"customer_id": "CUST-8812-XQ", "email": "jane.doe@example.com"},
        {"customer_id": "CUST-8812-XQ", "top_k": "jane.doe@example.com"},
        {"features": {"f0": {"email": "jane.doe@example.com", "id": "CUST-8812-XQ"}}},
    ],
)
def test_a_client_error_is_one_quiet_line_without_the_request_values(hardened: Hardened, body: dict) -> None:
    offset = hardened.log.stat().st_size
    r = hardened.http.post("/churn", json=body, headers=AUTH)
    assert r.status_code == 400
    lines = _new_lines(hardened.log, offset, "status=400")
    assert len(lines) == 1, lines
    assert "[INFO]" in lines[0] or "[WARNING]" in lines[0]
    log = hardened.log.read_text()
    assert "Traceback" not in log and "CUST-8812-XQ" not in log and "jane.doe" not in log


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"customer_id": "C00003"}', "text/plain"),
        (b"customer_id=C00003", "application/x-www-form-urlencoded"),
        (b"customer_id=C00003", "multipart/form-data"),
        (MULTIPART, "multipart/form-data; boundary=x"),
    ],
)
def test_every_post_route_answers_415_to_a_body_that_is_not_json(
    hardened: Hardened, content: bytes, content_type: str
) -> None:
    http = hardened.http
    document = http.get("/docs.json", headers=AUTH).json()
    routes = [path for path, ops in document["paths"].items() if "post" in ops]
    assert {"/churn", "/churn_batch", "/uplift", "/next_best_action", "/clv", "/survival"} <= set(routes)
    for route in routes:
        r = http.post(route, content=content, headers={**AUTH, "content-type": content_type})
        assert r.status_code == 415, (route, r.status_code, r.text)
        assert "application/json" in r.json()["error"]
        assert {"401", "415"} <= set(document["paths"][route]["post"]["responses"])  # documented, the key's too


def test_a_stalled_body_is_408_and_holds_no_worker(hardened: Hardened) -> None:
    http = hardened.http
    port = http.base_url.port
    assert port is not None
    head = f"POST /churn HTTP/1.1\r\nHost: x\r\nX-API-Key: {KEY}\r\nContent-Type: application/json\r\n"
    stalled = []
    t0 = time.monotonic()
    for _ in range(2 * (os.cpu_count() or 1) + 2):  # more stalled clients than workers
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(f"{head}Content-Length: 100\r\n\r\n".encode() + b'{"customer_id": "C0')
        stalled.append(s)
    ok = http.post("/churn", json={"customer_id": "C00003", "top_k": 0}, headers=AUTH)
    assert ok.status_code == 200 and time.monotonic() - t0 < READ_TIMEOUT_S  # served while the others stall
    for s in stalled:
        answer = b""
        while chunk := s.recv(4096):
            answer += chunk
        s.close()
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"did not arrive within 2 s" in answer
    assert READ_TIMEOUT_S <= time.monotonic() - t0 < READ_TIMEOUT_S + 5


@pytest.mark.parametrize("value", [1e308, 10**400, -(10**400)])
def test_extreme_numbers_are_400_naming_the_field(served: Served, hardened: Hardened, value: float) -> None:
    record = {**_record(served.features, served.features.index[0]), "f2": value}
    for route in ("/churn", "/uplift"):
        r = hardened.http.post(route, json={"features": record}, headers=AUTH)
        assert r.status_code == 400, (route, r.text)
        assert [d["loc"] for d in r.json()["detail"]] == [["features", "f2"]]
    columns = list(record)
    table = {"columns": columns, "rows": [list(record.values())]}
    r = hardened.http.post("/churn_batch", json=table, headers=AUTH)
    assert r.status_code == 400 and r.json()["detail"][0]["loc"] == ["rows", 0, columns.index("f2")]


def test_docs_serves_the_swagger_page_from_local_assets(hardened: Hardened) -> None:
    http = hardened.http
    page = http.get("/docs", headers=AUTH)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '"/docs.json"' in page.text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(a.startswith("/") for a in assets), assets  # nothing from a CDN
    for asset in assets:
        assert http.get(asset, headers=AUTH).status_code == 200, asset
    assert http.get("/docs.json", headers=AUTH).json()["paths"]


def test_one_worker_per_core_by_default(hardened: Hardened) -> None:
    from bentoml._internal.resource import system_resources

    workers = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if f"CXML_TEST_MARK={hardened.mark}".encode() in environ and b"--worker-id" in cmdline:
            workers += 1
    assert workers == (int(system_resources()["cpu"]) or 1), workers
