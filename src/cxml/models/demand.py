"""Demand models for what-if curves: a monotone gradient-boosted model, and the constant-elasticity baseline.

``MonotoneDemandGBM`` predicts log quantity from log price and features with LightGBM, constrained to be
non-increasing in price: raising the price never raises predicted demand, for any row. It is a predictive model
(prices set in response to demand bias its slope), so use it for demand curves and held-out demand error, and
``ElasticityDML`` for causal elasticities.

``LogLogDemand`` is the baseline both must beat: ordinary least squares of log quantity on log price with one
constant elasticity, plus one-hot categorical and numeric controls.
"""

from __future__ import annotations

from typing import Any, Literal, Self

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

from cxml.models.boosting import lightgbm_run_params
from cxml.models.dml import LinearDesign
from cxml.models.encoding import TableEncoder

PRICE_FEATURE = "log_price"


def _log_price(price: Any, index: pd.Index) -> np.ndarray:
    p = np.asarray(price, dtype=np.float64).ravel()
    if len(p) != len(index):
        raise ValueError(f"price has {len(p)} rows, X has {len(index)}")
    bad = ~(p > 0) | ~np.isfinite(p)
    if bad.any():
        raise ValueError(f"price must be positive and finite, e.g. rows {index[np.flatnonzero(bad)[:5]].tolist()}")
    return np.log(p)


def _target(y: Any, index: pd.Index) -> np.ndarray:
    arr = np.asarray(y, dtype=np.float64).ravel()
    if len(arr) != len(index):
        raise ValueError(f"y has {len(arr)} rows, X has {len(index)}")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(f"y (log quantity) must be finite, e.g. rows {index[np.flatnonzero(bad)[:5]].tolist()}")
    return arr


def _grid(rows: pd.DataFrame, prices: Any) -> np.ndarray:
    grid = np.asarray(prices, dtype=np.float64)
    if grid.ndim == 1:
        grid = np.broadcast_to(grid, (len(rows), len(grid)))
    if grid.ndim != 2 or grid.shape[0] != len(rows):
        raise ValueError(f"prices must be 1-D (one grid for all rows) or ({len(rows)}, k); got shape {grid.shape}")
    return grid


def _curves(model: Any, rows: pd.DataFrame, prices: Any) -> pd.DataFrame:
    """Long frame of (row, price, log_quantity, quantity) over each row's price grid."""
    grid = _grid(rows, prices)
    k = grid.shape[1]
    repeated = rows.iloc[np.repeat(np.arange(len(rows)), k)]
    log_q = model.predict(repeated, price=grid.ravel())
    return pd.DataFrame(
        {
            "row": np.repeat(rows.index.to_numpy(), k),
            "price": grid.ravel(),
            "log_quantity": log_q,
            "quantity": np.exp(log_q),
        }
    )


class MonotoneDemandGBM(RegressorMixin, BaseEstimator):
    """LightGBM demand model ``log q = f(log p, X)`` with ``f`` non-increasing in price (a monotone constraint).

    ``quantity`` in ``what_if`` is ``exp`` of the predicted log quantity (a median-type forecast).

    Not under scikit-learn's ``parametrize_with_checks``: ``fit`` and ``predict`` need ``price`` besides ``X`` and
    ``y``.
    """

    def __init__(
        self,
        n_estimators: int = 1000,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        max_depth: int = -1,
        min_child_samples: int = 20,
        reg_lambda: float = 1.0,
        early_stopping_rounds: int = 50,
        validation_fraction: float = 0.15,
        monotone_method: Literal["basic", "intermediate", "advanced"] = "advanced",
        n_jobs: int = 1,
        random_state: int = 0,
    ):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.min_child_samples = min_child_samples
        self.reg_lambda = reg_lambda
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.monotone_method = monotone_method
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _matrix(self, X: pd.DataFrame, log_price: np.ndarray) -> np.ndarray:
        if PRICE_FEATURE in X.columns:
            raise ValueError(f"X must not contain {PRICE_FEATURE!r}: the price is passed as price=...")
        return np.column_stack([self.encoder_.transform(X).astype(np.float64), log_price])

    def fit(self, X: pd.DataFrame, y: Any, *, price: Any, sample_weight: Any = None) -> Self:
        """Fit on features ``X``, log quantity ``y`` and (positive) ``price``; early-stops on an inner split."""
        if not isinstance(X, pd.DataFrame):
            raise ValueError("X must be a pandas DataFrame of demand features")
        log_p, target = _log_price(price, X.index), _target(y, X.index)
        w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64).ravel()
        self.encoder_ = TableEncoder().fit(X)
        matrix = self._matrix(X, log_p)
        cats = [i for i, c in enumerate(self.encoder_.feature_names_in_) if c in self.encoder_.categories_]
        self.feature_names_ = [*self.encoder_.feature_names_in_, PRICE_FEATURE]
        params = {
            "objective": "regression",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "max_depth": self.max_depth,
            "min_data_in_leaf": self.min_child_samples,
            "lambda_l2": self.reg_lambda,
            "monotone_constraints": [0] * (matrix.shape[1] - 1) + [-1],
            "monotone_constraints_method": self.monotone_method,
            **lightgbm_run_params(self.n_jobs, self.random_state),
        }
        fit, valid = train_test_split(
            np.arange(len(X)), test_size=self.validation_fraction, random_state=self.random_state
        )
        categorical: Any = cats or "auto"
        self.booster_ = lgb.train(
            params,
            lgb.Dataset(matrix[fit], target[fit], weight=w[fit], categorical_feature=categorical),
            num_boost_round=self.n_estimators,
            valid_sets=[lgb.Dataset(matrix[valid], target[valid], weight=w[valid], categorical_feature=categorical)],
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
        )
        self.n_iter_ = int(self.booster_.best_iteration or self.booster_.num_trees())
        return self

    def predict(self, X: pd.DataFrame, *, price: Any) -> np.ndarray:
        """Predicted log quantity of each row at its ``price``."""
        check_is_fitted(self)
        matrix = self._matrix(X, _log_price(price, X.index))
        return np.asarray(self.booster_.predict(matrix, num_iteration=self.n_iter_))

    def what_if(self, rows: pd.DataFrame, prices: Any) -> pd.DataFrame:
        """Demand curves: one row per (row of ``rows``, price) with ``log_quantity`` and ``quantity``.

        ``prices`` is one grid for every row (1-D) or a grid per row (``len(rows)`` × k).
        """
        check_is_fitted(self)
        return _curves(self, rows, prices)

    def arc_elasticity(self, X: pd.DataFrame, *, price: Any, step: float = 0.05) -> np.ndarray:
        """Model-implied elasticity between ``price · (1 − step)`` and ``price · (1 + step)`` (≤ 0 by construction)."""
        p = np.asarray(price, dtype=np.float64).ravel()
        lo, hi = self.predict(X, price=p * (1 - step)), self.predict(X, price=p * (1 + step))
        return np.asarray((hi - lo) / (np.log1p(step) - np.log1p(-step)))


class LogLogDemand(RegressorMixin, BaseEstimator):
    """Constant-elasticity baseline: OLS of log quantity on log price plus one-hot / centred controls.

    Not under scikit-learn's ``parametrize_with_checks``: ``fit`` and ``predict`` need ``price`` besides ``X`` and
    ``y``.
    """

    def fit(self, X: pd.DataFrame | None, y: Any, *, price: Any) -> Self:
        n = len(np.asarray(y).ravel())
        X = pd.DataFrame(index=pd.RangeIndex(n)) if X is None else X
        log_p, target = _log_price(price, X.index), _target(y, X.index)
        self.design_ = LinearDesign().fit(X)
        Z = np.column_stack([self.design_.transform(X), log_p])
        coef, *_ = np.linalg.lstsq(Z, target, rcond=None)
        resid = target - Z @ coef
        n, k = Z.shape
        bread = np.linalg.pinv(Z.T @ Z)
        meat = (Z * resid[:, None] ** 2).T @ Z * (n / max(n - k, 1))
        self.coef_ = pd.Series(coef, index=[*self.design_.names_, PRICE_FEATURE])
        self.elasticity_ = float(coef[-1])
        self.elasticity_se_ = float(np.sqrt((bread @ meat @ bread)[-1, -1]))
        return self

    def predict(self, X: pd.DataFrame | None, *, price: Any) -> np.ndarray:
        check_is_fitted(self)
        n = len(np.asarray(price).ravel())
        X = pd.DataFrame(index=pd.RangeIndex(n)) if X is None else X
        Z = np.column_stack([self.design_.transform(X), _log_price(price, X.index)])
        return np.asarray(Z @ self.coef_.to_numpy())

    def effect(self, X: pd.DataFrame | None = None) -> np.ndarray:
        """The one elasticity, repeated per row (same shape as ``ElasticityDML.effect``)."""
        check_is_fitted(self)
        return np.full(1 if X is None else len(X), self.elasticity_)

    def what_if(self, rows: pd.DataFrame, prices: Any) -> pd.DataFrame:
        """Demand curves as in :meth:`MonotoneDemandGBM.what_if`."""
        check_is_fitted(self)
        return _curves(self, rows, prices)
