"""``POST /campaign/assign`` on a real ``bentoml serve`` over 127.0.0.1: sticky arms, the persistent holdout, consent
and caps from the served snapshot, 16 concurrent clients losing and duplicating nothing, a new allocation picked
up without a restart, and the latency at concurrency 16."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import numpy as np
import pytest

from cxml.campaigns.spec import ALL_SEGMENTS, Allocation, CampaignSpec
from cxml.campaigns.store import CampaignStore
from cxml.config import Workspace
from cxml.decision.policy import in_holdout
from cxml.jobs.export import serve_command
from tests.integration.serving_fixtures import CAPPED, NEGATIVE, NO_CONSENT, REPO, Served, _env, free_port

pytestmark = pytest.mark.integration
ARMS = ("mail", "sms", "none")
HOLDOUT = 0.2
CONCURRENCY = 16
READY_S = 180


@dataclass(frozen=True)
class Campaigns:
    ws: Workspace
    http: httpx.Client
    customers: list[str]
    """Snapshot customers who may be contacted (consent, no cap, no cooldown)."""


def start(ws: Workspace, campaign_id: str, shares: dict[str, float] | None = None) -> CampaignStore:
    spec = CampaignSpec(campaign_id=campaign_id, arms=ARMS, control="none", holdout_share=HOLDOUT, policy="uniform")
    first = Allocation(
        campaign_id, 1, "2025-01-01T00:00:00", "uniform", {ALL_SEGMENTS: shares or dict.fromkeys(ARMS, 1 / 3)}
    )
    return CampaignStore.create(ws, spec, first)


@pytest.fixture(scope="module")
def campaigns(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Campaigns]:
    ws = Workspace(tmp_path_factory.mktemp("campaign-ws"))
    start(ws, "first")
    blocked = {NO_CONSENT, CAPPED, NEGATIVE}
    customers = [str(c) for c in served.features.index if str(c) not in blocked]
    with _serve_patiently(served, ws) as http:
        yield Campaigns(ws, http, customers)


@contextlib.contextmanager
def _serve_patiently(served: Served, ws: Workspace) -> Iterator[httpx.Client]:
    """``bentoml serve`` of the shared champions with ``CXML_HOME`` at the campaigns' workspace, given up to
    ``READY_S`` to load (the shared fixture waits 45 s; a loaded 2-core machine can take longer)."""
    port = free_port()
    log_path = ws.root / f"server-{port}.log"
    env = {**_env(served.ws, served.manifest), "CXML_HOME": str(ws.root)}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            serve_command("127.0.0.1", port), cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
                deadline = time.monotonic() + READY_S
                while not _ready(http):
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"server not ready: {log_path.read_text()[-3000:]}")
                    time.sleep(0.5)
                yield http
        finally:
            os.killpg(proc.pid, signal.SIGTERM)  # the server and its workers: the group this test started
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _ready(http: httpx.Client) -> bool:
    try:
        return http.get("/readyz").status_code == 200
    except httpx.TransportError:
        return False


def assign(http: httpx.Client, campaign_id: str, customer_id: str) -> httpx.Response:
    return http.post("/campaign/assign", json={"campaign_id": campaign_id, "customer_id": customer_id})


def test_a_customer_keeps_their_arm(campaigns: Campaigns) -> None:
    cid = next(c for c in campaigns.customers if not in_holdout(c, HOLDOUT, "cxml-nba-v1"))
    first = assign(campaigns.http, "first", cid)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["arm"] in ARMS and body["contact"] and body["new"] and not body["holdout"]
    assert body["propensity"] == pytest.approx(1 / 3) and body["policy_version"] == 1
    again = [assign(campaigns.http, "first", cid).json() for _ in range(3)]
    assert {a["arm"] for a in again} == {body["arm"]} and not any(a["new"] for a in again)
    assert "sticky" in again[0]["reason"]
    log = CampaignStore(campaigns.ws, "first").log().assignments()
    row = log.loc[log["customer_id"] == cid].iloc[0]
    assert (row["arm"], row["propensity"], row["policy_version"]) == (body["arm"], pytest.approx(1 / 3), 1)


def test_the_holdout_is_never_contacted(campaigns: Campaigns) -> None:
    held = [c for c in campaigns.customers if in_holdout(c, HOLDOUT, "cxml-nba-v1")][:10]
    assert held
    for cid in held:
        body = assign(campaigns.http, "first", cid).json()
        assert (body["holdout"], body["contact"], body["arm"], body["propensity"]) == (True, False, "none", 1.0)
        assert "holdout" in body["reason"]


@pytest.mark.parametrize(("cid", "rule"), [(NO_CONSENT, "no marketing consent"), (CAPPED, "contact cap")])
def test_consent_and_caps_come_from_the_snapshot(campaigns: Campaigns, cid: str, rule: str) -> None:
    body = assign(campaigns.http, "first", cid).json()
    assert body["arm"] is None and not body["contact"] and rule in body["blocked"]
    assert cid not in set(CampaignStore(campaigns.ws, "first").log().assignments()["customer_id"])


def test_an_unknown_customer_has_no_consent_on_record(campaigns: Campaigns) -> None:
    body = assign(campaigns.http, "first", "NOBODY-1").json()
    assert body["arm"] is None and "not in the served snapshot" in body["blocked"]


def test_unknown_campaign_is_a_404_naming_the_fix(campaigns: Campaigns) -> None:
    r = assign(campaigns.http, "no-such-campaign", campaigns.customers[0])
    assert r.status_code == 404
    assert "cxml campaign start" in r.json()["error"]


@pytest.mark.parametrize(
    "body",
    [
        {"campaign_id": "first"},
        {"customer_id": "C00010"},
        {"campaign_id": "../first", "customer_id": "C00010"},
        {"campaign_id": "first", "customer_id": ""},
        {"campaign_id": "first", "customer_id": "C00010", "extra": 1},
        {"campaign_id": 7, "customer_id": ["C00010"]},
    ],
)
def test_malformed_requests_are_4xx(campaigns: Campaigns, body: dict[str, object]) -> None:
    r = campaigns.http.post("/campaign/assign", json=body)
    assert 400 <= r.status_code < 500, r.text


def test_sixteen_clients_lose_nothing_and_duplicate_nothing(campaigns: Campaigns) -> None:
    start(campaigns.ws, "race")
    ids = campaigns.customers
    requests = ids * 3  # every customer asked for three times, in a shuffled order, by 16 clients at once
    random.Random(0).shuffle(requests)
    with httpx.Client(base_url=campaigns.http.base_url, timeout=30) as http, ThreadPoolExecutor(CONCURRENCY) as pool:
        replies = list(pool.map(lambda c: assign(http, "race", c), requests))
    assert all(r.status_code == 200 for r in replies), {r.status_code for r in replies}
    arms: dict[str, set[str]] = {}
    for r in replies:
        arms.setdefault(r.json()["customer_id"], set()).add(r.json()["arm"])
    assert all(len(a) == 1 for a in arms.values())  # every reply for a customer names the same arm
    assert sum(r.json()["new"] for r in replies) == len(ids)
    log = CampaignStore(campaigns.ws, "race").log().assignments()
    assert len(log) == len(ids) and log["customer_id"].is_unique
    assert set(log["customer_id"]) == set(ids)
    assert dict(zip(log["customer_id"], log["arm"], strict=True)) == {c: a.pop() for c, a in arms.items()}


def test_a_new_allocation_is_picked_up_without_restart(campaigns: Campaigns) -> None:
    store = start(campaigns.ws, "live")
    eligible = [c for c in campaigns.customers if not in_holdout(c, HOLDOUT, "cxml-nba-v1")]
    before = [assign(campaigns.http, "live", c).json() for c in eligible[:5]]
    assert {b["policy_version"] for b in before} == {1}
    store.write_allocation(Allocation("live", 2, "2025-01-02T00:00:00", "thompson", {ALL_SEGMENTS: {"mail": 1.0}}))
    after = [assign(campaigns.http, "live", c).json() for c in eligible[5:40]]
    assert {(a["policy_version"], a["arm"], a["propensity"]) for a in after} == {(2, "mail", 1.0)}
    assert [assign(campaigns.http, "live", c).json()["arm"] for c in eligible[:5]] == [b["arm"] for b in before]


def _load(http: httpx.Client, path: str, bodies: list[dict[str, str]]) -> tuple[np.ndarray, int, float]:
    """Every body POSTed to ``path`` by ``CONCURRENCY`` clients at once: latencies (ms), errors, wall seconds."""

    def timed(body: dict[str, str]) -> tuple[int, float]:
        t0 = time.perf_counter()
        status = http.post(path, json=body).status_code
        return status, (time.perf_counter() - t0) * 1000

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        t0 = time.perf_counter()
        results = list(pool.map(timed, bodies))
        wall = time.perf_counter() - t0
    return np.array([t for _, t in results]), sum(status != 200 for status, _ in results), wall


def test_latency_at_concurrency_sixteen(campaigns: Campaigns) -> None:
    """p99 of /campaign/assign against /churn by customer id (the served baseline) in the same run, so a machine
    busy with other work moves both: assignment must cost no more than scoring, or 50 ms, whichever is larger."""
    start(campaigns.ws, "speed")
    ids = campaigns.customers
    assign_bodies = [{"campaign_id": "speed", "customer_id": ids[i % len(ids)]} for i in range(2000)]
    churn_bodies = [{"customer_id": ids[i % len(ids)]} for i in range(2000)]  # first pass logs, then sticky
    with httpx.Client(base_url=campaigns.http.base_url, timeout=30) as http:
        _load(http, "/churn", churn_bodies[:64])  # warm the pool and the worker
        churn, churn_errors, _ = _load(http, "/churn", churn_bodies)
        ms, errors, wall = _load(http, "/campaign/assign", assign_bodies)
    p50, p99 = np.percentile(ms, [50, 99])
    churn_p99 = float(np.percentile(churn, 99))
    print(f"/campaign/assign at concurrency {CONCURRENCY}: {len(ms)} requests, {len(ms) / wall:.0f} req/s, "
          f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, {errors} errors; /churn p99 {churn_p99:.1f} ms")  # fmt: skip
    assert errors == 0 and churn_errors == 0
    assert p99 <= max(50.0, 1.5 * churn_p99)
