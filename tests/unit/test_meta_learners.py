"""Uplift meta-learners on a seeded randomised experiment whose effects are known.

Arm ``a`` persuades customers with x0 > 0 (+0.15 purchase probability); arm ``b`` puts off those with x2 > 0
(-0.10: sleeping dogs). ``parametrize_with_checks`` does not apply (``fit`` needs ``treatment``); clone does.
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import shap
from scipy.special import expit
from sklearn.base import clone

from cxml.models.meta_learners import ClassTransformation, DRLearner, SLearner, TLearner, XLearner

pytestmark = pytest.mark.unit

MULTI_ARM = [SLearner, TLearner, XLearner, DRLearner]
ALL = [*MULTI_ARM, ClassTransformation]
# shallow, well-regularised trees: the effect is a step of 0.15 in probability on ~1,300 rows per arm
SMALL = {"n_estimators": 200, "max_depth": 3, "num_leaves": 7, "min_child_weight": 20.0}


def _experiment(n: int = 4000, seed: int = 0, continuous: bool = False):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 5)), columns=[f"x{i}" for i in range(5)])
    X["plan"] = pd.Series(rng.choice(["basic", "plus", "premium"], n), dtype="str")
    X.index = [f"C{i:05d}" for i in range(n)]
    arm = rng.permutation(np.resize(np.array(["control", "a", "b"]), n))
    step_a, step_b = (X["x0"] > 0).to_numpy(float), (X["x2"] > 0).to_numpy(float)
    if continuous:
        tau_a, tau_b = 1.0 * step_a, -0.5 * step_b
        y = X["x1"].to_numpy() + 0.5 * X["x3"].to_numpy() + rng.normal(size=n)
        y = y + np.where(arm == "a", tau_a, 0.0) + np.where(arm == "b", tau_b, 0.0)
        return X, y, arm, tau_a, tau_b
    p0 = expit(-1 + 0.5 * X["x1"].to_numpy())
    p_a, p_b = np.clip(p0 + 0.15 * step_a, 0, 1), np.clip(p0 - 0.10 * step_b, 0, 1)
    p = np.where(arm == "a", p_a, np.where(arm == "b", p_b, p0))
    return X, (rng.random(n) < p).astype(int), arm, p_a - p0, p_b - p0


@pytest.fixture(scope="module")
def experiment():
    return _experiment()


@pytest.fixture(scope="module")
def fitted(experiment):
    """Fit each learner once per module; ClassTransformation sees only arm a and control."""
    X, y, arm, _, _ = experiment
    cache: dict = {}

    def get(cls, permuted: bool = False):
        if (cls, permuted) not in cache:
            rows = np.isin(arm, ["control", "a"]) if cls is ClassTransformation else np.ones(len(arm), dtype=bool)
            t = np.random.default_rng(1).permutation(arm[rows]) if permuted else arm[rows]
            cache[cls, permuted] = cls(**SMALL).fit(X[rows], y[rows], treatment=t)
        return cache[cls, permuted]

    return get


def _corr(estimate: np.ndarray, truth: np.ndarray) -> float:
    with np.errstate(invalid="ignore", divide="ignore"):  # a constant estimate has no correlation: 0
        return float(np.nan_to_num(np.corrcoef(estimate, truth)[0, 1]))


@pytest.mark.parametrize("cls", ALL)
def test_effect_of_arm_a_tracks_the_true_effect(experiment, fitted, cls):
    X, _, _, tau_a, _ = experiment
    assert _corr(fitted(cls).effect(X, arm="a"), tau_a) > 0.5


@pytest.mark.parametrize("cls", ALL)
def test_permuted_treatment_labels_lose_the_signal(experiment, fitted, cls):
    X, _, _, tau_a, _ = experiment
    real = _corr(fitted(cls).effect(X, arm="a"), tau_a)
    assert _corr(fitted(cls, permuted=True).effect(X, arm="a"), tau_a) < real - 0.3


@pytest.mark.parametrize("cls", ALL)
def test_mean_effect_is_close_to_the_true_mean(experiment, fitted, cls):
    X, _, _, tau_a, _ = experiment
    assert fitted(cls).effect(X, arm="a").mean() == pytest.approx(tau_a.mean(), abs=0.05)


@pytest.mark.parametrize("cls", MULTI_ARM)
def test_sleeping_dogs_get_a_negative_effect(experiment, fitted, cls):
    X, _, _, _, _ = experiment
    effect_b = fitted(cls).effect(X, arm="b")
    assert effect_b[X["x2"].to_numpy() > 0].mean() < 0


@pytest.mark.parametrize("cls", MULTI_ARM)
def test_effects_has_one_column_per_arm(experiment, fitted, cls):
    X, _, _, _, _ = experiment
    frame = fitted(cls).effects(X.head(20))
    assert list(frame.columns) == ["a", "b"]
    assert frame.index.equals(X.head(20).index)
    np.testing.assert_allclose(frame["b"], fitted(cls).effect(X.head(20), arm="b"))


@pytest.mark.parametrize("cls", ALL)
def test_binary_effects_are_differences_of_probabilities(experiment, fitted, cls):
    X, _, _, _, _ = experiment
    effect = fitted(cls).effect(X, arm="a")
    assert fitted(cls).outcome_ == "binary"
    assert np.all((effect >= -1) & (effect <= 1))
    assert not np.isin(effect, [-1.0, 0.0, 1.0]).all()  # not differences of class labels


@pytest.mark.parametrize("cls", MULTI_ARM)
def test_continuous_outcome_effect_is_a_difference_of_means(cls):
    X, y, arm, tau_a, _ = _experiment(continuous=True)
    model = cls(**SMALL).fit(X, y, treatment=arm)
    effect = model.effect(X, arm="a")
    assert model.outcome_ == "continuous"
    assert _corr(effect, tau_a) > 0.7
    assert effect.mean() == pytest.approx(tau_a.mean(), abs=0.1)


@pytest.mark.parametrize("cls", MULTI_ARM)
def test_several_arms_need_an_arm_name(experiment, fitted, cls):
    X, _, _, _, _ = experiment
    with pytest.raises(ValueError, match=r"\['a', 'b'\]"):
        fitted(cls).effect(X.head(5))


def test_a_single_arm_is_the_default(experiment, fitted):
    X, _, _, _, _ = experiment
    model = fitted(ClassTransformation)
    assert model.arms_ == ("a",)
    np.testing.assert_array_equal(model.effect(X.head(10)), model.effect(X.head(10), arm="a"))


@pytest.mark.parametrize("cls", ALL)
def test_unknown_arm_is_refused(experiment, fitted, cls):
    X, _, _, _, _ = experiment
    with pytest.raises(ValueError, match="unknown arm 'email'"):
        fitted(cls).effect(X.head(5), arm="email")


def test_missing_control_arm_is_refused(experiment):
    X, y, arm, _, _ = experiment
    with pytest.raises(ValueError, match="control arm 'holdout' not found"):
        TLearner(control="holdout", **SMALL).fit(X, y, treatment=arm)


def test_class_transformation_refuses_several_arms(experiment):
    X, y, arm, _, _ = experiment
    with pytest.raises(ValueError, match="single arm"):
        ClassTransformation(**SMALL).fit(X, y, treatment=arm)


def test_class_transformation_refuses_a_continuous_outcome():
    X, y, arm, _, _ = _experiment(continuous=True)
    rows = arm != "b"
    with pytest.raises(ValueError, match="0/1 outcome"):
        ClassTransformation(**SMALL).fit(X[rows], y[rows], treatment=arm[rows])


def test_class_transformation_weights_unequal_shares(experiment, fitted):
    X, y, arm, tau_a, _ = experiment
    rows = (arm == "a") | ((arm == "control") & (np.arange(len(arm)) % 2 == 0))  # a third of the rows are control
    model = ClassTransformation(**SMALL).fit(X[rows], y[rows], treatment=arm[rows])
    assert fitted(ClassTransformation).balanced_ and not model.balanced_
    effect = model.effect(X)
    assert _corr(effect, tau_a) > 0.5
    assert effect.mean() == pytest.approx(tau_a.mean(), abs=0.05)


@pytest.mark.parametrize("cls", ALL)
def test_row_order_permutes_effects_and_nothing_else(experiment, fitted, cls):
    X, _, _, _, _ = experiment
    order = np.random.default_rng(2).permutation(200)
    effect = fitted(cls).effect(X.head(200), arm="a")
    np.testing.assert_allclose(fitted(cls).effect(X.head(200).iloc[order], arm="a"), effect[order], atol=1e-12)


@pytest.mark.parametrize("cls", [XLearner, DRLearner])
def test_exact_explanations_add_up_to_the_effect(experiment, fitted, cls):
    X, _, _, _, _ = experiment
    model = fitted(cls)
    e = model.explain(X.head(300), arm="a")
    assert isinstance(e, shap.Explanation) and list(e.feature_names) == list(X.columns)
    assert e.output_names == "effect of a vs control (probability difference)"
    assert np.ptp(e.base_values) == 0
    assert shap.plots.waterfall(e[0], show=False).get_yticklabels()  # shap's own plot takes one customer
    plt.close("all")
    np.testing.assert_allclose(e.values.sum(axis=1) + e.base_values, model.effect(X.head(300), arm="a"), atol=1e-6)


@pytest.mark.parametrize("cls", [SLearner, TLearner, ClassTransformation])
def test_rescaled_explanations_add_up_to_the_probability_difference(experiment, fitted, cls):
    X, _, _, _, _ = experiment
    model = fitted(cls)
    e = model.explain(X.head(300), arm="a")
    assert e.output_names == "effect of a vs control (probability difference, rescaled)"
    np.testing.assert_allclose(e.values.sum(axis=1) + e.base_values, model.effect(X.head(300), arm="a"), atol=1e-6)


@pytest.mark.parametrize("cls", [XLearner, DRLearner])
def test_explanation_points_at_the_feature_that_drives_persuasion(experiment, fitted, cls):
    X, _, _, _, _ = experiment
    e = fitted(cls).explain(X, arm="a")
    assert e.feature_names[int(np.abs(e.values).mean(axis=0).argmax())] == "x0"


def test_xgboost_backend_explains_exactly(experiment):
    X, y, arm, tau_a, _ = experiment
    model = XLearner(algorithm="xgboost", **SMALL).fit(X, y, treatment=arm)
    e = model.explain(X.head(300), arm="a")
    assert _corr(model.effect(X, arm="a"), tau_a) > 0.5
    np.testing.assert_allclose(e.values.sum(axis=1) + e.base_values, model.effect(X.head(300), arm="a"), atol=1e-5)


@pytest.mark.parametrize("cls", ALL)
def test_clone_round_trips_the_parameters(cls):
    params = {"learning_rate": 0.1, "control": "holdout", "random_state": 7}
    if cls is DRLearner:
        params |= {"n_folds": 3, "clip_propensity": 0.05}
    model = cls(**params)
    twin = clone(model)
    assert twin is not model and twin.get_params() == model.get_params()
    assert clone(cls().set_params(**params)).get_params() == model.get_params()
