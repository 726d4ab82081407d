"""Gradient-boosted survival: XGBoost's ``survival:cox`` and ``survival:aft`` objectives on right-censored tenure.

Cox: the booster's margin is a log hazard ratio; S(t|x) = exp(-H0(t) exp(margin)) with Breslow's baseline
cumulative hazard H0 from the training rows. AFT: log T = margin + sigma Z with Z normal, logistic or extreme
value; the booster is trained with the ``sigma`` given, then sigma is re-estimated by maximum likelihood on the
validation rows (``sigma_``), which is what ``predict_survival`` uses. Early stopping uses a validation split.
"""

from __future__ import annotations

from typing import Any, Literal, Self

import numpy as np
import pandas as pd
import xgboost as xgb
from scipy.optimize import minimize_scalar
from scipy.special import expit, log_expit, log_ndtr, ndtr
from sklearn.base import BaseEstimator
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

from cxml.models.boosting import booster_params, predict_margin, xgboost_params
from cxml.models.encoding import TableEncoder
from cxml.threads import booster_threads

Objective = Literal["cox", "aft"]
Distribution = Literal["normal", "logistic", "extreme"]


def _log_sf(z: np.ndarray, distribution: str) -> np.ndarray:
    """log P(Z > z) of the standard AFT error distribution."""
    if distribution == "normal":
        return np.asarray(log_ndtr(-z))
    if distribution == "logistic":
        return np.asarray(log_expit(-z))
    return np.asarray(-np.exp(z))  # extreme value (minimum): S(z) = exp(-e^z), a Weibull in time


def _log_pdf(z: np.ndarray, distribution: str) -> np.ndarray:
    if distribution == "normal":
        return np.asarray(-0.5 * z**2 - 0.5 * np.log(2 * np.pi))
    if distribution == "logistic":
        return np.asarray(log_expit(z) + log_expit(-z))
    return np.asarray(z - np.exp(z))


def _sf(z: np.ndarray, distribution: str) -> np.ndarray:
    if distribution == "normal":
        return np.asarray(ndtr(-z))
    if distribution == "logistic":
        return np.asarray(expit(-z))
    return np.asarray(np.exp(-np.exp(z)))


def _check_targets(duration: Any, event: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    d = pd.to_numeric(pd.Series(np.asarray(duration).ravel()), errors="coerce").to_numpy(dtype=float)
    e_raw = pd.Series(np.asarray(event).ravel())
    e = pd.to_numeric(e_raw, errors="coerce").to_numpy(dtype=float)
    if d.size != n or e.size != n:
        raise ValueError(f"duration ({d.size}) and event ({e.size}) must have one value per row of X ({n})")
    bad = ~np.isfinite(d) | (d < 0)
    if bad.any():
        rows = np.flatnonzero(bad)[:5].tolist()
        raise ValueError(f"duration must be a finite number >= 0; rows {rows}: {d[bad][:5].tolist()}")
    bad = ~np.isin(e, (0.0, 1.0))
    if bad.any():
        rows = np.flatnonzero(bad)[:5].tolist()
        raise ValueError(f"event must be 0/1 or boolean; rows {rows}: {e_raw[bad].head(5).tolist()}")
    return d, e.astype(bool)


class SurvivalBooster(BaseEstimator):
    """XGBoost survival model (Cox or AFT) with survival curves, risk and expected remaining tenure.

    Durations of 0 (e.g. customers in their first period) are raised to half the smallest positive duration,
    since both objectives need positive times.

    Not under scikit-learn's ``parametrize_with_checks``: ``fit(X, duration, event)`` takes two target arrays, not
    ``fit(X, y)``.
    """

    def __init__(
        self,
        objective: Objective = "cox",
        distribution: Distribution = "normal",
        sigma: float = 1.0,
        n_estimators: int = 1000,
        learning_rate: float = 0.05,
        max_depth: int = 3,
        min_child_weight: float = 1.0,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        reg_alpha: float = 0.0,
        early_stopping_rounds: int = 50,
        validation_fraction: float = 0.2,
        n_jobs: int = 1,
        random_state: int = 0,
    ):
        self.objective = objective
        self.distribution = distribution
        self.sigma = sigma
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.reg_alpha = reg_alpha
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _params(self) -> dict[str, Any]:
        params = xgboost_params(booster_params(self))
        if self.objective == "cox":
            return {**params, "objective": "survival:cox", "eval_metric": "cox-nloglik"}
        if self.objective == "aft":
            return {
                **params,
                "objective": "survival:aft",
                "eval_metric": "aft-nloglik",
                "aft_loss_distribution": self.distribution,
                "aft_loss_distribution_scale": self.sigma,
            }
        raise ValueError(f"objective must be 'cox' or 'aft', not {self.objective!r}")

    def _matrix(self, X: np.ndarray, d: np.ndarray, e: np.ndarray) -> xgb.DMatrix:
        if self.objective == "cox":  # XGBoost's Cox label: the time, negative when censored
            return xgb.DMatrix(X, label=np.where(e, d, -d), nthread=booster_threads(self.n_jobs))
        matrix = xgb.DMatrix(X, nthread=booster_threads(self.n_jobs))
        matrix.set_float_info("label_lower_bound", d)
        matrix.set_float_info("label_upper_bound", np.where(e, d, np.inf))
        return matrix

    def _frame(self, X: Any) -> pd.DataFrame:
        if isinstance(X, pd.DataFrame):
            return X
        arr = np.asarray(X, dtype=float)
        return pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])

    def fit(self, X: Any, duration: Any, event: Any) -> Self:
        """Fit on features ``X``, observed ``duration`` and ``event`` (1 = the event happened, 0 = censored)."""
        if self.distribution not in ("normal", "logistic", "extreme"):
            raise ValueError(f"distribution must be normal, logistic or extreme, not {self.distribution!r}")
        frame = self._frame(X)
        d, e = _check_targets(duration, event, len(frame))
        if not e.any():
            raise ValueError("event has no 1s: a survival model needs at least one observed event")
        positive = d[d > 0]
        self.min_duration_ = float(positive.min() / 2) if positive.size else 1.0
        d = np.maximum(d, self.min_duration_)
        self.max_duration_ = float(d.max())
        self.encoder_ = TableEncoder().fit(frame)
        matrix = self.encoder_.transform(frame)
        rows = np.arange(len(frame))
        stratify = e if min(e.sum(), (~e).sum()) >= 2 else None
        tr, va = train_test_split(
            rows, test_size=self.validation_fraction, random_state=self.random_state, stratify=stratify
        )
        self.booster_ = xgb.train(
            self._params(),
            self._matrix(matrix[tr], d[tr], e[tr]),
            num_boost_round=self.n_estimators,
            evals=[(self._matrix(matrix[va], d[va], e[va]), "valid")],
            early_stopping_rounds=self.early_stopping_rounds,
            verbose_eval=False,
        )
        self.n_iter_ = int(self.booster_.best_iteration) + 1
        margin = self._margin(matrix)
        if self.objective == "cox":
            self._fit_breslow(margin, d, e)
            self.sigma_ = float("nan")
        else:
            self.sigma_ = self._fit_sigma(margin[va], d[va], e[va])
        return self

    def _margin(self, matrix: np.ndarray) -> np.ndarray:
        return np.asarray(predict_margin(self.booster_, matrix, self.n_iter_), dtype=float)

    def _fit_breslow(self, margin: np.ndarray, d: np.ndarray, e: np.ndarray) -> None:
        """H0(t) = sum over event times u <= t of d(u) / sum_{j at risk at u} exp(margin_j)."""
        self.margin_offset_ = float(np.mean(margin))
        hazard_ratio = np.exp(margin - self.margin_offset_)
        times, inverse = np.unique(d, return_inverse=True)
        deaths = np.bincount(inverse, weights=e, minlength=times.size)
        exposure = np.bincount(inverse, weights=hazard_ratio, minlength=times.size)
        risk_set = exposure[::-1].cumsum()[::-1]
        keep = deaths > 0
        self.baseline_times_ = times[keep]
        self.baseline_cumhaz_ = np.cumsum(deaths[keep] / risk_set[keep])

    def _fit_sigma(self, margin: np.ndarray, d: np.ndarray, e: np.ndarray) -> float:
        """Maximum-likelihood scale of log T - margin on rows the trees did not fit (censored rows included)."""
        log_t = np.log(d)

        def nll(log_sigma: float) -> float:
            sigma = np.exp(log_sigma)
            z = (log_t - margin) / sigma
            ll = np.where(e, _log_pdf(z, self.distribution) - log_sigma - log_t, _log_sf(z, self.distribution))
            return -float(np.sum(ll))

        return float(np.exp(minimize_scalar(nll, bounds=(-7.0, 4.0), method="bounded").x))

    def predict_risk(self, X: Any) -> pd.Series:
        """A score that is higher for customers expected to leave sooner (Cox: log hazard ratio; AFT: -log time)."""
        check_is_fitted(self)
        frame = self._frame(X)
        margin = self._margin(self.encoder_.transform(frame))
        risk = margin if self.objective == "cox" else -margin
        return pd.Series(risk, index=frame.index, name="risk")

    def _survival_matrix(self, margin: np.ndarray, times: np.ndarray) -> np.ndarray:
        if self.objective == "cox":
            pos = np.searchsorted(self.baseline_times_, times, side="right") - 1
            cumhaz = np.where(pos >= 0, self.baseline_cumhaz_[np.maximum(pos, 0)], 0.0)
            return np.asarray(np.exp(-np.outer(np.exp(margin - self.margin_offset_), cumhaz)))
        with np.errstate(divide="ignore"):
            z = (np.log(times)[None, :] - margin[:, None]) / self.sigma_
        return _sf(z, self.distribution)

    def predict_survival(self, X: Any, times: Any) -> pd.DataFrame:
        """S(t | x): one row per customer, one column per time in ``times`` (in the unit of ``duration``)."""
        check_is_fitted(self)
        frame = self._frame(X)
        t = np.atleast_1d(np.asarray(times, dtype=float))
        margin = self._margin(self.encoder_.transform(frame))
        return pd.DataFrame(self._survival_matrix(margin, t), index=frame.index, columns=t)

    def expected_remaining_tenure(self, X: Any, age: Any, *, horizon: float | None = None) -> pd.Series:
        """E[min(T, age + horizon) - age | T > age, x]: expected further tenure within the next ``horizon``.

        ``age`` is each customer's current tenure (one value, or one per row). ``horizon`` defaults to the longest
        training duration; a restricted mean is used because nothing beyond the observed times is identified
        (the Breslow curve is flat after the last event time).
        """
        check_is_fitted(self)
        frame = self._frame(X)
        margin = self._margin(self.encoder_.transform(frame))
        h = float(self.max_duration_ if horizon is None else horizon)
        a = np.broadcast_to(np.asarray(age, dtype=float), (len(frame),)).astype(float)
        if np.any(a < 0) or h <= 0:
            raise ValueError("age must be >= 0 and horizon > 0")
        if self.objective == "cox":  # exact integral of the step function
            edges = self.baseline_times_
            lo = np.clip(np.concatenate([[0.0], edges])[None, :], a[:, None], (a + h)[:, None])
            hi = np.clip(np.concatenate([edges, [np.inf]])[None, :], a[:, None], (a + h)[:, None])
            cumhaz = np.concatenate([[0.0], self.baseline_cumhaz_])
            steps = np.exp(-np.exp(margin - self.margin_offset_)[:, None] * cumhaz[None, :])
            area = np.sum(steps * (hi - lo), axis=1)
            start = self._survival_at_ages(margin, a)
        else:  # Gauss-Legendre on (age, age + horizon)
            nodes, weights = np.polynomial.legendre.leggauss(64)
            u = a[:, None] + h * (nodes[None, :] + 1) / 2
            with np.errstate(divide="ignore"):
                z = (np.log(u) - margin[:, None]) / self.sigma_
            area = h / 2 * np.sum(_sf(z, self.distribution) * weights[None, :], axis=1)
            start = self._survival_at_ages(margin, a)
        return pd.Series(area / np.maximum(start, 1e-300), index=frame.index, name="expected_remaining_tenure")

    def _survival_at_ages(self, margin: np.ndarray, a: np.ndarray) -> np.ndarray:
        if self.objective == "cox":
            pos = np.searchsorted(self.baseline_times_, a, side="right") - 1
            cumhaz = np.where(pos >= 0, self.baseline_cumhaz_[np.maximum(pos, 0)], 0.0)
            return np.asarray(np.exp(-np.exp(margin - self.margin_offset_) * cumhaz))
        with np.errstate(divide="ignore"):
            z = (np.log(a) - margin) / self.sigma_
        return _sf(z, self.distribution)
