"""XGBoost, LightGBM and CatBoost behind one small interface: train with early stopping, margins, tree contributions.

The one registry of boosting algorithms: each family's search space picks among them (``suggest_booster``) and
every call below dispatches on the booster; CatBoost's side lives in :mod:`cxml.models.catboost_booster`.

Prediction uses ``inplace_predict`` for XGBoost (a ``DMatrix`` per call costs ~16 ms on one row) and always the
best iteration, so SHAP contributions add up to the margin the model actually serves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import xgboost as xgb

from cxml.config import Algorithm
from cxml.models.catboost_booster import catboost_contributions, catboost_margin, is_catboost, train_catboost
from cxml.threads import booster_threads

IterationCallback = Callable[[int, float], None]
"""Called with (iteration, validation loss) while training; may raise to stop (e.g. optuna.TrialPruned)."""


@dataclass
class BoosterParams:
    algorithm: Algorithm = "xgboost"
    objective: str = "binary"
    n_estimators: int = 600
    learning_rate: float = 0.05
    max_depth: int = 4
    num_leaves: int = 15
    min_child_weight: float = 1.0
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    reg_lambda: float = 1.0
    reg_alpha: float = 0.0
    early_stopping_rounds: int = 50
    n_jobs: int = 1
    random_state: int = 0


def booster_params(estimator: Any, **overrides: Any) -> BoosterParams:
    """The :class:`BoosterParams` of an estimator: each field from its hyper-parameter of the same name where it
    has one (never ``objective``, which is the family's own word, e.g. SurvivalBooster's "cox"), the field's
    default where it has none, then ``overrides``."""
    names = BoosterParams.__dataclass_fields__.keys() - {"objective"} - overrides.keys()
    return BoosterParams(**{n: getattr(estimator, n) for n in names if hasattr(estimator, n)}, **overrides)


def xgboost_params(p: BoosterParams) -> dict[str, Any]:
    """The tree and sampling parameters in XGBoost's words; the objective and eval metric are the caller's."""
    return {
        "eta": p.learning_rate,
        "max_depth": p.max_depth,
        "min_child_weight": p.min_child_weight,
        "subsample": p.subsample,
        "colsample_bytree": p.colsample_bytree,
        "lambda": p.reg_lambda,
        "alpha": p.reg_alpha,
        "tree_method": "hist",
        "nthread": booster_threads(p.n_jobs),
        "seed": p.random_state,
    }


class _XGBReport(xgb.callback.TrainingCallback):
    def __init__(self, callback: IterationCallback, every: int = 10):
        self.callback, self.every = callback, every

    def after_iteration(self, model: Any, epoch: int, evals_log: dict) -> bool:
        if epoch % self.every == 0:
            history = next(iter(evals_log["valid"].values()))
            self.callback(epoch, float(history[-1]))
        return False


def _lgb_report(callback: IterationCallback, every: int = 10) -> Callable[[Any], None]:
    def _cb(env: Any) -> None:
        if env.iteration % every == 0 and env.evaluation_result_list:
            callback(env.iteration, float(env.evaluation_result_list[0][2]))

    return _cb


def lightgbm_run_params(n_jobs: int, seed: int) -> dict[str, Any]:
    """How every LightGBM model in cxml runs: its threads, its seed, quiet, and deterministic with a forced layout,
    which LightGBM needs for the same model at any thread count."""
    return {
        "num_threads": booster_threads(n_jobs),
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }


def lightgbm_tree_params(p: BoosterParams) -> dict[str, Any]:
    """The tree and sampling parameters in LightGBM's words (objective and metric are the caller's), one mapping
    for the booster here and the cross-sell ranker, so both read ``BoosterParams`` the same way."""
    return {
        "learning_rate": p.learning_rate,
        "num_leaves": p.num_leaves,
        "max_depth": p.max_depth,
        "min_child_weight": p.min_child_weight,
        "bagging_fraction": p.subsample,
        "bagging_freq": 1,
        "feature_fraction": p.colsample_bytree,
        "lambda_l2": p.reg_lambda,
        "lambda_l1": p.reg_alpha,
        **lightgbm_run_params(p.n_jobs, p.random_state),
    }


def train_booster(
    p: BoosterParams,
    X: np.ndarray,
    y: np.ndarray,
    X_valid: np.ndarray,
    y_valid: np.ndarray,
    on_iteration: IterationCallback | None = None,
) -> tuple[Any, int]:
    """Fit with early stopping on the validation rows; return the booster and its best iteration count."""
    if p.algorithm == "catboost":
        return train_catboost(p, X, y, X_valid, y_valid, on_iteration)
    if p.algorithm == "xgboost":
        objective = {"binary": "binary:logistic", "regression": "reg:squarederror"}[p.objective]
        params = {
            "objective": objective,
            "eval_metric": "logloss" if p.objective == "binary" else "rmse",
            **xgboost_params(p),
        }
        xgb_callbacks: list[xgb.callback.TrainingCallback] = [_XGBReport(on_iteration)] if on_iteration else []
        threads = params["nthread"]
        booster = xgb.train(
            params,
            xgb.DMatrix(X, label=y, nthread=threads),
            num_boost_round=p.n_estimators,
            evals=[(xgb.DMatrix(X_valid, label=y_valid, nthread=threads), "valid")],
            early_stopping_rounds=p.early_stopping_rounds,
            callbacks=xgb_callbacks,
            verbose_eval=False,
        )
        return booster, int(booster.best_iteration) + 1
    params = {
        "objective": p.objective,
        "metric": "binary_logloss" if p.objective == "binary" else "l2",
        **lightgbm_tree_params(p),
    }
    callbacks: list[Callable[..., Any]] = [lgb.early_stopping(p.early_stopping_rounds, verbose=False)]
    if on_iteration:
        callbacks.append(_lgb_report(on_iteration))
    lgb_booster = lgb.train(
        params,
        lgb.Dataset(X, label=y),
        num_boost_round=p.n_estimators,
        valid_sets=[lgb.Dataset(X_valid, label=y_valid)],
        callbacks=callbacks,
    )
    return lgb_booster, int(lgb_booster.best_iteration or lgb_booster.num_trees())


def suggest_booster(
    trial: Any,
    algorithms: tuple[str, ...] | None,
    *,
    learning_rate: tuple[float, float] = (0.01, 0.2),
    max_depth: tuple[int, int] = (2, 7),
    min_child_weight: tuple[float, float] = (0.5, 50.0),
    num_leaves: tuple[int, int] = (4, 64),
    catboost_depth: tuple[int, int] = (4, 8),
) -> dict[str, Any]:
    """The booster part of every family's Optuna search space (ranges per family, log scales where it matters).

    ``algorithms=None`` is a family on XGBoost alone (survival's objectives): no ``algorithm`` choice and no
    ``num_leaves``. CatBoost searches only what moves its oblivious trees (the learning rate, ``catboost_depth``
    and the L2 penalty around its default 3) under the same parameter names; its sampling keeps its defaults.
    """
    params: dict[str, Any] = {}
    algorithm = "xgboost"
    if algorithms is not None:
        algorithm = params["algorithm"] = trial.suggest_categorical("algorithm", list(algorithms))
    if algorithm == "catboost":
        return params | {
            "learning_rate": trial.suggest_float("learning_rate", *learning_rate, log=True),
            "max_depth": trial.suggest_int("max_depth", *catboost_depth),
            "reg_lambda": trial.suggest_float("reg_lambda", 0.5, 30.0, log=True),
        }
    params |= {
        "learning_rate": trial.suggest_float("learning_rate", *learning_rate, log=True),
        "max_depth": trial.suggest_int("max_depth", *max_depth),
        "min_child_weight": trial.suggest_float("min_child_weight", *min_child_weight, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 30.0, log=True),
    }
    if algorithm == "lightgbm":
        params["num_leaves"] = trial.suggest_int("num_leaves", *num_leaves, log=True)
    return params


def predict_margin(booster: Any, X: np.ndarray, n_iter: int) -> np.ndarray:
    """Raw margin (log-odds for binary) from the first ``n_iter`` trees."""
    if is_catboost(booster):
        return catboost_margin(booster, X, n_iter)
    if isinstance(booster, xgb.Booster):
        return np.asarray(booster.inplace_predict(X, iteration_range=(0, n_iter), predict_type="margin"))
    return np.asarray(booster.predict(X, raw_score=True, num_iteration=n_iter))


def tree_contributions(booster: Any, X: np.ndarray, n_iter: int) -> np.ndarray:
    """Exact TreeSHAP values in margin space: (n, p + 1), last column the expected value; rows sum to the margin.

    The XGBoost ``DMatrix`` is built on one thread: its default thread pool costs ~15 ms per call, which made one
    customer's explanation take 24 ms instead of 1.3 ms (bench/explain_speed.py). The booster's own thread
    count still applies to the contributions.
    """
    if is_catboost(booster):
        return catboost_contributions(booster, X, n_iter)
    if isinstance(booster, xgb.Booster):
        matrix = xgb.DMatrix(X, nthread=1)
        return np.asarray(booster.predict(matrix, pred_contribs=True, iteration_range=(0, n_iter)))
    return np.asarray(booster.predict(X, pred_contrib=True, num_iteration=n_iter))
