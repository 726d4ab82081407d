"""Naive rules every model must beat, fitted on the training data and scored on the same holdout."""

from __future__ import annotations

from typing import Self

import numpy as np
import pandas as pd

RECENCY_FEATURE = "recency_days"


class RecencyRule:
    """Churn risk from days since the last purchase alone: the churn rate of the recency decile.

    Fitted on training customers (decile edges and the rate in each), so its scores are calibrated
    probabilities and Brier is comparable with the model's. Customers who never bought form their own bin.
    """

    def __init__(self, column: str = RECENCY_FEATURE, n_bins: int = 10):
        self.column = column
        self.n_bins = n_bins

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> Self:
        recency = X[self.column].to_numpy(dtype=float)
        y = np.asarray(y, dtype=float)
        known = ~np.isnan(recency)
        self.edges_ = np.unique(np.nanquantile(recency[known], np.linspace(0, 1, self.n_bins + 1)[1:-1]))
        bins = np.searchsorted(self.edges_, recency[known], side="right")
        prior = float(y.mean())
        self.rates_ = np.array(
            [y[known][bins == b].mean() if np.any(bins == b) else prior for b in range(len(self.edges_) + 1)]
        )
        self.never_rate_ = float(y[~known].mean()) if np.any(~known) else prior
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        recency = X[self.column].to_numpy(dtype=float)
        p = np.full(recency.shape, self.never_rate_)
        known = ~np.isnan(recency)
        p[known] = self.rates_[np.searchsorted(self.edges_, recency[known], side="right")]
        return np.column_stack([1 - p, p])


class PriorRate:
    """The training base rate for everyone: the no-skill baseline for tables without a recency column."""

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> Self:
        self.rate_ = float(np.mean(y))
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = np.full(len(X), self.rate_)
        return np.column_stack([1 - p, p])


RANDOM_ORDER = 0.5
"""ROC-AUC and C-index of scores that order the rows at random."""


def no_skill_value(
    metric: str, labels: np.ndarray | None = None, baseline: dict[str, float] | None = None
) -> float | None:
    """The primary metric's value with no skill at all, the second floor a grade of A or B must clear.

    Random targeting has Qini 0; a random ordering ROC-AUC and C-index 0.5; ranking everyone by the positive rate
    PR-AUC equal to that rate and Brier ``p(1 − p)``; a constant prediction (the holdout mean, the best constant)
    RMSE equal to the labels' standard deviation; recommending the most popular items the popularity baseline's
    value (``baseline["popularity:<metric>"]``). None when the metric has no stated no-skill value.
    """
    y = None if labels is None else np.asarray(labels, dtype=float)
    y = None if y is None else y[np.isfinite(y)]
    if metric in ("qini", "qini_normalised", "auuc"):
        return 0.0
    if metric in ("roc_auc", "c_index"):
        return RANDOM_ORDER
    if baseline is not None and f"popularity:{metric}" in baseline:
        return float(baseline[f"popularity:{metric}"])
    if y is None or y.size == 0:
        return None
    if metric == "pr_auc":
        return float(y.mean())
    if metric == "brier":
        return float(y.mean() * (1 - y.mean()))
    if metric in ("rmse", "demand_rmse"):
        return float(y.std())
    return None
