"""Uplift (CATE) meta-learners on gradient-boosted trees: who is persuadable, and by which arm.

Every learner has one shape: ``fit(X, y, *, treatment)`` where ``treatment`` names each row's arm (one of them
``control``); ``effect(X, *, arm)`` is the effect of ``arm`` against control, a difference of probabilities for a
0/1 outcome and of expected values otherwise; ``explain`` says which features drive it. With several arms each
non-control arm is compared pairwise with the control rows only.

Exposures come from randomised experiments, so the propensity of arm ``a`` is its observed share among the rows
of ``a`` and control: a constant per arm, known by design, so no propensity model is fitted.

scikit-learn's ``parametrize_with_checks`` does not apply (``fit`` needs ``treatment``); ``clone`` round-trips.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.utils.validation import check_consistent_length, check_is_fitted, column_or_1d, validate_data

from cxml.models.boosting import Algorithm, booster_params, predict_margin, train_booster, tree_contributions
from cxml.models.encoding import TableEncoder
from cxml.models.explanation import tree_explanation
from cxml.models.uplift_forest import SPLIT_CRITERIA, SplitCriterion, Tree, forest_effect, grow_forest

if TYPE_CHECKING:
    import shap

Fitted = tuple[Any, int]
"""A trained booster and the iteration count it serves."""

BALANCE_TOLERANCE = 0.005
"""ClassTransformation uses the plain class variable when the treated share is within this of 1/2 (bias ≤ 0.01)."""

LEAF_HESSIAN_SHARE = 0.25
"""A binary outcome model's ``min_child_weight`` is capped at this share of its rows' total hessian sum
p(1 - p), so it scales with the rows and the rate and a split always stays possible: a fixed 200 (or the
search's 100) needs more than the whole hessian of a rare outcome's model (at a 0.6 % rate 8,500 rows sum to
about 50), the booster never splits and the effect is a constant with Qini 0. Common outcomes are untouched
(Hillstrom visit: about 900 per arm model, cap 225)."""


def _predict(model: Fitted, X: np.ndarray, binary: bool) -> np.ndarray:
    margin = predict_margin(model[0], X, model[1])
    return np.asarray(expit(margin)) if binary else margin


def _contributions(model: Fitted, X: np.ndarray, binary: bool) -> tuple[np.ndarray, float]:
    """TreeSHAP on the model's output scale: exact for margins, rescaled per row to sum to the probability."""
    contrib = tree_contributions(model[0], X, model[1]).astype(np.float64)
    phi, base = contrib[:, :-1], float(contrib[0, -1])
    if not binary:
        return phi, base
    delta = phi.sum(axis=1)
    base_p = float(expit(base))
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(np.abs(delta) > 1e-12, (expit(base + delta) - base_p) / delta, 0.0)
    return phi * scale[:, None], base_p


class _MetaLearner(BaseEstimator):
    """Shared contract: input checks, arms and propensities, the validation split, effect/explain plumbing."""

    def __init__(
        self,
        algorithm: Algorithm = "lightgbm",
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        max_depth: int = 4,
        num_leaves: int = 15,
        min_child_weight: float = 1.0,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        early_stopping_rounds: int = 30,
        validation_fraction: float = 0.2,
        control: str = "control",
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
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.control = control
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X: Any, y: Any, *, treatment: Any) -> Self:
        frame = self._frame(X, reset=True)
        y_arr = np.asarray(column_or_1d(y), dtype=np.float64)
        arms = np.asarray(treatment, dtype=object).ravel().astype(str)
        check_consistent_length(frame, y_arr, arms)
        if not np.isfinite(y_arr).all():
            raise ValueError(f"{type(self).__name__}: y contains NaN or infinity")
        self.outcome_ = "binary" if np.isin(y_arr, (0.0, 1.0)).all() else "continuous"
        names = sorted(set(arms.tolist()))
        if self.control not in names:
            raise ValueError(f"control arm {self.control!r} not found in treatment; arms seen: {names}")
        self.arms_ = tuple(a for a in names if a != self.control)
        if not self.arms_:
            raise ValueError(f"treatment has only the control arm {self.control!r}; nothing to compare")
        self.propensity_ = {a: float(np.mean(arms[np.isin(arms, (a, self.control))] == a)) for a in self.arms_}
        self.encoder_ = TableEncoder().fit(frame)
        self._fit_models(self.encoder_.transform(frame), y_arr, arms, self._validation_rows(arms, y_arr))
        return self

    def effect(self, X: Any, *, arm: str | None = None) -> np.ndarray:
        """CATE of ``arm`` vs control per row; ``arm`` may be omitted only when a single arm was fitted."""
        name = self._arm(arm)
        return self._effect(self._matrix(X), name)

    def effects(self, X: Any) -> pd.DataFrame:
        """Every arm's effect vs control, one column per arm, indexed like ``X``."""
        check_is_fitted(self)
        frame = self._frame(X, reset=False)
        matrix = self.encoder_.transform(frame)
        return pd.DataFrame({a: self._effect(matrix, a) for a in self.arms_}, index=frame.index)

    def explain(self, X: Any, *, arm: str | None = None) -> shap.Explanation:
        """Why a customer is persuadable (or a sleeping dog): SHAP of the effect of ``arm`` as a
        ``shap.Explanation``; each row adds up to the effect (``base_values`` per row, ``output_names`` the scale).

        Exact TreeSHAP for X, DR, weighted ClassTransformation and any continuous outcome. For a binary outcome,
        S, T and balanced ClassTransformation rescale each outcome model's log-odds SHAP values per row to sum to
        its probability (same shares per feature) and subtract the two: additive, but an approximation of SHAP
        on the probability-difference scale; ``output_names`` then ends in "(rescaled)". The base is per row
        because the S-learner's arm columns are not features: their share of the effect goes to the base.
        """
        name = self._arm(arm)
        frame = self._frame(X, reset=False)
        matrix = self.encoder_.transform(frame)
        phi, base, exact = self._explain(matrix, name)
        unit = "probability" if self.outcome_ == "binary" else "outcome"
        scale = f"effect of {name} vs {self.control} ({unit} difference{'' if exact else ', rescaled'})"
        return tree_explanation(phi, base, frame, matrix, names=self.encoder_.feature_names_in_, scale=scale)

    def _fit_models(self, matrix: np.ndarray, y: np.ndarray, t: np.ndarray, valid: np.ndarray) -> None:
        raise NotImplementedError

    def _effect(self, matrix: np.ndarray, arm: str) -> np.ndarray:
        raise NotImplementedError

    def _explain(self, matrix: np.ndarray, arm: str) -> tuple[np.ndarray, np.ndarray, bool]:
        raise NotImplementedError

    @property
    def _binary(self) -> bool:
        return bool(self.outcome_ == "binary")

    def _frame(self, X: Any, *, reset: bool) -> pd.DataFrame:
        """Frames keep their dtypes (categoricals); arrays go through scikit-learn's validation."""
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, skip_check_array=True, reset=reset)
            return X
        arr = validate_data(self, X, reset=reset, ensure_all_finite="allow-nan", dtype=[np.float64, np.float32])
        return pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])

    def _matrix(self, X: Any) -> np.ndarray:
        return self.encoder_.transform(self._frame(X, reset=False))

    def _arm(self, arm: str | None) -> str:
        check_is_fitted(self)
        if arm is None:
            if len(self.arms_) == 1:
                return self.arms_[0]
            raise ValueError(f"several arms were fitted, name one with arm=...: {list(self.arms_)}")
        if arm not in self.arms_:
            raise ValueError(f"unknown arm {arm!r}; fitted arms are {list(self.arms_)} (control {self.control!r})")
        return arm

    def _validation_rows(self, t: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Early-stopping rows, stratified by arm (and outcome when binary) so every model gets its share."""
        strata = pd.Series(t)
        if self._binary:
            by_outcome = strata + ":" + pd.Series(y.astype(int).astype(str))
            strata = by_outcome if by_outcome.value_counts().min() >= 2 else strata
        _, rows = train_test_split(
            np.arange(len(t)), test_size=self.validation_fraction, random_state=self.random_state, stratify=strata
        )
        valid = np.zeros(len(t), dtype=bool)
        valid[rows] = True
        return valid

    def _boost(
        self, X: np.ndarray, y: np.ndarray, valid: np.ndarray, *, objective: str | None = None, seed: int = 0
    ) -> Fitted:
        """Train one booster on the non-validation rows, early-stopping on the validation rows."""
        objective = objective or ("binary" if self._binary else "regression")
        params = booster_params(self, objective=objective, random_state=self.random_state + seed)
        if objective == "binary":
            rate = float(np.mean(y[~valid])) if (~valid).any() else 0.5
            hessian = (~valid).sum() * rate * (1 - rate)
            params.min_child_weight = float(min(params.min_child_weight, max(1.0, LEAF_HESSIAN_SHARE * hessian)))
        return train_booster(params, X[~valid], y[~valid], X[valid], y[valid])

    def _fit_outcome_models(
        self, matrix: np.ndarray, y: np.ndarray, t: np.ndarray, valid: np.ndarray, seed: int = 0
    ) -> dict[str, Fitted]:
        """One outcome model per arm, control included (the T-learner and the first stage of X and DR)."""
        return {
            arm: self._boost(matrix[t == arm], y[t == arm], valid[t == arm], seed=seed)
            for arm in (self.control, *self.arms_)
        }


class SLearner(_MetaLearner):
    """One outcome model on the features plus one-hot arm columns; effect = f(x, arm) - f(x, control).

    Lowest variance, but shrinks effects towards zero when the trees seldom split on the arm columns.

    Not under scikit-learn's ``parametrize_with_checks``: ``fit`` needs ``treatment`` (each row's arm) besides ``X`` and
    ``y``.
    """

    def _design(self, matrix: np.ndarray, arm: str | None) -> np.ndarray:
        onehot = np.zeros((len(matrix), len(self.arms_)), dtype=matrix.dtype)
        if arm is not None:
            onehot[:, self.arms_.index(arm)] = 1
        return np.hstack([matrix, onehot])

    def _fit_models(self, matrix: np.ndarray, y: np.ndarray, t: np.ndarray, valid: np.ndarray) -> None:
        onehot = (t[:, None] == np.asarray(self.arms_)[None, :]).astype(matrix.dtype)
        self.model_ = self._boost(np.hstack([matrix, onehot]), y, valid)

    def _effect(self, matrix: np.ndarray, arm: str) -> np.ndarray:
        treated = _predict(self.model_, self._design(matrix, arm), self._binary)
        return treated - _predict(self.model_, self._design(matrix, None), self._binary)

    def _explain(self, matrix: np.ndarray, arm: str) -> tuple[np.ndarray, np.ndarray, bool]:
        phi_a, _ = _contributions(self.model_, self._design(matrix, arm), self._binary)
        phi_0, _ = _contributions(self.model_, self._design(matrix, None), self._binary)
        diff, p = phi_a - phi_0, matrix.shape[1]
        return diff[:, :p], diff[:, p:].sum(axis=1), not self._binary  # same model: the base values cancel


class TLearner(_MetaLearner):
    """One outcome model per arm, control included; effect = mu_arm(x) - mu_control(x).

    Not under scikit-learn's ``parametrize_with_checks``: ``fit`` needs ``treatment`` (each row's arm) besides ``X`` and
    ``y``.
    """

    def _fit_models(self, matrix: np.ndarray, y: np.ndarray, t: np.ndarray, valid: np.ndarray) -> None:
        self.models_ = self._fit_outcome_models(matrix, y, t, valid)

    def _effect(self, matrix: np.ndarray, arm: str) -> np.ndarray:
        treated = _predict(self.models_[arm], matrix, self._binary)
        return treated - _predict(self.models_[self.control], matrix, self._binary)

    def _explain(self, matrix: np.ndarray, arm: str) -> tuple[np.ndarray, np.ndarray, bool]:
        phi_a, base_a = _contributions(self.models_[arm], matrix, self._binary)
        phi_0, base_0 = _contributions(self.models_[self.control], matrix, self._binary)
        return phi_a - phi_0, np.full(len(matrix), base_a - base_0), not self._binary


class XLearner(_MetaLearner):
    """Künzel et al. (2019): T-learner outcome models, then regressions of the imputed effects.

    D1 = Y - mu0(X) on the arm's rows gives tau1, D0 = mu_arm(X) - Y on control gives tau0, and
    tau = g * tau0 + (1 - g) * tau1 with g the (constant) propensity, so the larger group's model weighs more.

    Not under scikit-learn's ``parametrize_with_checks``: ``fit`` needs ``treatment`` (each row's arm) besides ``X`` and
    ``y``.
    """

    def _fit_models(self, matrix: np.ndarray, y: np.ndarray, t: np.ndarray, valid: np.ndarray) -> None:
        self.outcome_models_ = self._fit_outcome_models(matrix, y, t, valid)
        control = t == self.control
        mu_0 = _predict(self.outcome_models_[self.control], matrix, self._binary)
        self.effect_models_: dict[str, tuple[Fitted, Fitted]] = {}
        for k, arm in enumerate(self.arms_):
            treated = t == arm
            mu_a = _predict(self.outcome_models_[arm], matrix[control], self._binary)
            d_1, d_0 = y[treated] - mu_0[treated], mu_a - y[control]
            tau_1 = self._boost(matrix[treated], d_1, valid[treated], objective="regression", seed=k)
            tau_0 = self._boost(matrix[control], d_0, valid[control], objective="regression", seed=k)
            self.effect_models_[arm] = (tau_0, tau_1)

    def _effect(self, matrix: np.ndarray, arm: str) -> np.ndarray:
        g, (tau_0, tau_1) = self.propensity_[arm], self.effect_models_[arm]
        return g * _predict(tau_0, matrix, False) + (1 - g) * _predict(tau_1, matrix, False)

    def _explain(self, matrix: np.ndarray, arm: str) -> tuple[np.ndarray, np.ndarray, bool]:
        g, (tau_0, tau_1) = self.propensity_[arm], self.effect_models_[arm]
        phi_0, base_0 = _contributions(tau_0, matrix, False)
        phi_1, base_1 = _contributions(tau_1, matrix, False)  # SHAP is linear: the mix explains the mix exactly
        return g * phi_0 + (1 - g) * phi_1, np.full(len(matrix), g * base_0 + (1 - g) * base_1), True


class DRLearner(_MetaLearner):
    """Kennedy's DR-learner: cross-fitted outcome models, a doubly robust pseudo-outcome, one final regression.

    psi = mu_a - mu_0 + T (Y - mu_a) / e - (1 - T)(Y - mu_0) / (1 - e) on the rows of the arm and control, with
    mu out-of-fold (``n_folds``) and e the arm's observed share clipped to [clip_propensity, 1 - clip_propensity].

    Not under scikit-learn's ``parametrize_with_checks``: ``fit`` needs ``treatment`` (each row's arm) besides ``X`` and
    ``y``.
    """

    def __init__(
        self,
        algorithm: Algorithm = "lightgbm",
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        max_depth: int = 4,
        num_leaves: int = 15,
        min_child_weight: float = 1.0,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        early_stopping_rounds: int = 30,
        validation_fraction: float = 0.2,
        control: str = "control",
        n_jobs: int = 1,
        random_state: int = 0,
        n_folds: int = 2,
        clip_propensity: float = 0.01,
    ):
        super().__init__(
            algorithm=algorithm,
            n_estimators=n_estimators,
            learning_rate=learning_rate,
            max_depth=max_depth,
            num_leaves=num_leaves,
            min_child_weight=min_child_weight,
            subsample=subsample,
            colsample_bytree=colsample_bytree,
            reg_lambda=reg_lambda,
            early_stopping_rounds=early_stopping_rounds,
            validation_fraction=validation_fraction,
            control=control,
            n_jobs=n_jobs,
            random_state=random_state,
        )
        self.n_folds = n_folds
        self.clip_propensity = clip_propensity

    def _fit_models(self, matrix: np.ndarray, y: np.ndarray, t: np.ndarray, valid: np.ndarray) -> None:
        if self.n_folds < 2:
            raise ValueError(f"DRLearner needs n_folds >= 2 for cross-fitting, got {self.n_folds}")
        mu = {arm: np.empty(len(y)) for arm in (self.control, *self.arms_)}
        folds = StratifiedKFold(self.n_folds, shuffle=True, random_state=self.random_state)
        for k, (rest, fold) in enumerate(folds.split(matrix, t)):
            models = self._fit_outcome_models(matrix[rest], y[rest], t[rest], valid[rest], seed=k)
            for arm, model in models.items():
                mu[arm][fold] = _predict(model, matrix[fold], self._binary)
        self.effect_models_: dict[str, Fitted] = {}
        for arm in self.arms_:
            rows, psi = dr_pseudo_outcome(self, mu, y, t, arm)
            self.effect_models_[arm] = self._boost(matrix[rows], psi, valid[rows], objective="regression")

    def _effect(self, matrix: np.ndarray, arm: str) -> np.ndarray:
        return _predict(self.effect_models_[arm], matrix, False)

    def _explain(self, matrix: np.ndarray, arm: str) -> tuple[np.ndarray, np.ndarray, bool]:
        phi, base = _contributions(self.effect_models_[arm], matrix, False)
        return phi, np.full(len(matrix), base), True


class ClassTransformation(_MetaLearner):
    """Jaskowski & Jaroszewicz (2012): one model of Z, for a 0/1 outcome and a single arm vs control.

    With equal shares (treated share within ``BALANCE_TOLERANCE`` of 1/2), Z = 1 when (T=1, Y=1) or (T=0, Y=0),
    a classifier, and uplift = 2 P(Z=1|x) - 1. Otherwise the propensity-weighted generalisation: regress
    Z = Y T / p + (1 - Y)(1 - T) / (1 - p), whose mean given x is 1 + uplift for any share p (at p = 1/2 it is
    twice the class variable). ``balanced_`` records which was used.

    Not under scikit-learn's ``parametrize_with_checks``: ``fit`` needs ``treatment`` (each row's arm) besides ``X`` and
    ``y``.
    """

    def _fit_models(self, matrix: np.ndarray, y: np.ndarray, t: np.ndarray, valid: np.ndarray) -> None:
        if not self._binary:
            raise ValueError("ClassTransformation needs a 0/1 outcome; y is continuous (use S/T/X/DR learners)")
        if len(self.arms_) != 1:
            raise ValueError(
                f"ClassTransformation compares a single arm with control; got arms {list(self.arms_)} "
                "(fit one per arm on its rows and control's, or use a multi-arm learner)"
            )
        treated, p = t == self.arms_[0], self.propensity_[self.arms_[0]]
        self.balanced_ = bool(abs(p - 0.5) <= BALANCE_TOLERANCE)
        if self.balanced_:
            z = (treated == (y == 1)).astype(np.float64)
            self.model_ = self._boost(matrix, z, valid, objective="binary")
        else:
            z = np.where(treated, y / p, (1 - y) / (1 - p))
            self.model_ = self._boost(matrix, z, valid, objective="regression")

    def _effect(self, matrix: np.ndarray, arm: str) -> np.ndarray:
        if self.balanced_:
            return 2 * _predict(self.model_, matrix, True) - 1
        return _predict(self.model_, matrix, False) - 1

    def _explain(self, matrix: np.ndarray, arm: str) -> tuple[np.ndarray, np.ndarray, bool]:
        phi, base = _contributions(self.model_, matrix, self.balanced_)
        if self.balanced_:
            return 2 * phi, np.full(len(matrix), 2 * base - 1), False
        return phi, np.full(len(matrix), base - 1), True


class ForestLearner(_MetaLearner):
    """An uplift forest per arm (:mod:`cxml.models.uplift_forest`): trees split where the effect differs.

    No outcome model and no early stopping: with ``honest`` (default) each tree sets its node effects on rows its
    split search never saw. ``criterion`` is the split rule: ``"ed"``, the difference of the children's effects, or
    ``"kl"``, the normalised divergence of causalml's uplift random forest (grown with ``honest=False``, as there).
    ``min_leaf`` is capped at a twentieth of an arm pair's rows, so small campaigns still split. ``explain``
    gives the trees' path contributions (Saabas): exact and additive, not SHAP's average over feature orders.

    Not under scikit-learn's ``parametrize_with_checks``: ``fit`` needs ``treatment`` (each row's arm) besides ``X`` and
    ``y``.
    """

    def __init__(
        self,
        n_trees: int = 200,
        forest_depth: int = 6,
        min_leaf: int = 100,
        max_features: float = 0.8,
        sample_fraction: float = 0.5,
        honest: bool = True,
        max_bins: int = 32,
        criterion: SplitCriterion = "ed",
        control: str = "control",
        n_jobs: int = 1,
        random_state: int = 0,
    ):
        self.n_trees = n_trees
        self.forest_depth = forest_depth
        self.min_leaf = min_leaf
        self.max_features = max_features
        self.sample_fraction = sample_fraction
        self.honest = honest
        self.max_bins = max_bins
        self.criterion = criterion
        self.control = control
        self.n_jobs = n_jobs
        self.random_state = random_state

    criterion: SplitCriterion = "ed"  # forests pickled before the KL split existed lack the attribute: they grew "ed"

    def _validation_rows(self, t: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.zeros(len(t), dtype=bool)  # honesty, not early stopping, keeps the trees from overfitting

    def _fit_models(self, matrix: np.ndarray, y: np.ndarray, t: np.ndarray, valid: np.ndarray) -> None:
        if self.n_trees < 1 or self.forest_depth < 1 or self.min_leaf < 1:
            raise ValueError(
                f"ForestLearner needs n_trees, forest_depth and min_leaf >= 1; got {self.n_trees}, "
                f"{self.forest_depth}, {self.min_leaf}"
            )
        if self.criterion not in SPLIT_CRITERIA:
            raise ValueError(f"criterion must be one of {SPLIT_CRITERIA}, not {self.criterion!r}")
        if not 0 < self.sample_fraction <= 1 or not 0 < self.max_features <= 1:
            raise ValueError(
                f"sample_fraction and max_features are shares in (0, 1]; got {self.sample_fraction}, "
                f"{self.max_features}"
            )
        matrix = matrix.astype(np.float64)
        self.forests_: dict[str, tuple[list[np.ndarray], list[Tree]]] = {}
        for k, arm in enumerate(self.arms_):
            rows = np.isin(t, (arm, self.control))
            drawn = self.sample_fraction * rows.sum() / (2 if self.honest else 1)
            self.forests_[arm] = grow_forest(
                matrix[rows],
                y[rows],
                t[rows] == arm,
                n_trees=self.n_trees,
                max_depth=self.forest_depth,
                min_leaf=int(max(5, min(self.min_leaf, drawn // 20))),
                max_features=self.max_features,
                sample_fraction=self.sample_fraction,
                honest=self.honest,
                max_bins=self.max_bins,
                seed=self.random_state + 7919 * k,
                criterion=self.criterion,
            )

    def _effect(self, matrix: np.ndarray, arm: str) -> np.ndarray:
        return forest_effect(*self.forests_[arm], matrix.astype(np.float64))[0]

    def _explain(self, matrix: np.ndarray, arm: str) -> tuple[np.ndarray, np.ndarray, bool]:
        _, phi, base = forest_effect(*self.forests_[arm], matrix.astype(np.float64), contributions=True)
        assert phi is not None
        return phi, np.full(len(matrix), base), True


BLEND_MEMBERS = ("forest", "x", "dr")
"""The learners a :class:`BlendLearner` averages by default: the effect-splitting forest and the two boosted
learners that regress an effect (X, DR), three different routes to the same CATE."""


class BlendLearner(_MetaLearner):
    """The plain mean of several learners' effects: an ensemble of different routes to the same CATE.

    On Hillstrom visit the forest, X and DR are within the seed-to-seed noise of each other (issue #18) and
    3-fold CV Qini cannot tell them apart; averaging their effects keeps the effect scale (PEHE stays
    meaningful) instead of betting on one. Measured, it lands level with its best member rather than above it
    (bench/RESULTS.md, #18 second round), so the command's search does not offer it; build it on request. The
    boosted members share the booster parameters; the forest takes ``n_trees``, ``forest_depth``, ``min_leaf``
    and ``max_features``. ``explain`` is the mean of the members' explanations, so each row still adds up to
    its effect.

    Not under scikit-learn's ``parametrize_with_checks``: ``fit`` needs ``treatment`` (each row's arm) besides ``X`` and
    ``y``.
    """

    def __init__(
        self,
        members: tuple[str, ...] = BLEND_MEMBERS,
        algorithm: Algorithm = "lightgbm",
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        max_depth: int = 4,
        num_leaves: int = 15,
        min_child_weight: float = 1.0,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        early_stopping_rounds: int = 30,
        validation_fraction: float = 0.2,
        n_trees: int = 200,
        forest_depth: int = 6,
        min_leaf: int = 100,
        max_features: float = 0.8,
        control: str = "control",
        n_jobs: int = 1,
        random_state: int = 0,
    ):
        super().__init__(
            algorithm=algorithm,
            n_estimators=n_estimators,
            learning_rate=learning_rate,
            max_depth=max_depth,
            num_leaves=num_leaves,
            min_child_weight=min_child_weight,
            subsample=subsample,
            colsample_bytree=colsample_bytree,
            reg_lambda=reg_lambda,
            early_stopping_rounds=early_stopping_rounds,
            validation_fraction=validation_fraction,
            control=control,
            n_jobs=n_jobs,
            random_state=random_state,
        )
        self.members = members
        self.n_trees = n_trees
        self.forest_depth = forest_depth
        self.min_leaf = min_leaf
        self.max_features = max_features

    def _member(self, name: str) -> _MetaLearner:
        return member_learner(self, name, "blend", self.random_state)

    def _validation_rows(self, t: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.zeros(len(t), dtype=bool)  # every member draws its own early-stopping rows

    def _fit_models(self, matrix: np.ndarray, y: np.ndarray, t: np.ndarray, valid: np.ndarray) -> None:
        if not self.members:
            raise ValueError("BlendLearner needs at least one member, e.g. members=('forest', 'x', 'dr')")
        self.members_: list[_MetaLearner] = []
        for name in self.members:
            self.members_.append(fit_member(self._member(name), self, matrix, y, t))

    def _effect(self, matrix: np.ndarray, arm: str) -> np.ndarray:
        return np.mean([m._effect(matrix, arm) for m in self.members_], axis=0)

    def _explain(self, matrix: np.ndarray, arm: str) -> tuple[np.ndarray, np.ndarray, bool]:
        parts = [m._explain(matrix, arm) for m in self.members_]  # SHAP and path contributions are linear
        phi = np.mean([p[0] for p in parts], axis=0)
        base = np.mean([np.broadcast_to(p[1], (len(matrix),)) for p in parts], axis=0)
        return phi, base, all(p[2] for p in parts)


BLEND_LEARNERS: dict[str, type[_MetaLearner]] = {"s": SLearner, "t": TLearner, "x": XLearner, "dr": DRLearner}


def member_learner(owner: Any, name: str, kind: str, random_state: int) -> _MetaLearner:
    """An unfitted member of an ensemble learner (``kind`` names it in errors): the forest takes the owner's
    ``n_trees``, ``forest_depth``, ``min_leaf`` and ``max_features``, a boosted learner its booster parameters."""
    if name == "forest":
        forest_params = ("n_trees", "forest_depth", "min_leaf", "max_features", "control", "n_jobs")
        return ForestLearner(**{k: getattr(owner, k) for k in forest_params}, random_state=random_state)
    if name not in BLEND_LEARNERS:
        raise ValueError(f"unknown {kind} member {name!r}; choose from {['forest', *BLEND_LEARNERS]}")
    booster = {k: getattr(owner, k) for k in _MetaLearner._get_param_names()}
    return BLEND_LEARNERS[name](**{**booster, "random_state": random_state})


def fit_member(
    member: _MetaLearner, owner: _MetaLearner, matrix: np.ndarray, y: np.ndarray, t: np.ndarray
) -> _MetaLearner:
    """Fit ``member`` on rows the owner has already encoded: it takes the owner's outcome kind, arms and
    propensities (known by design) and draws its own early-stopping rows."""
    member.outcome_ = owner.outcome_
    member.arms_, member.propensity_ = owner.arms_, owner.propensity_
    member._fit_models(matrix, y, t, member._validation_rows(t, y))
    return member


def dr_pseudo_outcome(
    learner: Any, mu: dict[str, np.ndarray], y: np.ndarray, t: np.ndarray, arm: str
) -> tuple[np.ndarray, np.ndarray]:
    """The rows of ``arm`` and control, and their doubly robust pseudo-outcome from out-of-fold outcome scores ``mu``
    (per arm): psi = mu_a - mu_0 + T (Y - mu_a) / e - (1 - T)(Y - mu_0) / (1 - e), e the arm's observed share
    clipped to the learner's [clip_propensity, 1 - clip_propensity]."""
    rows = np.isin(t, (arm, learner.control))
    clip = learner.clip_propensity
    e = float(np.clip(learner.propensity_[arm], clip, 1 - clip))
    treated = (t[rows] == arm).astype(np.float64)
    mu_a, mu_0, y_r = mu[arm][rows], mu[learner.control][rows], y[rows]
    return rows, mu_a - mu_0 + treated * (y_r - mu_a) / e - (1 - treated) * (y_r - mu_0) / (1 - e)
