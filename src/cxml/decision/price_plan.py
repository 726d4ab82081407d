"""Recommended prices per segment × product × channel × time bucket, from a fitted price model. Pure: frames in/out.

``current_cells`` reads where each cell stands at a date: its current shelf price (the latest ``prices`` row of its
product × channel before the date, else the mean price paid in the look-back), unit cost and weekly volume (mean
units a week over the look-back). ``price_recommendations`` adds the cell's elasticity with its interval (the
model's heterogeneity columns: segment × channel × time bucket) and the margin-maximising price under the
guardrails (:func:`cxml.decision.pricing.recommend_prices`), with expected volume, revenue and margin changes and
their intervals. Fairness compares segments of one product × channel × time bucket.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from cxml.decision.pricing import PricingGuardrails, recommend_prices
from cxml.features.demand import order_cells

KEYS = ("segment", "product_id", "channel", "time_bucket")


def guardrails_of(options: Any) -> PricingGuardrails:
    """The validated guardrails of price options (``options.guardrails`` of ``pipelines/price.yaml``)."""
    return PricingGuardrails.model_validate(getattr(options, "guardrails", None) or {})


def _shelf_prices(prices: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    valid = prices[pd.to_datetime(prices["valid_from"]) < as_of]
    latest = valid.sort_values("valid_from").groupby(["product_id", "channel"], sort=False).tail(1)
    return latest[["product_id", "channel", "price"]].rename(columns={"price": "shelf_price"})


def current_cells(
    tables: Mapping[str, pd.DataFrame],
    as_of: str | pd.Timestamp,
    *,
    segments: pd.DataFrame | None = None,
    keys: Sequence[str] = KEYS,
    lookback_weeks: int = 8,
) -> pd.DataFrame:
    """One row per cell seen in the ``lookback_weeks`` before ``as_of``: price, unit cost, weekly quantity."""

    as_of = pd.Timestamp(as_of)
    orders = tables["orders"]
    window = orders[(orders["ts"] < as_of) & (orders["ts"] >= as_of - pd.Timedelta(weeks=lookback_weeks))]
    if window.empty:
        raise ValueError(f"no orders in the {lookback_weeks} weeks before {as_of.date()}")
    weekly = order_cells({**tables, "orders": window}, by=list(keys), segments=segments, week_origin=as_of)
    g = weekly.groupby(list(keys), sort=True, observed=True)
    paid = g["revenue"].sum() / g["quantity"].sum()
    cells = pd.DataFrame(
        {
            "quantity": g["quantity"].sum() / lookback_weeks,
            "observed_price": (weekly["price"] * weekly["quantity"]).groupby([weekly[k] for k in keys]).sum()
            / g["quantity"].sum(),
            "paid_price": paid,
            "unit_cost": (weekly["unit_cost"] * weekly["quantity"]).groupby([weekly[k] for k in keys]).sum()
            / g["quantity"].sum(),
            "orders_per_week": g["orders"].sum() / lookback_weeks,
        }
    ).reset_index()
    price = cells["observed_price"].to_numpy()
    if "prices" in tables and {"product_id", "channel"} <= set(keys):
        shelf = cells[["product_id", "channel"]].merge(_shelf_prices(tables["prices"], as_of), how="left")
        price = np.where(shelf["shelf_price"].notna(), shelf["shelf_price"].to_numpy(dtype=float), price)
    cells.insert(len(keys), "price", price)
    return cells


def price_recommendations(
    estimator: Any,
    cells: pd.DataFrame,
    guardrails: PricingGuardrails,
    *,
    fairness_over: str | None = "segment",
    price: str = "price",
    unit_cost: str = "unit_cost",
    volume: str = "quantity",
) -> pd.DataFrame:
    """The recommended price of every cell and its expected effects, with the elasticity behind it.

    ``estimator`` has ``elasticity(rows)`` (``PriceDML``); ``cells`` hold its heterogeneity columns, the
    current ``price``, ``unit_cost`` and weekly ``volume`` (e.g. :func:`current_cells`). Fairness groups are the
    cells that differ only in ``fairness_over`` (None: no fairness groups beyond the whole frame).
    """
    effects = estimator.elasticity(cells)
    frame = pd.concat([cells.reset_index(drop=True), effects.reset_index(drop=True)], axis=1)
    keys = [k for k in cells.columns if k in KEYS or k in getattr(estimator, "effect_names", ())]
    group = [k for k in keys if k != fairness_over] if fairness_over in cells.columns else []
    rec = recommend_prices(frame, guardrails, fairness_group=group, price=price, unit_cost=unit_cost, volume=volume)
    out = pd.concat([frame[keys], effects.reset_index(drop=True), frame[[unit_cost, volume]], rec], axis=1)
    return out.rename(columns={volume: "weekly_volume"})
