"""The additive logit: its SHAP values are exact and add up, its terms are what it learnt, averaging is exact."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from cxml.models.additive_logit import AdditiveLogit

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def curved():
    """A U-shaped numeric effect, a categorical with three levels and a few missing values: additive, not linear."""
    rng = np.random.default_rng(0)
    n = 4000
    age = rng.uniform(18, 80, n)
    plan = rng.integers(0, 3, n).astype(np.float64)
    logit = 0.004 * (age - 50) ** 2 - 1.5 + np.array([0.0, 1.0, -1.0])[plan.astype(int)]
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    age[:40] = np.nan
    return np.column_stack([age, plan]), y, [0, 3]


def test_contributions_add_up_to_the_margin_and_centre_on_the_training_rows(curved):
    X, y, codes = curved
    model = AdditiveLogit().fit(X, y, codes)
    phi = model.contributions(X)
    np.testing.assert_allclose(model.base_ + phi.sum(axis=1), model.margin(X))
    np.testing.assert_allclose(phi.mean(axis=0), 0.0, atol=1e-9)  # exact SHAP against the training rows


def test_learns_the_curve_a_straight_line_cannot(curved):
    X, y, codes = curved
    train, test = slice(0, 3000), slice(3000, None)
    additive = AdditiveLogit().fit(X[train], y[train], codes).margin(X[test])
    filled = np.nan_to_num(X, nan=50.0)
    line = LogisticRegression().fit(filled[train], y[train]).decision_function(filled[test])
    assert roc_auc_score(y[test], additive) > roc_auc_score(y[test], line) + 0.1


def test_a_column_term_depends_on_that_column_only(curved):
    X, y, codes = curved
    model = AdditiveLogit().fit(X, y, codes)
    a, b = X[100:101].copy(), X[100:101].copy()
    b[0, 1] = (b[0, 1] + 1) % 3  # another plan, same age
    np.testing.assert_allclose(model.contributions(a)[0, 0], model.contributions(b)[0, 0])
    assert model.contributions(a)[0, 1] != model.contributions(b)[0, 1]
    ages = np.column_stack([[20.0, 50.0, 79.0], [0.0, 0.0, 0.0]])
    term = model.contributions(ages)[:, 0]
    assert term[0] > term[1] < term[2]  # the U shape


def test_unseen_codes_and_missing_values_score(curved):
    X, y, codes = curved
    model = AdditiveLogit().fit(X, y, codes)
    odd = np.array([[np.nan, 7.0], [30.0, np.nan]])
    phi = model.contributions(odd)
    assert np.isfinite(phi).all()
    assert phi[0, 1] == pytest.approx(0.0) and phi[1, 1] == pytest.approx(0.0)  # never seen: the average customer


def test_mean_of_models_is_their_mean_margin(curved):
    X, y, codes = curved
    parts = [AdditiveLogit().fit(X[k::3], y[k::3], codes) for k in range(3)]
    mean = AdditiveLogit.mean_of(parts)
    np.testing.assert_allclose(mean.margin(X), np.mean([m.margin(X) for m in parts], axis=0), atol=1e-10)


def test_column_count_must_match(curved):
    X, y, _ = curved
    with pytest.raises(ValueError, match="n_codes names 1 columns"):
        AdditiveLogit().fit(X, y, [0])
