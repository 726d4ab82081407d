"""Price elasticity by double machine learning (partially linear model, continuous treatment).

With outcome ``y`` (log quantity), treatment ``t`` (log price), heterogeneity columns ``X`` and controls ``W``::

    y = theta(X) · t + g(X, W) + e,        t = m(X, W) + v,        theta(X) = D(X) · beta

The nuisances are gradient-boosted trees (LightGBM, or scikit-learn's histogram GBM) cross-fitted on ``n_folds``
seeded folds: every row's residual comes from models that never saw it. ``D(X)`` is an intercept, one-hot
categories (the first level in sorted order is the reference), centred numeric columns and optional products of
pairs of them. ``beta`` solves a linear moment, and its covariance is the heteroskedasticity-robust sandwich (HC1),
cluster-robust when ``groups`` are given:

* ``score="iv_type"`` (default): ``sum (y − theta(X)·t − h(X,W)) · (t − E[t|X,W]) · D(X) = 0`` with ``h`` fitted on
  ``y − theta(X)·t`` from the previous estimate (``n_iter`` refits, the first estimate from partialling out). Its
  outcome nuisance is demand at a fixed price, free of the noise ``theta·v`` and of ``theta(X)·E[t|W]``, which
  trees fit poorly: on 3,000 generated rows with a heterogeneous elasticity the partialling-out estimates were
  0.07-0.10 too high, the IV-type ones 0.01-0.03 (tests/unit/test_dml.py's data).
* ``score="partialling_out"`` (the R-learner, EconML's ``LinearDML``): least squares of ``y − E[y|X,W]`` on
  ``(t − E[t|X,W]) · D(X)``.

``additive`` lists groups of nuisance columns that may share a tree branch; columns of different groups never
interact. For panels whose price varies by unit × period (a channel's price by week), groups such as
``[["week", "segment"], ["channel", "segment"]]`` make the nuisances sums of period and unit effects (a
non-parametric two-way fixed-effects model), so the price variation left is the unit × period part a
difference-in-differences uses. Without it the trees learn the price of a (unit, period) exactly and none is left.
It needs the IV-type score: an additive outcome nuisance cannot represent ``theta(X)·E[t|W]`` when ``theta``
varies across the groups.

``nuisance`` picks the regressors: ``lightgbm`` or ``hist`` (GBMs), ``linear`` (least squares with one-hot group
effects and, for the columns in ``fixed_effects``, time effects: the two-way fixed-effects model a log-log
regression uses), or ``auto``: each of the two nuisances is the one of ``AUTO_CANDIDATES`` with the lower
cross-fitted error on the first split (``nuisance_fit_`` holds every candidate's out-of-fold R², ``nuisance_choice_``
the winners). On panels where the price moves little within a group, flexible trees can predict most of that
movement from week and group alone and leave noise for the elasticity; ``diagnostics_["residual_price_share"]``
(residual price variance / within-group price variance) says how much variation the estimate rests on.

``n_repeats > 1`` repeats the cross-fitting on new folds and averages; the covariance adds the spread of the
estimates across repeats (Chernozhukov et al. 2018, mean aggregation), so intervals account for the split.

``pooling="empirical_bayes"`` then shrinks each block of categorical terms toward the pooled value, by how far
its effects spread beyond their noise (:mod:`cxml.models.price_pooling`); ``coef_``/``cov_`` are the posterior
mean and covariance, ``coef_unpooled_``/``cov_unpooled_`` the estimates before it, ``pooling_tau2_`` each
block's variance. The nuisances refitted for ``predict`` use the pooled elasticity.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Self

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import KFold, train_test_split
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from cxml.models.boosting import lightgbm_run_params
from cxml.models.encoding import TableEncoder, is_categorical
from cxml.models.price_pooling import design_blocks, partial_pool
from cxml.threads import pool_threads

Nuisance = Literal["lightgbm", "hist", "linear", "auto"]
Kind = Literal["lightgbm", "hist", "linear"]
AUTO_CANDIDATES: tuple[Kind, ...] = ("lightgbm", "linear")
LINEAR_RIDGE = 1e-6
"""Ridge on the linear nuisance, relative to the mean diagonal of X'WX: only enough to make collinear dummies
(a group nested in another) solvable; it shrinks nothing measurably."""
Score = Literal["partialling_out", "iv_type"]
Pooling = Literal["empirical_bayes"] | None
Interactions = Literal["pairwise"] | Sequence[tuple[str, str]] | None


def _rows_of(mask: np.ndarray, index: pd.Index, k: int = 5) -> list[Any]:
    return index[np.flatnonzero(mask)[:k]].tolist()


def _vector(values: Any, name: str, index: pd.Index) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if len(arr) != len(index):
        raise ValueError(f"{name} has {len(arr)} rows, X has {len(index)}")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(f"{name} must be finite; {int(bad.sum())} rows are not, e.g. rows {_rows_of(bad, index)}")
    return arr


class LinearDesign:
    """The final stage's features D(X): intercept, one-hot categories, centred numerics and pairwise products.

    Not under scikit-learn's ``parametrize_with_checks``: it is no estimator (no ``get_params``, no ``y``) but the
    design-matrix builder of a DataFrame that ``ElasticityDML`` and ``LogLogDemand`` use.
    """

    def fit(self, X: pd.DataFrame, interactions: Interactions = None) -> Self:
        self.columns_ = [str(c) for c in X.columns]
        self.levels_: dict[str, list[str]] = {}
        self.means_: dict[str, float] = {}
        for col, s in zip(self.columns_, (X[c] for c in X.columns), strict=True):
            if s.isna().any():
                raise ValueError(
                    f"column {col!r} has missing values, e.g. rows {_rows_of(s.isna().to_numpy(), X.index)}"
                )
            if is_categorical(s):
                self.levels_[col] = sorted(s.astype(str).unique().tolist())
            else:
                self.means_[col] = float(pd.to_numeric(s).mean())
        if interactions == "pairwise":
            pairs = [(a, b) for i, a in enumerate(self.columns_) for b in self.columns_[i + 1 :]]
        else:
            pairs = [(str(a), str(b)) for a, b in (interactions or [])]
        unknown = sorted({c for p in pairs for c in p} - set(self.columns_))
        if unknown:
            raise ValueError(f"interactions name columns that are not in X: {unknown}")
        self.pairs_ = pairs
        names = [n for col in self.columns_ for n in self._names(col)]
        for a, b in pairs:
            names += [f"{na}:{nb}" for na in self._names(a) for nb in self._names(b)]
        self.names_ = ["intercept", *names]
        return self

    def _names(self, col: str) -> list[str]:
        return [f"{col}[{lv}]" for lv in self.levels_[col][1:]] if col in self.levels_ else [col]

    def _block(self, X: pd.DataFrame, col: str) -> np.ndarray:
        s = X[col]
        if col in self.levels_:
            text = s.astype(str).where(s.notna())
            unseen = ~text.isin(self.levels_[col]).to_numpy()
            if unseen.any():
                raise ValueError(
                    f"column {col!r} has values not seen in fit ({sorted(set(text[unseen].astype(str)))[:5]}), "
                    f"e.g. rows {_rows_of(unseen, X.index)}; known: {self.levels_[col]}"
                )
            codes = pd.Categorical(text, categories=self.levels_[col]).codes
            return (codes[:, None] == np.arange(1, len(self.levels_[col]))[None, :]).astype(np.float64)
        values = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(values)
        if bad.any():
            raise ValueError(f"column {col!r} must be numeric and finite, e.g. rows {_rows_of(bad, X.index)}")
        return (values - self.means_[col])[:, None]

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.columns_ if c not in X.columns]
        if missing:
            raise ValueError(f"X lacks the heterogeneity columns {missing}")
        frame = X.set_axis([str(c) for c in X.columns], axis=1)
        blocks = {c: self._block(frame, c) for c in self.columns_}
        parts = [np.ones((len(frame), 1)), *blocks.values()]
        parts += [(blocks[a][:, :, None] * blocks[b][:, None, :]).reshape(len(frame), -1) for a, b in self.pairs_]
        return np.hstack(parts)


@dataclass(frozen=True)
class _Split:
    """The final stage on one cross-fitting split."""

    coef: np.ndarray
    cov: np.ndarray
    resid: np.ndarray
    t_hat: np.ndarray
    y_hat: np.ndarray


@dataclass(frozen=True)
class _LinearNuisance:
    """Weighted least squares on an intercept, one-hot levels (unseen levels: the intercept) and centred numerics."""

    levels: dict[int, np.ndarray]
    means: dict[int, float]
    coef: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, w: np.ndarray, one_hot: Sequence[int]) -> _LinearNuisance:
        levels = {j: np.unique(X[np.isfinite(X[:, j]), j]) for j in one_hot}
        means = {j: float(np.nanmean(X[:, j])) if np.isfinite(X[:, j]).any() else 0.0 for j in range(X.shape[1])}
        means = {j: m for j, m in means.items() if j not in levels}
        empty = cls(levels, means, np.zeros(0))
        A = empty._design(X)
        gram = A.T @ (w[:, None] * A)
        ridge = LINEAR_RIDGE * max(float(np.trace(gram)) / gram.shape[0], 1e-12)
        coef = np.linalg.solve(gram + ridge * np.eye(gram.shape[0]), A.T @ (w * y))
        return cls(levels, means, coef)

    def _design(self, X: np.ndarray) -> np.ndarray:
        parts = [np.ones((len(X), 1))]
        for j, lv in self.levels.items():
            parts.append((X[:, j][:, None] == lv[None, :]).astype(np.float64))
        for j, m in self.means.items():
            parts.append(np.nan_to_num(X[:, j] - m, nan=0.0)[:, None])
        return np.hstack(parts)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self._design(X) @ self.coef


@dataclass(frozen=True)
class _Nuisance:
    """A fitted nuisance regressor (a LightGBM booster and its best iteration, or a histogram GBM)."""

    model: Any
    n_iter: int
    n_jobs: int

    def predict(self, X: np.ndarray) -> np.ndarray:
        if isinstance(self.model, lgb.Booster):
            return np.asarray(self.model.predict(X, num_iteration=self.n_iter))
        with threadpool_limits(pool_threads(self.n_jobs)):
            return np.asarray(self.model.predict(X))


class ElasticityDML(BaseEstimator):
    """Cross-fitted double machine learning for a continuous treatment; elasticity linear in X with robust intervals.

    ``fit(X, y, *, treatment, controls=None)``: ``y`` log quantity, ``treatment`` log price, ``X`` the
    heterogeneity columns (categorical or numeric; ``None`` for one pooled elasticity), ``controls`` further
    confounders used by the nuisance models only (rows aligned with ``X`` by position). See the module docstring
    for ``score``, ``additive``, ``interactions`` and ``n_repeats``; ``refit_nuisances=False`` skips the
    all-rows nuisance fits that only ``predict`` needs.

    Not under scikit-learn's ``parametrize_with_checks``: ``fit`` needs ``treatment`` (log price) besides ``X`` and
    ``y``.
    """

    def __init__(
        self,
        nuisance: Nuisance = "lightgbm",
        n_folds: int = 5,
        n_estimators: int = 1000,
        learning_rate: float = 0.1,
        max_depth: int = -1,
        num_leaves: int = 15,
        min_child_samples: int = 10,
        reg_lambda: float = 1.0,
        early_stopping_rounds: int = 30,
        validation_fraction: float = 0.15,
        additive: Sequence[Sequence[str]] | None = None,
        fixed_effects: Sequence[str] = (),
        interactions: Interactions = None,
        score: Score = "iv_type",
        n_iter: int = 2,
        n_repeats: int = 1,
        cov_type: Literal["HC0", "HC1"] = "HC1",
        pooling: Pooling = None,
        refit_nuisances: bool = True,
        n_jobs: int = 1,
        random_state: int = 0,
    ):
        self.nuisance = nuisance
        self.n_folds = n_folds
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.reg_lambda = reg_lambda
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.additive = additive
        self.fixed_effects = fixed_effects
        self.interactions = interactions
        self.score = score
        self.n_iter = n_iter
        self.n_repeats = n_repeats
        self.cov_type = cov_type
        self.pooling = pooling
        self.refit_nuisances = refit_nuisances
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(
        self,
        X: pd.DataFrame | None,
        y: Any,
        *,
        treatment: Any,
        controls: pd.DataFrame | None = None,
        sample_weight: Any = None,
        groups: Any = None,
    ) -> Self:
        """Cross-fit the nuisances, solve the final stage, refit the nuisances on all rows for ``predict``."""
        start = time.perf_counter()
        if self.score not in ("partialling_out", "iv_type"):
            raise ValueError(f"score must be 'partialling_out' or 'iv_type', got {self.score!r}")
        if self.nuisance not in ("lightgbm", "hist", "linear", "auto"):
            raise ValueError(f"nuisance must be 'lightgbm', 'hist', 'linear' or 'auto', got {self.nuisance!r}")
        if self.pooling not in ("empirical_bayes", None):
            raise ValueError(f"pooling must be 'empirical_bayes' or None, got {self.pooling!r}")
        n = len(np.asarray(y).ravel())
        X = pd.DataFrame(index=pd.RangeIndex(n)) if X is None else X
        if not isinstance(X, pd.DataFrame):
            raise ValueError("X must be a pandas DataFrame of heterogeneity columns (or None)")
        y_arr, t_arr = _vector(y, "y", X.index), _vector(treatment, "treatment", X.index)
        w = np.ones(n) if sample_weight is None else _vector(sample_weight, "sample_weight", X.index)
        if (w < 0).any() or w.sum() <= 0:
            raise ValueError("sample_weight must be non-negative with a positive sum")
        frame = self._nuisance_frame(X, controls)
        self.design_ = LinearDesign().fit(X, self.interactions)
        D = self.design_.transform(X)
        self.encoder_ = TableEncoder().fit(frame)
        matrix = self.encoder_.transform(frame).astype(np.float64)
        self.nuisance_fit_: dict[str, dict[str, float]] = {}
        fixed: Kind = "lightgbm" if self.nuisance == "auto" else self.nuisance
        self.nuisance_choice_: dict[str, Kind] = {"treatment": fixed, "outcome": fixed}
        splits = [self._one_split(matrix, D, y_arr, t_arr, w, groups, r) for r in range(max(1, self.n_repeats))]
        coefs = np.array([s.coef for s in splits])
        beta = coefs.mean(axis=0)
        cov = np.mean([s.cov + np.outer(s.coef - beta, s.coef - beta) for s in splits], axis=0)
        names = self.design_.names_
        self.coef_unpooled_ = pd.Series(beta, index=names)
        self.cov_unpooled_ = pd.DataFrame(cov, index=names, columns=names)
        self.pooling_tau2_: dict[str, float] = {}
        if self.pooling == "empirical_bayes":
            pooled = partial_pool(beta, cov, design_blocks(self.design_))
            beta, cov, self.pooling_tau2_ = pooled.coef, pooled.cov, pooled.tau2
        self.coef_ = pd.Series(beta, index=names)
        self.cov_ = pd.DataFrame(cov, index=names, columns=names)
        t_hat, y_hat = np.mean([s.t_hat for s in splits], axis=0), np.mean([s.y_hat for s in splits], axis=0)
        self.t_residual_, self.y_residual_ = t_arr - t_hat, y_arr - y_hat
        resid = np.mean([s.resid for s in splits], axis=0)
        if self.refit_nuisances:  # on every row, for predict(): E[t|W] and E[y|W] (iv_type: E[y − theta·t | W])
            choice = self.nuisance_choice_
            self.treatment_model_ = self._boost(matrix, t_arr, w, self.random_state, choice["treatment"])
            base = y_arr - (D @ beta) * t_arr if self.score == "iv_type" else y_arr
            self.outcome_model_ = self._boost(matrix, base, w, self.random_state + 1, choice["outcome"])
        self.diagnostics_ = {
            "n": n,
            "n_terms": D.shape[1],
            "nuisance": self.nuisance,
            "nuisance_treatment": self.nuisance_choice_["treatment"],
            "nuisance_outcome": self.nuisance_choice_["outcome"],
            "residual_price_share": _residual_share(self.t_residual_, t_arr, X, w),
            "score": self.score,
            "r2_outcome": _r2(y_arr, y_hat, w),
            "r2_treatment": _r2(t_arr, t_hat, w),
            "treatment_residual_sd": float(np.sqrt(np.average(self.t_residual_**2, weights=w))),
            "final_residual_sd": float(np.sqrt(np.average(resid**2, weights=w))),
            "fit_seconds": time.perf_counter() - start,
        }
        return self

    def _nuisance_frame(self, X: pd.DataFrame, controls: pd.DataFrame | None) -> pd.DataFrame:
        if controls is None:
            frame = X.copy()
        else:
            if len(controls) != len(X):
                raise ValueError(f"controls has {len(controls)} rows, X has {len(X)}")
            extra = controls.set_axis(X.index).loc[:, [c for c in controls.columns if c not in X.columns]]
            frame = pd.concat([X, extra], axis=1)
        frame.columns = [str(c) for c in frame.columns]
        if frame.shape[1] == 0:
            raise ValueError("no columns for the nuisance models: pass X or controls")
        self.nuisance_columns_ = list(frame.columns)
        self.constraints_ = self._constraints()
        return frame

    def _constraints(self) -> list[list[int]] | None:
        if self.additive is None:
            return None
        cols = self.nuisance_columns_
        unknown = sorted({c for g in self.additive for c in g} - set(cols))
        if unknown:
            raise ValueError(f"additive names columns that are neither in X nor in controls: {unknown}")
        covered = {c for g in self.additive for c in g}
        groups = [[cols.index(c) for c in g] for g in self.additive]
        return groups + [[cols.index(c)] for c in cols if c not in covered]

    def _one_split(
        self, matrix: np.ndarray, D: np.ndarray, y: np.ndarray, t: np.ndarray, w: np.ndarray, groups: Any, r: int
    ) -> _Split:
        """Cross-fit the nuisances on one seeded fold split (repeat ``r``) and solve the final stage."""
        seed = self.random_state + 7919 * r
        folds = list(KFold(self.n_folds, shuffle=True, random_state=seed).split(matrix))

        def out_of_fold(target: np.ndarray, stream: int, kind: Kind) -> np.ndarray:
            out = np.empty_like(target)
            for k, (train, test) in enumerate(folds):
                model = self._boost(matrix[train], target[train], w[train], seed + 100 * stream + k, kind)
                out[test] = model.predict(matrix[test])
            return out

        if self.nuisance == "auto" and r == 0:
            t_hat = self._choose("treatment", t, w, lambda kind: out_of_fold(t, 0, kind))
            y_hat = self._choose("outcome", y, w, lambda kind: out_of_fold(y, 1, kind))
        else:
            t_hat = out_of_fold(t, 0, self.nuisance_choice_["treatment"])
            y_hat = out_of_fold(y, 1, self.nuisance_choice_["outcome"])
        outcome_kind = self.nuisance_choice_["outcome"]
        t_res = t - t_hat
        self._check_identified(D, t_res, t, w)
        coef, cov, resid = self._final_stage(D, y - y_hat, t_res[:, None] * D, w, groups)
        if self.score == "iv_type":
            # the moment uses the price net of its projection on D(X), a function of X that the outcome nuisance
            # absorbs: the same model, but the bread no longer carries the price level times the nuisance's
            # out-of-fold error, which swamps a small within-group price movement (per-group elasticities of a
            # panel priced 1.0 ± 0.3 by group but moving ±1 % within it: intervals of ±10^5 without this)
            level = D @ np.linalg.lstsq(D * np.sqrt(w)[:, None], t * np.sqrt(w), rcond=None)[0]
            t_c = t - level
            for i in range(self.n_iter):
                base = out_of_fold(y - (D @ coef) * t_c, 2 + i, outcome_kind)
                coef, cov, resid = self._final_stage(D, y - base, t_c[:, None] * D, w, groups, t_res[:, None] * D)
                y_hat = base + (D @ coef) * (t_hat - level)
        return _Split(coef, cov, resid, t_hat, y_hat)

    def _choose(self, role: str, target: np.ndarray, w: np.ndarray, predict: Any) -> np.ndarray:
        """The ``AUTO_CANDIDATES`` regressor with the best cross-fitted R² for one nuisance; its out-of-fold
        predictions. Ties (within 1e-9) go to the linear model, the simpler one."""
        fits = {kind: predict(kind) for kind in AUTO_CANDIDATES}
        scores = {kind: _r2(target, pred, w) for kind, pred in fits.items()}
        self.nuisance_fit_[role] = {str(k): v for k, v in scores.items()}
        best = max(AUTO_CANDIDATES, key=lambda k: (np.nan_to_num(scores[k], nan=-np.inf), k == "linear"))
        self.nuisance_choice_[role] = best
        return fits[best]

    def _check_identified(self, D: np.ndarray, t_res: np.ndarray, t: np.ndarray, w: np.ndarray) -> None:
        """Each term needs price variation left after the controls on the rows where it is active."""
        left = (w[:, None] * (t_res[:, None] * D) ** 2).sum(axis=0)
        scale = (w[:, None] * D**2).sum(axis=0) * max(float(np.average(t**2, weights=w)), 1e-300)
        flat = [self.design_.names_[j] for j in np.flatnonzero(~(left > 1e-10 * scale))]
        if flat:
            raise ValueError(
                f"the elasticity terms {flat[:5]} are not identified: the price does not vary on their rows once the "
                "controls are accounted for"
            )

    def _boost(self, X: np.ndarray, y: np.ndarray, w: np.ndarray, seed: int, kind: Kind) -> Any:
        """One nuisance regressor: a GBM early-stopped on an inner validation split of its training rows, or the
        linear model with group (and ``fixed_effects``) dummies."""
        names = list(self.encoder_.feature_names_in_)
        cats = [i for i, c in enumerate(names) if c in self.encoder_.categories_]
        if kind == "linear":
            effects = sorted({*cats, *(names.index(c) for c in self.fixed_effects if c in names)})
            return _LinearNuisance.fit(X, y, w, effects)
        if kind == "hist":
            hgb = HistGradientBoostingRegressor(
                max_iter=self.n_estimators,
                learning_rate=self.learning_rate,
                max_depth=None if self.max_depth < 1 else self.max_depth,
                max_leaf_nodes=self.num_leaves,
                min_samples_leaf=self.min_child_samples,
                l2_regularization=self.reg_lambda,
                early_stopping=True,
                validation_fraction=self.validation_fraction,
                n_iter_no_change=self.early_stopping_rounds,
                categorical_features=cats or None,
                interaction_cst=self.constraints_,
                random_state=seed,
            )
            with threadpool_limits(pool_threads(self.n_jobs)):
                hgb.fit(X, y, sample_weight=w)
            return _Nuisance(hgb, hgb.n_iter_, self.n_jobs)
        params: dict[str, Any] = {
            "objective": "regression",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "max_depth": self.max_depth,
            "min_data_in_leaf": self.min_child_samples,
            "lambda_l2": self.reg_lambda,
            **lightgbm_run_params(self.n_jobs, seed),
        }
        if self.constraints_ is not None:
            params["interaction_constraints"] = self.constraints_
        fit, valid = train_test_split(np.arange(len(y)), test_size=self.validation_fraction, random_state=seed)
        categorical: Any = cats or "auto"
        booster = lgb.train(
            params,
            lgb.Dataset(X[fit], y[fit], weight=w[fit], categorical_feature=categorical, free_raw_data=False),
            num_boost_round=self.n_estimators,
            valid_sets=[lgb.Dataset(X[valid], y[valid], weight=w[valid], categorical_feature=categorical)],
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
        )
        return _Nuisance(booster, int(booster.best_iteration or booster.num_trees()), self.n_jobs)

    def _final_stage(
        self, D: np.ndarray, y_res: np.ndarray, Z: np.ndarray, w: np.ndarray, groups: Any, inst: Any = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Solve ``sum w · I · (y_res − Z·beta) = 0`` (``I = Z``: least squares) and its sandwich covariance."""
        inst = Z if inst is None else inst
        bread = inst.T @ (w[:, None] * Z)
        names = self.design_.names_
        rank = np.linalg.matrix_rank(bread)
        if rank < len(names):
            raise ValueError(f"the elasticity terms are not identified (rank {rank} of {len(names)})")
        inv = np.linalg.inv(bread)
        beta = inv @ (inst.T @ (w * y_res))
        resid = y_res - Z @ beta
        score = inst * (w * resid)[:, None]
        n, k = Z.shape
        if groups is None:
            meat = score.T @ score * (n / (n - k) if self.cov_type == "HC1" else 1.0)
        else:
            labels = np.asarray(groups).ravel()
            if len(labels) != n:
                raise ValueError(f"groups has {len(labels)} rows, X has {n}")
            sums = pd.DataFrame(score).groupby(labels).sum().to_numpy()
            g = len(sums)
            if g < 2:
                raise ValueError("groups needs at least 2 clusters")
            meat = sums.T @ sums * (g / (g - 1)) * ((n - 1) / (n - k))
        return beta, inv @ meat @ inv.T, resid

    # ---- effects, inference and demand ------------------------------------------------------------------------

    def _design(self, X: pd.DataFrame | None) -> np.ndarray:
        check_is_fitted(self)
        if X is not None:
            return self.design_.transform(X)
        if self.design_.columns_:
            raise ValueError(f"the elasticity depends on {self.design_.columns_}: pass X")
        return np.ones((1, 1))

    def effect(self, X: pd.DataFrame | None = None) -> np.ndarray:
        """Elasticity d log q / d log p per row of ``X`` (one value when fitted with ``X=None``)."""
        return self._design(X) @ self.coef_.to_numpy()

    def effect_se(self, X: pd.DataFrame | None = None) -> np.ndarray:
        """Robust standard error of each row's elasticity."""
        D = self._design(X)
        return np.sqrt(np.einsum("ij,jk,ik->i", D, self.cov_.to_numpy(), D))

    def effect_interval(self, X: pd.DataFrame | None = None, alpha: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
        """Two-sided (1 − alpha) normal interval of each row's elasticity."""
        D = self._design(X)
        est = D @ self.coef_.to_numpy()
        se = np.sqrt(np.einsum("ij,jk,ik->i", D, self.cov_.to_numpy(), D))
        z = float(norm.ppf(1 - alpha / 2))
        return est - z * se, est + z * se

    def summary(self, alpha: float = 0.1) -> pd.DataFrame:
        """Coefficients of the elasticity model with robust standard errors, z, p-values and intervals."""
        check_is_fitted(self)
        coef, se = self.coef_.to_numpy(), np.sqrt(np.diag(self.cov_.to_numpy()))
        z = float(norm.ppf(1 - alpha / 2))
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = coef / se
        return pd.DataFrame(
            {
                "coef": coef,
                "se": se,
                "z": stat,
                "p_value": 2 * norm.sf(np.abs(stat)),
                "ci_lower": coef - z * se,
                "ci_upper": coef + z * se,
            },
            index=pd.Index(self.coef_.index, name="term"),
        )

    def group_effects(
        self, X: pd.DataFrame, by: str | Sequence[str], alpha: float = 0.1, sample_weight: Any = None
    ) -> pd.DataFrame:
        """Mean elasticity of the rows in each group of ``by`` (columns of ``X``), with its interval.

        The group mean is ``mean(D(x)) · beta`` with variance ``mean(D)' V mean(D)``: the covariance of the
        coefficients is accounted for, so it is not the average of the rows' interval ends.
        """
        keys = [by] if isinstance(by, str) else list(by)
        missing = [k for k in keys if k not in X.columns]
        if missing:
            raise ValueError(f"group_effects: by names columns that are not in X: {missing}")
        D = self._design(X)
        w = np.ones(len(X)) if sample_weight is None else _vector(sample_weight, "sample_weight", X.index)
        labels = [X[k].to_numpy() for k in keys]
        sums = pd.DataFrame(D * w[:, None]).groupby(labels).sum()
        totals = pd.Series(w).groupby(labels).sum().to_numpy()
        counts = pd.Series(np.ones(len(X), dtype=np.int64)).groupby(labels).sum().to_numpy()
        means = sums.to_numpy() / totals[:, None]
        est = means @ self.coef_.to_numpy()
        se = np.sqrt(np.einsum("ij,jk,ik->i", means, self.cov_.to_numpy(), means))
        z = float(norm.ppf(1 - alpha / 2))
        out = pd.DataFrame(
            {"n": counts, "elasticity": est, "se": se, "ci_lower": est - z * se, "ci_upper": est + z * se},
            index=sums.index.set_names(keys),
        )
        return out.reset_index()

    def predict(self, X: pd.DataFrame | None, *, treatment: Any, controls: pd.DataFrame | None = None) -> np.ndarray:
        """Expected log demand at log price ``treatment``: ``E[y|W] + theta(X)·(t − E[t|W])``.

        With ``score="iv_type"`` it is ``h(W) + theta(X)·t``, ``h`` the demand model at a fixed price.
        """
        check_is_fitted(self)
        if not self.refit_nuisances:
            raise ValueError("predict needs the nuisance models: fit with refit_nuisances=True")
        n = len(np.asarray(treatment).ravel())
        X = pd.DataFrame(index=pd.RangeIndex(n)) if X is None else X
        t = _vector(treatment, "treatment", X.index)
        frame = X if controls is None else pd.concat([X, controls.set_axis(X.index)], axis=1)
        frame = frame.loc[:, ~frame.columns.duplicated()]
        missing = [c for c in self.nuisance_columns_ if c not in frame.columns]
        if missing:
            raise ValueError(f"predict needs the columns {missing} (X or controls)")
        matrix = self.encoder_.transform(frame[self.nuisance_columns_]).astype(np.float64)
        theta = self.design_.transform(X) @ self.coef_.to_numpy()
        base = self.outcome_model_.predict(matrix)
        if self.score == "iv_type":
            return base + theta * t
        return base + theta * (t - self.treatment_model_.predict(matrix))


def _residual_share(t_res: np.ndarray, t: np.ndarray, X: pd.DataFrame, w: np.ndarray) -> float:
    """Residual price variance over the raw price variance within the groups of ``X`` (all its columns): the share
    of the within-group price movement the elasticity is estimated from (1: the controls explained none of it)."""
    if X.shape[1]:
        keys = [X[c].astype(str).to_numpy() for c in X.columns]
        frame = pd.DataFrame({"t": t * w, "w": w})
        sums = frame.groupby(keys).transform("sum")
        centred = t - sums["t"].to_numpy() / sums["w"].to_numpy()
    else:
        centred = t - np.average(t, weights=w)
    within = float(np.average(centred**2, weights=w))
    return float(np.average(t_res**2, weights=w) / within) if within > 0 else float("nan")


def _r2(y: np.ndarray, pred: np.ndarray, w: np.ndarray) -> float:
    mean = np.average(y, weights=w)
    total = np.average((y - mean) ** 2, weights=w)
    return float(1 - np.average((y - pred) ** 2, weights=w) / total) if total > 0 else float("nan")
