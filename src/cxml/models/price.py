"""Price sensitivity: causal elasticity per cell and a monotone demand model (the ``ModelSpec`` of the family).

Rows are demand cells (segment × channel × time bucket × week from the contract tables, or the rows of a panel a
user brings). Column names carry their role, so one estimator serves every data set and the logged signature
says what each column is:

============== =====================================================================================
``log_price``  the treatment: log price (contract tables: the cell's log price index vs list)
``<name>``     a heterogeneity column: the elasticity varies with it (segment, channel, brand, INCOME)
``unit:<name>`` a heterogeneity column along which the price moves over time (the channel of the company)
``time:<name>`` the period key (week): a control
``control:<name>`` a further confounder, for the nuisance models only
============== =====================================================================================

With a ``time:`` and a ``unit:`` column the nuisances are additive in (time, other heterogeneity) and (unit, other
heterogeneity), a non-parametric two-way fixed-effects model (see :mod:`cxml.models.dml`). Targets are a frame:
``log_quantity``, an optional ``weight`` and, where a simulation knows it, ``true_elasticity`` (NaN elsewhere).

``PriceDML`` combines :class:`~cxml.models.dml.ElasticityDML` (the causal elasticity with robust intervals) and
:class:`~cxml.models.demand.MonotoneDemandGBM` (what-if curves, never rising with price); its demand forecast is
the DML's structural demand, the monotone GBM's or their mean (``demand``, chosen by Optuna on held-out error).
The baseline is ``LogLogDemand``: one constant elasticity with the same columns as one-hot/linear controls (the
period as fixed effects). The gate requires beating it on held-out log-quantity RMSE (``demand_rmse``) and,
where the truth exists, on the mean absolute elasticity error (``elasticity_mae``, ``gate.also_beat_baseline``);
it refuses an elasticity a category manager could not act on (:mod:`cxml.models.price_gate`: surely positive, or
beyond the baseline's interval where no truth arbitrates). The nuisances are the GBM or the two-way linear model,
whichever fits better cross-fitted (``PriceDML.nuisance="auto"``); ``fitted_params()`` reports the choice and the
share of within-group price variation left after them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cxml.evaluation.bootstrap import bootstrap_interval
from cxml.evaluation.plots import holdout_decile_plot
from cxml.models.price_dml import ConstantElasticity, PriceDML, Roles, targets
from cxml.models.spec import ModelSpec

# Roles stays importable here for the pickles of models saved before the estimators had their own module (they
# name cxml.models.price.Roles), so champions registered by earlier versions still load.
__all__ = ["SPEC", "ConstantElasticity", "PriceDML", "Roles"]
SCORE_COLUMNS = ["elasticity", "elasticity_lower", "elasticity_upper", "log_quantity"]


def score(model: Any, X: pd.DataFrame) -> np.ndarray:
    """Elasticity, its interval ends and the expected log quantity per row (``SCORE_COLUMNS``)."""
    return np.column_stack([model.elasticity(X).to_numpy(np.float64), model.predict(X)])


def metrics(y: Any, score: np.ndarray) -> dict[str, float]:
    """``demand_rmse``/``demand_mae`` of log quantity, ``elasticity_mean`` with ``elasticity_mean_lower``/``_upper``
    (the means of the rows' interval ends: an interval at least as wide as the pooled estimate's own, so the gate's
    elasticity checks refuse only clear cases), ``elasticity_max_lower`` (the highest lower end among the rows: above
    0, some cell's demand surely rises with price) and, with the truth, ``elasticity_mae``, ``elasticity_bias`` and
    ``elasticity_coverage`` (share of rows whose interval holds the true elasticity)."""
    s = np.asarray(score, dtype=np.float64).reshape(-1, len(SCORE_COLUMNS))
    log_q, _, truth = targets(y)
    err = s[:, 3] - log_q
    out = {
        "demand_rmse": float(np.sqrt(np.mean(err**2))),
        "demand_mae": float(np.mean(np.abs(err))),
        "elasticity_mean": float(np.mean(s[:, 0])),
        "elasticity_mean_lower": float(np.mean(s[:, 1])),
        "elasticity_mean_upper": float(np.mean(s[:, 2])),
        "elasticity_max_lower": float(np.max(s[:, 1])),
    }
    if truth is not None and np.isfinite(truth).any():
        known = np.isfinite(truth)
        e, lo, hi, tr = s[known, 0], s[known, 1], s[known, 2], truth[known]
        out["elasticity_mae"] = float(np.mean(np.abs(e - tr)))
        out["elasticity_bias"] = float(np.mean(e - tr))
        out["elasticity_coverage"] = float(np.mean((lo <= tr) & (tr <= hi)))
    return out


def interval(y: Any, score: np.ndarray, metric: str, seed: int, n_boot: int = 200) -> tuple[float, float]:
    """95 % percentile bootstrap of a ``metrics`` entry, resampling rows."""
    s = np.asarray(score, dtype=np.float64).reshape(-1, len(SCORE_COLUMNS))
    frame = y if isinstance(y, pd.DataFrame) else pd.DataFrame({"log_quantity": np.asarray(y, dtype=np.float64)})

    def statistic(idx: np.ndarray) -> float:
        return metrics(frame.iloc[idx], s[idx]).get(metric, np.nan)

    return bootstrap_interval(len(frame), statistic, n_boot=n_boot, seed=seed)


def _search_space(trial: Any, algorithms: tuple[str, ...]) -> dict[str, Any]:
    """The DML nuisance GBMs (LightGBM, early-stopped) and which model forecasts demand."""
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.03, 0.3, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 4, 63, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 5, 100, log=True),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
        "demand": trial.suggest_categorical("demand", ["dml", "gbm", "mean"]),
    }


def _build(params: dict[str, Any]) -> PriceDML:
    return PriceDML().set_params(**params)


def _target_columns(y: Any) -> pd.DataFrame:
    log_q, w, truth = targets(y)
    n = len(log_q)
    return pd.DataFrame(
        {
            "__label__": log_q,
            "__weight__": np.ones(n) if w is None else w,
            "__true_elasticity__": np.full(n, np.nan) if truth is None else truth,
        }
    )


def _describe(term: str) -> str:
    """``segment[loyal]:channel[store]`` → ``segment loyal × channel store``."""
    parts = []
    for piece in term.split(":"):
        name, _, level = piece.partition("[")
        parts.append(f"{name} {level.rstrip(']')}" if level else name)
    return " × ".join(parts)


def explain_row(model: Any, row: pd.DataFrame, k: int) -> dict[str, Any]:
    """The row's elasticity with its interval, and its ``k`` largest terms against the reference cell, in words."""
    e = model.elasticity(row).iloc[0]
    result: dict[str, Any] = {
        "score": float(e["elasticity"]),
        "elasticity": float(e["elasticity"]),
        "interval": [float(e["elasticity_lower"]), float(e["elasticity_upper"])],
        "interval_level": 1 - float(model.alpha),
    }
    if not isinstance(model, PriceDML):
        return {**result, "headline": "; one constant elasticity (log-log)", "reasons": []}
    terms = model.drivers(row).iloc[0]
    reference = float(terms["intercept"])
    terms = terms.drop("intercept")
    reasons = []
    for term in terms.abs().sort_values(ascending=False, kind="stable").index[:k]:
        c = float(terms[term])
        if abs(c) < 1e-6:
            continue
        how = "less" if c > 0 else "more"
        reasons.append(
            {
                "feature": term,
                "contribution": c,
                "text": f"{_describe(term)}: {c:+.2f} on the elasticity ({how} price-sensitive than the reference)",
            }
        )
    level = f"{100 * (1 - model.alpha):.0f} %"
    result["headline"] = (
        f"; elasticity {e['elasticity']:.2f} [{e['elasticity_lower']:.2f}, {e['elasticity_upper']:.2f}] ({level}); "
        f"reference cell {reference:.2f}: a 1 % price rise changes demand by {e['elasticity']:.2f} %"
    )
    return {**result, "reasons": reasons}


def figures(holdout: pd.DataFrame) -> dict[str, str]:
    """Held-out log units against the model's and the log-log baseline's forecast, by decile of the model's."""

    return {"Held-out demand by decile": holdout_decile_plot(holdout, "log_quantity", "log units")}


def _make_spec() -> ModelSpec:
    return ModelSpec(
        family="price",
        primary_metric="demand_rmse",
        greater_is_better=False,
        build=_build,
        search_space=_search_space,
        score=score,
        metrics=metrics,
        baseline=lambda X: ConstantElasticity(),
        baseline_name="constant-elasticity log-log regression (LogLogDemand, same columns, period fixed effects)",
        target_columns=_target_columns,
        stratify=lambda y: np.zeros(len(y), dtype=np.int64),
        interval=interval,
        score_columns=lambda model: list(SCORE_COLUMNS),
        explain_row=explain_row,
        figures=figures,
        refit_params={"n_repeats": 3},  # repeated cross-fitting: 48-cell MAE 0.130 → 0.113 on 100,000 customers
    )


SPEC = _make_spec()
