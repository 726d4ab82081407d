"""Cross-sell recommenders on (customer, item) pairs from ``cxml.features.affinity``: two baselines, two GBM kinds.

Every recommender takes ``X = CrossSellData.pairs`` (indexed by customer_id, item, with the ``owned`` column) and
scores each pair; ``score_matrix`` and ``recommend`` turn the scores into customers × items and top-K lists.
Owned pairs are dropped when fitting and, by default, when recommending.

* ``PopularityRecommender``: items by look-back buyers (or by the training horizon's purchase rate).
* ``CoPurchaseRecommender``: item–item similarity of buyer sets summed over the customer's owned items.
* ``PerItemPropensity``: one GBM per item on customer + affinity features; items with fewer than
  ``min_positives`` training positives are scored by a pooled ``SharedPropensity`` fitted beside them.
* ``SharedPropensity``: one GBM on all customer × item rows, the id of items with enough positives a feature.

``objective="lambdarank"`` (the shared kind, LightGBM) learns each customer's order of items instead of each
pair's probability: LightGBM's LambdaRank with one query group per customer, early-stopped on the MAP@10 of the
held-out customers, so it optimises what the family is judged by; the Platt map still turns its margin into a
probability (monotone: the ranking is unchanged).

Both GBM kinds give calibrated probabilities. Training *customers* (never single pairs) are held out: a random
``validation_fraction`` of them (``n_bags=1``) early-stops the booster and fits a Platt (sigmoid, default) or
isotonic map from margin to probability; with ``n_bags=K`` each of K boosters early-stops on its own fold of
customers, the served margin is their mean and the map is fitted on every customer's out-of-fold margin.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, Self

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from cxml.features.affinity import CONTEXT_COLUMNS, describe_pair
from cxml.features.reasons import Reason
from cxml.models.boosting import (
    Algorithm,
    BoosterParams,
    booster_params,
    lightgbm_tree_params,
    predict_margin,
    train_booster,
)
from cxml.models.encoding import TableEncoder
from cxml.models.explanation import PROBABILITY, rescale_rows, tree_explanation
from cxml.models.leaf_paths import LeafPaths

if TYPE_CHECKING:
    import shap

Calibration = Literal["sigmoid", "isotonic"]
Objective = Literal["binary", "lambdarank"]
ITEM_FEATURE = "item"
RANK_CUTOFF = 10
"""LambdaRank's truncation level and the cutoff of the MAP it early-stops on: the family's MAP@10."""


def _check_pairs(X: pd.DataFrame) -> None:
    if not isinstance(X, pd.DataFrame) or list(X.index.names) != ["customer_id", "item"]:
        raise ValueError("X must be CrossSellData.pairs: a DataFrame indexed by (customer_id, item)")
    if "owned" not in X.columns:
        raise ValueError(f"X lacks the 'owned' column; columns: {list(X.columns)[:10]}")


def _owned(X: pd.DataFrame) -> np.ndarray:
    return X["owned"].to_numpy(dtype=bool)


def query_groups(customers: np.ndarray) -> np.ndarray:
    """Sizes of the runs of equal customer ids, in row order: LightGBM's query groups (one per customer)."""
    customers = np.asarray(customers)
    if not len(customers):
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, customers[1:] != customers[:-1]])
    if len(starts) != len(np.unique(customers)):
        raise ValueError("ranking rows must keep each customer's pairs together (customer-major order)")
    return np.diff(np.r_[starts, len(customers)])


def train_ranker(
    p: BoosterParams,
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    X_valid: np.ndarray,
    y_valid: np.ndarray,
    groups_valid: np.ndarray,
) -> tuple[Any, int]:
    """LightGBM LambdaRank with one query group per customer (``groups``: a customer id per row, in any order),
    early-stopped on the validation customers' MAP@10. Rows are shuffled within each customer first: with ids
    that follow popularity (P001 the best seller), early trees' tied scores would otherwise score that order's MAP
    and stop the booster after a tree or two."""
    params = {
        "objective": "lambdarank",
        "metric": "map",
        "eval_at": [RANK_CUTOFF],
        "lambdarank_truncation_level": RANK_CUTOFF,
        **lightgbm_tree_params(p),
    }
    rng = np.random.default_rng(p.random_state)  # items in random order within a customer: LightGBM's MAP breaks
    order = np.lexsort((rng.random(len(groups)), groups))  # ties by row order, which follows the item ids
    order_valid = np.lexsort((rng.random(len(groups_valid)), groups_valid))
    train = lgb.Dataset(X[order], label=y[order], group=query_groups(groups[order]))
    valid = lgb.Dataset(
        X_valid[order_valid], label=y_valid[order_valid], group=query_groups(groups_valid[order_valid]), reference=train
    )
    booster = lgb.train(
        params,
        train,
        num_boost_round=p.n_estimators,
        valid_sets=[valid],
        callbacks=[lgb.early_stopping(p.early_stopping_rounds, verbose=False)],
    )
    return booster, int(booster.best_iteration or booster.num_trees())


class _Ranker(BaseEstimator):
    """Scores → customers × items matrices and top-K lists."""

    def score_pairs(self, X: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def score_matrix(self, X: pd.DataFrame) -> pd.DataFrame:
        """Scores as customers × items (customers and items sorted)."""
        _check_pairs(X)
        return pd.Series(self.score_pairs(X), index=X.index).unstack("item")

    def recommend(self, X: pd.DataFrame, k: int = 10, exclude_owned: bool = True) -> pd.DataFrame:
        """Each customer's ``k`` best items: customer_id, rank (1 = best), item, score; ties by item order."""
        _check_pairs(X)
        frame = pd.DataFrame({"score": self.score_pairs(X), "owned": _owned(X)}, index=X.index).reset_index()
        if exclude_owned:
            frame = frame.loc[~frame["owned"]]
        frame = frame.sort_values(["customer_id", "score", "item"], ascending=[True, False, True], kind="stable")
        frame["rank"] = frame.groupby("customer_id").cumcount() + 1
        top = frame.loc[frame["rank"] <= k, ["customer_id", "rank", "item", "score"]]
        return top.reset_index(drop=True)


class PopularityRecommender(_Ranker):
    """Most popular items first. ``source="lookback"``: share of active customers who bought the item in the
    look-back (the ``item_popularity`` column, no labels needed); ``"labels"``: the item's purchase rate among
    training customers who did not own it (fitted on the training horizon).

    Not under scikit-learn's ``parametrize_with_checks``: ``X`` must be cross-sell pair rows indexed by (customer_id,
    item) with the ``owned`` and ``item_popularity`` columns.
    """

    def __init__(self, source: Literal["lookback", "labels"] = "lookback"):
        self.source = source

    def fit(self, X: pd.DataFrame, y: Any = None) -> Self:
        _check_pairs(X)
        if self.source == "labels":
            if y is None:
                raise ValueError("PopularityRecommender(source='labels') needs the training labels y")
            keep = ~_owned(X)
            items = X.index.get_level_values("item")[keep]
            self.rates_ = pd.Series(np.asarray(y, dtype=float)[keep]).groupby(np.asarray(items)).mean()
        elif self.source != "lookback":
            raise ValueError(f"source must be 'lookback' or 'labels', got {self.source!r}")
        self.fitted_ = True
        return self

    def score_pairs(self, X: pd.DataFrame) -> np.ndarray:
        if self.source == "lookback":
            return X["item_popularity"].to_numpy(dtype=float)
        items = X.index.get_level_values("item")
        return self.rates_.reindex(items).fillna(0.0).to_numpy()


class CoPurchaseRecommender(_Ranker):
    """Item–item collaborative filtering: score(c, Y) = Σ over items j the customer owns of sim(j, Y).

    ``similarity="cosine"``: |A_j ∩ A_Y| / sqrt(|A_j| |A_Y|); ``"conditional"``: P(Y | j) = |A_j ∩ A_Y| / |A_j|,
    with A_j the customers owning j. The matrix is learnt in ``fit`` from the owned (look-back) matrix of X only.

    Not under scikit-learn's ``parametrize_with_checks``: ``X`` must be cross-sell pair rows indexed by (customer_id,
    item) with the ``owned`` column.
    """

    def __init__(self, similarity: Literal["cosine", "conditional"] = "cosine"):
        self.similarity = similarity

    def fit(self, X: pd.DataFrame, y: Any = None) -> Self:
        _check_pairs(X)
        owned = X["owned"].unstack("item").fillna(False).to_numpy(dtype=float)
        co = owned.T @ owned
        n = np.diag(co).copy()
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.similarity == "cosine":
                sim = co / np.sqrt(np.outer(n, n))
            elif self.similarity == "conditional":
                sim = co / n[:, None]
            else:
                raise ValueError(f"similarity must be 'cosine' or 'conditional', got {self.similarity!r}")
        sim = np.nan_to_num(sim)
        np.fill_diagonal(sim, 0.0)
        items = X["owned"].unstack("item").columns
        self.similarity_ = pd.DataFrame(sim, index=items, columns=items)
        return self

    def score_pairs(self, X: pd.DataFrame) -> np.ndarray:
        _check_pairs(X)
        owned = X["owned"].unstack("item").fillna(False)
        sim = self.similarity_.reindex(index=owned.columns, columns=owned.columns).fillna(0.0)
        scores = pd.DataFrame(owned.to_numpy(dtype=float) @ sim.to_numpy(), index=owned.index, columns=owned.columns)
        return scores.stack().reindex(X.index).to_numpy()


@dataclass(frozen=True)
class _Fitted:
    """Boosters (one per bag, each with its best iteration count) and the calibration map of their mean margin."""

    boosters: list[tuple[Any, int]]
    calibrator: Any

    def margin(self, matrix: np.ndarray) -> np.ndarray:
        return np.mean([predict_margin(b, matrix, n) for b, n in self.boosters], axis=0)

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """Exact TreeSHAP of the bags' mean margin, from their leaf paths (read on first use, never pickled)."""
        table = self.__dict__.get("_leaf_paths")
        if table is None:
            table = LeafPaths.of_bags(self.boosters)
            object.__setattr__(self, "_leaf_paths", table)  # a cache, not a field: the dataclass stays frozen
        return table.contributions(matrix)

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_leaf_paths"}

    def calibrate(self, margin: np.ndarray) -> np.ndarray:
        if isinstance(self.calibrator, LogisticRegression):
            return expit(margin * self.calibrator.coef_[0, 0] + self.calibrator.intercept_[0])
        if self.calibrator is None:
            return expit(margin)
        return np.asarray(self.calibrator.predict(expit(margin)))


class _Propensity(_Ranker):
    """The booster, split and calibration shared by both GBM kinds."""

    def __init__(
        self,
        min_positives: int = 30,
        algorithm: Algorithm = "xgboost",
        n_estimators: int = 600,
        learning_rate: float = 0.05,
        max_depth: int = 4,
        num_leaves: int = 15,
        min_child_weight: float = 1.0,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        reg_alpha: float = 0.0,
        early_stopping_rounds: int = 50,
        validation_fraction: float = 0.2,
        n_bags: int = 1,
        calibration: Calibration = "sigmoid",
        objective: Objective = "binary",
        n_jobs: int = 1,
        random_state: int = 0,
    ):
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
        self.reg_alpha = reg_alpha
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.n_bags = n_bags
        self.calibration = calibration
        self.objective = objective
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _booster_params(self) -> BoosterParams:
        return booster_params(self)

    def _features(self, X: pd.DataFrame) -> pd.DataFrame:
        return X.drop(columns=[c for c in CONTEXT_COLUMNS if c in X.columns])

    def _folds(self, X: pd.DataFrame) -> list[np.ndarray]:
        """Validation masks by customer: one random ``validation_fraction`` (``n_bags=1``) or ``n_bags`` folds."""
        customers = X.index.get_level_values("customer_id")
        unique = np.random.default_rng(self.random_state).permutation(np.sort(customers.unique().to_numpy(dtype=str)))
        if self.n_bags <= 1:
            return [np.asarray(customers.isin(unique[: max(1, round(self.validation_fraction * len(unique)))]))]
        fold = pd.Series(np.arange(len(unique)) % self.n_bags, index=unique).reindex(customers).to_numpy()
        return [fold == k for k in range(self.n_bags)]

    def _check_objective(self) -> None:
        if self.objective not in ("binary", "lambdarank"):
            raise ValueError(f"objective must be 'binary' or 'lambdarank', got {self.objective!r}")
        if self.objective == "lambdarank" and self.algorithm != "lightgbm":
            raise ValueError(f"objective 'lambdarank' needs algorithm 'lightgbm', got {self.algorithm!r}")

    def _train(
        self, matrix: np.ndarray, y: np.ndarray, folds: list[np.ndarray], customers: np.ndarray | None = None
    ) -> _Fitted:
        """A booster per fold (early-stopped on it) and a calibration map fitted on the out-of-fold margins.

        ``customers`` (one id per row) makes each fold's booster a ranker with one query group per customer."""
        boosters, oof = [], np.full(len(y), np.nan)
        for k, valid in enumerate(folds):
            params = replace(self._booster_params(), random_state=self.random_state + k)
            if customers is not None:
                booster, n_iter = train_ranker(
                    params, matrix[~valid], y[~valid], customers[~valid], matrix[valid], y[valid], customers[valid]
                )
            else:
                booster, n_iter = train_booster(params, matrix[~valid], y[~valid], matrix[valid], y[valid])
            boosters.append((booster, n_iter))
            oof[valid] = predict_margin(booster, matrix[valid], n_iter)
        seen = ~np.isnan(oof)
        margin, target = oof[seen], y[seen]
        calibrator: Any = None
        if len(np.unique(target)) == 2:
            if self.calibration == "sigmoid":
                calibrator = LogisticRegression(C=1e6).fit(margin.reshape(-1, 1), target)
            elif self.calibration == "isotonic":
                calibrator = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(expit(margin), target)
            else:
                raise ValueError(f"calibration must be 'sigmoid' or 'isotonic', got {self.calibration!r}")
        return _Fitted(boosters, calibrator)

    def _training_rows(self, X: pd.DataFrame, y: Any) -> tuple[pd.DataFrame, np.ndarray]:
        _check_pairs(X)
        y_arr = np.asarray(y, dtype=float)
        if y_arr.shape != (len(X),) or not np.isin(y_arr, (0.0, 1.0)).all():
            raise ValueError(f"y must hold one 0/1 label per row of X ({len(X)}), got shape {y_arr.shape}")
        keep = ~_owned(X)
        if len(np.unique(y_arr[keep])) < 2:
            raise ValueError("the non-owned training pairs need both bought (1) and not bought (0) labels")
        return X.loc[keep], y_arr[keep]

    # scoring, explanations and recommendations, from _parts(X) → [(row positions, model, matrix)]
    def _parts(self, X: pd.DataFrame) -> list[tuple[np.ndarray, _Fitted, np.ndarray, pd.Index]]:
        raise NotImplementedError

    def score_pairs(self, X: pd.DataFrame) -> np.ndarray:
        return self.predict_proba(X)[:, 1]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated P(buys the item in the horizon) per pair, as sklearn's (n, 2)."""
        p = np.empty(len(X))
        for rows, model, matrix, _ in self._parts(X):
            p[rows] = model.calibrate(model.margin(matrix))
        return np.column_stack([1 - p, p])

    def predict_proba_matrix(self, X: pd.DataFrame) -> pd.DataFrame:
        """Calibrated probabilities as customers × items; pass ``data.subset(customers).pairs`` for some."""
        return self.score_matrix(X)

    def explain(self, X: pd.DataFrame) -> shap.Explanation:
        """Tree SHAP of each pair's model as one ``shap.Explanation`` on the probability scale: each pair's log-odds
        contributions rescaled to add up to its calibrated probability (same shares per feature). Features a
        pair's model does not use (the item id outside the shared model) contribute 0."""
        parts = self._parts(X)
        names = list(dict.fromkeys(str(c) for *_, part_names in parts for c in part_names))
        column = {c: j for j, c in enumerate(names)}
        values, data = np.zeros((len(X), len(names))), np.full((len(X), len(names)), np.nan)
        base = np.empty(len(X))
        for rows, model, matrix, part_names in parts:
            contrib = model.contributions(matrix)
            phi, base[rows] = rescale_rows(contrib[:, :-1], contrib[:, -1], model.calibrate)
            cols = np.array([column[str(c)] for c in part_names], dtype=np.intp)
            values[np.ix_(rows, cols)], data[np.ix_(rows, cols)] = phi, matrix
        frame = X.reset_index(level="item").set_axis([" ".join(map(str, i)) for i in X.index], axis=0)
        return tree_explanation(values, base, frame, data, names=names, scale=PROBABILITY)

    def reasons(self, X: pd.DataFrame, k: int = 3, item_names: dict[str, str] | None = None) -> list[list[Reason]]:
        """Per pair, up to ``k`` features that raise its probability most, in words ("bought ink 3 times")."""
        explanation = self.explain(X)
        out = []
        names = item_names or {}
        values = X.reset_index()
        contributions = pd.DataFrame(explanation.values, columns=explanation.feature_names)
        for i, (_, contrib) in enumerate(contributions.iterrows()):
            row = values.iloc[i].to_dict()
            top = contrib[contrib > 1e-4].sort_values(ascending=False, kind="stable").head(k)
            out.append([self._reason(str(f), float(c), row, names) for f, c in top.items()])
        return out

    @staticmethod
    def _reason(feature: str, contribution: float, row: dict[str, Any], names: dict[str, str]) -> Reason:
        if feature == ITEM_FEATURE:
            text = f"{names.get(str(row['item']), row['item'])} sells well to customers like this"
        else:
            text = describe_pair(feature, row, names)
        value = row.get(feature)
        value = value.item() if isinstance(value, np.generic) else value
        return Reason(feature, value, contribution, text)

    def recommend(
        self,
        X: pd.DataFrame,
        k: int = 10,
        exclude_owned: bool = True,
        n_reasons: int = 0,
        item_names: dict[str, str] | None = None,
    ) -> pd.DataFrame:
        """Top-``k`` items with ``probability`` (= score) and, with ``n_reasons``, a ``reasons`` column of words."""
        top = super().recommend(X, k, exclude_owned).rename(columns={"score": "probability"})
        if n_reasons:
            rows = X.loc[pd.MultiIndex.from_frame(top[["customer_id", "item"]])]
            top["reasons"] = [[r.text for r in rs] for rs in self.reasons(rows, n_reasons, item_names)]
        return top


class SharedPropensity(_Propensity):
    """One calibrated GBM over every non-owned customer × item row.

    The item id is a categorical feature for items with at least ``min_positives`` training positives; rarer
    (and unseen) items share one missing code, so a long tail of items adds no id noise.

    Not under scikit-learn's ``parametrize_with_checks``: ``X`` must be cross-sell pair rows indexed by (customer_id,
    item) with the ``owned`` column.
    """

    def fit(self, X: pd.DataFrame, y: Any) -> Self:
        self._check_objective()
        rows, y_arr = self._training_rows(X, y)
        positives = pd.Series(y_arr).groupby(rows.index.get_level_values("item").to_numpy(dtype=str)).sum()
        self.id_items_ = sorted(positives.index[positives >= self.min_positives])
        self.encoder_ = TableEncoder().fit(self._features(rows))
        names = list(self.encoder_.columns) + ([ITEM_FEATURE] if self.id_items_ else [])
        self.feature_names_ = pd.Index(names)
        customers = rows.index.get_level_values("customer_id").to_numpy(dtype=str)
        ranking = customers if self.objective == "lambdarank" else None
        self.model_ = self._train(self._matrix(rows), y_arr, self._folds(rows), ranking)
        return self

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        """Encoded features, then the item id code (missing for items without their own id) when there is one."""
        matrix = self.encoder_.transform(X)  # picks the fitted feature columns by name
        if not self.id_items_:
            return matrix
        codes = pd.Categorical(X.index.get_level_values("item").astype("str"), categories=self.id_items_).codes
        return np.column_stack([matrix, np.where(codes < 0, np.nan, codes).astype(np.float32)])

    def _parts(self, X: pd.DataFrame) -> list[tuple[np.ndarray, _Fitted, np.ndarray, pd.Index]]:
        _check_pairs(X)
        return [(np.arange(len(X)), self.model_, self._matrix(X), self.feature_names_)]


class PerItemPropensity(_Propensity):
    """One calibrated GBM per item on customer + affinity features; ``min_positives`` sets who gets its own.

    Items with fewer training positives (or none among the held-out customers), and items unseen in training,
    are scored by a ``SharedPropensity`` pooled over all items with the same parameters (``fallback_``). One
    item's rows rank nothing, so only the binary objective applies (``lambdarank`` is refused).

    Not under scikit-learn's ``parametrize_with_checks``: ``X`` must be cross-sell pair rows indexed by (customer_id,
    item) with the ``owned`` column.
    """

    def fit(self, X: pd.DataFrame, y: Any) -> Self:
        if self.objective != "binary":
            raise ValueError(
                f"per-item models take objective 'binary' only (one item's rows rank nothing), got {self.objective!r}"
            )
        rows, y_arr = self._training_rows(X, y)
        features = self._features(rows)
        self.encoder_ = TableEncoder().fit(features)
        matrix, folds = self.encoder_.transform(features), self._folds(rows)
        items = rows.index.get_level_values("item").to_numpy(dtype=str)
        self.models_: dict[str, _Fitted] = {}
        for item in np.unique(items):
            mask = items == item
            if y_arr[mask].sum() >= self.min_positives and all(y_arr[mask & f].sum() >= 1 for f in folds):
                self.models_[item] = self._train(matrix[mask], y_arr[mask], [f[mask] for f in folds])
        self.fallback_ = SharedPropensity(**self.get_params()).fit(X, y)
        return self

    def _parts(self, X: pd.DataFrame) -> list[tuple[np.ndarray, _Fitted, np.ndarray, pd.Index]]:
        _check_pairs(X)
        items = X.index.get_level_values("item").to_numpy(dtype=str)
        own = np.isin(items, list(self.models_))
        parts = []
        if own.any():
            matrix = self.encoder_.transform(X.loc[own])
            for item in np.unique(items[own]):
                rows = np.flatnonzero(items == item)
                parts.append((rows, self.models_[item], matrix[items[own] == item], self.encoder_.columns))
        if (~own).any():
            rows = np.flatnonzero(~own)
            for _, model, matrix, names in self.fallback_._parts(X.iloc[rows]):
                parts.append((rows, model, matrix, names))
        return parts
