"""What a campaign contact is worth, per customer and arm, and the best arm (possibly none). Pure: frames in, out.

For customer x and arm a with estimated effect τ_a(x) (incremental response probability), the expected
incremental profit of contacting is

    profit(x, a) = τ_a(x) · margin − cost_per_contact − incentive_cost · p_a(x),    p_a(x) = p_0 + τ_a(x)

``margin`` is the value of one incremental response (e.g. the mean order margin). The incentive is paid to every
responder in the arm, including those who would have bought anyway, so it is charged on the response rate under
the arm, p_a(x); without a per-customer control response model, p_0 is the control group's observed rate.
Not contacting is worth 0, so a customer whose every arm has negative profit is best left alone ("sleeping
dogs" and "sure things" with a costly incentive both end up there).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

NO_CONTACT = "do_not_contact"


@dataclass(frozen=True)
class ContactCosts:
    """The campaign's economics (``campaigns`` table: ``cost_per_contact``, ``incentive_cost``)."""

    margin: float
    cost_per_contact: float
    incentive_cost: float
    control_rate: float

    def __post_init__(self) -> None:
        if not 0 <= self.control_rate <= 1:
            raise ValueError(f"control_rate must be a probability, got {self.control_rate}")
        if min(self.margin, self.cost_per_contact, self.incentive_cost) < 0:
            raise ValueError("margin, cost_per_contact and incentive_cost must not be negative")


def incremental_profit(effects: pd.DataFrame, costs: ContactCosts) -> pd.DataFrame:
    """Expected incremental profit of each arm (columns as in ``effects``) per customer (module formula)."""
    response = (costs.control_rate + effects).clip(0.0, 1.0)
    return effects * costs.margin - costs.cost_per_contact - costs.incentive_cost * response


def best_arm(profit: pd.DataFrame) -> pd.DataFrame:
    """Per customer: the arm with the highest expected profit, or ``do_not_contact`` when none is positive.

    Returns ``arm`` and ``expected_profit`` (0 for do_not_contact), indexed like ``profit``.
    """
    values = profit.to_numpy(float)
    best = values.argmax(axis=1)
    top = values[np.arange(len(values)), best]
    arms = np.asarray(profit.columns, dtype=object)[best]
    contact = top > 0
    return pd.DataFrame(
        {"arm": np.where(contact, arms, NO_CONTACT), "expected_profit": np.where(contact, top, 0.0)},
        index=profit.index,
    )


def recommend(effects: dict[str, float], costs: ContactCosts | None) -> tuple[dict[str, float] | None, str]:
    """One customer's expected profit per arm (None without known costs) and the recommended arm.

    With costs, the most profitable arm or ``do_not_contact``; without, the arm with the largest positive effect.
    """
    if costs is None:
        top = max(effects, key=lambda arm: effects[arm])
        return None, top if effects[top] > 0 else NO_CONTACT
    profit = incremental_profit(pd.DataFrame([effects]), costs)
    return {str(k): float(v) for k, v in profit.iloc[0].items()}, str(best_arm(profit)["arm"].iloc[0])
