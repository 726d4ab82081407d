"""The service's OpenAPI document (``/docs.json``): BentoML's, completed with every status a route can return.

BentoML documents 200, 400, 404 and 500 on each POST route, with error bodies whose ``detail`` is a string,
while its own validation errors and the service's ``RequestError`` send ``detail`` as a list; it also leaves out
what the middlewares answer (401 with a key configured, 408, 413, 415), the 503 of a family that is not served
and the plain-text bodies of the health and metrics routes. ``complete`` fills all of that in, with one error
schema (``ErrorResponse``) for every error any route sends.
"""

from __future__ import annotations

import copy
from typing import Any

from cxml.serving.schemas import ErrorResponse

REF_TEMPLATE = "#/components/schemas/{model}"
ERROR_REF = {"$ref": REF_TEMPLATE.format(model=ErrorResponse.__name__)}
BENTOML_ERRORS = ("InvalidArgument", "NotFound", "InternalServerError")
"""BentoML's error schemas (``detail`` a string); no response refers to them once ``complete`` has run."""

POST_ERRORS = {
    "400": "Invalid request: a wrong type, an unknown or missing field, an unreadable body (named in `detail`).",
    "404": "An unknown customer, item, segment or campaign.",
    "408": "The body did not arrive within `CXML_READ_TIMEOUT_S`.",
    "413": "The body is larger than `CXML_MAX_BODY_BYTES`.",
    "415": "The body is not `application/json` (no `Content-Type` means JSON).",
    "500": "A fault of the service (logged with its traceback).",
    "503": "The family's model, or the feature snapshot the route needs, is not served (the message says how).",
}
UNAUTHORIZED = "`CXML_API_KEY` is set and the request carries no matching `X-API-Key`."
PLAIN_TEXT = {"text/plain": {"schema": {"type": "string"}}}
HEALTH_ROUTES = ("/livez", "/readyz", "/healthz")
"""Probes: plain text, 503 while the service is not ready (or dead), never behind the key."""


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}


def complete(spec: dict[str, Any], *, api_key: bool) -> dict[str, Any]:
    """``spec`` (BentoML's document as a dict) with every status each route can return; a new dict."""
    doc = copy.deepcopy(spec)
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            responses = {str(code): response for code, response in operation.get("responses", {}).items()}
            operation["responses"] = responses
            if path in HEALTH_ROUTES:
                responses["200"] = {"description": "Alive (or ready).", "content": PLAIN_TEXT}
                responses["503"] = {"description": "Not ready (or not alive) yet.", "content": PLAIN_TEXT}
                continue
            if path == "/metrics":
                responses["200"] = {"description": "Prometheus metrics, text format.", "content": PLAIN_TEXT}
            if method == "post":  # (a GET route's fault is Starlette's plain-text 500, and a bug the fuzzing finds)
                responses.update({code: _error(text) for code, text in POST_ERRORS.items()})
            if api_key:
                responses["401"] = _error(UNAUTHORIZED)
            operation["responses"] = dict(sorted(responses.items()))
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in BENTOML_ERRORS:
        schemas.pop(name, None)
    error = ErrorResponse.model_json_schema(ref_template=REF_TEMPLATE)
    schemas.update(error.pop("$defs", {}))
    schemas[ErrorResponse.__name__] = error
    return doc
