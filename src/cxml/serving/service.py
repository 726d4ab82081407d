"""The cxml BentoML service: typed request → exported champion → typed response, nothing else.

Serve with ``bentoml serve cxml.serving.service:CxmlService`` (``PYTHONPATH=src``, ``BENTOML_HOME`` pointing
at the store the models were exported to). The exact model tags come from the manifest at ``$CXML_MANIFEST``
(default ``$CXML_HOME/served.json``, the workspace's), read once at import; ``$CXML_WORKERS`` sets the worker processes
(default one per core), ``$CXML_API_KEY`` (optional) the key every request must carry, ``$CXML_MAX_BODY_BYTES`` the
request size limit, ``$CXML_READ_TIMEOUT_S`` the seconds a client has to send its body (408 after) and
``$CXML_POLICY`` the next-best-action policy YAML (default: the shipped policy).
The routes come from the served-family registry (``cxml.serving.families``), one generated method per route.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from functools import cache

# One OpenMP thread per worker (read when XGBoost/LightGBM load): a single row never gains from a thread team,
# and several workers on a small machine must not oversubscribe its cores. Set before the model imports.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# BentoML collects no traces by default (tracing.sample_rate 0), yet its OpenTelemetry SDK still built a span per
# request, and the workers' memory grew by 70-100 MiB over the first 20,000 requests (bench/serving.py --soak).
# Set OTEL_SDK_DISABLED=false (and BentoML's tracing options) to trace.
os.environ.setdefault("OTEL_SDK_DISABLED", "true")

from pathlib import Path
from typing import Any

import bentoml
import pandas as pd
from fastapi import FastAPI
from starlette.responses import HTMLResponse, JSONResponse

from cxml.config import Workspace
from cxml.decision.nba import NbaConfig
from cxml.serving.balancing import RecycleConnections
from cxml.serving.campaign_assign import CampaignAssigner, CampaignAssignRequest, CampaignAssignResponse
from cxml.serving.families import Route, ServedFamily, served_families
from cxml.serving.lifetime import guard_worker
from cxml.serving.nba_scoring import VALUE_FEATURE, NextBestActionScorer
from cxml.serving.observability import label_routes, quiet_client_errors
from cxml.serving.openapi import complete
from cxml.serving.schemas import NextBestActionRequest, NextBestActionResponse, ServiceInfo
from cxml.serving.scoring import RequestError
from cxml.serving.security import (
    DEFAULT_MAX_BODY,
    DEFAULT_READ_TIMEOUT,
    ApiKeyMiddleware,
    BodyLimitMiddleware,
    JsonOnlyMiddleware,
)
from cxml.serving.store import load_contacts, load_values, read_manifest

SERVICE_NAME = "cxml"
HOME = Path(os.environ.get("CXML_HOME", ".cxml"))
MANIFEST = read_manifest(Path(os.environ.get("CXML_MANIFEST", HOME / "served.json")), required=("churn",))
_POLICY = os.environ.get("CXML_POLICY")
NBA_CONFIG = NbaConfig.from_yaml(Path(_POLICY) if _POLICY else None)
SERVED = served_families()


def error_response(exc: RequestError) -> JSONResponse:
    """The one mapping of a request error to its status and body."""
    return JSONResponse(exc.body(), status_code=exc.status)


def not_served(served: ServedFamily) -> JSONResponse:
    body = {"error": f"no {served.name} model is served: train and promote one (`{served.fix}`), export again, restart"}
    return JSONResponse(body, status_code=503)


def answer(part: Any, needs: str, call: Callable[[Any], Any]) -> Any:
    """``call(part)`` for a route backed by the snapshot (the next best action, campaign assignment): 503 saying
    what is missing when the service started without it, a request error's 4xx, else the answer."""
    if part is None:
        return JSONResponse({"error": f"{needs} needs a feature snapshot: `cxml build`, then restart"}, status_code=503)
    try:
        return call(part)
    except RequestError as exc:
        return error_response(exc)


def _api(served: ServedFamily, route: Route) -> Any:
    """A BentoML API method for one route: typed request → the family's scorer → typed response (or 4xx/503)."""

    def handler(self: Any, request: Any, /) -> Any:
        scorer = self.scorers.get(served.name)
        if scorer is None:
            return not_served(served)
        try:
            return route.call(scorer, request)
        except RequestError as exc:
            return error_response(exc)

    handler.__name__ = handler.__qualname__ = route.method
    handler.__doc__ = route.doc
    handler.__annotations__ = {"request": route.request, "return": route.response | JSONResponse}
    # No adaptive batching: it answers 503 under concurrency with small latency budgets (DESIGN §10);
    # clients with many customers call /churn_batch, which is one vectorised prediction.
    return bentoml.api(route=route.path, output_spec=route.response)(handler)


# GET routes live on a small FastAPI app mounted beside the BentoML APIs (BentoML APIs are POST only).
meta_app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

# Swagger UI on BentoML's OpenAPI document, from the assets BentoML ships (no CDN, no tag manager: BentoML's own
# index page at / loads Google Tag Manager).
DOCS_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>cxml API</title>
<link rel="stylesheet" href="/static_content/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/static_content/swagger-ui-bundle.js"></script>
<script src="/static_content/swagger-ui-standalone-preset.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/docs.json", dom_id: "#swagger-ui", deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: "StandaloneLayout"});</script>
</body></html>
"""


@meta_app.get("/docs", response_class=HTMLResponse)
def docs() -> HTMLResponse:
    """The API's Swagger page (the document itself is ``/docs.json``)."""
    return HTMLResponse(DOCS_PAGE)


# Mounted apps' routes come before BentoML's own /docs.json, so this one answers it.
@meta_app.get("/docs.json", response_class=JSONResponse)
def openapi_document() -> JSONResponse:
    """This OpenAPI document: every route, and every status each can return with its body."""
    return JSONResponse(_document())


@cache
def _document() -> dict[str, Any]:
    return complete(CxmlService.openapi_spec.asdict(), api_key=bool(os.environ.get("CXML_API_KEY")))


class _Service:
    snapshot_model = bentoml.models.BentoModel(MANIFEST["snapshot"]) if "snapshot" in MANIFEST else None

    def __init__(self) -> None:
        snapshot = self.snapshot_model
        self.scorers: dict[str, Any] = {}
        for name, served in SERVED.items():
            model = getattr(self, f"{name}_model", None)
            if model is not None:
                self.scorers[name] = served.load(model, snapshot)
        self.churn = self.scorers["churn"]
        self.nba = (
            NextBestActionScorer(
                self.churn,
                self.scorers.get("uplift"),
                load_contacts(snapshot),
                load_values(snapshot, VALUE_FEATURE),
                NBA_CONFIG,
                cross_sell=self.scorers.get("cross_sell"),
                clv=self.scorers.get("clv"),
            )
            if snapshot is not None
            else None
        )
        as_of = pd.Timestamp(self.churn.snapshot.as_of) if self.churn.snapshot is not None else None
        self.campaigns = (
            CampaignAssigner(Workspace(HOME), self.nba.states, NBA_CONFIG.policy, as_of)
            if self.nba is not None and as_of is not None
            else None
        )
        # Everything loaded so far lives as long as the worker: keep it out of the cyclic GC, whose full
        # collections over the models and libraries paused requests for 100-150 ms (bench/serving.py p99).
        gc.freeze()

    def __is_ready__(self) -> bool:
        """Ready once every model the manifest pins (and the snapshot, when pinned) is loaded."""
        models_loaded = all(f in self.scorers for f in MANIFEST if f in SERVED)
        snapshot_loaded = "snapshot" not in MANIFEST or self.churn.snapshot is not None
        return models_loaded and snapshot_loaded

    @bentoml.api(route="/next_best_action", output_spec=NextBestActionResponse)
    def next_best_action(self, request: NextBestActionRequest, /) -> NextBestActionResponse | JSONResponse:
        """The best action for one customer (a campaign arm, a retention offer, a service check-in or nothing),
        its expected incremental value, the runners-up and the reasons; never marketing without consent, within
        the contact caps and cooldown, and `do_nothing` for the persistent measurement holdout."""
        return answer(self.nba, "next best action", lambda nba: nba.decide(request))

    @bentoml.api(route="/campaign/assign", output_spec=CampaignAssignResponse)
    def campaign_assign(self, request: CampaignAssignRequest, /) -> CampaignAssignResponse | JSONResponse:
        """The arm of a running campaign for one customer: sticky for the campaign's life, drawn by the current
        allocation and logged with its propensity; the persistent holdout is never contacted, and a customer
        without consent or over the contact caps is told so (not assigned). 404 for an unknown campaign."""
        return answer(self.campaigns, "campaign assignment (consent, contacts)", lambda c: c.assign(request))

    @meta_app.get("/info", response_model=ServiceInfo)
    def info(self) -> ServiceInfo:
        """The models served, with their exact BentoML tags and MLflow versions, and the snapshot date."""
        return ServiceInfo(
            service=SERVICE_NAME,
            ready=self.__is_ready__(),
            models=[scorer.model for scorer in self.scorers.values()],
            snapshot=self.churn.snapshot_info(),
        )


# Every served family's model (exact tag from the manifest: BentoML packs it into the Bento) and routes.
for _name, _served in SERVED.items():
    setattr(_Service, f"{_name}_model", bentoml.models.BentoModel(MANIFEST[_name]) if _name in MANIFEST else None)
    for _route in _served.routes:
        setattr(_Service, _route.method, _api(_served, _route))

_WORKERS = os.environ.get("CXML_WORKERS")
CxmlService = bentoml.service(
    name=SERVICE_NAME,
    # one worker per core by default (BentoML counts the cores the container may use); CXML_WORKERS overrides
    workers=int(_WORKERS) if _WORKERS else "cpu_count",
    traffic={"timeout": 30},
    # With the SDK off no span is ever recorded, yet BentoML's OpenTelemetry middleware still took ~0.2 ms of each
    # request's ~1.1 ms of worker CPU (bench/serving.py --reasons): skip it for every URL unless tracing is on.
    tracing={"excluded_urls": ".*"} if os.environ["OTEL_SDK_DISABLED"].lower() == "true" else {},
)(bentoml.asgi_app(meta_app, path="/")(_Service))

# Middlewares, outermost first: a busy worker sheds keep-alive connections (so they spread over the workers), the
# key (headers only), JSON bodies only, then the body's size and read time.
CxmlService.add_asgi_middleware(RecycleConnections)
MAX_BODY_BYTES = int(os.environ.get("CXML_MAX_BODY_BYTES", DEFAULT_MAX_BODY))
READ_TIMEOUT_S = float(os.environ.get("CXML_READ_TIMEOUT_S", DEFAULT_READ_TIMEOUT))
guard_worker(head_timeout=READ_TIMEOUT_S)  # in a worker: dies with its arbiter, 408 for a stalled head
if os.environ.get("CXML_API_KEY"):
    CxmlService.add_asgi_middleware(ApiKeyMiddleware, key=os.environ["CXML_API_KEY"])
CxmlService.add_asgi_middleware(JsonOnlyMiddleware)
CxmlService.add_asgi_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES, read_timeout=READ_TIMEOUT_S)

# Metrics labelled by route (unknown paths share one label) and client errors logged in one line, no values.
label_routes([api.route for api in CxmlService.apis.values()] + [r.path for r in meta_app.routes if hasattr(r, "path")])
quiet_client_errors()
