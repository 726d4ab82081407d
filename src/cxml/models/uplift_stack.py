"""A stacked final stage for uplift: a few weights on cross-fitted learners' effects and the baseline response.

Where the effect partly follows the baseline response (issue #18's campaigns), a response model ranks well and
effect learners on X struggle: the baseline is a smooth function of many features that trees estimating a small
effect only approximate, while an outcome model estimates it with far less noise. :class:`StackedLearner` lets a
tiny linear model decide how much of each to use:

    tau(x) = a + sum_m b_m tau_m(x) + sum_s c_s mu_s(x)

``tau_m`` are member learners' effects (the honest forest, X, DR, ...) and ``mu_s`` outcome scores (``control``:
P(y | x, control); ``treated``: P(y | x, the arm)). The weights come from regressing a doubly robust
pseudo-outcome (as :class:`~cxml.models.meta_learners.DRLearner` builds it) on out-of-fold columns: every
training row's columns come from models fitted on the other ``n_folds`` - 1 folds, so the weights are not fitted
to in-sample optimism. Member weights are non-negative (a learner's effect is never used upside down), the
scores' are free. A handful of parameters estimated on every training row: low variance, and the result is an
effect (PEHE applies), an R/DR-learner with a linear final model on learned features.

At prediction the columns are the means over the folds' models (cross-fit bagging: no refit on all rows). With
``residual`` a booster (the learner's booster parameters, early-stopped) regresses what the linear stage left of
the pseudo-outcome on X and is added: a DR-learner whose final model starts from the stack instead of zero.

The explanation adds up: each fold member's explanation times its weight over the folds, each outcome model's
TreeSHAP (probability-rescaled for a 0/1 outcome) times its weight, the residual booster's TreeSHAP, the
intercept in the base value.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import lsq_linear
from sklearn.model_selection import StratifiedKFold

from cxml.models.boosting import Algorithm
from cxml.models.meta_learners import (
    Fitted,
    _contributions,
    _MetaLearner,
    _predict,
    dr_pseudo_outcome,
    fit_member,
    member_learner,
)

STACK_MEMBERS = ("forest", "x", "dr")
"""The effect learners stacked by default: the effect-splitting forest and the two boosted effect regressions."""
STACK_SCORES = ("control",)
"""The outcome scores stacked by default: the baseline response P(y | x, control)."""
SCORES = ("control", "treated")


class StackedLearner(_MetaLearner):
    """Cross-fitted member effects and outcome scores, combined by a doubly robust linear final stage.

    ``members`` are learner names (``forest``, ``s``, ``t``, ``x``, ``dr``) sharing the booster parameters (the
    forest takes ``n_trees``, ``forest_depth``, ``min_leaf``, ``max_features``); ``scores`` a subset of
    ``("control", "treated")``. ``weights_[arm]`` holds the fitted (intercept, weights per column of
    ``columns_``). Cost: ``n_folds`` fits of every member.

    Not under scikit-learn's ``parametrize_with_checks``: ``fit`` needs ``treatment`` (each row's arm) besides ``X`` and
    ``y``.
    """

    def __init__(
        self,
        members: tuple[str, ...] = STACK_MEMBERS,
        scores: tuple[str, ...] = STACK_SCORES,
        n_folds: int = 5,
        clip_propensity: float = 0.01,
        residual: bool = False,
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
        self.scores = scores
        self.n_folds = n_folds
        self.clip_propensity = clip_propensity
        self.residual = residual
        self.n_trees = n_trees
        self.forest_depth = forest_depth
        self.min_leaf = min_leaf
        self.max_features = max_features

    def _validation_rows(self, t: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.zeros(len(t), dtype=bool)  # every fold's models draw their own early-stopping rows

    def _check(self) -> None:
        if not self.members and not self.scores:
            raise ValueError("StackedLearner needs at least one member or score, e.g. members=('forest', 'x', 'dr')")
        unknown = sorted(set(self.scores) - set(SCORES))
        if unknown:
            raise ValueError(f"unknown stacked scores {unknown}; choose from {list(SCORES)}")
        if self.n_folds < 2:
            raise ValueError(f"StackedLearner needs n_folds >= 2 for out-of-fold columns, got {self.n_folds}")

    def _fit_models(self, matrix: np.ndarray, y: np.ndarray, t: np.ndarray, valid: np.ndarray) -> None:
        self._check()
        for name in self.members:
            member_learner(self, name, "stack", self.random_state)  # an unknown name fails before any fit
        self.columns_ = [*self.members, *(f"mu:{s}" for s in self.scores)]
        n, arms = len(y), self.arms_
        oof = {arm: np.zeros((n, len(self.columns_))) for arm in arms}
        mu = {arm: np.zeros(n) for arm in (self.control, *arms)}
        strata = np.char.add(t.astype(str), (y > 0).astype(int).astype(str))
        folds = StratifiedKFold(self.n_folds, shuffle=True, random_state=self.random_state)
        self.folds_: list[tuple[list[_MetaLearner], dict[str, Fitted]]] = []
        for k, (rest, fold) in enumerate(folds.split(matrix, strata)):
            seed = self.random_state + 1009 * (k + 1)
            members = [
                fit_member(member_learner(self, name, "stack", seed), self, matrix[rest], y[rest], t[rest])
                for name in self.members
            ]
            inner_valid = _MetaLearner._validation_rows(self, t[rest], y[rest])
            outcome = self._fit_outcome_models(matrix[rest], y[rest], t[rest], inner_valid, seed=1009 * (k + 1))
            self.folds_.append((members, outcome))
            for arm, fitted in outcome.items():
                mu[arm][fold] = _predict(fitted, matrix[fold], self._binary)
            for arm in arms:
                oof[arm][fold] = self._fold_columns(self.folds_[-1], matrix[fold], arm)
        self.weights_: dict[str, tuple[float, np.ndarray]] = {}
        psis: dict[str, np.ndarray] = {}
        for arm in arms:
            rows, psis[arm] = dr_pseudo_outcome(self, mu, y, t, arm)
            self.weights_[arm] = self._final_stage(oof[arm][rows], psis[arm])
        self.residual_models_: dict[str, Fitted] = {}
        if self.residual:
            valid_rows = _MetaLearner._validation_rows(self, t, y)
            for arm in arms:
                rows = np.isin(t, (arm, self.control))
                intercept, weights = self.weights_[arm]
                left = psis[arm] - intercept - oof[arm][rows] @ weights
                self.residual_models_[arm] = self._boost(matrix[rows], left, valid_rows[rows], objective="regression")

    def _final_stage(self, columns: np.ndarray, psi: np.ndarray) -> tuple[float, np.ndarray]:
        """Least squares of the pseudo-outcome on the columns and an intercept; member weights >= 0."""
        centre = columns.mean(axis=0)
        lower = np.array([0.0] * len(self.members) + [-np.inf] * len(self.scores))
        spread = columns.std(axis=0)
        scale = np.where(spread > 1e-12, spread, 1.0)  # a constant column (no split) gets weight ~0, not a crash
        fit = lsq_linear((columns - centre) / scale, psi - psi.mean(), bounds=(lower, np.inf))
        kept = (spread > 1e-12) & ~((lower == 0.0) & (fit.x < 1e-9))  # at its bound: exactly 0, not predicted
        weights = np.where(kept, fit.x / scale, 0.0)
        return float(psi.mean() - centre @ weights), weights

    def _fold_columns(
        self, fold: tuple[list[_MetaLearner], dict[str, Fitted]], matrix: np.ndarray, arm: str
    ) -> np.ndarray:
        columns = [self._column(fold, matrix, arm, j) for j in range(len(self.columns_))]
        return np.column_stack(columns) if columns else np.zeros((len(matrix), 0))

    def _used(self, arm: str) -> list[int]:
        return [j for j, w in enumerate(self.weights_[arm][1]) if w != 0.0]

    def _effect(self, matrix: np.ndarray, arm: str) -> np.ndarray:
        intercept, weights = self.weights_[arm]
        effect = np.full(len(matrix), intercept)
        for j in self._used(arm):
            effect += weights[j] * np.mean([self._column(fold, matrix, arm, j) for fold in self.folds_], axis=0)
        if arm in self.residual_models_:
            effect += _predict(self.residual_models_[arm], matrix, False)
        return effect

    def _column(
        self, fold: tuple[list[_MetaLearner], dict[str, Fitted]], matrix: np.ndarray, arm: str, j: int
    ) -> np.ndarray:
        members, outcome = fold
        if j < len(members):
            return members[j]._effect(matrix, arm)
        score = self.scores[j - len(members)]
        return _predict(outcome[self.control if score == "control" else arm], matrix, self._binary)

    def _explain(self, matrix: np.ndarray, arm: str) -> tuple[np.ndarray, np.ndarray, bool]:
        intercept, weights = self.weights_[arm]
        phi = np.zeros(matrix.shape, dtype=np.float64)
        base = np.full(len(matrix), intercept)
        exact = True
        share = 1.0 / len(self.folds_)
        for members, outcome in self.folds_:
            for j in self._used(arm):
                if j < len(members):
                    part_phi, part_base, part_exact = members[j]._explain(matrix, arm)
                else:
                    score = self.scores[j - len(members)]
                    model = outcome[self.control if score == "control" else arm]
                    part_phi, base_value = _contributions(model, matrix, self._binary)
                    part_base, part_exact = np.full(len(matrix), base_value), not self._binary
                phi += share * weights[j] * part_phi
                base += share * weights[j] * np.broadcast_to(part_base, (len(matrix),))
                exact = exact and part_exact
        if arm in self.residual_models_:
            part_phi, base_value = _contributions(self.residual_models_[arm], matrix, False)
            phi += part_phi
            base += base_value
        return phi, base, exact

    def stack_weights(self, arm: str | None = None) -> dict[str, float]:
        """The final stage of ``arm``: ``intercept`` and one weight per column (member names, ``mu:<score>``)."""
        name = self._arm(arm)
        intercept, weights = self.weights_[name]
        return {"intercept": intercept, **{c: float(w) for c, w in zip(self.columns_, weights, strict=True)}}
