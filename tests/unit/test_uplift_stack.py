"""The stacked final stage: out-of-fold columns, a few doubly robust weights, an effect that adds up."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.base import clone

from cxml.models.meta_learners import _predict
from cxml.models.uplift import SPEC
from cxml.models.uplift_stack import StackedLearner

pytestmark = pytest.mark.unit

SMALL: dict[str, Any] = {"n_trees": 20, "n_estimators": 60, "learning_rate": 0.1, "max_depth": 3, "random_state": 3}


def _experiment(n: int = 4000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Two arms: ``a``'s effect rises with x0, ``b`` helps where x1 > 0 only; x2 is a category of noise."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 2)), columns=["x0", "x1"])
    X["x2"] = pd.Categorical(rng.choice(["north", "south", "east"], size=n))
    arm = rng.choice(["control", "a", "b"], size=n)
    tau = np.where(arm == "a", 0.1 * X["x0"].clip(-2, 2), np.where(arm == "b", 0.2 * (X["x1"] > 0), 0.0))
    y = (rng.random(n) < np.clip(0.3 + tau, 0, 1)).astype(float)
    return X, y, arm


def _baseline_driven(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """One arm whose effect is half the baseline response's deviation from its mean: tau = 0.5 (p0 - mean p0)."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=["x0", "x1", "x2"])
    p0 = expit(-1.0 + 1.2 * X["x0"] - 0.8 * X["x1"]).to_numpy()
    tau = 0.5 * (p0 - p0.mean())
    arm = rng.choice(["control", "offer"], size=n)
    y = (rng.random(n) < np.where(arm == "offer", p0 + tau, p0)).astype(float)
    return X, y, arm, tau


@pytest.fixture(scope="module")
def fitted() -> tuple[StackedLearner, pd.DataFrame, np.ndarray, np.ndarray]:
    X, y, arm = _experiment()
    return StackedLearner(n_folds=3, **SMALL).fit(X, y, treatment=arm), X, y, arm


def test_each_arm_gets_its_own_final_stage_over_the_members_and_the_baseline(fitted):
    stack, X, _, _ = fitted
    assert stack.columns_ == ["forest", "x", "dr", "mu:control"]
    assert len(stack.folds_) == 3
    for arm in ("a", "b"):
        weights = stack.stack_weights(arm)
        assert list(weights) == ["intercept", "forest", "x", "dr", "mu:control"]
        assert min(weights["forest"], weights["x"], weights["dr"]) >= 0.0  # members are never used upside down
        assert weights["forest"] + weights["x"] + weights["dr"] > 0.3  # the members carry the effect here
    effects = stack.effects(X)
    assert list(effects.columns) == ["a", "b"]
    assert np.corrcoef(effects["a"], X["x0"].clip(-2, 2))[0, 1] > 0.7
    assert effects["b"][X["x1"] > 0].mean() - effects["b"][X["x1"] <= 0].mean() > 0.1


def test_the_effect_is_the_intercept_plus_the_weighted_fold_means(fitted):
    stack, X, _, _ = fitted
    rows = X.iloc[:200]
    matrix = stack._matrix(rows)
    for arm in ("a", "b"):
        intercept, weights = stack.weights_[arm]
        columns = []
        for j, name in enumerate(stack.columns_):
            if name == "mu:control":
                per_fold = [_predict(outcome["control"], matrix, True) for _, outcome in stack.folds_]
            else:
                per_fold = [members[j]._effect(matrix, arm) for members, _ in stack.folds_]
            columns.append(np.mean(per_fold, axis=0))
        expected = intercept + np.column_stack(columns) @ weights
        np.testing.assert_allclose(stack.effect(rows, arm=arm), expected, atol=1e-12)


def test_where_the_effect_follows_the_baseline_the_final_stage_finds_its_weight():
    X, y, arm, tau = _baseline_driven(20_000)
    stack = StackedLearner(members=(), n_folds=3, **SMALL).fit(X, y, treatment=arm)
    weights = stack.stack_weights()
    assert weights["mu:control"] == pytest.approx(0.5, abs=0.15), weights
    pehe = np.sqrt(np.mean((stack.effect(X) - tau) ** 2))
    constant = np.sqrt(np.mean((tau - tau.mean()) ** 2))
    assert pehe < 0.4 * constant, (pehe, constant)


def test_each_rows_explanation_adds_up_to_its_effect(fitted):
    stack, X, _, _ = fitted
    rows = X.iloc[:40]
    for arm in ("a", "b"):
        phi = stack.explain(rows, arm=arm)
        np.testing.assert_allclose(phi.values.sum(axis=1) + phi.base_values, stack.effect(rows, arm=arm), atol=1e-9)
        assert phi.feature_names == ["x0", "x1", "x2"]
        # the baseline's share is its probability-rescaled SHAP: additive but not exact, and the scale says so
        rescaled = stack.stack_weights(arm)["mu:control"] != 0.0
        assert phi.output_names.endswith("rescaled)") == rescaled


def test_it_is_seeded(fitted):
    stack, X, y, arm = fitted
    again = StackedLearner(n_folds=3, **SMALL).fit(X, y, treatment=arm)
    np.testing.assert_array_equal(again.effects(X.iloc[:300]), stack.effects(X.iloc[:300]))
    other = StackedLearner(n_folds=3, **{**SMALL, "random_state": 4}).fit(X, y, treatment=arm)
    assert not np.allclose(other.effects(X.iloc[:300]), stack.effects(X.iloc[:300]))


def test_spec_builds_the_stack_and_clone_round_trips():
    model = SPEC.build({"learner": "stack", "max_depth": 2, "learning_rate": 0.03})
    assert isinstance(model, StackedLearner) and model.max_depth == 2
    assert model.members == ("forest", "x", "dr") and model.scores == ("control",)
    assert clone(model).get_params() == model.get_params()


def test_bad_settings_name_what_to_fix():
    X, y, arm = _experiment(600)
    with pytest.raises(ValueError, match="unknown stack member 'rf'"):
        StackedLearner(members=("x", "rf"), n_estimators=10).fit(X, y, treatment=arm)
    with pytest.raises(ValueError, match="unknown stacked scores"):
        StackedLearner(scores=("response",), n_estimators=10).fit(X, y, treatment=arm)
    with pytest.raises(ValueError, match="at least one member or score"):
        StackedLearner(members=(), scores=(), n_estimators=10).fit(X, y, treatment=arm)
    with pytest.raises(ValueError, match="n_folds >= 2"):
        StackedLearner(n_folds=1, n_estimators=10).fit(X, y, treatment=arm)


def test_a_residual_booster_adds_what_the_linear_stage_left_and_still_adds_up(fitted):
    stack, X, y, arm = fitted
    boosted = StackedLearner(n_folds=3, residual=True, **SMALL).fit(X, y, treatment=arm)
    rows = X.iloc[:100]
    matrix = boosted._matrix(rows)
    for name in ("a", "b"):
        assert boosted.stack_weights(name) == stack.stack_weights(name)  # same folds, same linear stage
        left = _predict(boosted.residual_models_[name], matrix, False)
        np.testing.assert_allclose(boosted.effect(rows, arm=name), stack.effect(rows, arm=name) + left, atol=1e-12)
        phi = boosted.explain(rows, arm=name)
        np.testing.assert_allclose(phi.values.sum(axis=1) + phi.base_values, boosted.effect(rows, arm=name), atol=1e-9)


def test_it_pickles_and_explains_a_customer_through_the_spec(fitted):
    stack, X, _, _ = fitted
    again = pickle.loads(pickle.dumps(stack))
    np.testing.assert_array_equal(again.effects(X.iloc[:50]), stack.effects(X.iloc[:50]))
    row = SPEC.explain_row(again, X.iloc[[7]], 2)
    assert set(row["effects"]) == {"a", "b"} and len(row["reasons"]) == 2
