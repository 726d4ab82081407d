"""The one registration point of a served family: its routes, request and response models, scorer and export.

The service (``service.py``), the export (``cxml build``) and ``/info`` loop over ``served_families()``. A family
registered with ``cxml.datasets`` is served by adding a ``ServedFamily`` here (or, outside the package, in a
module listed in ``$CXML_FAMILIES`` that exposes ``SERVED``). The export step reads the family's
``Family.serving_rows`` and ``serving_metadata`` unless the served record gives its own ``export_rows``/
``export_metadata`` (those that need MLflow or the serving code itself).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import mlflow
from pydantic import BaseModel

from cxml.config import load_pipeline
from cxml.datasets.family import PLUGINS_ENV
from cxml.datasets.price import company_segments
from cxml.datasets.segments import segment_lookup
from cxml.models.price_frame import options as price_options
from cxml.serving import schemas as s
from cxml.serving.export_inputs import ExportInputs
from cxml.serving.family_scoring import load_cross_sell, load_family_scorer, load_price, load_segment_scorer
from cxml.serving.price_scoring import price_serving_table
from cxml.serving.scoring import load_churn_scorer
from cxml.serving.uplift_export import export_metadata as uplift_metadata
from cxml.serving.uplift_scoring import load_uplift_scorer

if TYPE_CHECKING:
    import bentoml


@dataclass(frozen=True)
class Route:
    path: str
    """The HTTP route (``/churn``)."""
    method: str
    """The service method's name (shown in the OpenAPI document as the operation)."""
    request: type[BaseModel]
    response: type[BaseModel]
    call: Callable[[Any, Any], Any]
    """(the family's scorer, the validated request) → the response; a ``RequestError`` becomes a 4xx."""
    doc: str


@dataclass(frozen=True)
class ServedFamily:
    name: str
    """Its key in the manifest and ``/info`` (the family's name, or ``segments``)."""
    routes: tuple[Route, ...]
    load: Callable[[bentoml.Model, bentoml.Model | None], Any]
    """(its exported BentoML model, the snapshot model or None) → the scorer the routes call."""
    fix: str
    """The command that gives it a champion, named in the 503 a request gets while it has none."""
    model_name: str | None = None
    """The registered MLflow model (default ``cxml.<name>``)."""
    required: bool = False
    """Export fails without a champion (churn); the others are served once promoted."""
    loader: Callable[[str], Any] | None = None
    """Reads the champion from a ``models:/`` URI (default: the cxml pyfunc's estimator)."""
    export_rows: Callable[[ExportInputs, Any], Any] | None = None
    export_metadata: Callable[[ExportInputs], dict[str, Any]] | None = None

    @property
    def registered_name(self) -> str:
        return self.model_name or f"cxml.{self.name}"


def _churn_batch(scorer: Any, request: Any) -> Any:
    # the items are validated responses already: construct, do not validate 1,000 of them again
    return s.BatchChurnResponse.model_construct(items=scorer.score_many(request))


def _segment_rows(inputs: ExportInputs, segmenter: Any) -> Any:
    return segment_lookup(segmenter, inputs.tables(), inputs.date)


def _price_rows(inputs: ExportInputs, model: Any) -> dict[str, Any]:
    """The recommendation of every cell sold in the look-back before the snapshot date (``recommendations``) and
    the customer → segment map the model's segments come from (``segments``)."""
    opts = price_options(load_pipeline("price"))
    tables = inputs.tables()
    segments = company_segments(tables, opts, inputs.data_dir)
    frames = {"recommendations": price_serving_table(tables, inputs.date, model, segments=segments, options=opts)}
    if segments is not None:
        frames["segments"] = segments.astype("str").reset_index(drop=True)
    return frames


BUILTIN: tuple[ServedFamily, ...] = (
    ServedFamily(
        "churn",
        (
            Route(
                "/churn",
                "churn_one",
                s.ChurnRequest,
                s.ChurnResponse,
                lambda scorer, req: scorer.score(req),
                "Churn probability of one customer (by `customer_id` or feature record), with its top reasons.",
            ),
            Route(
                "/churn_batch",
                "churn_batch",
                s.BatchChurnRequest,
                s.BatchChurnResponse,
                _churn_batch,
                "Churn probabilities of up to 1,000 customers in one call: `items` (ids or feature records) or the "
                "faster table form (`columns` + `rows`); a bad item, column or row fails the batch, named.",
            ),
        ),
        load_churn_scorer,
        "cxml train churn",
        required=True,
    ),
    ServedFamily(
        "uplift",
        (
            Route(
                "/uplift",
                "uplift_one",
                s.UpliftRequest,
                s.UpliftResponse,
                lambda scorer, req: scorer.score(req),
                "Effect of each campaign arm for one customer, with the holdout interval, the most profitable arm "
                "(or do_not_contact) and why the strongest arm works for them.",
            ),
        ),
        load_uplift_scorer,
        "cxml train uplift",
        export_metadata=uplift_metadata,
    ),
    ServedFamily(
        "survival",
        (
            Route(
                "/survival",
                "survival_one",
                s.ScoreRequest,
                s.ScoreResponse,
                lambda scorer, req: scorer.score(req),
                "A customer's survival curve summary: P(still a customer) after 3, 6 and 12 months, expected "
                "remaining tenure within the last horizon, relative risk, and what drives the risk.",
            ),
        ),
        lambda model, snapshot: load_family_scorer("survival", model, snapshot),
        "cxml train survival",
    ),
    ServedFamily(
        "clv",
        (
            Route(
                "/clv",
                "clv_one",
                s.ScoreRequest,
                s.ScoreResponse,
                lambda scorer, req: scorer.score(req),
                "A customer's expected value and purchases over the CLV horizon and P(alive), with the reasons.",
            ),
        ),
        lambda model, snapshot: load_family_scorer("clv", model, snapshot),
        "cxml train clv",
    ),
    ServedFamily(
        "cross_sell",
        (
            Route(
                "/cross_sell",
                "cross_sell_top",
                s.CrossSellRequest,
                s.CrossSellResponse,
                lambda scorer, req: scorer.top_k(req),
                "The items a customer is most likely to buy next (not owned yet), with probabilities and reasons.",
            ),
            Route(
                "/cross_sell_pair",
                "cross_sell_pair",
                s.CrossSellPairRequest,
                s.CrossSellPairResponse,
                lambda scorer, req: scorer.pair(req),
                "P(customer X buys item Y) in the horizon, whether they own it already, and the reasons.",
            ),
        ),
        load_cross_sell,
        "cxml train cross_sell",
    ),
    ServedFamily(
        "segments",
        (
            Route(
                "/segment",
                "segment_one",
                s.CustomerRequest,
                s.SegmentResponse,
                lambda scorer, req: scorer.score(req),
                "A customer's behavioural segment (in words), value × engagement cell and lifecycle stage with why.",
            ),
        ),
        load_segment_scorer,
        "cxml segments",
        loader=lambda uri: mlflow.sklearn.load_model(uri),
        export_rows=_segment_rows,
    ),
    ServedFamily(
        "price",
        (
            Route(
                "/price",
                "price_quote",
                s.PriceRequest,
                s.PriceResponse,
                lambda scorer, req: scorer.quote(req),
                "Elasticity with its interval and the recommended price (within the guardrails) for a segment or a "
                "customer × product × channel × time bucket, with the expected volume, revenue and margin changes.",
            ),
        ),
        load_price,
        "cxml train price",
        export_rows=_price_rows,
    ),
)


@cache
def served_families() -> dict[str, ServedFamily]:
    """Every served family by name: the built-in ones, then the ``SERVED`` of each ``$CXML_FAMILIES`` module."""
    found = {served.name: served for served in BUILTIN}
    for module in [m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(",") if m.strip()]:
        served = getattr(importlib.import_module(module), "SERVED", None)
        if served is None:
            continue
        if served.name in found:
            raise ValueError(f"{module} serves {served.name!r} a second time")
        found[served.name] = served
    return found
