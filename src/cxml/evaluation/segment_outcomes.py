"""What each segment is worth acting on: its churn rate, value and campaign response, each with a 95 % interval.

Pure: frames in, one table out. Rates carry Wilson intervals; mean value a percentile bootstrap; campaign uplift
(treated − control response) a normal interval for a difference of two proportions. A segment too small to
measure gets NaN, never a made-up number.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cxml.evaluation.bootstrap import bootstrap_interval

Z95 = 1.959963984540054
OUTCOME_COLUMNS = (
    "customers",
    "churn_rate",
    "churn_low",
    "churn_high",
    "churn_n",
    "value_mean",
    "value_low",
    "value_high",
    "treated_rate",
    "treated_low",
    "treated_high",
    "treated_n",
    "control_rate",
    "control_low",
    "control_high",
    "control_n",
    "uplift",
    "uplift_low",
    "uplift_high",
)


def wilson(successes: float, n: float) -> tuple[float, float, float]:
    """Share and its 95 % Wilson interval; NaNs for ``n == 0``."""
    if n <= 0:
        return float("nan"), float("nan"), float("nan")
    p = successes / n
    denom = 1 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / denom
    half = Z95 * np.sqrt(p * (1 - p) / n + Z95**2 / (4 * n**2)) / denom
    return float(p), float(centre - half), float(centre + half)


def mean_interval(values: np.ndarray, *, n_boot: int = 400, seed: int = 0) -> tuple[float, float, float]:
    """Mean and its 95 % percentile-bootstrap interval; NaNs for no values."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return float("nan"), float("nan"), float("nan")
    low, high = bootstrap_interval(values.size, lambda idx: float(values[idx].mean()), n_boot=n_boot, seed=seed)
    return float(values.mean()), low, high


def difference_interval(p1: float, n1: float, p0: float, n0: float) -> tuple[float, float, float]:
    """``p1 − p0`` and its 95 % normal (Wald) interval; NaNs when either group is empty."""
    if n1 <= 0 or n0 <= 0:
        return float("nan"), float("nan"), float("nan")
    diff = p1 - p0
    se = np.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    return float(diff), float(diff - Z95 * se), float(diff + Z95 * se)


def segment_outcomes(
    segment: pd.Series,
    churned: pd.Series,
    value: pd.Series,
    responses: pd.DataFrame,
    *,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per segment (``OUTCOME_COLUMNS``).

    ``segment``: each customer's segment, indexed by customer id. ``churned``: 1/0 for the customers at risk
    (others absent). ``value``: each customer's value (e.g. spend in the last 365 days). ``responses``: one row
    per customer and campaign sent, with ``customer_id``, ``treated`` (bool: a treatment arm, not control) and
    ``outcome`` (1/0 response in the campaign's window).
    """
    rows = []
    for seg in sorted(segment.unique()):
        members = segment.index[segment.to_numpy() == seg]
        at_risk = churned.reindex(members).dropna()
        churn = wilson(float(at_risk.sum()), float(len(at_risk)))
        worth = mean_interval(value.reindex(members).dropna().to_numpy(), seed=seed)
        mine = responses[responses["customer_id"].isin(members)]
        treated, control = mine.loc[mine["treated"], "outcome"], mine.loc[~mine["treated"], "outcome"]
        t = wilson(float(treated.sum()), float(len(treated)))
        c = wilson(float(control.sum()), float(len(control)))
        lift = difference_interval(t[0], len(treated), c[0], len(control))
        rows.append([len(members), *churn, len(at_risk), *worth, *t, len(treated), *c, len(control), *lift])
    index = pd.Index(sorted(segment.unique()), name="segment")
    return pd.DataFrame(rows, index=index, columns=list(OUTCOME_COLUMNS))
