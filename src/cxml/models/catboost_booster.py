"""CatBoost behind :mod:`cxml.models.boosting`'s interface: train with early stopping, margins, exact TreeSHAP.

CatBoost grows oblivious trees (one split per level) with ordered boosting, which on the public churn tables
(bench/churn_peers.py) beats XGBoost and LightGBM at their defaults. It reads the same float matrix the others
read (``TableEncoder``: categoricals as integer codes, NaN missing, CatBoost's ``nan_mode="Min"``), so one encoding
serves every candidate. ``BoosterParams`` speaks XGBoost's words; here ``max_depth`` is CatBoost's ``depth`` and
``reg_lambda`` its ``l2_leaf_reg``; the sampling fields keep CatBoost's own defaults (MVS bootstrap).

``catboost`` is imported on first use: it takes ~1 s, which only a CatBoost model should pay.
"""

from __future__ import annotations

import importlib
import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cxml.threads import pool_threads

if TYPE_CHECKING:
    from cxml.models.boosting import BoosterParams, IterationCallback

LOSS = {"binary": "Logloss", "regression": "RMSE"}


def _catboost() -> Any:
    return importlib.import_module("catboost")


def is_catboost(booster: Any) -> bool:
    """True for a fitted CatBoost model (without importing catboost for the other boosters)."""
    return type(booster).__module__.split(".")[0] == "catboost"


def catboost_params(p: BoosterParams) -> dict[str, Any]:
    """The tree parameters in CatBoost's words, with early stopping on the validation rows."""
    return {
        "loss_function": LOSS[p.objective],
        "iterations": p.n_estimators,
        "learning_rate": p.learning_rate,
        "depth": p.max_depth,
        "l2_leaf_reg": p.reg_lambda,
        "od_type": "Iter",
        "od_wait": p.early_stopping_rounds,
        "use_best_model": True,
        "thread_count": pool_threads(p.n_jobs),  # CatBoost's model changes with its threads
        "random_seed": p.random_state,
        "verbose": False,
        "allow_writing_files": False,  # no catboost_info/ folder in the working directory
    }


class _Report:
    """CatBoost's callback protocol: ``after_iteration(info)``; returning False would stop training."""

    def __init__(self, callback: IterationCallback, every: int = 10):
        self.callback, self.every = callback, every

    def after_iteration(self, info: Any) -> bool:
        if info.iteration % self.every == 0:
            history = next(iter(info.metrics["validation"].values()))
            self.callback(info.iteration, float(history[-1]))
        return True


def train_catboost(
    p: BoosterParams,
    X: np.ndarray,
    y: np.ndarray,
    X_valid: np.ndarray,
    y_valid: np.ndarray,
    on_iteration: IterationCallback | None = None,
) -> tuple[Any, int]:
    """Fit with early stopping on the validation rows; the model is cut to its best iteration (so its SHAP values,
    which CatBoost computes over the whole model, add up to the margin served from ``n_iter`` trees)."""
    cb = _catboost()
    model = cb.CatBoost(catboost_params(p))
    model.fit(
        cb.Pool(np.asarray(X, dtype=np.float32), y),
        eval_set=cb.Pool(np.asarray(X_valid, dtype=np.float32), y_valid),
        callbacks=[_Report(on_iteration)] if on_iteration else None,
    )
    return model, int(model.tree_count_)


def catboost_margin(model: Any, X: np.ndarray, n_iter: int) -> np.ndarray:
    """Raw margin (log-odds for Logloss) from the first ``n_iter`` trees, on the model's own thread count."""
    return np.asarray(
        model.predict(
            np.asarray(X, dtype=np.float32),
            prediction_type="RawFormulaVal",
            ntree_end=n_iter,
            thread_count=model.get_param("thread_count") or 1,
        ),
        dtype=np.float64,
    )


def catboost_contributions(model: Any, X: np.ndarray, n_iter: int) -> np.ndarray:
    """CatBoost's exact TreeSHAP in margin space: (n, p + 1), last column the expected value; rows sum to the
    margin of all the model's trees (``train_catboost`` keeps ``n_iter`` of them)."""
    if n_iter != model.tree_count_:
        raise ValueError(f"SHAP values explain all {model.tree_count_} trees of a CatBoost model, not {n_iter}")
    pool = _catboost().Pool(np.asarray(X, dtype=np.float32))
    values = model.get_feature_importance(
        pool, type="ShapValues", thread_count=model.get_param("thread_count") or 1, verbose=False
    )
    return np.asarray(values, dtype=np.float64)


def catboost_json(model: Any) -> dict[str, Any]:
    """The model as CatBoost's JSON export (trees, borders, leaf values and weights): what LeafPaths reads."""
    with tempfile.TemporaryDirectory(prefix="cxml-catboost-") as folder:
        path = Path(folder) / "model.json"
        model.save_model(str(path), format="json")
        return dict(json.loads(path.read_text()))
