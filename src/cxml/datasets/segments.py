"""Segment rows: the features segments are drawn on, and every customer's segment, value × engagement cell and
lifecycle stage at a date.

The segments use the customer-360 features plus what a customer's baskets say about them, which the
customer-360 set does not carry: order lines per order, units per line and the share of kept lines from each
product category (last 365 days). On the simulated company these are what the latent segments drive (lines and
quantity per order, category taste); channel, returns and timing are not (see ``bench/RESULTS.md``, #18).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from cxml.features.build import build_features
from cxml.features.labels import campaign_outcomes, churn_labels
from cxml.models.lifecycle_stage import stage_at
from cxml.models.segmentation import BASKET_FEATURES, CATEGORY_PREFIX, value_engagement_grid

BASKET_WINDOW_DAYS = 365
CHURN_DAYS = 90
"""A segment's churn rate: the share of its customers who bought in the year before the last ``CHURN_DAYS`` and
made no kept purchase in them (observed, not predicted)."""
RESPONSE_DAYS = 14
CATEGORY_PSEUDO_LINES = 0.5
"""Half a line added to every category before the shares: a customer with one line is not "100 % grocery"; the
shares of a one-line basket stay near uniform, and those of a long history are hardly moved (ARI on buyers 0.11
with raw shares, see bench/RESULTS.md #18)."""


def basket_features(tables: Mapping[str, pd.DataFrame], as_of: str | pd.Timestamp) -> pd.DataFrame:
    """Per customer with kept order lines in the 365 days before ``as_of``: lines per order, units per line and
    the share of kept lines from each category (``category_share_<category>``, smoothed by
    ``CATEGORY_PSEUDO_LINES``); rows at or after ``as_of`` are
    never read. Customers without such lines are absent (the caller's join leaves them NaN: nothing to measure).
    """
    as_of_ts = pd.Timestamp(as_of)
    orders = tables["orders"]
    recent = (orders["ts"] < as_of_ts) & (orders["ts"] >= as_of_ts - pd.Timedelta(days=BASKET_WINDOW_DAYS))
    lines = orders.loc[recent & ~orders["returned"].astype(bool), ["customer_id", "order_id", "product_id", "quantity"]]
    categories = tables["products"].drop_duplicates("product_id").set_index("product_id")["category"]
    lines = lines.assign(category=lines["product_id"].map(categories).fillna("unknown").astype(str))
    by_customer = lines.groupby("customer_id")
    out = pd.DataFrame(
        {
            BASKET_FEATURES[0]: by_customer.size() / by_customer["order_id"].nunique(),
            BASKET_FEATURES[1]: by_customer["quantity"].mean().astype(float),
        }
    )
    counts = pd.crosstab(lines["customer_id"], lines["category"])
    smoothed = counts + CATEGORY_PSEUDO_LINES
    shares = smoothed.div(smoothed.sum(axis=1), axis=0)
    shares.columns = [f"{CATEGORY_PREFIX}{c}" for c in shares.columns]
    out = out.join(shares.astype(float))
    out.index = out.index.astype(str)
    return out.rename_axis("customer_id")


def segment_features(tables: Mapping[str, pd.DataFrame], as_of: str | pd.Timestamp) -> pd.DataFrame:
    """The customer-360 features at ``as_of`` with the basket features joined (NaN for customers without kept
    lines in the last 365 days): the frame the segmenter is fitted on and predicts from."""
    features = build_features(tables, as_of)
    basket = basket_features(tables, as_of).reindex(features.index)
    return features.join(basket.astype(np.float64))


def segment_lookup(segmenter: Any, tables: Mapping[str, pd.DataFrame], as_of: pd.Timestamp) -> pd.DataFrame:
    """Every customer at ``as_of``: segment (number, name, traits in words), value × engagement cell and
    lifecycle stage with its reason: the rows the ``/segment`` endpoint serves."""

    features = segment_features(tables, as_of)
    traits = segmenter.describe()["summary"]  # indexed by segment number
    assigned = segmenter.segment(features)
    stages = stage_at(tables, as_of)[["stage", "reason"]].rename(columns={"reason": "stage_reason"})
    frame = assigned.assign(segment_traits=traits.reindex(assigned["segment"]).to_numpy())
    frame = frame.join(value_engagement_grid(features)[["high_value", "engaged", "cell"]]).join(stages)
    frame["stage"] = frame["stage"].astype("str")
    return frame.rename_axis("customer_id")


def segment_churn(tables: Mapping[str, pd.DataFrame], as_of: str | pd.Timestamp) -> pd.Series:
    """1/0 per customer active in the 365 days before the last ``CHURN_DAYS`` before ``as_of`` (or before the last
    order, when the data end earlier): 1 when they made no kept purchase in those last days."""
    orders = tables["orders"]
    end = min(pd.Timestamp(as_of), pd.Timestamp(orders["ts"].max()))
    start = end - pd.Timedelta(days=CHURN_DAYS)
    return churn_labels(orders, tables["customers"], start, CHURN_DAYS, BASKET_WINDOW_DAYS)


def campaign_responses(tables: Mapping[str, pd.DataFrame], as_of: str | pd.Timestamp) -> pd.DataFrame:
    """Every send of every campaign whose ``RESPONSE_DAYS``-day window closed before ``as_of`` and inside the
    data: ``customer_id``, ``campaign_id``, ``treated`` (a treatment arm, not ``control``) and ``outcome`` (1 with a
    kept purchase in the window, in any channel, so control customers are measured the same way)."""
    exposures = tables.get("exposures")
    columns = ["customer_id", "campaign_id", "treated", "outcome"]
    if exposures is None or exposures.empty:
        return pd.DataFrame(columns=columns)
    window = pd.Timedelta(days=RESPONSE_DAYS)
    last = min(pd.Timestamp(as_of), pd.Timestamp(tables["orders"]["ts"].max()))
    closed = exposures.groupby("campaign_id")["sent_at"].max() + window <= last
    frames = []
    for campaign in sorted(closed.index[closed.to_numpy()]):
        frame = campaign_outcomes(tables, str(campaign), RESPONSE_DAYS, "purchase")
        frames.append(
            pd.DataFrame(
                {
                    "customer_id": frame.index.astype(str),
                    "campaign_id": str(campaign),
                    "treated": (frame["arm"] != "control").to_numpy(),
                    "outcome": frame["outcome"].to_numpy(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
