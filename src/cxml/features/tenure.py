"""Tenure labels for survival on the contract tables: months from ``as_of`` until a churn is detected, censored.

A customer has churned once ``lapse_days`` pass with no purchase (kept order line); the churn is *detected* at
the last purchase + ``lapse_days``. The population is the customers who have not lapsed at ``as_of`` (a kept
line in ``[as_of - lapse_days, as_of)``, signed up before ``as_of``), so every duration is >= 0. Purchases
before ``as_of`` only anchor the clock (the last one is known at ``as_of``); whether and when the churn happens
is read from purchases at or after ``as_of``. A detection after the end of the data (``end``, by default the
last order) is not observed: the customer is censored there.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DAYS_PER_MONTH = 365.25 / 12
"""Durations are in months of this many days."""


def tenure_labels(
    orders: pd.DataFrame,
    customers: pd.DataFrame,
    as_of: str | pd.Timestamp,
    *,
    lapse_days: int = 90,
    end: str | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """``duration`` (months from ``as_of``, float) and ``event`` (1 churn detected, 0 censored) per customer.

    ``end`` is when observation stops (default: the last order in the data, returned lines included); it must
    lie after ``as_of``. Returns a frame indexed by ``customer_id`` (str, sorted); inputs are not modified.
    """
    if lapse_days <= 0:
        raise ValueError(f"lapse_days must be positive, got {lapse_days}")
    if len(orders) == 0:
        raise ValueError("no orders: cannot label tenure")
    as_of_ts = pd.Timestamp(as_of)
    end_ts = pd.Timestamp(end) if end is not None else orders["ts"].max()
    if end_ts <= as_of_ts:
        raise ValueError(f"the data end ({end_ts}) must come after as_of ({as_of_ts}): nothing to follow up")
    lapse = pd.Timedelta(days=lapse_days)
    kept = orders.loc[~orders["returned"].astype(bool) & (orders["ts"] <= end_ts), ["customer_id", "ts"]]
    kept = kept.assign(customer_id=kept["customer_id"].astype("str"))
    known = set(customers.loc[customers["signup_at"] < as_of_ts, "customer_id"].astype("str"))
    recent = kept[(kept["ts"] >= as_of_ts - lapse) & (kept["ts"] < as_of_ts) & kept["customer_id"].isin(known)]
    anchor = recent.groupby("customer_id")["ts"].max()
    later = kept[(kept["ts"] >= as_of_ts) & kept["customer_id"].isin(anchor.index)]
    # a customer's purchase times from the anchor on; the first gap longer than the lapse ends their tenure
    times = pd.concat([anchor.rename("ts").reset_index(), later], ignore_index=True)
    times = times.sort_values(["customer_id", "ts"], kind="stable", ignore_index=True)
    gap_after = times.groupby("customer_id")["ts"].shift(-1) - times["ts"]
    last_before_gap = times.loc[gap_after.isna() | (gap_after > lapse)].groupby("customer_id")["ts"].min()
    detected = (last_before_gap + lapse).reindex(anchor.index)
    event = detected <= end_ts
    return _months_until(as_of_ts, detected.where(event, end_ts), event)


def lifetime_labels(
    orders: pd.DataFrame, customers: pd.DataFrame, as_of: str | pd.Timestamp, *, lapse_days: int = 90
) -> pd.DataFrame:
    """How long each customer has stayed so far: ``duration`` (months from the first purchase until the first
    lapse is detected, or until ``as_of``) and ``event`` (1 lapsed, 0 still a customer: censored at ``as_of``).

    Reads only kept order lines before ``as_of``: the history a Kaplan–Meier curve of customer lifetimes per
    segment is drawn from. Customers without a purchase before ``as_of`` are left out.
    """
    if lapse_days <= 0:
        raise ValueError(f"lapse_days must be positive, got {lapse_days}")
    as_of_ts = pd.Timestamp(as_of)
    lapse = pd.Timedelta(days=lapse_days)
    known = set(customers.loc[customers["signup_at"] < as_of_ts, "customer_id"].astype("str"))
    kept = orders.loc[~orders["returned"].astype(bool) & (orders["ts"] < as_of_ts), ["customer_id", "ts"]]
    kept = kept.assign(customer_id=kept["customer_id"].astype("str"))
    times = kept[kept["customer_id"].isin(known)].sort_values(["customer_id", "ts"], kind="stable", ignore_index=True)
    if times.empty:
        return pd.DataFrame({"duration": [], "event": []}, index=pd.Index([], name="customer_id", dtype="str"))
    by_customer = times.groupby("customer_id")["ts"]
    gap_after = (by_customer.shift(-1).fillna(as_of_ts)) - times["ts"]  # the last purchase's gap runs to as_of
    lapsed_at = times.loc[gap_after > lapse].groupby("customer_id")["ts"].min() + lapse
    first = by_customer.min()
    detected = lapsed_at.reindex(first.index)
    event = detected.notna() & (detected <= as_of_ts)
    return _months_until(first, detected.where(event, as_of_ts), event)


def _months_until(start: pd.Timestamp | pd.Series, stop: pd.Series, event: pd.Series) -> pd.DataFrame:
    """``duration`` in months from ``start`` to ``stop`` and the 0/1 ``event``, by customer id (str, sorted)."""
    out = pd.DataFrame(
        {
            "duration": ((stop - start) / pd.Timedelta(days=1) / DAYS_PER_MONTH).to_numpy(dtype=float),
            "event": event.to_numpy(dtype=np.int64),
        },
        index=pd.Index(stop.index.astype("str"), name="customer_id"),
    )
    return out.sort_index()
