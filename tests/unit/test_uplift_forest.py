"""The honest uplift forest: it finds where the effect changes, its leaves are honest, its explanation adds up."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from cxml.models.meta_learners import ForestLearner, TLearner
from cxml.models.uplift import SPEC
from cxml.models.uplift_forest import bin_codes, grow_forest, quantile_edges

pytestmark = pytest.mark.unit


def _experiment(n: int = 6000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """A step effect: +0.25 where x0 > 0, -0.10 elsewhere; x1 moves the baseline only; x2 is noise."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=["x0", "x1", "x2"])
    tau = np.where(X["x0"] > 0, 0.25, -0.10)
    p0 = 0.3 + 0.2 * (X["x1"] > 0)
    treated = rng.random(n) < 0.5
    y = (rng.random(n) < np.clip(p0 + treated * tau, 0, 1)).astype(float)
    return X, y, np.where(treated, "offer", "control"), tau


def test_the_forest_recovers_a_step_effect_and_ignores_the_baseline_feature():
    X, y, arm, tau = _experiment()
    model = ForestLearner(n_trees=60, random_state=0).fit(X, y, treatment=arm)
    effect = model.effect(X, arm="offer")
    assert np.sqrt(np.mean((effect - tau) ** 2)) < 0.06
    assert effect[tau > 0].mean() - effect[tau < 0].mean() > 0.25
    phi = model.explain(X.iloc[:200], arm="offer")
    share = np.abs(phi.values).mean(axis=0) / np.abs(phi.values).mean(axis=0).sum()
    assert share[0] > 0.8, share  # x0 carries the effect; x1 (baseline) and x2 (noise) do not


def test_path_contributions_add_up_to_the_effect():
    X, y, arm, _ = _experiment(3000)
    model = ForestLearner(n_trees=20, random_state=1).fit(X, y, treatment=arm)
    phi = model.explain(X.iloc[:50], arm="offer")
    np.testing.assert_allclose(phi.values.sum(axis=1) + phi.base_values, model.effect(X.iloc[:50], arm="offer"))


def test_honest_leaves_do_not_keep_the_noise_the_split_search_found():
    """No effect anywhere: the split search picks the root split whose children differ most by chance; set on
    the rows it searched, the children keep that gap, set on fresh rows they differ by noise alone."""
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(4000, 2))
    y = (rng.random(4000) < 0.3).astype(float)
    t = rng.random(4000) < 0.5
    kwargs = dict(n_trees=40, max_depth=1, min_leaf=100, max_features=1.0, sample_fraction=1.0, max_bins=16, seed=0)
    gap = {}
    for honest in (True, False):
        _, trees = grow_forest(matrix, y, t, honest=honest, **kwargs)
        gap[honest] = np.mean([abs(tree.value[1] - tree.value[2]) for tree in trees if tree.feature[0] >= 0])
    assert gap[True] < 0.7 * gap[False], gap


def test_missing_values_get_their_own_bin():
    matrix = np.array([[np.nan], [1.0], [2.0], [3.0]])
    assert bin_codes(matrix, quantile_edges(matrix, 4))[:, 0].tolist()[0] == 0


def test_spec_builds_the_forest_and_clone_round_trips():
    model = SPEC.build({"learner": "forest", "forest_depth": 4, "min_leaf": 50, "max_features": 0.5})
    assert isinstance(model, ForestLearner) and model.forest_depth == 4
    assert clone(model).get_params() == model.get_params()


def test_bad_forest_settings_name_what_to_fix():
    X, y, arm, _ = _experiment(500)
    with pytest.raises(ValueError, match="sample_fraction and max_features"):
        ForestLearner(sample_fraction=1.5).fit(X, y, treatment=arm)
    with pytest.raises(ValueError, match="n_trees, forest_depth and min_leaf"):
        ForestLearner(n_trees=0).fit(X, y, treatment=arm)


def test_a_rare_outcome_still_splits_min_child_weight_is_capped_by_the_rows():
    """min_child_weight 200 at a 1 % rate used to leave the T-learner constant (Qini 0 exactly)."""
    rng = np.random.default_rng(0)
    n = 8000
    X = pd.DataFrame({"x0": rng.normal(size=n), "x1": rng.normal(size=n)})
    treated = rng.random(n) < 0.5
    y = (rng.random(n) < 0.01 + 0.02 * treated * (X["x0"] > 0)).astype(float)
    model = TLearner(min_child_weight=200, max_depth=2, learning_rate=0.1, random_state=0)
    effect = model.fit(X, y, treatment=np.where(treated, "offer", "control")).effect(X, arm="offer")
    assert np.ptp(effect) > 0
