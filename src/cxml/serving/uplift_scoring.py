"""What the uplift endpoint does, without HTTP: each arm's effect with the holdout interval of its decile, the
most profitable arm, and why the strongest arm works for this customer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cxml.decision.value import ContactCosts, recommend
from cxml.models.uplift import band_of
from cxml.models.uplift import explain_row as explain_uplift
from cxml.serving.schemas import ArmEffect, Reason, UpliftRequest, UpliftResponse
from cxml.serving.scoring import SnapshotScorer, served_model
from cxml.serving.store import load_estimator, load_snapshot

if TYPE_CHECKING:
    import bentoml


@dataclass
class UpliftScorer(SnapshotScorer):
    """The served uplift champion, the holdout bands of its effects and the campaign's economics (if known)."""

    bands: dict[str, Any] = field(default_factory=dict)
    costs: ContactCosts | None = None
    campaign: str | None = None

    def score(self, req: UpliftRequest) -> UpliftResponse:
        record = self._records([req], batch=False)[0]
        row = self._frame([record])
        explained = explain_uplift(self.estimator, row, req.top_k)
        profit, recommended = recommend(explained["effects"], self.costs)
        arms = []
        for arm, effect in explained["effects"].items():
            decile, observed, low, high = band_of(self.bands, arm, effect) if arm in self.bands else (1, 0, -1, 1)
            arms.append(
                ArmEffect(
                    arm=arm,
                    effect=effect,
                    decile=decile,
                    observed_effect=observed,
                    interval=(low, high),
                    expected_profit=None if profit is None else float(profit[arm]),
                )
            )
        return UpliftResponse(
            customer_id=req.customer_id,
            campaign=self.campaign,
            effects=arms,
            recommended_arm=recommended,
            explained_arm=explained["arm"],
            persuadable=explained["effects"][explained["arm"]] > 0,
            model_name=self.model.mlflow_model,
            model_version=self.model.mlflow_version,
            snapshot_as_of=self._snapshot_as_of(req),
            reasons=[Reason.model_validate(r) for r in explained["reasons"]],
        )


def load_uplift_scorer(model: bentoml.Model, snapshot: bentoml.Model | None = None) -> UpliftScorer:
    """A scorer for an exported uplift champion; its bands and costs travel in the model's metadata."""
    estimator = load_estimator(model, nthread=1)
    meta: dict[str, Any] = dict(model.info.metadata)
    costs = ContactCosts(**meta["contact_costs"]) if meta.get("contact_costs") else None
    return UpliftScorer(
        estimator,
        served_model(model, estimator),
        load_snapshot(snapshot) if snapshot else None,
        bands=dict(meta.get("effect_bands", {})),
        costs=costs,
        campaign=str(meta["campaign"]) if meta.get("campaign") else None,
    )
