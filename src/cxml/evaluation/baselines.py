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
