"""The honest uplift forest: it finds where the effect changes, its leaves are honest, its explanation adds up."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from cxml.models.meta_learners import ForestLearner, TLearner
from cxml.models.uplift import SPEC, URF_SHAPE
from cxml.models.uplift_forest import (
    _kl,
    _kl_normalisation,
    _smoothed,
    bin_codes,
    grow_forest,
    quantile_edges,
)

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


def _causalml_kl(p: float, q: float) -> float:
    """causalml's ``kl_divergence``, transcribed line by line as the reference."""
    if q == 0:
        return 0.0
    q = min(max(q, 1e-6), 1 - 1e-6)
    if p == 0:
        return -np.log(1 - q)
    if p == 1:
        return -np.log(q)
    return p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))


def _causalml_norm(n_c: float, n_t: float, n_c_upper: float, n_t_upper: float) -> float:
    """causalml's ``arr_normI`` for one treatment (alpha 0.9), its ``entropyH`` inlined."""

    def h(p: float, q: float = -1.0) -> float:
        return -p * np.log(p) if q == -1.0 and p > 0 else (-p * np.log(q) if q > 0 else 0.0)

    pt, pc, tot = n_t_upper / (n_t + 0.1), n_c_upper / (n_c + 0.1), n_t + n_c
    out = 0.9 * h(n_t / tot, n_c / tot) * _causalml_kl(pt, pc)
    out += 0.1 * h(n_t / tot, n_c / tot) * _causalml_kl(pt, pc) + n_t / tot * h(pt)
    return out + n_c / tot * h(pc) + 0.5


@pytest.mark.parametrize(
    ("p", "q"), [(0.3, 0.2), (0.0, 0.4), (1.0, 0.4), (0.05, 0.9), (0.5, 0.0), (0.2, 1.0), (0.7, 1e-9)]
)
def test_kl_divergence_is_causalmls(p, q):
    assert _kl(np.asarray(p), np.asarray(q)) == pytest.approx(_causalml_kl(p, q), rel=1e-12)


@pytest.mark.parametrize(("n_c", "n_t", "up_c", "up_t"), [(500, 480, 250, 240), (500, 480, 400, 50), (90, 12, 0, 12)])
def test_kl_normalisation_is_causalmls_and_penalises_a_split_that_separates_the_arms(n_c, n_t, up_c, up_t):
    got = float(_kl_normalisation(n_c, n_t, np.asarray(float(up_c)), np.asarray(float(up_t))))
    assert got == pytest.approx(_causalml_norm(n_c, n_t, up_c, up_t), rel=1e-12)
    assert float(_kl_normalisation(500, 480, np.asarray(400.0), np.asarray(50.0))) > float(
        _kl_normalisation(500, 480, np.asarray(250.0), np.asarray(240.0))
    )


def test_node_rates_are_pulled_toward_the_parent_and_thin_arms_take_the_parents():
    parent = np.array([0.2, 0.3])
    rates = _smoothed(np.array([90.0, 8.0]), np.array([27.0, 8.0]), parent)
    assert rates[0] == pytest.approx((27 + 10 * 0.2) / 100)  # N_REG = 10 pseudo-rows at the parent's rate
    assert rates[1] == 0.3  # 8 rows of the arm: too few for its own rate


def test_the_kl_forest_recovers_a_step_effect():
    X, y, arm, tau = _experiment()
    model = ForestLearner(n_trees=60, criterion="kl", honest=False, sample_fraction=0.632, random_state=0)
    effect = model.fit(X, y, treatment=arm).effect(X, arm="offer")
    assert np.sqrt(np.mean((effect - tau) ** 2)) < 0.09  # not honest: leaves keep some noise the search found
    assert effect[tau > 0].mean() - effect[tau < 0].mean() > 0.25
    assert np.corrcoef(effect, tau)[0, 1] > 0.85
    phi = model.explain(X.iloc[:200], arm="offer")
    np.testing.assert_allclose(phi.values.sum(axis=1) + phi.base_values, effect[:200])
    share = np.abs(phi.values).mean(axis=0) / np.abs(phi.values).mean(axis=0).sum()
    # not honest: leaves keep some noise the split search found (x1 and x2 get ~14 % each, 6-7 % when honest)
    assert share[0] > 0.6 and share[0] > 4 * share[1:].max(), share


def test_forest_split_builds_either_forest_and_the_search_keeps_the_honest_one():
    import optuna

    for split, honest in (("kl", False), ("ed", True)):
        model = SPEC.build({**URF_SHAPE, "forest_split": split})
        assert isinstance(model, ForestLearner)
        assert (model.criterion, model.honest, model.forest_depth) == (split, honest, 5)
    assert SPEC.first_trials(("lightgbm",)) == []
    trial = optuna.trial.FixedTrial({"learner": "forest", "forest_depth": 4, "min_leaf": 50, "max_features": 0.5})
    assert SPEC.build(SPEC.search_space(trial, ("lightgbm",))).criterion == "ed"
    X, y, arm, _ = _experiment(300)
    with pytest.raises(ValueError, match="criterion must be one of"):
        ForestLearner(criterion="gini").fit(X, y, treatment=arm)


def test_a_forest_pickled_before_the_kl_split_still_reports_its_parameters():
    X, y, arm, _ = _experiment(500)
    model = ForestLearner(n_trees=3, random_state=0).fit(X, y, treatment=arm)
    del model.__dict__["criterion"]  # what unpickling a forest saved before ``criterion`` existed gives
    assert model.get_params()["criterion"] == "ed"
    assert clone(model).criterion == "ed"
    assert np.isfinite(model.effect(X.iloc[:5], arm="offer")).all()
