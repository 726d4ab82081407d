"""Churn: probability that an active customer makes no purchase within the horizon.

``ChurnClassifier`` is a calibrated gradient-boosted classifier (XGBoost, LightGBM or CatBoost) with the scikit-learn
contract, optionally blended with an additive logistic regression on the same encoded columns
(:mod:`cxml.models.additive_logit`). Early stopping, the blend weight and calibration use held-out training rows
only (an internal validation split, or the out-of-fold margins of the bags).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal, Self

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_consistent_length, check_is_fitted, column_or_1d, validate_data

from cxml.evaluation.baselines import RECENCY_FEATURE, PriorRate, RecencyRule
from cxml.evaluation.metrics import binary_metrics
from cxml.models.additive_logit import AdditiveLogit
from cxml.models.boosting import (
    Algorithm,
    BoosterParams,
    IterationCallback,
    booster_params,
    predict_margin,
    suggest_booster,
    train_booster,
)
from cxml.models.encoding import TableEncoder
from cxml.models.explanation import LOG_ODDS, PROBABILITY, rescaled, tree_explanation
from cxml.models.leaf_paths import LeafPaths
from cxml.models.spec import ModelSpec

if TYPE_CHECKING:
    import shap

Calibration = Literal["sigmoid", "isotonic", "none"]
Output = Literal["log-odds", "probability"]
LinearWeight = float | Literal["auto"]
BLEND_GRID = np.linspace(0.0, 1.0, 21)
"""The linear part's weights ``linear_weight="auto"`` chooses from, by held-out log-loss."""


class ChurnClassifier(ClassifierMixin, BaseEstimator):
    """Calibrated gradient-boosted churn classifier.

    Parameters mirror :class:`cxml.models.boosting.BoosterParams`. With ``n_bags=1``, ``validation_fraction``
    of the training rows is held out for early stopping and for fitting the calibration map. With ``n_bags=K>1``
    the rows are cut into K stratified folds: each bag early-stops on its own fold, the served margin is the
    bags' mean, and calibration is fitted on the out-of-fold margins of every training row (cross-fitted bagging:
    no row is wasted and no row calibrates a model that saw it).

    ``linear_weight`` blends the trees' margin with an :class:`~cxml.models.additive_logit.AdditiveLogit` (one-hot
    categoricals, piecewise-linear numerics with ``linear_knots`` knots, penalty ``linear_C``) fitted on the same
    rows as each bag: margin = (1 - w) · trees + w · linear. ``0`` (default) is trees alone; ``"auto"`` picks w from
    :data:`BLEND_GRID` by log-loss on the rows the calibration uses (the validation split, or the out-of-fold
    margins of the bags), so the weight never sees a row its models were fitted on.
    """

    def __init__(
        self,
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
        linear_weight: LinearWeight = 0.0,
        linear_C: float = 0.1,
        linear_knots: int = 8,
        n_jobs: int = 1,
        random_state: int = 0,
    ):
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
        self.linear_weight = linear_weight
        self.linear_C = linear_C
        self.linear_knots = linear_knots
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _booster_params(self) -> BoosterParams:
        return booster_params(self)

    def _frame(self, X: Any, *, reset: bool) -> pd.DataFrame:
        """Frames keep their dtypes (categoricals); arrays go through scikit-learn's validation."""
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, skip_check_array=True, reset=reset)
            return X
        arr = validate_data(self, X, reset=reset, ensure_all_finite="allow-nan", dtype=[np.float64, np.float32])
        return pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])

    def fit(self, X: Any, y: Any, *, on_iteration: IterationCallback | None = None) -> Self:
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        frame = self._frame(X, reset=True)
        self._leaf_paths = None  # a refit's trees are new
        y_arr = column_or_1d(y, warn=True)
        check_consistent_length(frame, y_arr)
        check_classification_targets(y_arr)
        self.classes_ = np.unique(y_arr)
        if len(self.classes_) < 2:
            raise ValueError(f"{type(self).__name__} needs samples of 2 classes; the data contain only 1 class")
        if len(self.classes_) > 2:
            raise ValueError(
                f"Only binary classification is supported. The type of the target is "
                f"{type_of_target(y_arr)} ({len(self.classes_)} classes)."
            )
        y01 = (y_arr == self.classes_[1]).astype(int)
        self.encoder_ = TableEncoder().fit(frame)
        matrix = self.encoder_.transform(frame)
        params = self._booster_params()
        self._check_linear_weight()
        n_codes = [len(self.encoder_.categories_.get(c, [])) for c in self.encoder_.feature_names_in_]
        self.linear_, self.linear_weight_ = None, 0.0
        if self.n_bags <= 1:
            stratify = y01 if np.bincount(y01).min() >= 2 else None
            X_tr, X_va, y_tr, y_va = train_test_split(
                matrix,
                y01,
                test_size=self.validation_fraction,
                random_state=self.random_state,
                stratify=stratify,
            )
            self.boosters_ = [train_booster(params, X_tr, y_tr, X_va, y_va, on_iteration)]
            margin = self._tree_margin(X_va)
            if self._blended:
                self.linear_ = self._linear().fit(X_tr, y_tr, n_codes)
                linear = self.linear_.margin(X_va)
                self.linear_weight_ = self._choose_weight(margin, linear, y_va)
                margin = _blend(margin, linear, self.linear_weight_)
            self._fit_calibration(margin, y_va)
            return self
        folds = StratifiedKFold(self.n_bags, shuffle=True, random_state=self.random_state)
        self.boosters_, oof, linears, oof_linear = [], np.empty(len(y01)), [], np.empty(len(y01))
        for k, (tr, va) in enumerate(folds.split(matrix, y01)):
            bag_params = replace(params, random_state=self.random_state + k)
            booster, n_iter = train_booster(bag_params, matrix[tr], y01[tr], matrix[va], y01[va], on_iteration)
            self.boosters_.append((booster, n_iter))
            oof[va] = predict_margin(booster, matrix[va], n_iter)
            if self._blended:
                linears.append(self._linear().fit(matrix[tr], y01[tr], n_codes))
                oof_linear[va] = linears[-1].margin(matrix[va])
        if self._blended:
            self.linear_ = AdditiveLogit.mean_of(linears)
            self.linear_weight_ = self._choose_weight(oof, oof_linear, y01)
            oof = _blend(oof, oof_linear, self.linear_weight_)
        self._fit_calibration(oof, y01)
        return self

    @property
    def _blended(self) -> bool:
        return self.linear_weight == "auto" or float(self.linear_weight) > 0

    def _check_linear_weight(self) -> None:
        w = self.linear_weight
        if w != "auto" and not (isinstance(w, int | float) and 0 <= w <= 1):
            raise ValueError(f'linear_weight must be a number from 0 to 1 or "auto", not {w!r}')

    def _linear(self) -> AdditiveLogit:
        return AdditiveLogit(C=self.linear_C, n_knots=self.linear_knots)

    def _choose_weight(self, trees: np.ndarray, linear: np.ndarray, y: np.ndarray) -> float:
        """The fixed ``linear_weight``, or for "auto" the grid weight with the least log-loss on these held-out
        margins (the smaller weight on a tie)."""
        if self.linear_weight != "auto":
            return float(self.linear_weight)

        def log_loss(w: float) -> float:
            m = _blend(trees, linear, w)
            return float(np.mean(np.logaddexp(0, m) - y * m))

        return float(min(BLEND_GRID, key=log_loss))

    def _tree_margin(self, matrix: np.ndarray) -> np.ndarray:
        return np.mean([predict_margin(b, matrix, n) for b, n in self.boosters_], axis=0)

    def _margin(self, matrix: np.ndarray) -> np.ndarray:
        trees = self._tree_margin(matrix)
        if self.linear_ is None:
            return trees
        return _blend(trees, self.linear_.margin(matrix), self.linear_weight_)

    def fitted_params(self) -> dict[str, float]:
        """What fit chose and the run should record: the blend weight of the linear part (0: trees alone)."""
        check_is_fitted(self)
        return {"linear_weight": float(self.linear_weight_)}

    def _fit_calibration(self, margin: np.ndarray, y: np.ndarray) -> None:
        self.calibrator_: Any = None
        if self.calibration == "sigmoid" and len(np.unique(y)) == 2:
            self.calibrator_ = LogisticRegression(C=1e6).fit(margin.reshape(-1, 1), y)
        elif self.calibration == "isotonic" and len(np.unique(y)) == 2:
            self.calibrator_ = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(expit(margin), y)

    def _calibrate(self, margin: np.ndarray) -> np.ndarray:
        if self.calibrator_ is None:
            return expit(margin)
        if isinstance(self.calibrator_, LogisticRegression):  # its sigmoid, without sklearn's ~1 ms of checks
            return expit(margin * self.calibrator_.coef_[0, 0] + self.calibrator_.intercept_[0])
        return np.asarray(self.calibrator_.predict(expit(margin)))

    def raw_margin(self, X: Any) -> np.ndarray:
        """Log-odds of the blend (trees, and the linear part when fitted) before calibration: what SHAP adds up to."""
        check_is_fitted(self)
        return self._margin(self.encoder_.transform(self._frame(X, reset=False)))

    def predict_proba(self, X: Any) -> np.ndarray:
        p = self._calibrate(self.raw_margin(X))
        return np.column_stack([1 - p, p])

    def decision_function(self, X: Any) -> np.ndarray:
        """Calibrated log-odds, so ``decision_function > 0`` exactly when ``predict`` says the positive class."""
        # float64 first: a float32 probability cannot hold 1 - 1e-15, and log1p(-1) is -inf
        p = np.clip(self.predict_proba(X)[:, 1].astype(np.float64), 1e-15, 1 - 1e-15)
        return np.log(p) - np.log1p(-p)

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        return self.classes_[(self.decision_function(X) > 0).astype(int)]

    def predict_record(self, record: dict[str, object]) -> float:
        """Probability for one customer given as a dict: no DataFrame, ~0.3 ms (the serving hot path)."""
        margin = self._margin(self.encoder_.transform_record(record))
        return float(self._calibrate(margin)[0])

    def explain(self, X: Any, *, output: Output = "log-odds") -> shap.Explanation:
        """Exact SHAP of the served (best-iteration) model as a ``shap.Explanation``.

        ``output="log-odds"`` (default): exact values; each row adds up to the raw margin. With a linear part
        that is the blend's weighted sum: the trees' TreeSHAP times (1 - w) plus the linear part's own exact
        values (each column's term minus its training mean) times w, bases likewise.
        ``output="probability"``: each row rescaled to add up to the calibrated probability from the calibrated
        base (same shares per feature), the scale the reasons and the model card speak.
        """
        check_is_fitted(self)
        if output not in (LOG_ODDS, PROBABILITY):
            raise ValueError(f"output must be {LOG_ODDS!r} or {PROBABILITY!r}, not {output!r}")
        frame = self._frame(X, reset=False)
        matrix = self.encoder_.transform(frame)
        contrib = self.leaf_paths().contributions(matrix)
        phi, base = contrib[:, :-1], float(contrib[0, -1])
        if self.linear_ is not None:  # SHAP is linear in the model: the blend's values are the blend of values
            phi = _blend(phi, self.linear_.contributions(matrix), self.linear_weight_)
            base = _blend(base, self.linear_.base_, self.linear_weight_)
        margin = tree_explanation(phi, base, frame, matrix, names=self.encoder_.feature_names_in_, scale=LOG_ODDS)
        return margin if output == LOG_ODDS else rescaled(margin, self._calibrate, scale=PROBABILITY)

    def leaf_paths(self) -> LeafPaths:
        """The bags' trees read once into one table (built on first use, ~1 s, and not pickled: old models load).

        TreeSHAP is linear in the model, so its values of the bags' mean margin are the bags' mean values: one pass
        over the table gives them ~3× faster than asking each booster (bench/explain.py).
        """
        check_is_fitted(self)
        if self._leaf_paths is None:
            self._leaf_paths = LeafPaths.of_bags(self.boosters_)
        return self._leaf_paths

    _leaf_paths: LeafPaths | None = None
    linear_: AdditiveLogit | None = None  # models pickled before the blend existed have neither attribute
    linear_weight_: float = 0.0

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_leaf_paths", None)
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        if tags.classifier_tags is not None:
            tags.classifier_tags.multi_class = False
        return tags


def _blend(trees: Any, linear: Any, weight: float) -> Any:
    """The served margin (and, SHAP being linear in the model, its values): (1 - w) · trees + w · linear."""
    return (1 - weight) * trees + weight * linear


def _search_space(trial: Any, algorithms: tuple[str, ...]) -> dict[str, Any]:
    """Shallow, slow and regularised trees: on the public churn tables (bench/churn_peers.py) depth 2-4 at a
    learning rate of 0.01-0.05 with heavy leaves beats deeper, faster trees; the wider ranges stay reachable.
    CatBoost's oblivious trees want more depth (4-8 around its default 6)."""
    return suggest_booster(
        trial,
        algorithms,
        learning_rate=(0.01, 0.1),
        max_depth=(2, 6),
        min_child_weight=(1.0, 50.0),
        num_leaves=(4, 32),
        catboost_depth=(4, 8),
    )


CATBOOST_DEFAULTS = {"algorithm": "catboost", "learning_rate": 0.03, "max_depth": 6, "reg_lambda": 3.0}
"""CatBoost's defaults as a point of the search space: depth 6, ``l2_leaf_reg`` 3, and a learning rate near the
one CatBoost picks by itself for 1,000 trees on 4-8k rows (0.02-0.03; here with early stopping instead). On the
Bank table these defaults beat every XGBoost/LightGBM setting a 25-trial search found (bench/RESULTS.md)."""


def _first_trials(algorithms: tuple[str, ...]) -> list[dict[str, Any]]:
    """CatBoost's defaults first when the pipeline allows CatBoost, so a search cut short by its timeout has them."""
    return [CATBOOST_DEFAULTS] if "catboost" in algorithms else []


def _build(params: dict[str, Any]) -> ChurnClassifier:
    """Every candidate blends in the additive logit with its weight chosen on held-out rows (0 when it does not
    help): on Telco, where the signal is mostly additive, the blend is what beats logistic regression."""
    return ChurnClassifier(n_estimators=3000, early_stopping_rounds=50, linear_weight="auto").set_params(**params)


def _baseline(X: pd.DataFrame) -> Any:

    return RecencyRule() if RECENCY_FEATURE in X.columns else PriorRate()


def _score(model: Any, X: pd.DataFrame) -> np.ndarray:
    return np.asarray(model.predict_proba(X))[:, 1]


def _metrics(y: np.ndarray, score: np.ndarray) -> dict[str, float]:

    return binary_metrics(y, score)


def _make_spec() -> Any:
    return ModelSpec(
        family="churn",
        primary_metric="pr_auc",
        build=_build,
        search_space=_search_space,
        score=_score,
        metrics=_metrics,
        baseline=_baseline,
        baseline_name="recency rule (churn rate by recency decile)",
        refit_params={"n_bags": 5},
        first_trials=_first_trials,
    )


SPEC = _make_spec()
