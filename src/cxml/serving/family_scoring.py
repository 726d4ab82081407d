"""What the lifecycle and cross-sell endpoints do, without HTTP: survival and CLV scores with reasons (any
family whose ``ModelSpec.explain_row`` gives scores), a customer's segment and stage, and cross-sell answers
with the served model's versions attached."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from cxml.datasets import get_family
from cxml.features.rfm_data import RFM_FEATURES
from cxml.serving.cross_sell_scoring import CrossSellScorer
from cxml.serving.price_scoring import PriceScorer
from cxml.serving.schemas import (
    CrossSellPairRequest,
    CrossSellPairResponse,
    CrossSellRequest,
    CrossSellResponse,
    CustomerRequest,
    ErrorDetail,
    PriceRequest,
    PriceResponse,
    Reason,
    ScoreRequest,
    ScoreResponse,
    SegmentResponse,
    ServedModel,
)
from cxml.serving.scoring import RequestError, SnapshotScorer, feature_names, served_model
from cxml.serving.store import FeatureSnapshot, load_estimator, load_rows, load_snapshot

if TYPE_CHECKING:
    import bentoml


def _unknown(customer_id: str, where: str) -> RequestError:
    return RequestError(
        404,
        f"customer {customer_id!r} is not in {where}",
        [ErrorDetail(type="unknown_customer", loc=["customer_id"], msg=f"not in {where}")],
    )


def rfm_errors(record: dict[str, Any], loc: tuple[str | int, ...]) -> list[ErrorDetail]:
    """The RFM rules of a CLV feature record (those ``models.btyd`` enforces): the RFM columns are required (a
    null has no meaning to the BTYD models), frequency a whole number >= 0, 0 <= recency <= T, recency 0 without
    repeat purchases, T > 0, amounts >= 0."""
    errors: list[ErrorDetail] = []

    def bad(name: str, rule: str) -> None:
        errors.append(ErrorDetail(type="rfm_rule", loc=[*loc, name], msg=f"feature {name!r} {rule}"))

    present = [c for c in RFM_FEATURES if c in record]
    for name in present:
        if record[name] is None:
            bad(name, "is required by the CLV model: null is not a value here")
    if errors:
        return errors
    x, tx, T = (record.get(c) for c in ("frequency", "recency", "T"))
    if x is not None and (x < 0 or x != round(x)):
        bad("frequency", f"must be a whole number >= 0 (repeat purchases), got {x!r}")
    if T is not None and T <= 0:
        bad("T", f"must be > 0 (time since the first purchase), got {T!r}")
    if tx is not None and tx < 0:
        bad("recency", f"must be >= 0, got {tx!r}")
    elif tx is not None and T is not None and 0 < T < tx:
        bad("recency", f"must be <= T (the last purchase comes after the first), got {tx!r} > T = {T!r}")
    elif tx is not None and x == 0 and tx != 0:
        bad("recency", f"must be 0 for a customer without repeat purchases (frequency 0), got {tx!r}")
    for name in ("monetary_value", "average_spend"):
        if record.get(name) is not None and record[name] < 0:
            bad(name, f"must be >= 0, got {record[name]!r}")
    return errors


RECORD_RULES: dict[str, Callable[[dict[str, Any], tuple[str | int, ...]], list[ErrorDetail]]] = {"clv": rfm_errors}
"""A family's rules on the feature records clients send, beyond the types every family checks."""


@dataclass
class FamilyScorer(SnapshotScorer):
    """A served champion whose family explains one row as scores and reasons (survival, CLV)."""

    family: str = ""

    def __post_init__(self) -> None:
        self.names = feature_names(self.estimator)
        encoder = getattr(self.estimator, "encoder_", None) or getattr(
            getattr(self.estimator, "model_", None), "encoder_", None
        )
        self.categories = dict(getattr(encoder, "categories_", {}))
        if self.snapshot is not None:
            self.snapshot = self.snapshot.select(self.names)

    def _record_rules(self, record: dict[str, Any], loc: tuple[str | int, ...]) -> list[ErrorDetail]:
        rules = RECORD_RULES.get(self.family)
        return rules(record, loc) if rules is not None else []

    def score(self, req: ScoreRequest) -> ScoreResponse:
        frame = self._frame(self._records([req], batch=False))
        explained = get_family(self.family).spec.explain_row(self.estimator, frame, req.top_k)
        score = float(explained["score"])
        scores = {str(k): float(v) for k, v in explained.get("scores", {"score": explained["score"]}).items()}
        if not all(math.isfinite(v) for v in (score, *scores.values())):  # never a null score
            where = "features" if req.features is not None else "customer_id"
            raise RequestError(
                400,
                f"the {self.family} model gives no finite score for this record: check its values",
                [ErrorDetail(type="unscorable", loc=[where], msg="no finite score for these values")],
            )
        return ScoreResponse(
            customer_id=req.customer_id,
            family=self.family,
            score=score,
            scores=scores,
            summary=str(explained.get("headline", "")).lstrip("; "),
            reasons=[Reason.model_validate(r) for r in explained.get("reasons", [])[: req.top_k]],
            model_name=self.model.mlflow_model,
            model_version=self.model.mlflow_version,
            snapshot_as_of=self._snapshot_as_of(req),
        )


def load_family_scorer(family: str, model: bentoml.Model, snapshot: bentoml.Model | None) -> FamilyScorer:
    """A scorer on the rows exported with the champion, or on the customer-360 snapshot when it has none."""
    estimator = load_estimator(model, nthread=1)
    rows: FeatureSnapshot | None
    if get_family(family).serving_rows is not None:
        rows = FeatureSnapshot(load_rows(model), model.info.labels.get("as_of", _as_of(snapshot)), str(model.tag))
    else:
        rows = load_snapshot(snapshot) if snapshot is not None else None
    return FamilyScorer(estimator, served_model(model, estimator), rows, family=family)


def _metadata(model: bentoml.Model) -> dict[str, Any]:
    return dict(model.info.metadata)  # JSON values; BentoML types them as any scalar


def _as_of(snapshot: bentoml.Model | None) -> str:
    return snapshot.info.labels.get("as_of", "") if snapshot is not None else ""


@dataclass
class SegmentScorer:
    """Each customer's segment, value × engagement cell and lifecycle stage at the snapshot date."""

    rows: pd.DataFrame
    model: ServedModel
    as_of: str

    def score(self, req: CustomerRequest) -> SegmentResponse:
        cid = req.customer_id
        if cid not in self.rows.index:
            raise _unknown(cid, f"the segment assignment as of {self.as_of}")
        row = self.rows.loc[cid]
        return SegmentResponse(
            customer_id=cid,
            segment=int(row["segment"]),
            segment_name=str(row["segment_name"]),
            segment_traits=str(row["segment_traits"]),
            value_engagement=str(row["cell"]),
            high_value=bool(row["high_value"]),
            engaged=bool(row["engaged"]),
            stage=str(row["stage"]),
            stage_reason=str(row["stage_reason"]),
            model_name=self.model.mlflow_model,
            model_version=self.model.mlflow_version,
            snapshot_as_of=self.as_of,
        )


def load_segment_scorer(model: bentoml.Model, snapshot: bentoml.Model | None) -> SegmentScorer:
    rows = load_rows(model)
    rows.index = rows.index.astype("str")
    labels = model.info.labels
    served = ServedModel(
        family="segments",
        bento_tag=str(model.tag),
        mlflow_model=labels["mlflow_model"],
        mlflow_version=labels["mlflow_version"],
        mlflow_run_id=labels["mlflow_run_id"],
        features=[str(c) for c in _metadata(model).get("features", [])],
    )
    return SegmentScorer(rows, served, _as_of(snapshot))


@dataclass
class ServedCrossSell:
    """The cross-sell champion's answers with its versions, and the item margins next best action values."""

    scorer: CrossSellScorer
    model: ServedModel
    as_of: str
    margins: dict[str, float] = field(default_factory=dict)

    def top_k(self, req: CrossSellRequest) -> CrossSellResponse:
        found = self.scorer.top_k(req.customer_id, req.top_k, n_reasons=req.n_reasons)
        return CrossSellResponse(**found, **self._versions())

    def pair(self, req: CrossSellPairRequest) -> CrossSellPairResponse:
        found = self.scorer.pair(req.customer_id, req.item, n_reasons=req.n_reasons)
        return CrossSellPairResponse(**found, **self._versions())

    def suggestions(self, customer_id: str, k: int = 3) -> list[tuple[str, float, float]]:
        """(item, P(buy), unit margin) of the customer's ``k`` best items; none for a customer without pairs."""
        try:
            found = self.scorer.top_k(customer_id, k, n_reasons=0)
        except RequestError:
            return []
        return [(i["item"], i["probability"], float(self.margins.get(i["item"], 0.0))) for i in found["items"]]

    def _versions(self) -> dict[str, Any]:
        return {
            "model_name": self.model.mlflow_model,
            "model_version": self.model.mlflow_version,
            "snapshot_as_of": self.as_of,
        }


def load_cross_sell(model: bentoml.Model, snapshot: bentoml.Model | None) -> ServedCrossSell:
    estimator = load_estimator(model, nthread=1)
    metadata = _metadata(model)
    scorer = CrossSellScorer(estimator, load_rows(model), dict(metadata.get("item_names", {})))
    margins = {str(k): float(v) for k, v in dict(metadata.get("item_margins", {})).items()}
    return ServedCrossSell(scorer, served_model(model, estimator), _as_of(snapshot), margins)


@dataclass
class ServedPrice:
    """The price champion's quotes with its versions."""

    scorer: PriceScorer
    model: ServedModel
    as_of: str

    def quote(self, req: PriceRequest) -> PriceResponse:
        found = self.scorer.quote(
            product_id=req.product_id,
            channel=req.channel,
            time_bucket=req.time_bucket,
            segment=req.segment,
            customer_id=req.customer_id,
        )
        return PriceResponse(
            **found,
            model_name=self.model.mlflow_model,
            model_version=self.model.mlflow_version,
            snapshot_as_of=self.as_of,
        )


def load_price(model: bentoml.Model, snapshot: bentoml.Model | None) -> ServedPrice:
    estimator = load_estimator(model, nthread=1)
    try:
        segments: pd.DataFrame | None = load_rows(model, "segments")
    except FileNotFoundError:
        segments = None
    scorer = PriceScorer(estimator, load_rows(model, "recommendations"), segments)
    return ServedPrice(scorer, served_model(model, estimator), _as_of(snapshot))
