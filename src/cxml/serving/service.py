"""The cxml BentoML service: typed request → exported champion → typed response, nothing else.

Serve with ``bentoml serve cxml.serving.service:CxmlService`` (``PYTHONPATH=src``, ``BENTOML_HOME`` pointing
at the store the models were exported to). The exact model tags come from the manifest at ``$CXML_MANIFEST``
(default ``models/served.json``), read once at import; ``$CXML_WORKERS`` sets the worker processes,
``$CXML_API_KEY`` (optional) the key every request must carry, ``$CXML_MAX_BODY_BYTES`` the request size limit
and ``$CXML_POLICY`` the next-best-action policy YAML (default ``pipelines/policy.yaml``).
"""

from __future__ import annotations

import gc
import os

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
from fastapi import FastAPI
from starlette.responses import JSONResponse

from cxml.decision.nba import NbaConfig
from cxml.serving.family_scoring import load_cross_sell, load_family_scorer, load_price, load_segment_scorer
from cxml.serving.nba_scoring import VALUE_FEATURE, NextBestActionScorer
from cxml.serving.schemas import (
    BatchChurnRequest,
    BatchChurnResponse,
    ChurnRequest,
    ChurnResponse,
    CrossSellPairRequest,
    CrossSellPairResponse,
    CrossSellRequest,
    CrossSellResponse,
    CustomerRequest,
    NextBestActionRequest,
    NextBestActionResponse,
    PriceRequest,
    PriceResponse,
    ScoreRequest,
    ScoreResponse,
    SegmentResponse,
    ServiceInfo,
    UpliftRequest,
    UpliftResponse,
)
from cxml.serving.scoring import RequestError, load_churn_scorer
from cxml.serving.security import DEFAULT_MAX_BODY, ApiKeyMiddleware, BodyLimitMiddleware
from cxml.serving.store import load_contacts, load_values, read_manifest
from cxml.serving.uplift_scoring import load_uplift_scorer

SERVICE_NAME = "cxml"
MANIFEST = read_manifest(Path(os.environ.get("CXML_MANIFEST", "models/served.json")), required=("churn",))
NBA_CONFIG = NbaConfig.from_yaml(Path(os.environ.get("CXML_POLICY", "pipelines/policy.yaml")))


def _optional(family: str) -> bentoml.models.BentoModel | None:
    return bentoml.models.BentoModel(MANIFEST[family]) if family in MANIFEST else None


def _not_served(family: str, command: str) -> JSONResponse:
    body = {"error": f"no {family} model is served: train and promote one (`{command}`), export again, restart"}
    return JSONResponse(body, status_code=503)


# GET routes live on a small FastAPI app mounted beside the BentoML APIs (BentoML APIs are POST only).
meta_app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


@bentoml.service(
    name=SERVICE_NAME,
    workers=int(os.environ.get("CXML_WORKERS", "1")),
    traffic={"timeout": 30},
)
@bentoml.asgi_app(meta_app, path="/")
class CxmlService:
    churn_model = bentoml.models.BentoModel(MANIFEST["churn"])
    snapshot_model = bentoml.models.BentoModel(MANIFEST["snapshot"]) if "snapshot" in MANIFEST else None
    uplift_model = _optional("uplift")
    survival_model = _optional("survival")
    clv_model = _optional("clv")
    cross_sell_model = _optional("cross_sell")
    segments_model = _optional("segments")
    price_model = _optional("price")

    def __init__(self) -> None:
        snapshot = self.snapshot_model
        self.churn = load_churn_scorer(self.churn_model, snapshot)
        self.uplift = load_uplift_scorer(self.uplift_model, snapshot) if self.uplift_model else None
        self.survival = load_family_scorer("survival", self.survival_model, snapshot) if self.survival_model else None
        self.clv = load_family_scorer("clv", self.clv_model, snapshot) if self.clv_model else None
        self.cross_sell = load_cross_sell(self.cross_sell_model, snapshot) if self.cross_sell_model else None
        self.segments = load_segment_scorer(self.segments_model, snapshot) if self.segments_model else None
        self.price = load_price(self.price_model, snapshot) if self.price_model else None
        self.nba = (
            NextBestActionScorer(
                self.churn,
                self.uplift,
                load_contacts(snapshot),
                load_values(snapshot, VALUE_FEATURE),
                NBA_CONFIG,
                cross_sell=self.cross_sell,
                clv=self.clv,
            )
            if snapshot is not None
            else None
        )
        # Everything loaded so far lives as long as the worker: keep it out of the cyclic GC, whose full
        # collections over the models and libraries paused requests for 100-150 ms (bench/serving.py p99).
        gc.freeze()

    def _scorers(self) -> dict[str, Any]:
        """Every family's scorer (None where not served), by the family names of the manifest."""
        return {
            "churn": self.churn,
            "uplift": self.uplift,
            "survival": self.survival,
            "clv": self.clv,
            "cross_sell": self.cross_sell,
            "segments": self.segments,
            "price": self.price,
        }

    def __is_ready__(self) -> bool:
        """Ready once every model the manifest pins (and the snapshot, when pinned) is loaded."""
        scorers = self._scorers()
        models_loaded = all(scorers[f] is not None for f in MANIFEST if f in scorers)
        snapshot_loaded = "snapshot" not in MANIFEST or self.churn.snapshot is not None
        return models_loaded and snapshot_loaded

    # No adaptive batching: it answers 503 under concurrency with small latency budgets (DESIGN §10);
    # clients with many customers call /churn_batch, which is one vectorised prediction.
    @bentoml.api(route="/churn", output_spec=ChurnResponse)
    def churn_one(self, request: ChurnRequest, /) -> ChurnResponse | JSONResponse:
        """Churn probability of one customer (by `customer_id` or feature record), with its top reasons."""
        try:
            return self.churn.score(request)
        except RequestError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)

    @bentoml.api(route="/churn_batch", output_spec=BatchChurnResponse)
    def churn_batch(self, request: BatchChurnRequest, /) -> BatchChurnResponse | JSONResponse:
        """Churn probabilities of up to 1,000 customers in one call: `items` (ids or feature records) or the faster
        table form (`columns` + `rows`); a bad item, column or row fails the batch, named."""
        try:
            # the items are validated responses already: construct, do not validate 1,000 of them again
            return BatchChurnResponse.model_construct(items=self.churn.score_many(request))
        except RequestError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)

    @bentoml.api(route="/uplift", output_spec=UpliftResponse)
    def uplift_one(self, request: UpliftRequest, /) -> UpliftResponse | JSONResponse:
        """Effect of each campaign arm for one customer, with the holdout interval, the most profitable arm
        (or do_not_contact) and why the strongest arm works for them."""
        if self.uplift is None:
            body = {"error": "no uplift model is served: train one (`cxml train uplift`) and export again"}
            return JSONResponse(body, status_code=503)
        try:
            return self.uplift.score(request)
        except RequestError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)

    @bentoml.api(route="/next_best_action", output_spec=NextBestActionResponse)
    def next_best_action(self, request: NextBestActionRequest, /) -> NextBestActionResponse | JSONResponse:
        """The best action for one customer (a campaign arm, a retention offer, a service check-in or nothing),
        its expected incremental value, the runners-up and the reasons; never marketing without consent, within
        the contact caps and cooldown, and `do_nothing` for the persistent measurement holdout."""
        if self.nba is None:
            body = {"error": "next best action needs a feature snapshot: export one (`cxml build`) and restart"}
            return JSONResponse(body, status_code=503)
        try:
            return self.nba.decide(request)
        except RequestError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)

    @bentoml.api(route="/survival", output_spec=ScoreResponse)
    def survival_one(self, request: ScoreRequest, /) -> ScoreResponse | JSONResponse:
        """A customer's survival curve summary: P(still a customer) after 3, 6 and 12 months, expected remaining
        tenure within the last horizon, relative risk, and what drives the risk."""
        if self.survival is None:
            return _not_served("survival", "cxml train survival")
        try:
            return self.survival.score(request)
        except RequestError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)

    @bentoml.api(route="/clv", output_spec=ScoreResponse)
    def clv_one(self, request: ScoreRequest, /) -> ScoreResponse | JSONResponse:
        """A customer's expected value and purchases over the CLV horizon and P(alive), with the reasons."""
        if self.clv is None:
            return _not_served("clv", "cxml train clv")
        try:
            return self.clv.score(request)
        except RequestError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)

    @bentoml.api(route="/segment", output_spec=SegmentResponse)
    def segment_one(self, request: CustomerRequest, /) -> SegmentResponse | JSONResponse:
        """A customer's behavioural segment (in words), value × engagement cell and lifecycle stage with why."""
        if self.segments is None:
            return _not_served("segments", "cxml segments")
        try:
            return self.segments.score(request)
        except RequestError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)

    @bentoml.api(route="/cross_sell", output_spec=CrossSellResponse)
    def cross_sell_top(self, request: CrossSellRequest, /) -> CrossSellResponse | JSONResponse:
        """The items a customer is most likely to buy next (not owned yet), with probabilities and reasons."""
        if self.cross_sell is None:
            return _not_served("cross_sell", "cxml train cross_sell")
        try:
            return self.cross_sell.top_k(request)
        except RequestError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)

    @bentoml.api(route="/cross_sell_pair", output_spec=CrossSellPairResponse)
    def cross_sell_pair(self, request: CrossSellPairRequest, /) -> CrossSellPairResponse | JSONResponse:
        """P(customer X buys item Y) in the horizon, whether they own it already, and the reasons."""
        if self.cross_sell is None:
            return _not_served("cross_sell", "cxml train cross_sell")
        try:
            return self.cross_sell.pair(request)
        except RequestError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)

    @bentoml.api(route="/price", output_spec=PriceResponse)
    def price_quote(self, request: PriceRequest, /) -> PriceResponse | JSONResponse:
        """Elasticity with its interval and the recommended price (within the guardrails) for a segment or a
        customer × product × channel × time bucket, with the expected volume, revenue and margin changes."""
        if self.price is None:
            return _not_served("price", "cxml train price")
        try:
            return self.price.quote(request)
        except RequestError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)

    @meta_app.get("/info", response_model=ServiceInfo)
    def info(self) -> ServiceInfo:
        """The models served, with their exact BentoML tags and MLflow versions, and the snapshot date."""
        return ServiceInfo(
            service=SERVICE_NAME,
            ready=self.__is_ready__(),
            models=[s.model for s in self._scorers().values() if s is not None],
            snapshot=self.churn.snapshot_info(),
        )


# The decorator turned the class into a BentoML Service, which mypy does not see (hence the ignores).
MAX_BODY_BYTES = int(os.environ.get("CXML_MAX_BODY_BYTES", DEFAULT_MAX_BODY))
CxmlService.add_asgi_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)  # type: ignore[attr-defined]
if os.environ.get("CXML_API_KEY"):
    CxmlService.add_asgi_middleware(ApiKeyMiddleware, key=os.environ["CXML_API_KEY"])  # type: ignore[attr-defined]
