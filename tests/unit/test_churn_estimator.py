import numpy as np
import pandas as pd
import pytest
import shap
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.metrics import roc_auc_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from cxml.models.churn import ChurnClassifier

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def table():
    X, y = make_classification(3000, 8, n_informative=5, random_state=0)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(8)])
    frame["plan"] = np.where(frame["f0"] > 0, "premium", "basic")
    frame.index = [f"C{i:05d}" for i in range(len(frame))]
    return frame, y


@parametrize_with_checks([ChurnClassifier(n_estimators=20, early_stopping_rounds=5)])
def test_sklearn_contract(estimator, check):
    check(estimator)


@pytest.mark.parametrize("algorithm", ["xgboost", "lightgbm"])
def test_learns_and_calibrates(table, algorithm):
    X, y = table
    model = ChurnClassifier(algorithm=algorithm).fit(X.iloc[:2000], y[:2000])
    p = model.predict_proba(X.iloc[2000:])[:, 1]
    assert roc_auc_score(y[2000:], p) > 0.9
    assert abs(p.mean() - y[2000:].mean()) < 0.05


@pytest.mark.parametrize("algorithm", ["xgboost", "lightgbm"])
def test_shap_contributions_add_up_to_the_served_prediction(table, algorithm):
    X, y = table
    model = ChurnClassifier(algorithm=algorithm, n_estimators=400).fit(X, y)
    e = model.explain(X.head(100))
    assert isinstance(e, shap.Explanation) and e.output_names == "log-odds"
    assert list(e.feature_names) == list(X.columns) and e.values.shape == (100, X.shape[1])
    np.testing.assert_allclose(e.values.sum(axis=1) + e.base_values, model.raw_margin(X.head(100)), atol=1e-4)
    p = model.explain(X.head(100), output="probability")
    assert p.output_names == "probability"
    np.testing.assert_allclose(p.values.sum(axis=1) + p.base_values, model.predict_proba(X.head(100))[:, 1], atol=1e-5)
    np.testing.assert_array_equal(np.sign(p.values), np.sign(e.values))  # same shares, same directions


def test_single_record_path_equals_the_batch_path(table):
    X, y = table
    model = ChurnClassifier().fit(X, y)
    for i in range(5):
        assert model.predict_record(X.iloc[i].to_dict()) == pytest.approx(model.predict_proba(X.iloc[[i]])[0, 1])


def test_customer_id_never_changes_a_score(table):
    X, y = table
    model = ChurnClassifier().fit(X, y)
    renamed = X.head(50).set_axis([f"other-{i}" for i in range(50)])
    np.testing.assert_array_equal(model.predict_proba(X.head(50)), model.predict_proba(renamed))


def test_same_seed_same_model(table):
    X, y = table
    a = ChurnClassifier(algorithm="lightgbm", subsample=0.7).fit(X, y)
    b = clone(a).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_unseen_category_and_missing_values_are_scored(table):
    X, y = table
    model = ChurnClassifier().fit(X, y)
    odd = X.head(2).copy()
    odd["plan"] = ["platinum", None]
    odd.loc[odd.index[0], "f1"] = np.nan
    assert np.all(np.isfinite(model.predict_proba(odd)))


def test_non_binary_target_is_refused(table):
    X, _ = table
    with pytest.raises(ValueError, match="Only binary classification"):
        ChurnClassifier().fit(X, np.arange(len(X)) % 3)


def test_cross_fitted_bags_add_up_and_calibrate(table):
    X, y = table
    model = ChurnClassifier(algorithm="lightgbm", n_bags=3).fit(X.iloc[:2000], y[:2000])
    assert len(model.boosters_) == 3
    e = model.explain(X.iloc[2000:2050])
    np.testing.assert_allclose(e.values.sum(axis=1) + e.base_values, model.raw_margin(X.iloc[2000:2050]), atol=1e-6)
    p = model.predict_proba(X.iloc[2000:])[:, 1]
    assert abs(p.mean() - y[2000:].mean()) < 0.05
    assert model.predict_record(X.iloc[2000].to_dict()) == pytest.approx(p[0])


@pytest.fixture(scope="module")
def additive_table():
    """A mostly additive signal (a curve in one numeric, a plan effect) with missing values: the blend's case."""
    rng = np.random.default_rng(3)
    n = 3000
    frame = pd.DataFrame({"tenure": rng.uniform(0, 72, n), "charges": rng.uniform(20, 120, n)})
    frame["plan"] = rng.choice(["month", "year", "two-year"], n)
    logit = 1.5 - 0.06 * frame["tenure"] + 0.0004 * (frame["charges"] - 70) ** 2
    logit += frame["plan"].map({"month": 0.8, "year": -0.5, "two-year": -1.5})
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame.loc[frame.index[:30], "charges"] = np.nan
    frame.index = [f"C{i:05d}" for i in range(n)]
    return frame, y


@pytest.mark.parametrize("n_bags", [1, 3])
def test_blend_explains_adds_up_and_serves_one_record(additive_table, n_bags):
    X, y = additive_table
    model = ChurnClassifier(n_bags=n_bags, linear_weight="auto").fit(X.iloc[:2000], y[:2000])
    w = model.fitted_params()["linear_weight"]
    assert 0 < w <= 1  # an additive signal: the linear part earns a weight
    rows = X.iloc[2000:2100]
    e = model.explain(rows)
    np.testing.assert_allclose(e.values.sum(axis=1) + e.base_values, model.raw_margin(rows), atol=1e-4)
    p = model.explain(rows, output="probability")
    np.testing.assert_allclose(p.values.sum(axis=1) + p.base_values, model.predict_proba(rows)[:, 1], atol=1e-5)
    assert model.predict_record(X.iloc[2000].to_dict()) == pytest.approx(model.predict_proba(X.iloc[[2000]])[0, 1])


def test_blend_weight_one_is_the_linear_part_and_beats_trees_alone_on_additive_data(additive_table):
    X, y = additive_table
    linear = ChurnClassifier(n_bags=3, linear_weight=1.0).fit(X.iloc[:2000], y[:2000])
    np.testing.assert_allclose(linear.raw_margin(X), linear.linear_.margin(linear.encoder_.transform(X)), atol=1e-9)
    trees = ChurnClassifier(n_bags=3).fit(X.iloc[:2000], y[:2000])
    blend = ChurnClassifier(n_bags=3, linear_weight="auto").fit(X.iloc[:2000], y[:2000])
    auc = {m: roc_auc_score(y[2000:], m.predict_proba(X.iloc[2000:])[:, 1]) for m in (trees, blend)}
    assert auc[blend] > auc[trees]
    assert trees.fitted_params() == {"linear_weight": 0.0} and trees.linear_ is None


def test_blend_survives_a_pickle(additive_table):
    import pickle

    X, y = additive_table
    model = ChurnClassifier(linear_weight="auto").fit(X.iloc[:1000], y[:1000])
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict_proba(X.head(20)), model.predict_proba(X.head(20)))


@pytest.mark.parametrize("weight", [-0.1, 1.5, "half"])
def test_bad_linear_weight_is_refused(additive_table, weight):
    X, y = additive_table
    with pytest.raises(ValueError, match='linear_weight must be a number from 0 to 1 or "auto"'):
        ChurnClassifier(linear_weight=weight).fit(X.head(200), y[:200])


class _Certain(ChurnClassifier):
    """Probabilities as a float32 booster returns them for a customer it is sure of: exactly 0 and 1."""

    def predict_proba(self, X):
        p = np.r_[np.ones(len(X) - 1), 0.0].astype(np.float32)
        return np.column_stack([1 - p, p])


def test_decision_function_is_finite_where_the_probability_rounds_to_one():
    """float32 cannot hold 1 - 1e-15, so the log-odds are taken in float64: a certain customer gets a large finite
    score, not inf (sklearn's contract check on f-contiguous input warned of log1p(-1) before)."""
    with np.errstate(divide="raise"):
        scores = _Certain().decision_function(np.zeros((3, 2)))
    assert np.isfinite(scores).all() and scores[0] > 30 and scores[-1] < -30
