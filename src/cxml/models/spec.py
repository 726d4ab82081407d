"""The one shape every model family has: how to build it, what to search, how to score it, what to beat.

A family's model module ``cxml.models.<family>`` exposes ``SPEC: ModelSpec`` (pure: no files, no MLflow); its
rows come from ``cxml.datasets.<family>``, which registers the family. The training pipeline, tuning, tracking,
gate and serving only ever talk to these two records.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import optuna
import pandas as pd

from cxml.evaluation.metrics import bootstrap_ci
from cxml.features.reasons import reasons_per_row
from cxml.models.explanation import model_output

Targets: TypeAlias = np.ndarray | pd.DataFrame
"""A label per row (churn), or several target columns per row (uplift: the outcome and the arm received)."""


def take(y: Targets, rows: np.ndarray) -> Targets:
    """Rows ``rows`` (positions) of targets, whatever their kind."""
    return y.iloc[rows] if isinstance(y, pd.DataFrame) else y[rows]


def label_rate(y: Targets) -> float:
    """Mean of the label (of the first target column for several)."""
    return float(np.mean(y.iloc[:, 0] if isinstance(y, pd.DataFrame) else y))


@dataclass(frozen=True)
class Dataset:
    """Training rows, and a holdout scored the same way by candidate, champion and baseline."""

    name: str
    source: str
    X_train: pd.DataFrame
    y_train: Targets
    X_holdout: pd.DataFrame
    y_holdout: Targets
    feature_set: str
    as_of: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    """Logged as run tags (e.g. ``cxml.campaign`` for uplift), so consumers of the model know its context."""
    params: dict[str, str] = field(default_factory=dict)
    """Choices the dataset made from the data (cross-sell on a file: horizon, as_of, …), each with its reason:
    logged as MLflow params ``data.<name>`` and returned in ``TrainResult.data_params`` (``--json``)."""

    @property
    def summary(self) -> dict[str, Any]:
        return {
            "dataset": self.name,
            "source": self.source,
            "as_of": self.as_of or "",
            "feature_set": self.feature_set,
            "n_train": len(self.X_train),
            "n_holdout": len(self.X_holdout),
            "n_features": self.X_train.shape[1],
            "train_label_rate": label_rate(self.y_train),
            "holdout_label_rate": label_rate(self.y_holdout),
            **{f"data.{k}": v for k, v in self.params.items()},
        }


def _fit(estimator: Any, X: pd.DataFrame, y: Targets) -> Any:
    return estimator.fit(X, y)


def _label_columns(y: Targets) -> pd.DataFrame:
    return pd.DataFrame({"__label__": np.asarray(y)})


def _binary_interval(y: Targets, score: np.ndarray, metric: str, seed: int) -> tuple[float, float]:
    return bootstrap_ci(np.asarray(y), score, metric, seed=seed)


def _explain_probability(estimator: Any, row: pd.DataFrame, k: int) -> dict[str, Any]:
    """The score is the estimator's own ``predict_proba``, the number `cxml score` and the service give: the SHAP
    values add up to it only to XGBoost's float32 precision (~1e-8)."""
    explanation = estimator.explain(row, output="probability")
    reasons = reasons_per_row(explanation, k=k)[0]  # a row by index costs ~25 ms
    if hasattr(estimator, "predict_proba"):
        score = float(np.asarray(estimator.predict_proba(row))[0, 1])
    else:
        score = float(model_output(explanation)[0])
    return {"score": score, "reasons": [r.as_dict() for r in reasons]}


def _one_score(estimator: Any) -> list[str]:
    return ["score"]


def _no_first_trials(algorithms: tuple[str, ...]) -> list[dict[str, Any]]:
    return []


@dataclass(frozen=True)
class ModelSpec:
    family: str
    primary_metric: str
    build: Callable[[dict[str, Any]], Any]
    """Parameters (from the search space or a run) → an unfitted estimator."""
    search_space: Callable[[optuna.Trial, tuple[str, ...]], dict[str, Any]]
    """Suggest parameters, given the algorithms allowed by the pipeline config."""
    score: Callable[[Any, pd.DataFrame], np.ndarray]
    """A fitted estimator and rows → the served score (probability, effect, …)."""
    metrics: Callable[[np.ndarray, np.ndarray], dict[str, float]]
    baseline: Callable[[pd.DataFrame], Any]
    """Training features → the unfitted naive rule to beat (has fit / predict_proba)."""
    baseline_name: str
    greater_is_better: bool = True
    refit_params: dict[str, Any] = field(default_factory=dict)
    """Set on the final refit only (e.g. bagging), too costly to pay in every tuning trial."""
    fit: Callable[[Any, pd.DataFrame, Targets], Any] = _fit
    """Fit an estimator (or the baseline) on rows and targets; uplift passes the arm as ``treatment``."""
    target_columns: Callable[[Targets], pd.DataFrame] = _label_columns
    """Targets as columns to log beside the features (``__label__`` for one label)."""
    stratify: Callable[[Targets], np.ndarray] = np.asarray
    """One value per row that cross-validation folds are stratified on."""
    interval: Callable[[Targets, np.ndarray, str, int], tuple[float, float]] = _binary_interval
    """(targets, scores, metric, seed) → the metric's bootstrap confidence interval on the holdout."""
    score_columns: Callable[[Any], list[str]] = _one_score
    """A fitted estimator → names of the columns of ``score`` (one per arm for uplift)."""
    explain_row: Callable[[Any, pd.DataFrame, int], dict[str, Any]] = _explain_probability
    """(fitted estimator, one row, k) → the score(s) and the top ``k`` reasons in words, as JSON-ready values."""
    first_trials: Callable[[tuple[str, ...]], list[dict[str, Any]]] = _no_first_trials
    """The algorithms a pipeline allows → search-space points a fresh study tries first, before its sampler (a
    library's defaults that are known to be strong, so a short search never misses them)."""
    figures: Callable[[pd.DataFrame], dict[str, str]] | None = None
    """The logged holdout frame (targets, ``__score__``, ``__baseline_score__`` columns) → the family's own
    diagnostic plots as {title: PNG data URI}: logged with the run under ``figures/`` and shown on its card."""

    @property
    def experiment(self) -> str:
        return f"cxml/{self.family}"

    @property
    def registered_name(self) -> str:
        return f"cxml.{self.family}"

    @property
    def bento_name(self) -> str:
        return f"cxml-{self.family}"

    def better(self, a: float, b: float, margin: float = 0.0) -> bool:
        """True when metric value ``a`` beats ``b`` by more than ``margin`` (a tie never wins)."""
        return a - b > margin if self.greater_is_better else b - a > margin
