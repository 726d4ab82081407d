"""Churn labels, read only from the window after ``as_of`` (features read only before it)."""

from __future__ import annotations

import pandas as pd


def churn_labels(
    orders: pd.DataFrame,
    customers: pd.DataFrame,
    as_of: str | pd.Timestamp,
    horizon_days: int,
    active_window_days: int,
) -> pd.Series:
    """1 if an active customer makes no purchase in ``[as_of, as_of + horizon_days)``, else 0.

    The population is the customers with at least one kept (not returned) order line in
    ``[as_of - active_window_days, as_of)``; someone who already left before the window is not "churning".
    Purchases in the horizon are kept lines too. Raises ``ValueError`` when the horizon runs past the last
    order in the data, where every label would be censored towards churn.
    Returns an int64 Series named ``churn``, indexed by ``customer_id`` (sorted).
    """
    if horizon_days <= 0 or active_window_days <= 0:
        raise ValueError("horizon_days and active_window_days must be positive")
    as_of_ts = pd.Timestamp(as_of)
    horizon_end = as_of_ts + pd.Timedelta(days=horizon_days)
    ts = orders["ts"]
    if len(orders) == 0:
        raise ValueError("no orders: cannot label churn")
    last_ts = ts.max()
    if horizon_end > last_ts:
        raise ValueError(
            f"as_of {as_of_ts} + horizon {horizon_days} days = {horizon_end} lies beyond the last order "
            f"({last_ts}): the labels would be censored; choose an earlier as_of or a shorter horizon"
        )
    kept = ~orders["returned"].astype(bool)
    window_start = as_of_ts - pd.Timedelta(days=active_window_days)
    active_mask = kept & (ts >= window_start) & (ts < as_of_ts)
    known = pd.Index(customers.loc[customers["signup_at"] < as_of_ts, "customer_id"])
    active = pd.Index(orders.loc[active_mask, "customer_id"].unique()).intersection(known)
    future_mask = kept & (ts >= as_of_ts) & (ts < horizon_end)
    bought = pd.Index(orders.loc[future_mask, "customer_id"].unique())
    active = active.sort_values()
    labels = pd.Series((~active.isin(bought)).astype("int64"), index=active, name="churn")
    labels.index = labels.index.astype("str")
    labels.index.name = "customer_id"
    return labels
