"""Lifetime value: what a customer will spend over the holdout horizon, and whether they are still a customer.

Rows are customers; features are read from the calibration period (the RFM columns of
:mod:`cxml.features.rfm_data`, plus the customer-360 features on the contract tables); targets are a frame of
holdout ``value``, holdout ``purchases`` and the holdout's ``duration`` in periods (the horizon to predict).

``LifetimeValueModel(kind=...)`` is one estimator for three models, so Optuna (and then the gate) chooses:

- ``pareto_nbd`` / ``bg_nbd``: a buy-till-you-die model fitted on the RFM columns alone (the targets are not
  used, except for the horizon), times Gamma-Gamma spend per purchase;
- ``gbm``: boosted regressions of holdout value and holdout purchases on every feature.

P(alive) always comes from a Pareto/NBD fitted on the same RFM columns, whatever the kind: BG/NBD's P(alive) is 1
for every customer without a repeat purchase by construction, so it is never served.

The primary metric is the RMSE of holdout value (lower is better). The served score is an expected value, and
squared error is a consistent scoring function for the mean (Gneiting 2011): the true expectation minimises it.
MAE is minimised by the median, which is 0 for most customers (most never buy again), so it would rank
"predict 0 for everyone" about level with a correct expectation (CDNOW, all 23,570 customers, calibration
to 1997-09-30: MAE 33.0 for zeros against 32.0 for Pareto/NBD; RMSE 129 against 93). MAE, total value and
purchases against actual, the AUC of "any holdout purchase" and Spearman's rank correlation are reported beside it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Self

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from scipy.stats import spearmanr
from sklearn.base import BaseEstimator
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

from cxml.config import PipelineConfig
from cxml.evaluation.bootstrap import bootstrap_interval
from cxml.evaluation.plots import holdout_decile_plot
from cxml.features.reasons import reasons_per_row
from cxml.models.boosting import booster_params, predict_margin, suggest_booster, train_booster, tree_contributions
from cxml.models.btyd import RFM_COLUMNS, BetaGeoNBD, GammaGamma, ParetoNBD
from cxml.models.encoding import TableEncoder
from cxml.models.explanation import tree_explanation
from cxml.models.spec import ModelSpec

if TYPE_CHECKING:
    import shap

Kind = Literal["pareto_nbd", "bg_nbd", "gbm"]
KINDS: tuple[str, ...] = ("pareto_nbd", "bg_nbd", "gbm")
SCORE_COLUMNS = ["expected_value", "expected_purchases", "p_alive"]


class ClvOptions(BaseModel):
    """``options:`` of ``pipelines/clv.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    horizon_days: int = Field(180, gt=0, description="contract tables: holdout length after as_of")
    period_days: float = Field(7.0, gt=0, description="time unit of recency, T and the horizon (7: weeks)")
    holdout_fraction: float = Field(0.3, gt=0, lt=1, description="customers held out (stratified by repeat)")


def options(cfg: PipelineConfig) -> ClvOptions:
    return ClvOptions.model_validate(cfg.options)


class LifetimeValueModel(BaseEstimator):
    """Expected holdout value, expected purchases and P(alive) per customer (see the module docstring).

    ``horizon`` (in periods) defaults to the targets' ``duration`` seen in ``fit``. Booster parameters apply to
    ``kind="gbm"``; ``penalizer`` to the BTYD likelihoods. ``with_p_alive=False`` skips the companion Pareto/NBD
    of the other kinds (``p_alive`` is then NaN): tuning trials score value only, and a Pareto/NBD fit can take
    seconds (25 s on 1,168 customers of a simulated company whose dropout rates are nearly homogeneous).

    Not under scikit-learn's ``parametrize_with_checks``: ``X`` must hold the named RFM columns (``frequency``,
    ``recency``, ``T``, ``monetary_value``, ``average_spend``) and ``y`` is a targets frame (``value``, ``purchases``,
    ``duration``), not one target vector.
    """

    def __init__(
        self,
        kind: Kind = "pareto_nbd",
        horizon: float | None = None,
        penalizer: float = 0.0,
        algorithm: Literal["xgboost", "lightgbm"] = "xgboost",
        n_estimators: int = 2000,
        learning_rate: float = 0.05,
        max_depth: int = 3,
        num_leaves: int = 15,
        min_child_weight: float = 1.0,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        reg_alpha: float = 0.0,
        early_stopping_rounds: int = 50,
        validation_fraction: float = 0.2,
        with_p_alive: bool = True,
        fit_every_btyd: bool = False,
        n_jobs: int = 1,
        random_state: int = 0,
    ):
        self.kind = kind
        self.horizon = horizon
        self.penalizer = penalizer
        self.algorithm = algorithm
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.num_leaves = num_leaves
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.reg_alpha = reg_alpha
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.with_p_alive = with_p_alive
        self.fit_every_btyd = fit_every_btyd
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: pd.DataFrame) -> Self:
        """``X`` has the RFM columns (and any others, used by ``gbm``); ``y`` has value, purchases, duration."""
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")
        self.horizon_ = float(self.horizon if self.horizon is not None else holdout_horizon(y))
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self._fit_btyd(X)
        if self.kind == "gbm":
            self.encoder_ = TableEncoder().fit(X)
            matrix = self.encoder_.transform(X)
            self.value_booster_ = self._boost(matrix, y["value"].to_numpy(float))
            self.purchase_booster_ = self._boost(matrix, y["purchases"].to_numpy(float))
        return self

    def fit_label_free(self, X: pd.DataFrame) -> Self:
        """Refit the BTYD parts on the calibration RFM of ``X``: every customer's, the gate's holdout included.

        They read calibration-period frequency, recency, age and spend only, which exist for every customer at the
        calibration end, never a target, so fitting them on all customers (as Fader, Hardie & Lee do on CDNOW) sees
        no holdout outcome; their parameters then describe the whole cohort. The GBM, which learns from targets,
        keeps the training customers only.
        """
        check_is_fitted(self)
        self._fit_btyd(X)
        return self

    def _fit_btyd(self, X: pd.DataFrame) -> None:
        """Pareto/NBD (P(alive), or the transaction model), BG/NBD and Gamma-Gamma as the kind needs them, or all
        three with ``fit_every_btyd`` (the final refit), so their parameters are reported whatever Optuna chose."""
        rfm = X[list(RFM_COLUMNS)]
        every = self.fit_every_btyd
        wants_pareto = self.kind == "pareto_nbd" or self.with_p_alive or every
        pareto = self._btyd(ParetoNBD, rfm) if wants_pareto else None
        bg = self._btyd(BetaGeoNBD, rfm) if self.kind == "bg_nbd" or every else None
        self.alive_model_ = pareto
        self.bg_model_ = bg
        self.transaction_model_: Any = {"pareto_nbd": pareto, "bg_nbd": bg}.get(self.kind)
        self.spend_model_: Any = None
        if self.kind != "gbm" or every:
            repeaters = X.loc[(X["frequency"] > 0) & (X["monetary_value"] > 0), ["frequency", "monetary_value"]]
            self.spend_model_ = GammaGamma(penalizer=self.penalizer, n_starts=1, random_state=self.random_state)
            self.spend_model_.fit(repeaters)

    def fitted_params(self) -> dict[str, float | str]:
        """Every fitted BTYD parameter, named ``<model>.<parameter>`` (BG/NBD r, alpha, a, b; Pareto/NBD r, alpha,
        s, beta; Gamma-Gamma p, q, v, the paper's gamma), and which transaction model serves the value."""
        check_is_fitted(self)
        out: dict[str, float | str] = {"transaction_model": self.kind}
        fitted = {
            "pareto_nbd": self.alive_model_,
            "bg_nbd": getattr(self, "bg_model_", None),
            "gamma_gamma": getattr(self, "spend_model_", None),
        }
        for prefix, model in fitted.items():
            if model is not None:
                out.update({f"{prefix}.{k}": float(v) for k, v in model.params_.items()})
        return out

    def _btyd(self, model: type[ParetoNBD] | type[BetaGeoNBD], rfm: pd.DataFrame) -> Any:
        return model(self.penalizer, n_starts=1, random_state=self.random_state).fit(rfm)

    def _boost(self, matrix: np.ndarray, target: np.ndarray) -> tuple[Any, int]:
        params = booster_params(self, objective="regression")
        tr, va = train_test_split(
            np.arange(len(target)), test_size=self.validation_fraction, random_state=self.random_state
        )
        return train_booster(params, matrix[tr], target[tr], matrix[va], target[va])

    def predict_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """``expected_value`` and ``expected_purchases`` over the horizon, and ``p_alive`` now, per customer."""
        check_is_fitted(self)
        x, tx, T = (X[c].to_numpy(float) for c in RFM_COLUMNS)
        p_alive = np.full(len(X), np.nan) if self.alive_model_ is None else self.alive_model_.p_alive(x, tx, T)
        if self.kind == "gbm":
            matrix = self.encoder_.transform(X)
            (value_booster, n_value), (purchase_booster, n_purchase) = self.value_booster_, self.purchase_booster_
            value = np.maximum(predict_margin(value_booster, matrix, n_value), 0.0)
            purchases = np.maximum(predict_margin(purchase_booster, matrix, n_purchase), 0.0)
        else:
            purchases = self.transaction_model_.expected_purchases(self.horizon_, x, tx, T)
            value = purchases * self.expected_spend(X)
        values = np.column_stack([value, purchases, p_alive])
        return pd.DataFrame(values, columns=SCORE_COLUMNS, index=X.index)

    def expected_spend(self, X: pd.DataFrame) -> np.ndarray:
        """Gamma-Gamma E[value per purchase]; the customer's own average when the fit has no finite mean (q <= 1)."""
        if self.spend_model_.params_["q"] <= 1:
            return X["average_spend"].to_numpy(float)
        return self.spend_model_.expected_average_spend(X["frequency"], X["monetary_value"])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.predict_frame(X)["expected_value"].to_numpy()

    def explain(self, X: pd.DataFrame) -> shap.Explanation:
        """Tree SHAP of the expected value (``gbm`` only) as a ``shap.Explanation``: each row adds up to the
        unclipped expected value."""
        check_is_fitted(self)
        if self.kind != "gbm":
            raise ValueError(f"explain needs kind='gbm' (tree contributions); a {self.kind!r} model has none")
        booster, n_iter = self.value_booster_
        matrix = self.encoder_.transform(X)
        phi = tree_contributions(booster, matrix, n_iter)
        return tree_explanation(
            phi[:, :-1], float(phi[0, -1]), X, matrix, names=self.encoder_.feature_names_in_, scale="expected value"
        )


def holdout_horizon(y: pd.DataFrame) -> float:
    durations = y["duration"].to_numpy(float)
    if durations.size == 0 or not np.all(durations == durations[0]) or not durations[0] > 0:
        raise ValueError("targets' duration must be one positive holdout length for every customer")
    return float(durations[0])


class AverageSpendRetention(BaseEstimator):
    """The naive rule: a customer's calibration average spend per purchase × the population's repeat rate.

    The repeat rate is the training customers' mean number of holdout purchases (retention, the share who buy
    again, times the purchases of those who do): the rule gets the purchase count right on average and ranks
    customers by their spend alone. Its ``p_alive`` is the retention, the same for everyone.

    Not under scikit-learn's ``parametrize_with_checks``: it reads the named ``average_spend`` column of ``X`` and the
    ``purchases`` column of a targets frame ``y``, and scores with ``predict_frame``.
    """

    def fit(self, X: pd.DataFrame, y: pd.DataFrame) -> Self:
        purchases = y["purchases"].to_numpy(float)
        self.rate_ = float(purchases.mean())
        self.retention_ = float((purchases > 0).mean())
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        return self

    def predict_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self)
        n = len(X)
        values = np.column_stack(
            [X["average_spend"].to_numpy(float) * self.rate_, np.full(n, self.rate_), np.full(n, self.retention_)]
        )
        return pd.DataFrame(values, columns=SCORE_COLUMNS, index=X.index)


def value_metrics(y: pd.DataFrame, score: np.ndarray) -> dict[str, float]:
    """``rmse`` and ``mae`` of holdout value; ``total_value_pct`` and ``total_purchases_pct``, predicted against
    actual totals (+5 = 5 % too high); ``auc_repeat`` and ``auc_p_alive``, how well expected purchases and
    P(alive) rank "any holdout purchase"; ``spearman`` between predicted and actual value."""
    s = np.asarray(score, dtype=float).reshape(len(y), -1)
    value, purchases = y["value"].to_numpy(float), y["purchases"].to_numpy(float)
    bought = purchases > 0
    both = 0 < bought.sum() < bought.size
    ranked = both and bool(np.isfinite(s[:, 2]).all())  # p_alive is NaN in tuning trials (with_p_alive=False)

    def pct(predicted: np.ndarray, actual: np.ndarray) -> float:
        return float(100 * (predicted.sum() / actual.sum() - 1)) if actual.sum() > 0 else float("nan")

    return {
        "rmse": float(np.sqrt(np.mean((s[:, 0] - value) ** 2))),
        "mae": float(np.mean(np.abs(s[:, 0] - value))),
        "total_value_pct": pct(s[:, 0], value),
        "total_purchases_pct": pct(s[:, 1], purchases),
        "auc_repeat": float(roc_auc_score(bought, s[:, 1])) if both else float("nan"),
        "auc_p_alive": float(roc_auc_score(bought, s[:, 2])) if ranked else float("nan"),
        "spearman": float(spearmanr(s[:, 0], value).statistic) if np.ptp(s[:, 0]) > 0 else float("nan"),
    }


def _interval(y: pd.DataFrame, score: np.ndarray, metric: str, seed: int, n_boot: int = 200) -> tuple[float, float]:
    """95 % percentile bootstrap of a ``value_metrics`` entry, resampling customers."""
    s = np.asarray(score, dtype=float).reshape(len(y), -1)
    errors = s[:, 0] - y["value"].to_numpy(float)

    def statistic(idx: np.ndarray) -> float:
        if metric == "rmse":  # the primary metric, without the ranking metrics' cost
            return float(np.sqrt(np.mean(errors[idx] ** 2)))
        return value_metrics(y.iloc[idx], s[idx])[metric]

    return bootstrap_interval(len(y), statistic, n_boot=n_boot, seed=seed)


def _search_space(trial: Any, algorithms: tuple[str, ...]) -> dict[str, Any]:
    """The kind first, then the booster's parameters for the GBM.

    The BTYD likelihoods get no penalty: ``btyd``'s penalizer acts on the raw parameters, so its strength
    depends on the time unit (on the simulated company 0.001 moved Pareto/NBD's beta from 51 to 1.4).
    """
    kind = trial.suggest_categorical("kind", list(KINDS))
    if kind != "gbm":
        return {"kind": kind}
    boosters = suggest_booster(trial, algorithms, max_depth=(2, 6), min_child_weight=(1.0, 100.0), num_leaves=(4, 32))
    return {"kind": kind, **boosters}


def _build(params: dict[str, Any]) -> LifetimeValueModel:
    return LifetimeValueModel(with_p_alive=False).set_params(**params)


def _score(model: Any, X: pd.DataFrame) -> np.ndarray:
    return model.predict_frame(X).to_numpy(dtype=float)


def _target_columns(y: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "__label__": y["value"].to_numpy(),
            "__purchases__": y["purchases"].to_numpy(),
            "__duration__": y["duration"].to_numpy(),
        }
    )


def repeat_strata(y: pd.DataFrame) -> np.ndarray:
    """Folds and the holdout keep the share of customers who buy again."""
    return (y["purchases"].to_numpy(float) > 0).astype(int)


def explain_row(model: Any, row: pd.DataFrame, k: int) -> dict[str, Any]:
    """Scores of one customer; with ``kind="gbm"`` the top ``k`` tree-SHAP reasons for the expected value.

    A BTYD model has no per-feature contributions: its reasons are the customer's RFM history in words.
    """

    scores = model.predict_frame(row).iloc[0]
    result: dict[str, Any] = {
        "score": float(scores["expected_value"]),
        "scores": {str(name): float(v) for name, v in scores.items()},
    }
    if model.kind == "gbm":
        reasons = reasons_per_row(model.explain(row), k=k, target="expected value")[0]
        return {**result, "reasons": [r.as_dict() for r in reasons]}
    r = row.iloc[0]
    result["headline"] = (
        f"; {model.kind}: {r['frequency']:.0f} repeat purchases, the last {r['recency']:.0f} periods after the "
        f"first, {r['T']:.0f} periods ago; P(alive) {scores['p_alive']:.2f}"
    )
    return {**result, "reasons": []}


def figures(holdout: pd.DataFrame) -> dict[str, str]:
    """Holdout value against the model's and the baseline's expected value, by decile of the model's."""

    return {"Holdout value by decile": holdout_decile_plot(holdout, "expected_value", "value")}


def _make_spec() -> Any:
    return ModelSpec(
        family="clv",
        primary_metric="rmse",
        greater_is_better=False,
        build=_build,
        search_space=_search_space,
        score=_score,
        metrics=value_metrics,
        baseline=lambda X: AverageSpendRetention(),
        baseline_name="average spend × retention (calibration spend per purchase × mean holdout purchases)",
        target_columns=_target_columns,
        stratify=repeat_strata,
        interval=_interval,
        score_columns=lambda model: list(SCORE_COLUMNS),
        explain_row=explain_row,
        figures=figures,
        refit_params={"with_p_alive": True, "fit_every_btyd": True},
    )


SPEC = _make_spec()
