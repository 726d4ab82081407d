"""Survival: how long a customer stays (the ``ModelSpec`` of the family), on right-censored tenure.

Targets are a frame with ``event`` (1 the customer left, 0 censored) and ``duration`` (the time observed, in the
unit of the data: months on the contract tables). ``TenureBooster`` wraps the boosted Cox/AFT model of
:mod:`cxml.models.survival_boost` and serves, per customer: ``risk`` first (higher = leaves sooner; Harrell's C
is computed on it), ``survival_<h>`` = S(h | x) at each horizon of the pipeline options, and
``expected_remaining_tenure`` = E[min(T, H)] with H the last horizon, counted from where the duration starts
(``as_of`` on the contract tables, so the tenure still to come; the start of the customer's duration, e.g.
signup, on a user's table). The naive rule to beat is one Kaplan–Meier curve for everyone (C = 0.5).

The horizons ride on the targets frame (``targets.attrs["horizons"]``), set by the dataset builders from the
options: ``ModelSpec.build`` receives the tuned parameters only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, Self

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from cxml.config import PipelineConfig
from cxml.evaluation.bootstrap import bootstrap_interval
from cxml.evaluation.plots import survival_calibration_plot
from cxml.evaluation.survival_metrics import (
    brier_scores,
    calibration_at_horizons,
    calibration_error,
    concordance_index,
    kaplan_meier,
    survival_at,
)
from cxml.features.reasons import reasons_per_row
from cxml.models.boosting import suggest_booster, tree_contributions
from cxml.models.explanation import tree_explanation
from cxml.models.spec import ModelSpec
from cxml.models.survival_boost import SurvivalBooster

if TYPE_CHECKING:
    import shap

DEFAULT_HORIZONS = (3.0, 6.0, 12.0)
TENURE_COLUMN = "expected_remaining_tenure"


class SurvivalOptions(BaseModel):
    """``options:`` of ``pipelines/survival.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    horizons: tuple[float, ...] = Field(DEFAULT_HORIZONS, description="times S(t|x) is served and calibrated at")
    lapse_days: int = Field(90, gt=0, description="contract tables: churn = this many days without a purchase")
    holdout_fraction: float = Field(0.2, gt=0, lt=1, description="customers held out (stratified by event)")

    @field_validator("horizons")
    @classmethod
    def _positive_sorted(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or min(value) <= 0:
            raise ValueError(f"horizons must be positive times, got {value}")
        return tuple(sorted(set(float(v) for v in value)))


def options(cfg: PipelineConfig) -> SurvivalOptions:
    return SurvivalOptions.model_validate(cfg.options)


def horizon_label(h: float) -> str:
    """3.0 → "3", 1.5 → "1.5": the suffix of ``survival_<h>`` and the calibration metrics."""
    return f"{h:g}"


def score_names(horizons: Sequence[float]) -> list[str]:
    return ["risk", *(f"survival_{horizon_label(h)}" for h in horizons), TENURE_COLUMN]


def horizons_of(y: pd.DataFrame) -> tuple[float, ...]:
    return tuple(y.attrs.get("horizons", DEFAULT_HORIZONS))


def survival_targets(
    duration: Any, event: Any, index: pd.Index, horizons: Sequence[float] = DEFAULT_HORIZONS
) -> pd.DataFrame:
    """The targets frame of the family: ``event`` (int 0/1) then ``duration`` (float), horizons in attrs."""
    y = pd.DataFrame(
        {"event": np.asarray(event, dtype=np.int64), "duration": np.asarray(duration, dtype=float)}, index=index
    )
    y.attrs["horizons"] = tuple(float(h) for h in horizons)
    return y


class TenureBooster(BaseEstimator):
    """A :class:`SurvivalBooster` (Cox or AFT) fitted on a targets frame, serving risk, S(h) and tenure.

    Not under scikit-learn's ``parametrize_with_checks``: ``y`` is a targets frame of ``duration`` and ``event`` columns
    (not one target vector), and it scores with ``predict_frame``.
    """

    def __init__(
        self,
        objective: Literal["cox", "aft"] = "cox",
        distribution: Literal["normal", "logistic", "extreme"] = "normal",
        n_estimators: int = 1000,
        learning_rate: float = 0.05,
        max_depth: int = 3,
        min_child_weight: float = 1.0,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        reg_alpha: float = 0.0,
        early_stopping_rounds: int = 50,
        horizons: tuple[float, ...] = DEFAULT_HORIZONS,
        n_jobs: int = 1,
        random_state: int = 0,
    ):
        self.objective = objective
        self.distribution = distribution
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.reg_alpha = reg_alpha
        self.early_stopping_rounds = early_stopping_rounds
        self.horizons = horizons
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: pd.DataFrame) -> Self:
        """``y`` holds ``duration`` and ``event`` (1 left, 0 censored), one row per row of ``X``."""
        params = {k: v for k, v in self.get_params().items() if k != "horizons"}
        self.model_ = SurvivalBooster(**params).fit(X, y["duration"], y["event"])
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.score_names_ = score_names(self.horizons)
        return self

    def predict_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """One row per customer: ``risk``, ``survival_<h>`` per horizon, ``expected_remaining_tenure``."""
        check_is_fitted(self)
        horizons = [float(h) for h in self.horizons]
        curves = self.model_.predict_survival(X, horizons).to_numpy()
        tenure = self.model_.expected_remaining_tenure(X, 0.0, horizon=max(horizons)).to_numpy()
        values = np.column_stack([self.model_.predict_risk(X).to_numpy(), curves, tenure])
        return pd.DataFrame(values, columns=self.score_names_, index=X.index)

    def explain(self, X: pd.DataFrame) -> shap.Explanation:
        """Exact tree SHAP of ``risk`` as a ``shap.Explanation``: each row adds up to the customer's risk (log
        hazard for Cox, minus log time for AFT; ``output_names`` says which)."""
        check_is_fitted(self)
        model = self.model_
        matrix = model.encoder_.transform(X)
        phi = tree_contributions(model.booster_, matrix, model.n_iter_)
        aft = model.objective == "aft"
        if aft:  # the AFT margin is log time; risk is its negative
            phi = -phi
        scale = "risk (minus log time)" if aft else "risk (log hazard)"
        return tree_explanation(
            phi[:, :-1], float(phi[0, -1]), X, matrix, names=model.encoder_.feature_names_in_, scale=scale
        )


class KaplanMeierBaseline(BaseEstimator):
    """One Kaplan–Meier curve for everyone: a constant risk (C = 0.5), S(h) and restricted mean from the curve.

    Not under scikit-learn's ``parametrize_with_checks``: ``y`` is a targets frame of ``duration`` and ``event`` columns
    (not one target vector), and it scores with ``predict_frame``.
    """

    def __init__(self, horizons: tuple[float, ...] = DEFAULT_HORIZONS):
        self.horizons = horizons

    def fit(self, X: pd.DataFrame, y: pd.DataFrame) -> Self:
        self.curve_ = kaplan_meier(y["duration"], y["event"])
        self.score_names_ = score_names(self.horizons)
        return self

    def predict_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self)
        horizons = [float(h) for h in self.horizons]
        row = [0.0, *survival_at(self.curve_, horizons), restricted_mean(self.curve_, max(horizons))]
        return pd.DataFrame([row] * len(X), columns=self.score_names_, index=X.index)


def restricted_mean(curve: pd.DataFrame, horizon: float) -> float:
    """∫_0^horizon S(t) dt of a Kaplan–Meier step function (1 before its first time)."""
    times = np.minimum(np.r_[0.0, curve["time"].to_numpy(dtype=float), np.inf], horizon)
    levels = np.r_[1.0, curve["survival"].to_numpy(dtype=float)]
    return float(np.sum(levels * np.diff(times)))


def survival_metrics(y: pd.DataFrame, score: np.ndarray, horizons: Sequence[float]) -> dict[str, float]:
    """Harrell's ``c_index`` on the risk column; per horizon h, ``calibration_error_<h>`` (size-weighted mean
    |predicted - Kaplan–Meier observed| over risk deciles) and the censoring-weighted ``brier_<h>``.

    A horizon beyond the longest observed duration has no observed survival: its metrics are NaN.
    """
    d, e = y["duration"].to_numpy(dtype=float), y["event"].to_numpy(dtype=int)
    s = np.asarray(score, dtype=float).reshape(len(y), -1)
    out = {"c_index": concordance_index(d, e, s[:, 0])}
    seen = [i for i, h in enumerate(horizons) if h <= d.max()]
    curves = pd.DataFrame(s[:, [1 + i for i in seen]], columns=[float(horizons[i]) for i in seen])
    errors = calibration_error(calibration_at_horizons(d, e, curves)) if seen and len(y) >= 10 else pd.Series()
    briers = brier_scores(d, e, curves) if seen else pd.Series()
    for h in horizons:
        label = horizon_label(h)
        out[f"calibration_error_{label}"] = float(errors.get(float(h), np.nan))
        out[f"brier_{label}"] = float(briers.get(float(h), np.nan))
    return out


def _metrics(y: pd.DataFrame, score: np.ndarray) -> dict[str, float]:
    return survival_metrics(y, score, horizons_of(y))


def _interval(y: pd.DataFrame, score: np.ndarray, metric: str, seed: int, n_boot: int = 200) -> tuple[float, float]:
    """95 % percentile bootstrap of Harrell's C (or another metric), resampling customers."""
    s = np.asarray(score, dtype=float).reshape(len(y), -1)

    def statistic(idx: np.ndarray) -> float:
        if metric == "c_index":
            return concordance_index(y["duration"].to_numpy()[idx], y["event"].to_numpy()[idx], s[idx, 0])
        return _metrics(y.iloc[idx], s[idx])[metric]

    return bootstrap_interval(len(y), statistic, n_boot=n_boot, seed=seed)


def event_strata(y: Any) -> np.ndarray:
    """Folds keep the share of observed events."""
    return np.asarray(y["event"])


def _fit(estimator: Any, X: pd.DataFrame, y: pd.DataFrame) -> Any:
    return estimator.set_params(horizons=horizons_of(y)).fit(X, y)


def _search_space(trial: Any, algorithms: tuple[str, ...]) -> dict[str, Any]:
    """XGBoost's Cox or AFT objective (``algorithms`` does not apply: the survival objectives are XGBoost's)."""
    objective = trial.suggest_categorical("objective", ["cox", "aft"])
    params: dict[str, Any] = {"objective": objective, **suggest_booster(trial, None, max_depth=(2, 6))}
    if objective == "aft":
        params["distribution"] = trial.suggest_categorical("distribution", ["normal", "logistic", "extreme"])
    return params


def _build(params: dict[str, Any]) -> TenureBooster:
    return TenureBooster(n_estimators=2000, early_stopping_rounds=50).set_params(**params)


def _score(model: Any, X: pd.DataFrame) -> np.ndarray:
    return model.predict_frame(X).to_numpy(dtype=float)


def _target_columns(y: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"__label__": y["event"].to_numpy(), "__duration__": y["duration"].to_numpy()})


def explain_row(model: Any, row: pd.DataFrame, k: int) -> dict[str, Any]:
    """All served scores of one customer, and the top ``k`` tree-SHAP reasons for their risk (log hazard for
    Cox, minus log time for AFT)."""

    scores = model.predict_frame(row).iloc[0]
    reasons = reasons_per_row(model.explain(row), k=k, target="risk")[0]
    return {
        "score": float(scores["risk"]),
        "scores": {str(name): float(v) for name, v in scores.items()},
        "headline": f"; expected tenure in the next {model.horizons[-1]:g}: {scores[TENURE_COLUMN]:.1f}",
        "reasons": [r.as_dict() for r in reasons],
    }


def figures(holdout: pd.DataFrame) -> dict[str, str]:
    """Predicted S(h) against Kaplan–Meier observed survival per risk decile, at every served horizon."""

    prefix = "__score__:survival_"
    predicted = pd.DataFrame(
        {float(c.removeprefix(prefix)): holdout[c].to_numpy() for c in holdout.columns if c.startswith(prefix)}
    )
    table = calibration_at_horizons(holdout["__duration__"], holdout["__label__"], predicted)
    return {"Calibration at the horizons": survival_calibration_plot(table)}


def _make_spec() -> Any:
    return ModelSpec(
        family="survival",
        primary_metric="c_index",
        build=_build,
        search_space=_search_space,
        score=_score,
        metrics=_metrics,
        baseline=lambda X: KaplanMeierBaseline(),
        baseline_name="Kaplan–Meier without covariates (one curve for everyone, C = 0.5)",
        fit=_fit,
        target_columns=_target_columns,
        stratify=event_strata,
        interval=_interval,
        score_columns=lambda model: list(model.score_names_),
        explain_row=explain_row,
        figures=figures,
    )


SPEC = _make_spec()
