"""schemathesis against the running service's OpenAPI (``/docs.json``) on 127.0.0.1: over 1,000 generated requests
across the POST endpoints get no 5xx, and the server still scores a known customer afterwards.

Every POST operation is fuzzed with schemathesis' positive and negative generation (``EXAMPLES`` each, derandomized:
the same requests on every run). Half of the positive cases are steered onto the served data (a known customer id,
or a real feature record with some values replaced by generated ones), because random ids and records only ever
reach the 404/400 paths and never the model. Checks:

- ``not_a_server_error`` on every response: the check that matters, a 5xx fails the test with the request as curl;
- a 200 body validates against the service's own pydantic response model (its real contract);
- ``status_code_conformance`` and ``content_type_conformance`` on every response (documented: 200, 400, 404, 500,
  all JSON);
- ``response_schema_conformance`` on 200 bodies: the documented schema (optional fields say ``nullable``, which
  BentoML's OpenAPI generator would otherwise lose with the ``null`` branch of ``X | None``).

Not enabled: ``response_schema_conformance`` on 4xx bodies (BentoML's built-in 400/404 schemas say ``detail`` is a
string; BentoML's own validation errors and the service's ``ErrorResponse`` send a list, so nearly every 4xx would
"fail"), ``positive_data_acceptance`` (a schema-valid unknown customer is rightly a 404, and a schema-valid body may
carry both ``customer_id`` and ``features``, rightly a 400) and ``negative_data_rejection`` (schemathesis'
heuristics about which negative cases a server must reject; the 4xx/5xx split is what is checked here).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err, Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cxml.serving.schemas import BatchChurnResponse, ChurnResponse, NextBestActionResponse, UpliftResponse
from tests.integration.serving_fixtures import Served, _record, _server

pytestmark = pytest.mark.integration

EXAMPLES = 130
"""Per operation and generation mode: 4 POST operations × 2 modes × 130 = 1,040 requests at least."""
MIN_REQUESTS = 1000
RESPONSES: dict[str, type[BaseModel]] = {
    "/churn": ChurnResponse,
    "/churn_batch": BatchChurnResponse,
    "/uplift": UpliftResponse,
    "/next_best_action": NextBestActionResponse,
}
FAMILY_OF = {
    "/survival": "survival",
    "/clv": "clv",
    "/segment": "segments",
    "/cross_sell": "cross_sell",
    "/cross_sell_pair": "cross_sell",
    "/price": "price",
}
"""Endpoints of the families this fixture does not train: they answer a documented 503 (tested in
``test_serving``), so they are left out of the fuzzing, which counts every 5xx."""
GENERATED_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),  # JSON has neither (the HTTP client refuses to send them)
    st.text(max_size=20),
)
"""Values put into real feature records: huge integers and floats, bools and strings included."""


@dataclass
class FuzzRun:
    """What the fuzzing sent and got back."""

    sent: Counter[str] = field(default_factory=Counter)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    contract_errors: list[str] = field(default_factory=list)
    undocumented: list[str] = field(default_factory=list)
    """Responses whose status code or content type the OpenAPI document does not list."""
    schema_errors: list[str] = field(default_factory=list)
    """200 bodies that the OpenAPI document's response schema rejects."""
    after: httpx.Response | None = None


def _steer(body: Any, data: st.DataObject, served: Served, records: bool) -> Any:
    """A generated body pointed at the served data: exactly one of a known customer id or (where the endpoint takes
    one) a real feature record with up to three values replaced by generated ones; the other fields stay generated."""
    if isinstance(body, dict) and isinstance(body.get("items"), list):
        return {**body, "items": [_steer(item, data, served, records) for item in body["items"]]}
    if not isinstance(body, dict):
        return body
    rest = {k: v for k, v in body.items() if k not in ("customer_id", "features")}
    customer = data.draw(st.sampled_from([str(c) for c in served.features.index[:50]]))
    if not records or data.draw(st.booleans()):
        return {**rest, "customer_id": customer}
    record = _record(served.features, customer)
    changed = data.draw(st.dictionaries(st.sampled_from(sorted(record)), GENERATED_VALUES, max_size=3))
    return {**rest, "features": {**record, **changed}}


def _describe(case: Any, response: requests.Response) -> str:
    return f"{case.as_curl_command()}\n  → {response.status_code} {response.text[:500]}"


def _fuzz_operation(operation: Any, mode: GenerationMode, base_url: str, served: Served, run: FuzzRun) -> None:
    """``EXAMPLES`` derandomized cases of one operation and generation mode; every finding is collected."""
    session = requests.Session()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: findings are collected, not raised
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data(), steer=st.booleans())
    def fuzz(case: Any, data: st.DataObject, steer: bool) -> None:
        if mode == GenerationMode.POSITIVE and steer:
            case.body = _steer(case.body, data, served, records=operation.path != "/next_best_action")
        response = case.call(base_url=base_url, session=session, timeout=30)
        run.sent[operation.path] += 1
        run.statuses[(operation.path, response.status_code)] += 1
        try:
            case.validate_response(response, checks=[not_a_server_error])
        except (AssertionError, BaseExceptionGroup):
            run.server_errors.append(_describe(case, response))
            return
        try:
            case.validate_response(response, checks=[status_code_conformance, content_type_conformance])
        except (AssertionError, BaseExceptionGroup) as exc:
            run.undocumented.append(f"{_describe(case, response)}\n  {str(exc)[:800]}")
        if response.status_code == 200:
            try:
                case.validate_response(response, checks=[response_schema_conformance])
            except (AssertionError, BaseExceptionGroup) as exc:
                run.schema_errors.append(f"{_describe(case, response)}\n  {str(exc)[:800]}")
        if response.status_code == 200 and operation.path in RESPONSES:
            try:
                RESPONSES[operation.path].model_validate(response.json())
            except (ValidationError, json.JSONDecodeError) as exc:
                run.contract_errors.append(f"{_describe(case, response)}\n  {exc}")

    fuzz()


@pytest.fixture(scope="module")
def fuzzed(served: Served) -> Iterator[FuzzRun]:
    """One derandomized fuzzing session against a server of its own, then one known customer scored."""
    run = FuzzRun()
    with _server(served) as http:
        base_url = str(http.base_url).rstrip("/")
        schema = schemathesis.openapi.from_url(f"{base_url}/docs.json", timeout=10)
        parsed = list(schema.get_all_operations())
        assert not [r.err() for r in parsed if isinstance(r, Err)], "the OpenAPI document has invalid operations"
        families = {m["family"] for m in http.get("/info").json()["models"]}
        operations = [
            r.ok()
            for r in parsed
            if isinstance(r, Ok) and r.ok().method.upper() == "POST" and FAMILY_OF.get(r.ok().path, "churn") in families
        ]
        assert {op.path for op in operations} >= set(RESPONSES), "the OpenAPI document lost an endpoint"
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _fuzz_operation(operation, mode, base_url, served, run)
        print(f"fuzzed: {dict(run.sent)}; statuses {sorted(run.statuses.items())}")
        run.after = http.post("/churn", json={"customer_id": str(served.features.index[0]), "top_k": 3})
        yield run


def test_over_a_thousand_requests_reach_every_post_endpoint(fuzzed: FuzzRun) -> None:
    assert sum(fuzzed.sent.values()) >= MIN_REQUESTS, fuzzed.sent
    assert set(fuzzed.sent) >= set(RESPONSES)
    assert min(fuzzed.sent[path] for path in RESPONSES) >= EXAMPLES, fuzzed.sent  # no operation cut short
    for path in RESPONSES:  # the steering reached the models: some 200s and some client errors per endpoint
        codes = {code for (p, code), n in fuzzed.statuses.items() if p == path and n}
        assert 200 in codes and codes & {400, 404, 413, 422}, (path, sorted(codes))


def test_no_generated_request_gets_a_5xx(fuzzed: FuzzRun) -> None:
    assert not fuzzed.server_errors, f"{len(fuzzed.server_errors)} server error(s), e.g.:\n" + "\n\n".join(
        fuzzed.server_errors[:3]
    )


def test_200_bodies_keep_the_response_contract(fuzzed: FuzzRun) -> None:
    assert not fuzzed.contract_errors, "\n\n".join(fuzzed.contract_errors[:3])


def test_every_status_and_content_type_is_documented(fuzzed: FuzzRun) -> None:
    assert not fuzzed.undocumented, f"{len(fuzzed.undocumented)} undocumented response(s), e.g.:\n" + "\n\n".join(
        fuzzed.undocumented[:2]
    )


def test_200_bodies_match_the_documented_response_schema(fuzzed: FuzzRun) -> None:
    assert not fuzzed.schema_errors, f"{len(fuzzed.schema_errors)} documented-schema mismatch(es), e.g.:\n" + (
        "\n\n".join(fuzzed.schema_errors[:2])
    )


def test_the_server_still_scores_a_known_customer_afterwards(fuzzed: FuzzRun) -> None:
    assert fuzzed.after is not None and fuzzed.after.status_code == 200, fuzzed.after and fuzzed.after.text
    assert 0.0 <= fuzzed.after.json()["probability"] <= 1.0
    assert len(fuzzed.after.json()["reasons"]) == 3
