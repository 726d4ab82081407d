"""Ground truth read back from the truth tables: what each customer would do under each arm of a campaign."""

from __future__ import annotations

import pandas as pd

from cxml.data.synthetic.params import CAMPAIGN_TEMPLATES

CONTROL_ARM = "control"


def campaign_arms(campaign_id: str) -> tuple[str, ...]:
    """A simulated campaign's arms, control first (``CMP01`` .. ``CMP05``)."""
    number = int(campaign_id.removeprefix("CMP")) if campaign_id.startswith("CMP") else 0
    if not 1 <= number <= len(CAMPAIGN_TEMPLATES):
        raise ValueError(f"unknown simulated campaign {campaign_id!r}: CMP01 .. CMP{len(CAMPAIGN_TEMPLATES):02d}")
    return (CONTROL_ARM, *(arm[0] for arm in CAMPAIGN_TEMPLATES[number - 1][4]))


def arm_outcomes(effects: pd.DataFrame, campaign_id: str) -> pd.DataFrame:
    """Each targeted customer's true expected outcome under every arm: P(≥ 1 purchase in the response window).

    ``effects`` is ``truth/effects`` (one row per exposed customer × treatment arm); the control column is
    ``p_purchase_control`` and each arm's is ``p_purchase_control + true_effect``, so the per-customer best arm and
    any policy's exact expected value (``sum_a pi(a | x) mu_a(x)``) follow. One row per customer, in id order.
    """
    arms = campaign_arms(campaign_id)
    rows = effects[effects["campaign_id"] == campaign_id]
    if rows.empty:
        raise ValueError(f"truth/effects has no rows for {campaign_id}")
    wide = rows.pivot(index="customer_id", columns="arm", values="true_effect")
    control = rows.groupby("customer_id")["p_purchase_control"].first()
    out = pd.DataFrame({CONTROL_ARM: control}).join(wide.add(control, axis=0))
    out = out.clip(0.0, 1.0)
    return out[list(arms)].sort_index().rename_axis("customer_id").reset_index()
