"""The cxml BentoML service: typed request → exported champion → typed response, nothing else.

Serve with ``bentoml serve cxml.serving.service:CxmlService`` (``PYTHONPATH=src``, ``BENTOML_HOME`` pointing
at the store the models were exported to). The exact model tags come from the manifest at ``$CXML_MANIFEST``
(default ``models/served.json``), read once at import; ``$CXML_WORKERS`` sets the worker processes,
``$CXML_API_KEY`` (optional) the key every request must carry, ``$CXML_MAX_BODY_BYTES`` the request size limit
and ``$CXML_POLICY`` the next-best-action policy YAML (default ``pipelines/policy.yaml``).
"""

from __future__ import annotations

import os

# One OpenMP thread per worker (read when XGBoost/LightGBM load): a single row never gains from a thread team,
# and several workers on a small machine must not oversubscribe its cores. Set before the model imports.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path

import bentoml
from fastapi import FastAPI
from starlette.responses import JSONResponse

from cxml.decision.nba import NbaConfig
from cxml.serving.nba_scoring import VALUE_FEATURE, NextBestActionScorer
from cxml.serving.schemas import (
    BatchChurnRequest,
    BatchChurnResponse,
    ChurnRequest,
    ChurnResponse,
    NextBestActionRequest,
    NextBestActionResponse,
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
    uplift_model = bentoml.models.BentoModel(MANIFEST["uplift"]) if "uplift" in MANIFEST else None

    def __init__(self) -> None:
        self.churn = load_churn_scorer(self.churn_model, self.snapshot_model)
        self.uplift = load_uplift_scorer(self.uplift_model, self.snapshot_model) if self.uplift_model else None
        self.nba = (
            NextBestActionScorer(
                self.churn,
                self.uplift,
                load_contacts(self.snapshot_model),
                load_values(self.snapshot_model, VALUE_FEATURE),
                NBA_CONFIG,
            )
            if self.snapshot_model is not None
            else None
        )

    def __is_ready__(self) -> bool:
        return self.churn is not None

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
        """Churn probabilities of up to 1,000 customers in one call; a bad item fails the batch, named."""
        try:
            return BatchChurnResponse(items=self.churn.score_batch(request.items))
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

    @meta_app.get("/info", response_model=ServiceInfo)
    def info(self) -> ServiceInfo:
        """The models served, with their exact BentoML tags and MLflow versions, and the snapshot date."""
        return ServiceInfo(
            service=SERVICE_NAME,
            ready=self.__is_ready__(),
            models=[self.churn.model, *([self.uplift.model] if self.uplift else [])],
            snapshot=self.churn.snapshot_info(),
        )


# The decorator turned the class into a BentoML Service, which mypy does not see (hence the ignores).
MAX_BODY_BYTES = int(os.environ.get("CXML_MAX_BODY_BYTES", DEFAULT_MAX_BODY))
CxmlService.add_asgi_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)  # type: ignore[attr-defined]
if os.environ.get("CXML_API_KEY"):
    CxmlService.add_asgi_middleware(ApiKeyMiddleware, key=os.environ["CXML_API_KEY"])  # type: ignore[attr-defined]
