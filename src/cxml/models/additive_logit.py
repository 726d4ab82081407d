"""A logistic regression that is additive in the columns: one-hot categoricals, piecewise-linear numerics.

It reads the same float matrix the boosters read (``TableEncoder``: categoricals as integer codes, NaN missing),
so a churn model can blend it with its trees without a second encoding of the customer. Each numeric column gets
"tent" functions at up to ``n_knots`` quantiles of its training values (a degree-1 B-spline basis with constant
extrapolation: tenure's and charges' curves, ``NumOfProducts``' jumps), each categorical column one indicator per
code; missing values get an indicator of their own. The fitted model is stored as one lookup table per column,
so scoring is ``np.interp`` and ``np.take`` (no scikit-learn on the serving path), and its exact SHAP values
against the training rows are each column's term minus that term's training mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

import numpy as np
from sklearn.linear_model import LogisticRegression


@dataclass(frozen=True)
class _Column:
    """One column's fitted term: ``values`` at the ``knots`` (numeric, interpolated) or per code (categorical)."""

    categorical: bool
    knots: np.ndarray
    values: np.ndarray
    missing: float
    mean: float
    """The term's mean over the training rows (the SHAP base takes it; contributions are centred on it)."""

    def term(self, x: np.ndarray) -> np.ndarray:
        out = np.full(len(x), self.missing, dtype=np.float64)
        ok = ~np.isnan(x)
        if self.categorical:
            codes = x[ok].astype(np.int64)
            known = (codes >= 0) & (codes < len(self.values))
            out[np.flatnonzero(ok)[known]] = self.values[codes[known]]
        elif len(self.knots):
            out[ok] = np.interp(x[ok], self.knots, self.values)
        return out


def _basis(x: np.ndarray, categorical: bool, knots: np.ndarray, n_codes: int) -> np.ndarray:
    """Design columns of one matrix column: per code or per knot, then a missing indicator (last)."""
    ok = ~np.isnan(x)
    width = n_codes if categorical else len(knots)
    out = np.zeros((len(x), width + 1))
    if categorical:
        codes = x[ok].astype(np.int64)
        known = (codes >= 0) & (codes < n_codes)
        rows = np.flatnonzero(ok)[known]
        out[rows, codes[known]] = 1.0
    elif width:
        eye = np.eye(width)
        out[ok, :width] = np.column_stack([np.interp(x[ok], knots, eye[k]) for k in range(width)])
    out[~ok, width] = 1.0
    return out


class AdditiveLogit:
    """L2-penalised logistic regression on per-column bases (see the module docstring).

    ``C`` is scikit-learn's inverse penalty on the standardised design; ``n_codes[j]`` is the number of
    categories of column ``j`` (0 for a numeric column), as the encoder knows them.
    """

    def __init__(self, C: float = 0.1, n_knots: int = 8):
        self.C = C
        self.n_knots = n_knots

    def fit(self, matrix: np.ndarray, y: np.ndarray, n_codes: list[int]) -> Self:
        matrix = np.asarray(matrix, dtype=np.float64)
        if matrix.shape[1] != len(n_codes):
            raise ValueError(f"n_codes names {len(n_codes)} columns, the matrix has {matrix.shape[1]}")
        knots: list[np.ndarray] = []
        blocks: list[np.ndarray] = []
        for j, codes in enumerate(n_codes):
            x = matrix[:, j]
            seen = x[~np.isnan(x)]
            numeric = codes == 0 and len(seen) > 0
            knots.append(np.unique(np.quantile(seen, np.linspace(0, 1, self.n_knots))) if numeric else np.empty(0))
            blocks.append(_basis(x, codes > 0, knots[-1], codes))
        design = np.hstack(blocks)
        mu, sd = design.mean(axis=0), design.std(axis=0)
        sd[sd == 0] = np.inf  # a constant design column carries no weight
        lr = LogisticRegression(C=self.C, max_iter=2000).fit((design - mu) / sd, y)
        weights = lr.coef_[0] / sd
        intercept = float(lr.intercept_[0] - weights @ mu)
        self.columns_: list[_Column] = []
        start = 0
        for j, codes in enumerate(n_codes):
            width = blocks[j].shape[1]
            w = weights[start : start + width]
            start += width
            # a missing value never seen in training scores as the column's average customer
            observed_missing = bool(np.isnan(matrix[:, j]).any())
            column = _Column(codes > 0, knots[j], w[:-1], float(w[-1]), 0.0)
            term = column.term(matrix[:, j])
            mean = float(term.mean())
            missing = column.missing if observed_missing else mean
            self.columns_.append(_Column(codes > 0, knots[j], w[:-1], missing, mean))
        self.base_ = intercept + sum(c.mean for c in self.columns_)
        return self

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """Exact SHAP values (n, p) of the margin against the training rows: each term minus its mean."""
        matrix = np.asarray(matrix, dtype=np.float64)
        return np.column_stack([c.term(matrix[:, j]) - c.mean for j, c in enumerate(self.columns_)])

    def margin(self, matrix: np.ndarray) -> np.ndarray:
        """Log-odds: the base plus every column's contribution."""
        return self.base_ + self.contributions(matrix).sum(axis=1)

    @classmethod
    def mean_of(cls, models: list[AdditiveLogit]) -> AdditiveLogit:
        """One additive model whose margin is the models' mean margin (tables averaged; knots must agree)."""
        out = cls(models[0].C, models[0].n_knots)
        out.columns_ = []
        for j, first in enumerate(models[0].columns_):
            parts = [m.columns_[j] for m in models]
            knots = np.unique(np.concatenate([p.knots for p in parts]))
            if first.categorical:
                width = max(len(p.values) for p in parts)
                values = np.mean([np.pad(p.values, (0, width - len(p.values))) for p in parts], axis=0)
            else:  # piecewise linear on the union of the knots is the mean of piecewise-linear functions
                values = np.mean([np.interp(knots, p.knots, p.values) if len(p.knots) else 0 * knots for p in parts], 0)
            out.columns_.append(
                _Column(
                    first.categorical,
                    knots if not first.categorical else first.knots,
                    values,
                    float(np.mean([p.missing for p in parts])),
                    float(np.mean([p.mean for p in parts])),
                )
            )
        out.base_ = float(np.mean([m.base_ for m in models]))
        return out
