"""The OpenAPI document the service serves: BentoML's own document of a small service, completed by
``cxml.serving.openapi.complete``, describes every status with the bodies the service really sends."""

from __future__ import annotations

import json
from typing import Any

import bentoml
import jsonschema
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, ValidationError

from cxml.serving.campaign_assign import CampaignAssignResponse
from cxml.serving.families import served_families
from cxml.serving.openapi import BENTOML_ERRORS, POST_ERRORS, complete
from cxml.serving.schemas import (
    ChurnRequest,
    ChurnResponse,
    ErrorDetail,
    ErrorResponse,
    NextBestActionResponse,
    ServiceInfo,
)
from cxml.serving.scoring import RequestError

pytestmark = pytest.mark.unit

meta = FastAPI()


@meta.get("/info")
def info() -> dict[str, str]:
    return {}


@bentoml.service(name="tiny")
@bentoml.asgi_app(meta, path="/")
class Tiny:
    @bentoml.api(route="/churn")
    def churn(self, request: ChurnRequest, /) -> ChurnResponse:
        raise NotImplementedError


@pytest.fixture(scope="module")
def bentoml_document() -> dict[str, Any]:
    service: Any = Tiny  # a bentoml Service (its decorator's types say the class)
    return service.openapi_spec.asdict()


def _body_schema(doc: dict[str, Any], path: str, method: str, status: str) -> dict[str, Any]:
    """The documented JSON body of one response, resolvable on its own (the components ride along)."""
    media = doc["paths"][path][method]["responses"][status]["content"]["application/json"]
    return {**media["schema"], "components": doc["components"]}


def _bentoml_validation_body() -> dict[str, Any]:
    """What BentoML answers to a body its request model rejects (``api_endpoint_wrapper``)."""
    with pytest.raises(ValidationError) as caught:
        ChurnRequest.model_validate_json(b'{"top_k": "three", "customer_id": ""}')
    exc = caught.value
    detail = exc.errors(include_context=False, include_input=False)
    return json.loads(json.dumps({"error": f"{exc.error_count()} validation error for {exc.title}", "detail": detail}))


def test_bentoml_alone_documents_detail_as_a_string_and_no_415(bentoml_document) -> None:
    """What ``complete`` is for: without it, the error bodies the service sends break the document."""
    responses = bentoml_document["paths"]["/churn"]["post"]["responses"]
    assert not {"415", "503", 415, 503} & set(responses)
    schema = _body_schema(bentoml_document, "/churn", "post", next(k for k in responses if str(k) == "400"))
    with pytest.raises(jsonschema.ValidationError, match="is not of type 'string'"):
        jsonschema.validate(_bentoml_validation_body(), schema)


def test_every_post_route_documents_every_error_with_the_one_error_body(bentoml_document) -> None:
    doc = complete(bentoml_document, api_key=False)
    responses = doc["paths"]["/churn"]["post"]["responses"]
    assert set(responses) == {"200", *POST_ERRORS} and "401" not in responses
    assert not set(BENTOML_ERRORS) & set(doc["components"]["schemas"])
    bodies = [
        _bentoml_validation_body(),
        RequestError(
            400, "1 invalid feature value(s)", [ErrorDetail(type="t", loc=["features", "f1"], msg="m")]
        ).body(),
        RequestError(404, "no customer 'x' in the snapshot").body(),
        {"error": "send the body as application/json (Content-Type was text/plain)"},  # the middlewares' bodies
    ]
    for status in POST_ERRORS:
        for body in bodies:
            jsonschema.validate(body, _body_schema(doc, "/churn", "post", status))
        with pytest.raises(jsonschema.ValidationError):  # BentoML's list-wrapped 4xx would be caught
            jsonschema.validate([{"error": "x"}], _body_schema(doc, "/churn", "post", status))


def test_401_is_documented_when_a_key_is_configured_except_on_the_probes(bentoml_document) -> None:
    doc = complete(bentoml_document, api_key=True)
    for path, item in doc["paths"].items():
        for operation in item.values():
            assert ("401" in operation["responses"]) == (path not in ("/livez", "/readyz", "/healthz")), path


def test_probes_and_metrics_are_documented_as_plain_text(bentoml_document) -> None:
    doc = complete(bentoml_document, api_key=False)
    for path in ("/livez", "/readyz", "/healthz"):
        responses = doc["paths"][path]["get"]["responses"]
        assert set(responses) == {"200", "503"} and all("text/plain" in r["content"] for r in responses.values())
    assert "text/plain" in doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert set(doc["paths"]["/info"]["get"]["responses"]) == {"200"}
    assert complete(bentoml_document, api_key=False) == doc  # the input is left as it was


def _response_models() -> list[type[BaseModel]]:
    routes = [route.response for served in served_families().values() for route in served.routes]
    return [*routes, NextBestActionResponse, CampaignAssignResponse, ServiceInfo, ErrorResponse]


@pytest.mark.parametrize("model", _response_models(), ids=lambda m: m.__name__)
def test_every_field_that_can_be_null_says_nullable(model: type[BaseModel]) -> None:
    """BentoML's document keeps the ``nullable`` of ``X | None``: without it, a 200 of ``/campaign/assign`` for a
    customer not contacted (``arm``, ``propensity``… null) broke its own documented schema (found by the fuzz)."""
    schema = model.model_json_schema()
    for name, part in [(model.__name__, schema), *schema.get("$defs", {}).items()]:
        for field, prop in part.get("properties", {}).items():
            can_be_null = any(branch.get("type") == "null" for branch in prop.get("anyOf", ()))
            assert prop.get("nullable", False) == can_be_null, f"{name}.{field}"
