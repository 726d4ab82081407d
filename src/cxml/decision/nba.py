"""Next best action: the candidate actions for one customer, each with its expected incremental value.

Candidates and their value (``pipelines/policy.yaml`` holds the assumptions):

- **each campaign arm** (marketing): the uplift model's effect τ_a × the value of one response − the contact
  cost − the incentive paid to every responder under the arm (``decision.value.incremental_profit``);
- **retention offer** (marketing): P(churn) × ``save_rate`` × the customer's value − offer cost − contact cost,
  where the customer's value is their spend over the last 365 days unless a CLV is given; ``save_rate`` is an
  assumption (the share of would-be churners the offer keeps), stated in every reason until a retention
  experiment measures it;
- **service check-in** (service, allowed without marketing consent): P(churn) × ``check_in_save_rate`` × value −
  its cost;
- **cross-sell suggestions** (marketing), when propensities are given: P(buy) × ``suggestion_lift`` × margin −
  contact cost;
- **do nothing**: worth 0.

``policy.decide`` then applies consent, caps, cooldown and the holdout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from cxml.config import settings_layers, validate_settings
from cxml.decision.policy import Action, ContactPolicy
from cxml.decision.value import ContactCosts, incremental_profit


class ActionEconomics(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    retention_offer_cost: float = Field(10.0, ge=0, description="incentive of the retention offer")
    retention_contact_cost: float = Field(0.5, ge=0)
    save_rate: float = Field(0.15, ge=0, le=1, description="assumed share of would-be churners an offer keeps")
    check_in_cost: float = Field(2.0, ge=0, description="cost of a service check-in call")
    check_in_save_rate: float = Field(0.05, ge=0, le=1)
    suggestion_lift: float = Field(0.1, ge=0, le=1, description="assumed share of a propensity a suggestion adds")
    suggestion_cost: float = Field(0.05, ge=0)
    response_value: float = Field(
        25.0, ge=0, description="value of one campaign response when the campaign's economics are unknown"
    )
    contact_cost: float = Field(0.1, ge=0, description="cost of one campaign contact when unknown")


class NbaConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    policy: ContactPolicy = ContactPolicy()
    economics: ActionEconomics = ActionEconomics()

    @classmethod
    def from_yaml(cls, path: Path | None) -> NbaConfig:
        """The shipped ``policy.yaml`` with ``path`` (a workspace's or project's file) on top, validated."""
        return validate_settings(cls, settings_layers("policy", path))


def campaign_actions(effects: Mapping[str, float], costs: ContactCosts | None, campaign: str | None) -> list[Action]:
    """One marketing action per arm (``campaign:arm``); without the campaign's economics, none can be valued."""
    if costs is None or not effects:
        return []
    frame = pd.DataFrame([dict(effects)])
    profit = incremental_profit(frame, costs).iloc[0]
    name = campaign or "campaign"
    return [
        Action(
            name=f"{name}:{arm}",
            kind="marketing",
            expected_value=float(profit[arm]),
            effect=float(effect),
            value_per_response=costs.margin,
            cost=float(effect * costs.margin - profit[arm]),
            reason=f"uplift {effect:+.3f} × margin {costs.margin:.2f} − contact and incentive cost",
        )
        for arm, effect in effects.items()
    ]


def retention_actions(churn_probability: float, customer_value: float, econ: ActionEconomics) -> list[Action]:
    """The retention offer (marketing) and the service check-in (service), valued on P(churn) × value."""
    at_stake = churn_probability * max(customer_value, 0.0)
    offer_cost = econ.retention_offer_cost + econ.retention_contact_cost
    return [
        Action(
            name="retention_offer",
            kind="marketing",
            expected_value=at_stake * econ.save_rate - offer_cost,
            effect=churn_probability * econ.save_rate,
            value_per_response=customer_value,
            cost=offer_cost,
            reason=(
                f"P(churn) {churn_probability:.2f} × value {customer_value:.2f} × assumed save rate "
                f"{econ.save_rate:.0%} − offer and contact {offer_cost:.2f}"
            ),
        ),
        Action(
            name="service_check_in",
            kind="service",
            expected_value=at_stake * econ.check_in_save_rate - econ.check_in_cost,
            effect=churn_probability * econ.check_in_save_rate,
            value_per_response=customer_value,
            cost=econ.check_in_cost,
            reason=(
                f"P(churn) {churn_probability:.2f} × value {customer_value:.2f} × assumed save rate "
                f"{econ.check_in_save_rate:.0%} − call {econ.check_in_cost:.2f}"
            ),
        ),
    ]


def suggestion_actions(propensities: Sequence[tuple[str, float, float]], econ: ActionEconomics) -> list[Action]:
    """Cross-sell suggestions from (item, P(buy), margin) triples."""
    return [
        Action(
            name=f"suggest:{item}",
            kind="marketing",
            expected_value=p * econ.suggestion_lift * margin - econ.suggestion_cost,
            effect=p * econ.suggestion_lift,
            value_per_response=margin,
            cost=econ.suggestion_cost,
            reason=f"P(buy) {p:.2f} × assumed lift {econ.suggestion_lift:.0%} × margin {margin:.2f}",
        )
        for item, p, margin in propensities
    ]
