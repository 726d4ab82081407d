"""The blend of uplift learners: its effect is the mean of its members' own effects, its explanation adds up."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from cxml.models.meta_learners import BlendLearner, DRLearner, ForestLearner, XLearner
from cxml.models.uplift import SPEC

pytestmark = pytest.mark.unit

BOOSTER: dict[str, Any] = {"n_estimators": 60, "learning_rate": 0.1, "max_depth": 3, "random_state": 3}


def _experiment(n: int = 4000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Two arms: the effect of ``a`` rises with x0, ``b`` helps where x1 > 0 only; x2 is a category of noise."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 2)), columns=["x0", "x1"])
    X["x2"] = pd.Categorical(rng.choice(["north", "south", "east"], size=n))
    arm = rng.choice(["control", "a", "b"], size=n)
    tau = np.where(arm == "a", 0.1 * X["x0"].clip(-2, 2), np.where(arm == "b", 0.2 * (X["x1"] > 0), 0.0))
    y = (rng.random(n) < np.clip(0.3 + tau, 0, 1)).astype(float)
    return X, y, arm, tau


@pytest.fixture(scope="module")
def fitted() -> tuple[BlendLearner, pd.DataFrame, np.ndarray, np.ndarray]:
    X, y, arm, _ = _experiment()
    return BlendLearner(n_trees=30, **BOOSTER).fit(X, y, treatment=arm), X, y, arm


def test_the_effect_is_the_mean_of_the_members_fitted_on_their_own(fitted):
    blend, X, y, arm = fitted
    members = [
        ForestLearner(n_trees=30, random_state=3),
        XLearner(**BOOSTER),
        DRLearner(**BOOSTER),
    ]
    for name in ("a", "b"):
        own = [m.fit(X, y, treatment=arm).effect(X, arm=name) for m in members]
        np.testing.assert_allclose(blend.effect(X, arm=name), np.mean(own, axis=0), atol=1e-12)


def test_it_finds_each_arms_effect(fitted):
    blend, X, _, _ = fitted
    effects = blend.effects(X)
    assert list(effects.columns) == ["a", "b"]
    assert np.corrcoef(effects["a"], X["x0"].clip(-2, 2))[0, 1] > 0.7
    assert effects["b"][X["x1"] > 0].mean() - effects["b"][X["x1"] <= 0].mean() > 0.1


def test_each_rows_explanation_adds_up_to_its_effect(fitted):
    blend, X, _, _ = fitted
    rows = X.iloc[:40]
    for name in ("a", "b"):
        phi = blend.explain(rows, arm=name)
        np.testing.assert_allclose(phi.values.sum(axis=1) + phi.base_values, blend.effect(rows, arm=name), atol=1e-9)
        assert phi.feature_names == ["x0", "x1", "x2"]


def test_it_is_seeded(fitted):
    blend, X, y, arm = fitted
    again = BlendLearner(n_trees=30, **BOOSTER).fit(X, y, treatment=arm)
    np.testing.assert_array_equal(again.effects(X.iloc[:300]), blend.effects(X.iloc[:300]))
    other = BlendLearner(n_trees=30, **{**BOOSTER, "random_state": 4}).fit(X, y, treatment=arm)
    assert not np.allclose(other.effects(X.iloc[:300]), blend.effects(X.iloc[:300]))


def test_spec_builds_the_blend_and_clone_round_trips():
    model = SPEC.build({"learner": "blend", "max_depth": 2, "learning_rate": 0.03})
    assert isinstance(model, BlendLearner) and model.max_depth == 2 and model.members == ("forest", "x", "dr")
    assert clone(model).get_params() == model.get_params()


def test_an_unknown_member_names_the_choices():
    X, y, arm, _ = _experiment(600)
    with pytest.raises(ValueError, match="unknown blend member 'rf'"):
        BlendLearner(members=("x", "rf"), n_estimators=10).fit(X, y, treatment=arm)
    with pytest.raises(ValueError, match="at least one member"):
        BlendLearner(members=(), n_estimators=10).fit(X, y, treatment=arm)
