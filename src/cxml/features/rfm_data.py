"""Rows for lifetime value: one per customer, calibration-period RFM features, holdout-period value as targets.

Time is counted in periods of ``period_days`` days (7: weeks, as in the BTYD papers). Purchases are days: several
transactions of one customer on one day are one purchase, their values summed (``rfm_summary``'s convention).
The calibration period ends on ``calibration_end`` (inclusive), the holdout runs from the next day to
``observation_end`` (inclusive); features read the calibration period only, targets the holdout only.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from cxml.features.build import build_features
from cxml.features.rfm import rfm_summary

RFM_FEATURES = ("frequency", "recency", "T", "monetary_value", "average_spend")
"""``rfm_summary``'s columns, and ``average_spend``: mean value of all calibration purchases (first included)."""
TARGETS = ("value", "purchases", "duration")
"""Holdout value, holdout purchases (days with a purchase) and the holdout's length in periods."""


def parse_times(series: pd.Series, column: str) -> pd.Series:
    """Timestamps from dates, text, or whole numbers written as YYYYMMDD (e.g. CDNOW's 19970101).

    A bad value raises ``ValueError`` naming the column and the first rows.
    """
    if pd.api.types.is_datetime64_any_dtype(series):
        return series
    if pd.api.types.is_bool_dtype(series):
        raise ValueError(f"column {column!r} holds true/false values, not dates")
    numbers = pd.to_numeric(series, errors="coerce")
    if pd.api.types.is_numeric_dtype(series) or numbers.notna().all():
        # numbers are read as YYYYMMDD, never as epoch offsets (which would turn 19970101 into 1970)
        whole = numbers.notna() & (numbers == numbers.round()) & numbers.between(1_000_01_01, 9_999_12_31)
        digits = numbers.where(whole).astype("Int64").astype("str")
        parsed = pd.to_datetime(digits.where(whole), format="%Y%m%d", errors="coerce")
        return _checked(parsed, series, column, "dates written as YYYYMMDD")
    parsed = pd.to_datetime(series, errors="coerce", format="mixed")
    return _checked(parsed, series, column, "a date")


def _checked(parsed: pd.Series, raw: pd.Series, column: str, what: str) -> pd.Series:
    bad = parsed.isna().to_numpy()
    if bad.any():
        rows = raw.index[bad][:5].tolist()
        raise ValueError(
            f"column {column!r}: {int(bad.sum())} values are not {what}; rows {rows}: {raw[bad].head(5).tolist()}"
        )
    return parsed


def parse_values(series: pd.Series, column: str) -> pd.Series:
    """Transaction amounts as floats; text that is not a number raises ``ValueError`` naming the rows."""
    values = pd.to_numeric(series, errors="coerce")
    bad = (values.isna() | ~np.isfinite(values.fillna(0.0))).to_numpy()
    if bad.any():
        rows = series.index[bad][:5].tolist()
        raise ValueError(
            f"column {column!r}: {int(bad.sum())} values are not numbers; rows {rows}: {series[bad].head(5).tolist()}"
        )
    return values.astype(float)


def clv_rows(
    transactions: pd.DataFrame,
    *,
    customer: str,
    time: str,
    value: str,
    calibration_end: str | pd.Timestamp,
    observation_end: str | pd.Timestamp,
    period_days: float = 7.0,
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(features, targets, notes) for the customers who bought on or before ``calibration_end``.

    Features: ``RFM_FEATURES``; targets: ``TARGETS``. Customers whose only purchases fall on the calibration
    end itself (age ``T`` = 0, nothing to learn from yet) are left out, with a note. Inputs are not modified.
    """
    missing = [c for c in (customer, time, value) if c not in transactions.columns]
    if missing:
        raise ValueError(f"transactions lack columns {missing}; they have {list(transactions.columns)[:20]}")
    cal_end, obs_end = pd.Timestamp(calibration_end).normalize(), pd.Timestamp(observation_end).normalize()
    if obs_end <= cal_end:
        raise ValueError(f"the holdout end {obs_end.date()} must come after the calibration end {cal_end.date()}")
    ids = transactions[customer]
    if ids.isna().any():
        rows = ids.index[ids.isna().to_numpy()][:5].tolist()
        raise ValueError(f"column {customer!r} has missing customer ids in rows {rows}")
    frame = pd.DataFrame(
        {
            "customer": ids.astype("str").to_numpy(),
            "ts": parse_times(transactions[time], time).to_numpy(),
            "value": parse_values(transactions[value], value).to_numpy(),
        }
    )
    summary = rfm_summary(
        frame,
        customer="customer",
        time="ts",
        value="value",
        calibration_end=cal_end,
        observation_end=obs_end,
        freq_multiplier=period_days,
    )
    if summary.empty:
        raise ValueError(f"no customer bought on or before the calibration end {cal_end.date()}")
    calibration = frame[frame["ts"] < cal_end + pd.Timedelta(days=1)]
    daily = calibration.groupby(["customer", calibration["ts"].dt.normalize()])["value"].sum()
    summary["average_spend"] = daily.groupby(level="customer").mean().reindex(summary.index)
    notes = []
    newborn = summary["T"] <= 0
    if newborn.any():
        notes.append(
            f"{int(newborn.sum())} customers whose first purchase is on the calibration end were left out "
            f"(first: {summary.index[newborn.to_numpy()][:5].tolist()})"
        )
        summary = summary.loc[~newborn]
    summary.index = summary.index.astype("str").rename(customer)
    X = summary[list(RFM_FEATURES)].astype(float)
    y = pd.DataFrame(
        {
            "value": (summary["frequency_holdout"] * summary["monetary_value_holdout"]).to_numpy(float),
            "purchases": summary["frequency_holdout"].to_numpy(float),
            "duration": summary["duration_holdout"].to_numpy(float),
        },
        index=X.index,
    )
    return X, y, notes


def order_transactions(orders: pd.DataFrame) -> pd.DataFrame:
    """Kept (not returned) contract order lines as transactions: ``customer_id``, ``ts``, ``value``.

    A line's value is ``quantity * unit_price - discount``, as campaign spend outcomes count it.
    """
    kept = orders.loc[~orders["returned"].astype(bool)]
    return pd.DataFrame(
        {
            "customer_id": kept["customer_id"].astype("str").to_numpy(),
            "ts": kept["ts"].to_numpy(),
            "value": (kept["quantity"] * kept["unit_price"] - kept["discount"]).to_numpy(float),
        }
    )


def clv_contract_rows(
    tables: Mapping[str, pd.DataFrame],
    as_of: str | pd.Timestamp,
    *,
    horizon_days: int,
    period_days: float = 7.0,
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Contract tables → (features, targets, notes): calibration up to the day before ``as_of``, holdout
    ``[as_of, as_of + horizon_days)``; features are the RFM columns and the customer-360 features at ``as_of``.

    Raises ``ValueError`` when the holdout runs past the last order (its value would be censored).
    """

    as_of_ts = pd.Timestamp(as_of).normalize()
    holdout_end = as_of_ts + pd.Timedelta(days=horizon_days)
    last = tables["orders"]["ts"].max()
    if holdout_end > last:
        raise ValueError(
            f"as_of {as_of_ts.date()} + {horizon_days} days = {holdout_end.date()} lies beyond the last order "
            f"({last}): the holdout value would be censored; choose an earlier as_of or a shorter horizon"
        )
    X, y, notes = clv_rows(
        order_transactions(tables["orders"]),
        customer="customer_id",
        time="ts",
        value="value",
        calibration_end=as_of_ts - pd.Timedelta(days=1),
        observation_end=holdout_end - pd.Timedelta(days=1),
        period_days=period_days,
    )
    customer360 = build_features(tables, as_of_ts)
    clash = sorted(set(customer360.columns) & set(X.columns))
    if clash:
        raise ValueError(f"customer-360 features clash with the RFM columns: {clash}")
    X = X.join(customer360, how="left")
    return X, y, notes


def clv_scoring_rows(
    tables: Mapping[str, pd.DataFrame], as_of: str | pd.Timestamp, *, period_days: float = 7.0
) -> pd.DataFrame:
    """The features ``clv_contract_rows`` builds, for scoring at ``as_of`` (calibration up to the day before,
    no holdout): one row per customer with a kept order before ``as_of``, indexed by ``customer_id``."""

    as_of_ts = pd.Timestamp(as_of).normalize()
    X, _, _ = clv_rows(
        order_transactions(tables["orders"]),
        customer="customer_id",
        time="ts",
        value="value",
        calibration_end=as_of_ts - pd.Timedelta(days=1),
        observation_end=as_of_ts,
        period_days=period_days,
    )
    return X.join(build_features(tables, as_of_ts), how="left")
