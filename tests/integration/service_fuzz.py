"""schemathesis against a running service, over every operation of its OpenAPI document (``/docs.json``).

Each operation goes through schemathesis' phases: the document's examples, its coverage cases (boundaries, each
field missing or of the wrong type, media types the route does not take) and derandomized fuzzing in the positive
and negative modes. Half of the positive fuzzing cases are steered onto the served data (``Steering``: known
customer ids, items, campaigns and price cells, or a real feature record with up to three values replaced by
generated ones, nulls and huge numbers included), because random ids and records only reach the 404/400 paths.

Checks on every response: ``not_a_server_error``, ``status_code_conformance``, ``content_type_conformance`` and
``response_schema_conformance`` (every status, the error bodies included), and on a 200 the service's own pydantic
response model. Not enabled: ``positive_data_acceptance`` (a schema-valid unknown customer is rightly a 404, a body
with both ``customer_id`` and ``features`` rightly a 400) and ``negative_data_rejection`` (schemathesis' guesses
at what a server must reject; the 4xx/5xx split and the documented statuses are what is checked here).
"""

from __future__ import annotations

import contextlib
import json
import unittest
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err, Ok
from schemathesis.generation.hypothesis.builder import HypothesisTestConfig, HypothesisTestMode, create_test
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

GENERATED_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),  # JSON has neither (the HTTP client refuses to send them)
    st.text(max_size=20),
)
"""Values put into real feature records: huge integers and floats, bools and strings included."""
CHECKS = (not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance)


@dataclass(frozen=True)
class Steering:
    """The served data a generated body is pointed at, so that the models are reached."""

    values: dict[str, list[str]]
    """Known values by field name (``customer_id``, ``item``, ``campaign_id``)."""
    records: dict[str, pd.DataFrame]
    """Real feature records by route, one row per customer (routes that take ``features``)."""
    cells: list[dict[str, str]] = field(default_factory=list)
    """Price cells (``product_id``, ``channel``, ``time_bucket``, ``segment``) that have a recommendation."""
    batches: frozenset[str] = frozenset()
    """Routes whose body is a batch of customers (``items``, or the table form ``columns`` + ``rows``)."""

    def steer(self, path: str, body: Any, data: st.DataObject) -> Any:
        """``body`` with its known fields replaced by served values; on a route that takes records, exactly one of
        a known ``customer_id`` or (half the time) a real feature record with up to three values generated; on a
        batch route, each item so, or the table form as real records."""
        if not isinstance(body, dict):
            return body
        records = self.records.get(path)
        if path in self.batches and records is not None:
            if isinstance(body.get("items"), list):
                return {**body, "items": [self._customer(item, records, data) for item in body["items"]]}
            rows = [self._record(records, data) for _ in range(data.draw(st.integers(1, 3)))]
            return {**body, "columns": list(rows[0]), "rows": [list(row.values()) for row in rows]}
        steered = dict(body)
        if self.cells and "product_id" in body:
            cell = data.draw(st.sampled_from(self.cells))
            steered.update({k: v for k, v in cell.items() if k != "segment" or "segment" in body})
        for name, known in self.values.items():
            if name in body:
                steered[name] = data.draw(st.sampled_from(known))
        return steered if records is None else self._customer(steered, records, data)

    def _customer(self, body: Any, records: pd.DataFrame, data: st.DataObject) -> Any:
        """``body`` naming exactly one customer: a known id or a real record with generated values."""
        if not isinstance(body, dict):
            return body
        rest = {k: v for k, v in body.items() if k not in ("customer_id", "features")}
        if data.draw(st.booleans()):
            return {**rest, "customer_id": data.draw(st.sampled_from(self.values["customer_id"]))}
        return {**rest, "features": self._record(records, data)}

    @staticmethod
    def _record(records: pd.DataFrame, data: st.DataObject) -> dict[str, Any]:
        """One of the first 50 real records, with up to three of its values replaced by generated ones."""
        record = plain(records.iloc[data.draw(st.integers(0, min(len(records), 50) - 1))].to_dict())
        changed = data.draw(st.dictionaries(st.sampled_from(sorted(record)), GENERATED_VALUES, max_size=3))
        return {**record, **changed}


def plain(record: dict[str, Any]) -> dict[str, Any]:
    """A record as JSON sends it: numpy scalars as Python numbers, missing values as null."""
    return {k: (None if pd.isna(v) else v.item() if hasattr(v, "item") else v) for k, v in record.items()}


@dataclass
class FuzzRun:
    """What the fuzzing sent and got back, by operation (``POST /churn``)."""

    sent: Counter[str] = field(default_factory=Counter)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    """Responses the document does not describe: status, content type or body schema."""
    contract_errors: list[str] = field(default_factory=list)
    """200 bodies that the service's pydantic response model rejects."""
    scored_records: Counter[str] = field(default_factory=Counter)
    """200s to bodies with a feature record (the model scored a record, not a stored customer)."""
    unnamed: list[str] = field(default_factory=list)
    """400s to a real feature record with generated values whose ``detail`` does not name the features at fault."""

    def summary(self) -> str:
        by_operation: dict[str, dict[int, int]] = {}
        for (label, status), n in sorted(self.statuses.items()):
            by_operation.setdefault(label, {})[status] = n
        return "\n".join(f"{label}: {self.sent[label]} {by_operation[label]}" for label in sorted(by_operation))


def _has_record(body: Any) -> bool:
    if isinstance(body, dict) and isinstance(body.get("items"), list):
        return any(_has_record(item) for item in body["items"])
    return isinstance(body, dict) and (isinstance(body.get("features"), dict) or isinstance(body.get("rows"), list))


def _names_features(body: dict[str, Any], names: set[str]) -> bool:
    """Every entry of an error's ``detail`` (at least one) points at a feature of the record by its name."""
    detail = body.get("detail") or []
    return bool(detail) and all(
        len(d["loc"]) >= 2 and d["loc"][-2] == "features" and d["loc"][-1] in names for d in detail
    )


def _describe(case: Any, response: requests.Response) -> str:
    return f"{case.as_curl_command()}\n  → {response.status_code} {response.text[:500]}"


@dataclass
class Fuzzer:
    """Sends cases of one service and records every finding (nothing is raised: one run reports them all)."""

    base_url: str
    steering: Steering
    contracts: dict[str, type[BaseModel]]
    """The pydantic model of each route's 200 body, by path."""
    run: FuzzRun = field(default_factory=FuzzRun)
    session: requests.Session = field(default_factory=requests.Session)

    def check(self, case: Any) -> requests.Response | None:
        """Send ``case`` and check its response; the response, or None after a 5xx."""
        label = f"{case.operation.method.upper()} {case.operation.path}"
        response = case.call(base_url=self.base_url, session=self.session, timeout=30)
        self.run.sent[label] += 1
        self.run.statuses[(label, response.status_code)] += 1
        for check in CHECKS:
            try:
                case.validate_response(response, checks=[check])
            except (AssertionError, BaseExceptionGroup) as exc:
                found = self.run.server_errors if check is not_a_server_error else self.run.violations
                found.append(f"{_describe(case, response)}\n  {str(exc)[:800]}")
                if check is not_a_server_error:
                    return None
        if response.status_code == 200 and _has_record(case.body):
            self.run.scored_records[label] += 1
        contract = self.contracts.get(case.operation.path)
        if response.status_code == 200 and contract is not None:
            try:
                contract.model_validate(response.json())
            except (ValidationError, json.JSONDecodeError) as exc:
                self.run.contract_errors.append(f"{_describe(case, response)}\n  {exc}")
        return response

    def schema_phases(self, operation: Any, max_examples: int) -> None:
        """The document's examples, then its coverage cases (both modes), each case sent once."""
        for mode in (HypothesisTestMode.EXAMPLES, HypothesisTestMode.COVERAGE):
            test = create_test(
                operation=operation,
                test_func=self.check,
                config=HypothesisTestConfig(
                    project=operation.schema.config,
                    modes=[mode],
                    settings=_settings(max_examples, [Phase.explicit]),
                ),
            )
            with contextlib.suppress(unittest.SkipTest):  # an operation without examples (or coverage cases)
                test()

    def fuzz(self, operation: Any, mode: GenerationMode, max_examples: int) -> None:
        """``max_examples`` derandomized cases; half of the positive ones steered onto the served data."""
        steer = mode == GenerationMode.POSITIVE and operation.method.upper() == "POST"

        @_settings(max_examples, [Phase.generate])
        @given(case=operation.as_strategy(generation_mode=mode), data=st.data(), steered=st.booleans())
        def fuzz(case: Any, data: st.DataObject, steered: bool) -> None:
            if steer and steered:
                case.body = self.steering.steer(operation.path, case.body, data)
            response = self.check(case)
            records = self.steering.records.get(operation.path)
            one_record = steer and steered and isinstance(case.body, dict) and "features" in case.body
            if one_record and records is not None and response is not None and response.status_code == 400:  # noqa: SIM102
                if not _names_features(response.json(), set(records.columns)):
                    self.run.unnamed.append(_describe(case, response))

        fuzz()


def _settings(max_examples: int, phases: list[Phase]) -> settings:
    """Derandomized (the same requests on every run), no shrinking: findings are collected, not raised."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=phases,
        suppress_health_check=list(HealthCheck),
    )


def fuzz_service(
    base_url: str, steering: Steering, contracts: dict[str, type[BaseModel]], max_examples: dict[str, int]
) -> tuple[FuzzRun, list[str]]:
    """Every operation of the service's document: its examples and coverage cases, then ``max_examples[method]``
    fuzzed cases per generation mode (GET routes without parameters only have the one positive request).
    Also returns the operations as ``METHOD /path``."""
    schema = schemathesis.openapi.from_url(f"{base_url}/docs.json", timeout=10)
    parsed = list(schema.get_all_operations())
    assert not [r.err() for r in parsed if isinstance(r, Err)], "the OpenAPI document has invalid operations"
    operations = [r.ok() for r in parsed if isinstance(r, Ok)]
    fuzzer = Fuzzer(base_url, steering, contracts)
    for operation in operations:
        method = operation.method.upper()
        fuzzer.schema_phases(operation, max_examples[method])
        modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if method == "POST" else (GenerationMode.POSITIVE,)
        for mode in modes:
            fuzzer.fuzz(operation, mode, max_examples[method])
    return fuzzer.run, [f"{op.method.upper()} {op.path}" for op in operations]
