"""Cross-sell: how likely customer X is to buy item Y in the horizon (the ``ModelSpec`` of the family).

Rows are (customer, item) pairs from :mod:`cxml.features.affinity` as a flat frame (``customer_id`` and ``item``
columns, the ``owned`` mask, customer and pair features); targets are a frame (``label``, ``customer_id``,
``item``, ``owned``) so the metrics rank items per customer. Owned items are neither ranked nor relevant.

Primary metric: MAP@10 (greater is better). It rewards every relevant item in the top 10 and its position, so it
separates rankings that the binary Success@10 (hit rate, also reported) scores alike, and varies less between
folds of a few hundred customers. The baseline is the stronger of two label-free rankings on the same holdout,
metric by metric: popularity (share of active customers who bought the item in the look-back) and item–item
co-purchase (cosine similarity to the items the customer owns). Beating the baseline beats both.

Honest evaluation: the holdout is a seeded share of *customers* (all their pairs), scored by a model that never
saw their labels. Tuning folds come from ``cxml.tuning`` (stratified by label over pairs), so one customer's
pairs may sit in several folds; that only ranks each customer's items within a fold (see the report).
"""

from __future__ import annotations

import logging
from typing import Any, Literal, Self

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sklearn.base import BaseEstimator

from cxml.config import PipelineConfig
from cxml.evaluation.plots import reliability_plot
from cxml.evaluation.ranking import bootstrap_ranking_ci, ranking_metrics, ranking_per_customer
from cxml.models.boosting import suggest_booster
from cxml.models.recommenders import PerItemPropensity, SharedPropensity
from cxml.models.spec import ModelSpec

log = logging.getLogger(__name__)
KEYS: tuple[str, str] = ("customer_id", "item")
CUTOFFS: tuple[int, ...] = (5, 10)
BASELINES: tuple[str, ...] = ("popularity", "co_purchase")
BASELINE_COLUMNS: dict[str, str] = {"popularity": "item_popularity", "co_purchase": "copurchase_score"}
Kind = Literal["shared", "per_item"]
KINDS: dict[str, type] = {"shared": SharedPropensity, "per_item": PerItemPropensity}


class CrossSellOptions(BaseModel):
    """``options:`` of ``pipelines/cross_sell.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    level: Literal["product", "category"] = Field("product", description="contract tables: item = product/category")
    lookback_days: float | None = Field(None, gt=0, description="features window [default: 180 tables, 90 file]")
    horizon_days: float | None = Field(None, gt=0, description="label window [default: 90 tables, file: from data]")
    history_days: float | None = Field(None, gt=0, description="taste features: history before as_of [default: all]")
    as_of: str | None = Field(None, description="file: start of the horizon [default: from the data]")
    min_item_buyers: int | None = Field(None, ge=1, description="look-back buyers an item needs [20; file: data]")
    item_pattern: str | None = Field(None, description="file: keep items whose id contains a match [from data]")
    invoice_column: str | None = Field(None, description="file: invoice id column (a leading C marks a cancel)")
    group_column: str | None = Field(None, description="file: item group column (e.g. a product category)")
    holdout_fraction: float = Field(0.3, gt=0, lt=1, description="customers held out for the gate")


def options(cfg: PipelineConfig) -> CrossSellOptions:
    return CrossSellOptions.model_validate(cfg.options)


def _indexed(X: pd.DataFrame) -> pd.DataFrame:
    """Flat pair rows → the (customer_id, item) index the recommenders expect."""
    missing = [c for c in (*KEYS, "owned") if c not in X.columns]
    if missing:
        raise ValueError(f"cross-sell rows lack column(s) {missing}; columns: {list(X.columns)[:12]}")
    return X.astype({k: "str" for k in KEYS}).set_index(list(KEYS))


def _labels(y: Any) -> np.ndarray:
    return np.asarray(y["label"] if isinstance(y, pd.DataFrame) else y, dtype=float)


class CrossSellPropensity(BaseEstimator):
    """Calibrated P(customer buys item in the horizon): one shared GBM, or one GBM per item (``kind``); the shared
    one may learn each customer's order of items (``objective="lambdarank"``, LightGBM) and calibrate it after.

    Other parameters go to :class:`~cxml.models.recommenders.SharedPropensity` / ``PerItemPropensity``.

    Not under scikit-learn's ``parametrize_with_checks``: ``X`` must be cross-sell pair rows (customer_id, item,
    ``owned`` and the affinity columns), not a plain matrix.
    """

    def __init__(
        self,
        kind: Kind = "shared",
        min_positives: int = 30,
        algorithm: str = "xgboost",
        n_estimators: int = 600,
        learning_rate: float = 0.05,
        max_depth: int = 4,
        num_leaves: int = 15,
        min_child_weight: float = 1.0,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        early_stopping_rounds: int = 50,
        n_bags: int = 1,
        calibration: str = "sigmoid",
        objective: str = "binary",
        n_jobs: int = 1,
        random_state: int = 0,
    ):
        self.kind = kind
        self.min_positives = min_positives
        self.algorithm = algorithm
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.num_leaves = num_leaves
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.early_stopping_rounds = early_stopping_rounds
        self.n_bags = n_bags
        self.calibration = calibration
        self.objective = objective
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: Any) -> Self:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {list(KINDS)}, got {self.kind!r}")
        params = self.get_params()
        params.pop("kind")
        self.model_ = KINDS[self.kind](**params).fit(_indexed(X), _labels(y))
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.items_ = sorted(set(X["item"].astype("str")))
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model_.predict_proba(_indexed(X)))

    def recommend(
        self, X: pd.DataFrame, k: int = 10, n_reasons: int = 0, item_names: dict[str, str] | None = None
    ) -> pd.DataFrame:
        """Each customer's ``k`` most likely non-owned items: customer_id, rank, item, probability (, reasons)."""
        return self.model_.recommend(_indexed(X), k, n_reasons=n_reasons, item_names=item_names)

    def reasons(self, X: pd.DataFrame, k: int = 3, item_names: dict[str, str] | None = None) -> list[list[Any]]:
        """Per pair, the ``k`` features that raise its probability most, as ``Reason`` objects in words."""
        return list(self.model_.reasons(_indexed(X), k, item_names))


class CrossSellBaselines(BaseEstimator):
    """The label-free rankings to beat, one score column each (``BASELINES`` order): look-back popularity and
    co-purchase (Σ cosine similarity to the owned items, over every active customer's look-back).

    Not under scikit-learn's ``parametrize_with_checks``: it learns nothing from ``y`` and reads the named baseline
    score columns of the pair rows.
    """

    def fit(self, X: pd.DataFrame, y: Any = None) -> Self:
        missing = [c for c in BASELINE_COLUMNS.values() if c not in X.columns]
        if missing:
            raise ValueError(f"cross-sell rows lack the baseline column(s) {missing}")
        self.names_ = list(BASELINES)
        return self

    def scores(self, X: pd.DataFrame) -> np.ndarray:
        return X[[BASELINE_COLUMNS[n] for n in self.names_]].to_numpy(dtype=float)


def _score(model: Any, X: pd.DataFrame) -> np.ndarray:
    if isinstance(model, CrossSellBaselines):
        return model.scores(X)
    return model.predict_proba(X)[:, 1]


def matrices(y: pd.DataFrame, score: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Scores, relevance and owned as customers × items; pairs absent from ``y`` score NaN (ranked last)."""
    customers, c_names = pd.factorize(y["customer_id"].astype("str"), sort=True)
    items, i_names = pd.factorize(y["item"].astype("str"), sort=True)
    shape = (len(c_names), len(i_names))
    s, r, o = np.full(shape, np.nan), np.zeros(shape), np.zeros(shape, bool)
    s[customers, items] = score
    r[customers, items] = y["label"].to_numpy(dtype=float)
    o[customers, items] = y["owned"].to_numpy(dtype=bool)
    index = pd.Index(c_names, name="customer_id")
    scores, relevance, owned = (pd.DataFrame(a, index=index, columns=i_names) for a in (s, r, o))
    return scores, relevance, owned


def _one_score(score: np.ndarray) -> np.ndarray:
    score = np.asarray(score, dtype=float)
    return score[:, 0] if score.ndim == 2 and score.shape[1] == 1 else score


def calibration_metrics(y: pd.DataFrame, p: np.ndarray, n_bins: int = 10) -> dict[str, float]:
    """Brier score and expected calibration error (equal-count bins) of probabilities on the non-owned pairs."""
    keep = ~y["owned"].to_numpy(dtype=bool)
    label, p = y["label"].to_numpy(dtype=float)[keep], np.asarray(p, dtype=float)[keep]
    if not len(p):
        return {"brier": float("nan"), "ece": float("nan")}
    bins = np.array_split(np.argsort(p, kind="stable"), min(n_bins, len(p)))
    ece = sum(len(b) * abs(p[b].mean() - label[b].mean()) for b in bins) / len(p)
    return {"brier": float(np.mean((p - label) ** 2)), "ece": float(ece)}


def metrics(y: pd.DataFrame, score: np.ndarray) -> dict[str, float]:
    """MAP, Success, precision, recall and NDCG at 5 and 10 per customer (``evaluation.ranking`` definitions).

    A probability vector also gets ``brier`` and ``ece``. Baseline scores (one column per ``BASELINES``) give
    each baseline's metrics as ``<baseline>:<metric>`` and, as the plain keys, the stronger value per metric.
    """
    score = _one_score(score)
    if score.ndim == 1:
        out = ranking_metrics(*matrices(y, score), k=CUTOFFS)
        return {**out, **calibration_metrics(y, score)}
    per = {name: ranking_metrics(*matrices(y, score[:, i]), k=CUTOFFS) for i, name in enumerate(BASELINES)}
    out = {m: max(v[m] for v in per.values()) for m in per[BASELINES[0]]}
    return {**out, **{f"{name}:{m}": v for name, values in per.items() for m, v in values.items()}}


def _per_customer_column(metric: str) -> tuple[str, int]:
    name, _, cut = metric.rpartition("_at_")
    if not cut.isdigit() or name not in ("map", "success", "precision", "recall", "ndcg"):
        raise ValueError(f"no customer bootstrap for metric {metric!r} (a ranking metric such as map_at_10)")
    return {"map": "ap"}.get(name, name), int(cut)


def interval(y: pd.DataFrame, score: np.ndarray, metric: str, seed: int) -> tuple[float, float]:
    """95 % percentile bootstrap of a ranking metric over customers (the baseline: of the stronger one)."""
    score = _one_score(score)
    if score.ndim == 2:
        values = [ranking_metrics(*matrices(y, score[:, i]), k=CUTOFFS)[metric] for i in range(score.shape[1])]
        score = score[:, int(np.argmax(values))]
    column, k = _per_customer_column(metric)
    per = ranking_per_customer(*matrices(y, score), k=k)
    return bootstrap_ranking_ci(per, column, seed=seed)


def _search_space(trial: Any, algorithms: tuple[str, ...]) -> dict[str, Any]:
    """Shared or per-item models, then the boosters (shallow: pairs are many, positives few), then for a shared
    LightGBM the objective: pair probabilities or a per-customer ranking (LambdaRank)."""
    kind = trial.suggest_categorical("kind", list(KINDS))
    params: dict[str, Any] = {"kind": kind}
    if kind == "per_item":
        params["min_positives"] = trial.suggest_int("min_positives", 20, 200, log=True)
    boosters = suggest_booster(trial, algorithms, max_depth=(2, 6), min_child_weight=(1.0, 100.0), num_leaves=(4, 48))
    if kind == "shared" and boosters.get("algorithm") == "lightgbm":
        params["objective"] = trial.suggest_categorical("objective", list(OBJECTIVES))
    return {**params, **boosters}


OBJECTIVES: tuple[str, ...] = ("binary", "lambdarank")
FIRST_BOOSTER: dict[str, Any] = {
    "learning_rate": 0.05,
    "max_depth": 4,
    "min_child_weight": 1.0,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
}
"""The estimators' defaults, inside the search space's ranges."""


def first_trials(algorithms: tuple[str, ...]) -> list[dict[str, Any]]:
    """The one trial a fresh study runs first: one shared LambdaRank LightGBM at the defaults where LightGBM is allowed
    (the demo's holdout: MAP@10 0.3995 against 0.3959 for the binary one, bench/RESULTS.md #18), else one shared
    binary booster; TPE takes over from there, so a budget of a trial or two still starts from a good point."""
    if "lightgbm" in algorithms:
        ranker = {"kind": "shared", "algorithm": "lightgbm", **FIRST_BOOSTER, "num_leaves": 15}
        return [{**ranker, "objective": "lambdarank"}]
    first = {"kind": "shared", **FIRST_BOOSTER}
    return [first if not algorithms else {**first, "algorithm": algorithms[0]}]


def _build(params: dict[str, Any]) -> CrossSellPropensity:
    return CrossSellPropensity().set_params(**params)


def _fit(estimator: Any, X: pd.DataFrame, y: pd.DataFrame) -> Any:
    return estimator.fit(X, y)


def _target_columns(y: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({f"__{c}__": y[c].to_numpy() for c in ("label", *KEYS, "owned")})


def strata(y: pd.DataFrame) -> np.ndarray:
    return y["label"].to_numpy()


def explain_row(model: CrossSellPropensity, row: pd.DataFrame, k: int) -> dict[str, Any]:
    """P(buys) of one (customer, item) row and the top ``k`` reasons in words."""
    p = float(model.predict_proba(row)[0, 1])
    reasons = model.reasons(row, k)[0]
    r = row.iloc[0]
    return {
        "score": p,
        "customer_id": str(r["customer_id"]),
        "item": str(r["item"]),
        "owned": bool(r["owned"]),
        "headline": f"; P(buys {r['item']}) {p:.3f}",
        "reasons": [x.as_dict() for x in reasons],
    }


def calibration_plot(holdout: pd.DataFrame, n_bins: int = 10) -> str:
    """Reliability diagram (PNG data URI) of a logged holdout frame (``__label__``, ``__owned__``, ``__score__``).

    Owned pairs are left out: they are never recommended.
    """

    keep = ~holdout["__owned__"].to_numpy(dtype=bool)
    label, score = holdout["__label__"].to_numpy(float), holdout["__score__"].to_numpy(float)
    return reliability_plot(label[keep], score[keep], n_bins)


def figures(holdout: pd.DataFrame) -> dict[str, str]:
    """The card's and the run's plots: calibration of P(buys item) over the items not owned."""
    return {"Calibration of P(buys item)": calibration_plot(holdout)}


# ---- datasets: contract tables and bring-your-own transactions -------------------------------------------------


def _make_spec() -> Any:
    return ModelSpec(
        family="cross_sell",
        primary_metric="map_at_10",
        build=_build,
        search_space=_search_space,
        score=_score,
        metrics=metrics,
        baseline=lambda X: CrossSellBaselines(),
        baseline_name="the stronger of look-back popularity and item-item co-purchase, metric by metric",
        fit=_fit,
        refit_params={"n_bags": 3},  # the final model: 3 boosters early-stopped on their own thirds of customers
        target_columns=_target_columns,
        stratify=strata,
        interval=interval,
        score_columns=lambda model: ["probability"],
        explain_row=explain_row,
        first_trials=first_trials,
        figures=figures,
    )


SPEC = _make_spec()
