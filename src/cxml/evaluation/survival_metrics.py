"""Survival metrics on right-censored data: Kaplan–Meier, Harrell's C, calibration at horizons, Brier.

Conventions: ``duration`` is the time observed, ``event`` is 1 when the event (churn) was seen at that time and 0
when the customer was censored (still there). A subject censored at the time of another's event counts as at risk
at that time (it survived at least that long).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm


def _arrays(duration: Any, event: Any) -> tuple[np.ndarray, np.ndarray]:
    d = np.asarray(duration, dtype=float).ravel()
    e = np.asarray(event).ravel()
    if d.shape != e.shape:
        raise ValueError(f"duration ({d.size}) and event ({e.size}) differ in length")
    bad = ~np.isfinite(d) | (d < 0)
    if bad.any():
        raise ValueError(f"duration must be finite and >= 0; rows {np.flatnonzero(bad)[:5].tolist()}")
    e_num = pd.to_numeric(pd.Series(e), errors="coerce").to_numpy(dtype=float)
    bad = ~np.isin(e_num, (0.0, 1.0))
    if bad.any():
        raise ValueError(f"event must be 0/1 or boolean; rows {np.flatnonzero(bad)[:5].tolist()}: {e[bad][:5]}")
    return d, e_num.astype(bool)


def _km_table(d: np.ndarray, e: np.ndarray, alpha: float) -> pd.DataFrame:
    times, inverse = np.unique(d, return_inverse=True)
    events = np.bincount(inverse, weights=e, minlength=times.size)
    exits = np.bincount(inverse, minlength=times.size).astype(float)
    at_risk = exits[::-1].cumsum()[::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        survival = np.cumprod(1 - events / at_risk)
        green = np.cumsum(np.where(at_risk > events, events / (at_risk * (at_risk - events)), np.inf))
        # log(-log) interval (Kalbfleisch & Prentice), as lifelines: stays inside (0, 1)
        theta = norm.ppf(1 - alpha / 2) * np.sqrt(green) / np.abs(np.log(survival))
        lower = np.where((survival > 0) & (survival < 1), survival ** np.exp(theta), np.where(survival >= 1, 1.0, 0.0))
        upper = np.where((survival > 0) & (survival < 1), survival ** np.exp(-theta), np.where(survival >= 1, 1.0, 0.0))
    return pd.DataFrame(
        {
            "time": times,
            "at_risk": at_risk.astype(int),
            "events": events.astype(int),
            "censored": (exits - events).astype(int),
            "survival": survival,
            "std_error": survival * np.sqrt(np.where(np.isfinite(green), green, np.nan)),
            "lower": lower,
            "upper": upper,
        }
    )


def kaplan_meier(duration: Any, event: Any, *, group: Any = None, alpha: float = 0.05) -> pd.DataFrame:
    """Kaplan–Meier survival at every distinct observed time, with Greenwood standard errors.

    One row per (group, time): ``at_risk`` (still observed just before ``time``), ``events``, ``censored``,
    ``survival``, ``std_error`` (Greenwood: S * sqrt(sum d / (n (n - d)))) and the ``1 - alpha`` log(-log)
    interval ``lower`` / ``upper``. With ``group`` (one label per row) the first column is ``group``.
    """
    d, e = _arrays(duration, event)
    if group is None:
        return _km_table(d, e, alpha)
    labels = np.asarray(group).ravel()
    if labels.size != d.size:
        raise ValueError(f"group ({labels.size}) and duration ({d.size}) differ in length")
    parts = []
    for label in pd.unique(labels):
        mask = labels == label
        parts.append(_km_table(d[mask], e[mask], alpha).assign(group=label))
    table = pd.concat(parts, ignore_index=True)
    return table[["group", *table.columns[:-1]]]


def survival_at(curve: pd.DataFrame, times: Any) -> np.ndarray:
    """The step function of one Kaplan–Meier table at ``times`` (1 before the first observed time)."""
    t = np.atleast_1d(np.asarray(times, dtype=float))
    pos = np.searchsorted(curve["time"].to_numpy(), t, side="right") - 1
    values = curve["survival"].to_numpy()
    return np.where(pos >= 0, values[np.maximum(pos, 0)], 1.0)


def median_survival(curve: pd.DataFrame) -> float:
    """First time at which Kaplan–Meier survival reaches 0.5 or below; ``inf`` when it never does."""
    below = curve.loc[curve["survival"] <= 0.5, "time"]
    return float(below.iloc[0]) if len(below) else float("inf")


def kaplan_meier_summary(table: pd.DataFrame, times: Sequence[float] = (6, 12, 24)) -> pd.DataFrame:
    """Per group of a ``kaplan_meier(..., group=...)`` table: customers, events, median and S at ``times``."""
    rows = {}
    for label, curve in table.groupby("group", sort=True):
        first = curve.iloc[0]
        rows[label] = {
            "customers": int(first["at_risk"]),
            "events": int(curve["events"].sum()),
            "median": median_survival(curve),
            **{f"survival_{t:g}": float(s) for t, s in zip(times, survival_at(curve, times), strict=True)},
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("group")


@dataclass(frozen=True)
class Concordance:
    """Harrell's C and its pair counts. ``c_index`` = (concordant + tied_risk / 2) / comparable."""

    c_index: float
    concordant: int
    discordant: int
    tied_risk: int
    comparable: int


def _count_smaller_before(v: np.ndarray) -> np.ndarray:
    """For each position i, #{j < i : v[j] < v[i]}; v are integer ranks. Bottom-up merge sort, O(n log² n) in numpy."""
    n = v.size
    out = np.zeros(n, dtype=np.int64)
    order = np.arange(n)  # order[p]: original position now at p; sorted by v inside blocks of width w
    pos = np.arange(n)
    big = np.int64(n + 1)
    w = 1
    while w < n:
        block = pos // (2 * w)
        right = (pos % (2 * w)) >= w
        left_keys = v[order[~right]] + block[~right] * big  # each left run sorted, runs in block order
        queries = order[right]
        q_block = block[right]
        below = np.searchsorted(left_keys, v[queries] + q_block * big, side="left")
        out[queries] += below - np.searchsorted(left_keys, q_block * big, side="left")
        order = order[np.argsort(v[order] + block * big, kind="stable")]
        w *= 2
    return out


def concordance(duration: Any, event: Any, risk: Any) -> Concordance:
    """Harrell's concordance for right-censored data; a higher ``risk`` means an earlier expected event.

    A pair (i, j) is comparable when i had the event and j was observed longer than i, or censored at the same
    time (it was still at risk); two events at the same time are not comparable. Concordant: risk_i > risk_j;
    tied risks count one half. O(n log² n) with numpy (7,000 rows take milliseconds).
    """
    d, e = _arrays(duration, event)
    r = np.asarray(risk, dtype=float).ravel()
    if r.shape != d.shape:
        raise ValueError(f"risk ({r.size}) and duration ({d.size}) differ in length")
    if np.isnan(r).any():
        raise ValueError(f"risk has NaN in rows {np.flatnonzero(np.isnan(r))[:5].tolist()}")
    if d.size == 0:
        return Concordance(float("nan"), 0, 0, 0, 0)
    time_rank = np.unique(d, return_inverse=True)[1]
    key = 2 * time_rank + (~e)  # at one time, events come before the censored, who outlive them
    risk_rank = np.unique(r, return_inverse=True)[1].astype(np.int64)
    # latest first; inside one key by falling risk, so that no pair within a key counts as "smaller before"
    order = np.lexsort((-risk_rank, -key))
    k, v = key[order], risk_rank[order]
    smaller = _count_smaller_before(v)
    n = d.size
    group_start = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    group_of = np.cumsum(np.r_[True, k[1:] != k[:-1]]) - 1
    later = group_start[group_of]  # number of subjects with a strictly larger key
    by_risk = np.argsort(v, kind="stable")  # preserves processing order inside one risk value
    first_of_value = np.searchsorted(v[by_risk], v, side="left")
    rank_in_value = np.empty(n, dtype=np.int64)
    rank_in_value[by_risk] = np.arange(n) - first_of_value[by_risk]
    same_key_value = np.r_[True, (k[1:] != k[:-1]) | (v[1:] != v[:-1])]
    run_start = np.maximum.accumulate(np.where(same_key_value, np.arange(n), 0))
    tied = rank_in_value - (np.arange(n) - run_start)
    is_event = e[order]
    concordant = int(smaller[is_event].sum())
    ties = int(tied[is_event].sum())
    comparable = int(later[is_event].sum())
    c = (concordant + 0.5 * ties) / comparable if comparable else float("nan")
    return Concordance(float(c), concordant, comparable - concordant - ties, ties, comparable)


def concordance_index(duration: Any, event: Any, risk: Any) -> float:
    """Harrell's C (see ``concordance``): 1 perfect ordering, 0.5 random, 0 reversed."""
    return concordance(duration, event, risk).c_index


def calibration_at_horizons(
    duration: Any, event: Any, predicted: pd.DataFrame, *, n_bins: int = 10, alpha: float = 0.05
) -> pd.DataFrame:
    """Predicted against Kaplan–Meier observed survival at each horizon, by bins (deciles) of predicted risk.

    ``predicted`` has one column per horizon holding S(horizon | x) for each row (e.g. ``predict_survival``).
    Returns one row per (horizon, bin): ``n``, mean ``predicted`` and the bin's Kaplan–Meier ``observed``
    survival at the horizon with its interval; bin 0 holds the highest predicted risk (lowest survival).
    """
    d, e = _arrays(duration, event)
    if len(predicted) != d.size:
        raise ValueError(f"predicted ({len(predicted)} rows) and duration ({d.size}) differ in length")
    rows = []
    for horizon in predicted.columns:
        s = predicted[horizon].to_numpy(dtype=float)
        ranks = pd.Series(s).rank(method="first").to_numpy()
        bins = np.minimum(((ranks - 1) * n_bins / d.size).astype(int), n_bins - 1)
        for b in range(n_bins):
            mask = bins == b
            if not mask.any():
                continue
            curve = _km_table(d[mask], e[mask], alpha)
            pos = np.searchsorted(curve["time"].to_numpy(), float(horizon), side="right") - 1
            obs, lo, hi = (1.0, 1.0, 1.0) if pos < 0 else curve.loc[pos, ["survival", "lower", "upper"]]
            rows.append(
                {
                    "horizon": horizon,
                    "bin": b,
                    "n": int(mask.sum()),
                    "predicted": float(s[mask].mean()),
                    "observed": float(obs),
                    "lower": float(lo),
                    "upper": float(hi),
                }
            )
    return pd.DataFrame(rows)


def calibration_error(table: pd.DataFrame) -> pd.Series:
    """Per horizon, the size-weighted mean |predicted - observed| over the bins of ``calibration_at_horizons``."""
    gap = (table["predicted"] - table["observed"]).abs() * table["n"]
    return gap.groupby(table["horizon"]).sum() / table.groupby("horizon")["n"].sum()


def brier_scores(duration: Any, event: Any, predicted: pd.DataFrame) -> pd.Series:
    """Censoring-weighted Brier score at each time column of ``predicted`` (Graf et al. 1999).

    BS(t) = mean[ S(t|x)^2 1(T <= t, event) / G(T-) + (1 - S(t|x))^2 1(T > t) / G(t) ], G the Kaplan–Meier
    curve of the censoring times; rows censored before t carry no weight.
    """
    d, e = _arrays(duration, event)
    censoring = _km_table(d, ~e, 0.05)
    g_times, g_surv = censoring["time"].to_numpy(), censoring["survival"].to_numpy()

    def g_at(t: np.ndarray, *, left: bool) -> np.ndarray:
        pos = np.searchsorted(g_times, t, side="left" if left else "right") - 1
        return np.where(pos >= 0, g_surv[np.maximum(pos, 0)], 1.0)

    g_own = g_at(d, left=True)
    scores = {}
    for t in predicted.columns:
        s = predicted[t].to_numpy(dtype=float)
        died = (d <= float(t)) & e
        alive = d > float(t)
        g_t = g_at(np.array([float(t)]), left=False)[0]
        with np.errstate(divide="ignore", invalid="ignore"):
            term = np.where(died, s**2 / g_own, 0.0) + np.where(alive, (1 - s) ** 2 / g_t, 0.0)
        scores[t] = float(np.mean(term))
    return pd.Series(scores, name="brier")


def integrated_brier_score(duration: Any, event: Any, predicted: pd.DataFrame) -> float:
    """Trapezoid integral of ``brier_scores`` over the time columns, divided by their span."""
    scores = brier_scores(duration, event, predicted)
    t = np.asarray(scores.index, dtype=float)
    if t.size < 2:
        raise ValueError("the integrated Brier score needs at least two time columns")
    return float(np.trapezoid(scores.to_numpy(), t) / (t[-1] - t[0]))
