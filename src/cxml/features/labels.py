"""Labels, read only from the window after the cut-off (features read only before it): churn, campaign response."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

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


Outcome = Literal["purchase", "visit", "spend"]


def campaign_outcomes(
    tables: Mapping[str, pd.DataFrame], campaign_id: str, window_days: int, outcome: Outcome
) -> pd.DataFrame:
    """Each exposed customer's arm and response in ``[sent_at, sent_at + window_days)`` after their own send.

    ``purchase``: 1 with at least one kept order line in the window; ``visit``: 1 with a web/app visit (events
    attributed through identity resolution when they carry only an identifier); ``spend``: kept line value in
    the window. Returns ``outcome`` (float), ``arm`` (str) and ``sent_at``, indexed by ``customer_id`` (sorted).
    Raises ``ValueError`` for an unknown campaign or a window that runs past the data.
    """
    exposures = tables["exposures"]
    sent = exposures.loc[exposures["campaign_id"] == campaign_id, ["customer_id", "arm", "sent_at"]]
    if sent.empty:
        known = sorted(exposures["campaign_id"].unique())
        raise ValueError(f"campaign {campaign_id!r} has no exposures; campaigns with exposures: {known}")
    window = pd.Timedelta(days=window_days)
    last = tables["orders"]["ts"].max()
    if sent["sent_at"].max() + window > last:
        raise ValueError(
            f"campaign {campaign_id}: the {window_days}-day response window runs past the last order ({last})"
        )
    sent = sent.drop_duplicates("customer_id", keep="first").set_index("customer_id").sort_index()
    if outcome == "visit":
        activity = _resolved_visits(tables)
        activity = activity.assign(value=1.0)
    else:
        orders = tables["orders"]
        kept = orders.loc[~orders["returned"].astype(bool)]
        value = kept["quantity"] * kept["unit_price"] - kept["discount"] if outcome == "spend" else 1.0
        activity = kept[["customer_id", "ts"]].assign(value=value)
    joined = activity.merge(sent[["sent_at"]], left_on="customer_id", right_index=True, how="inner")
    inside = joined[(joined["ts"] >= joined["sent_at"]) & (joined["ts"] < joined["sent_at"] + window)]
    per_customer = inside.groupby("customer_id")["value"].sum()
    response = per_customer.reindex(sent.index, fill_value=0.0).astype(float)
    if outcome != "spend":
        response = (response > 0).astype(float)
    frame = sent.assign(outcome=response, arm=sent["arm"].astype(str))[["outcome", "arm", "sent_at"]]
    frame.index = frame.index.astype("str")
    return frame


def _resolved_visits(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Visit events with a customer id, from the event itself or from the identity graph."""
    events = tables["events"]
    visits = events.loc[events["event_type"] == "visit", ["identifier", "customer_id", "ts"]]
    identities = tables["identities"].dropna(subset=["customer_id"]).drop_duplicates("identifier")
    owner = visits["identifier"].map(identities.set_index("identifier")["customer_id"])
    customer = visits["customer_id"].fillna(owner)
    return pd.DataFrame({"customer_id": customer, "ts": visits["ts"]}).dropna(subset=["customer_id"])
