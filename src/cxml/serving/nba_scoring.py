"""What the next-best-action endpoint does, without HTTP: value each candidate action for a customer with the
served champions, then let the contact policy choose (``cxml.decision.nba`` and ``cxml.decision.policy``)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from cxml.decision.nba import NbaConfig, campaign_actions, retention_actions, suggestion_actions
from cxml.decision.policy import Action, ContactState, decide, state_of
from cxml.decision.value import ContactCosts
from cxml.serving.family_scoring import FamilyScorer, ServedCrossSell
from cxml.serving.schemas import (
    ActionValue,
    ChurnRequest,
    NextBestActionRequest,
    NextBestActionResponse,
    ScoreRequest,
    UpliftRequest,
)
from cxml.serving.scoring import ChurnScorer, RequestError
from cxml.serving.uplift_scoring import UpliftScorer

VALUE_FEATURE = "spend_365d"
N_SUGGESTIONS = 3


def _out(action: Action) -> ActionValue:
    return ActionValue(
        name=action.name,
        kind=action.kind,
        expected_value=action.expected_value,
        effect=action.effect,
        cost=action.cost,
        reason=action.reason,
    )


@dataclass
class NextBestActionScorer:
    """Churn (and uplift, when served) champions, each customer's contact state, and the policy."""

    churn: ChurnScorer
    uplift: UpliftScorer | None
    states: pd.DataFrame
    """``cxml.decision.policy.contact_states`` at the snapshot date, indexed by customer id."""
    values: pd.Series
    """Each customer's value at stake (spend over the last 365 days) when no CLV champion knows them."""
    config: NbaConfig
    cross_sell: ServedCrossSell | None = None
    """Adds up to ``N_SUGGESTIONS`` item suggestions to the candidates when served."""
    clv: FamilyScorer | None = None
    """The customer's expected value over the CLV horizon replaces the 365-day spend when served."""

    def _state(self, customer_id: str) -> ContactState:
        if customer_id in self.states.index:
            return state_of(self.states.loc[customer_id])
        return ContactState(consent_marketing=False)  # no consent on record: never marketing

    def _campaign_costs(self) -> ContactCosts | None:
        if self.uplift is None:
            return None
        if self.uplift.costs is not None:
            return self.uplift.costs
        econ = self.config.economics
        return ContactCosts(econ.response_value, econ.contact_cost, 0.0, 0.0)

    def decide(self, req: NextBestActionRequest) -> NextBestActionResponse:
        cid = req.customer_id
        churn = self.churn.score(ChurnRequest(customer_id=cid, top_k=0))  # 404 for an unknown customer
        models = {churn.model_name: churn.model_version}
        value = float(self.values.get(cid, 0.0))
        if self.clv is not None:
            try:
                clv = self.clv.score(ScoreRequest(customer_id=cid, top_k=0))
                value, models[clv.model_name] = clv.score, clv.model_version
            except RequestError:  # no kept order before the snapshot: the CLV rows do not know them
                pass
        value = value if value == value else 0.0  # NaN spend: nothing at stake
        actions = retention_actions(churn.probability, value, self.config.economics)
        if self.cross_sell is not None:
            suggestions = self.cross_sell.suggestions(cid, N_SUGGESTIONS)
            actions += suggestion_actions(suggestions, self.config.economics)
            models[self.cross_sell.model.mlflow_model] = self.cross_sell.model.mlflow_version
        if self.uplift is not None:
            uplift = self.uplift.score(UpliftRequest(customer_id=cid, top_k=0))
            effects = {e.arm: e.effect for e in uplift.effects}
            actions += campaign_actions(effects, self._campaign_costs(), uplift.campaign)
            models[uplift.model_name] = uplift.model_version
        as_of = pd.Timestamp(self.churn.snapshot.as_of if self.churn.snapshot else "now")
        decision = decide(cid, actions, self._state(cid), as_of, self.config.policy, n_runners_up=req.top_k)
        return NextBestActionResponse(
            customer_id=cid,
            action=_out(decision.chosen),
            runners_up=[_out(a) for a in decision.runners_up],
            blocked=decision.blocked,
            holdout=decision.holdout,
            reasons=decision.reasons,
            churn_probability=churn.probability,
            customer_value=value,
            models=models,
            snapshot_as_of=str(as_of.date()),
        )
