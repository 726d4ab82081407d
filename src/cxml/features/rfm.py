"""The RFM summary of a transaction log (frequency, recency, T, monetary value) that buy-till-you-die models fit.

Pure pandas on a log of any shape; lives with the features because the CLV rows (``rfm_data``) are built from it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

RFM_COLUMNS = ("frequency", "recency", "T")


def _rows(mask: np.ndarray, index: pd.Index, k: int = 5) -> list[Any]:
    return list(index[np.asarray(mask)][:k])


def _parse_times(series: pd.Series, column: str, time_format: str | None) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series):
        return series
    raw = series.astype(str) if time_format else series
    parsed = pd.to_datetime(raw, format=time_format, errors="coerce")
    if time_format is None and parsed.isna().any():  # the format inferred from the first value did not fit all
        parsed = pd.to_datetime(raw, format="mixed", errors="coerce")
    bad = parsed.isna().to_numpy()
    if bad.any():
        raise ValueError(
            f"column {column!r}: {int(bad.sum())} values are not dates (format {time_format or 'inferred'}); "
            f"rows {_rows(bad, series.index)}: {series[bad].head(5).tolist()}"
        )
    return parsed


def rfm_summary(
    transactions: pd.DataFrame,
    *,
    customer: str,
    time: str,
    value: str | None = None,
    calibration_end: Any,
    observation_end: Any = None,
    freq: str = "D",
    freq_multiplier: float = 1.0,
    time_format: str | None = None,
) -> pd.DataFrame:
    """Per-customer ``frequency``, ``recency``, ``T`` (and ``monetary_value``) up to ``calibration_end``.

    Definitions of Fader & Hardie (and ``lifetimes``): transactions are first grouped into periods of ``freq``
    (several orders on one day are one purchase, their values summed); ``frequency`` counts repeat periods (all
    but the first), ``recency`` is last minus first purchase, ``T`` is ``calibration_end`` minus first purchase,
    both in periods divided by ``freq_multiplier``; ``monetary_value`` is the mean value of the repeat periods
    (0 without one). A transaction counts when its period is on or before ``calibration_end``'s period. With
    ``observation_end``, adds ``frequency_holdout`` (purchase periods after calibration, up to and including
    ``observation_end``), ``monetary_value_holdout`` (their mean value, 0 when none) and ``duration_holdout``.
    Customers whose first purchase falls after ``calibration_end`` are not in the result.
    """
    needed = [customer, time] + ([value] if value else [])
    missing = [c for c in needed if c not in transactions.columns]
    if missing:
        raise ValueError(f"transactions lack columns {missing}; they have {list(transactions.columns)[:20]}")
    ids = transactions[customer]
    if ids.isna().any():
        raise ValueError(f"column {customer!r} has missing customer ids in rows {_rows(ids.isna(), ids.index)}")
    stamps = _parse_times(transactions[time], time, time_format)
    frame = pd.DataFrame({"customer": ids.to_numpy(), "period": stamps.dt.to_period(freq).array.asi8})
    if value:
        amounts = pd.to_numeric(transactions[value], errors="coerce")
        bad = amounts.isna().to_numpy()
        if bad.any():
            raise ValueError(f"column {value!r} is not numeric in rows {_rows(bad, amounts.index)}")
        frame["value"] = amounts.to_numpy(dtype=float)
    purchases = frame.groupby(["customer", "period"], sort=True).sum().reset_index()
    cal_end = pd.Period(calibration_end, freq).ordinal
    cal = purchases[purchases["period"] <= cal_end]
    by = cal.groupby("customer", sort=True)["period"]
    first, last = by.min(), by.max()
    out = pd.DataFrame(
        {
            "frequency": (by.size() - 1).astype(float),
            "recency": (last - first) / freq_multiplier,
            "T": (cal_end - first) / freq_multiplier,
        }
    )
    out.index.name = customer
    if value:
        repeat = cal[cal["period"] > cal["customer"].map(first)]
        out["monetary_value"] = repeat.groupby("customer")["value"].mean().reindex(out.index).fillna(0.0)
    if observation_end is not None:
        obs_end = pd.Period(observation_end, freq).ordinal
        if obs_end <= cal_end:
            raise ValueError(f"observation_end {observation_end} must come after calibration_end {calibration_end}")
        hold = purchases[(purchases["period"] > cal_end) & (purchases["period"] <= obs_end)]
        hold = hold[hold["customer"].isin(out.index)].groupby("customer")
        out["frequency_holdout"] = hold.size().reindex(out.index).fillna(0).astype(float)
        if value:
            out["monetary_value_holdout"] = hold["value"].mean().reindex(out.index).fillna(0.0)
        out["duration_holdout"] = (obs_end - cal_end) / freq_multiplier
    return out
