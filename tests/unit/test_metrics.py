import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from cxml.evaluation.baselines import PriorRate, RecencyRule
from cxml.evaluation.metrics import average_precision, binary_metrics, bootstrap_ci, lift_at, roc_auc

pytestmark = pytest.mark.unit


def test_lift_of_a_perfect_ranking_is_inverse_base_rate():
    y = np.array([1] * 10 + [0] * 90)
    assert lift_at(y, y.astype(float), 0.10) == pytest.approx(10.0)


def test_lift_of_a_reversed_ranking_is_zero():
    y = np.array([1] * 10 + [0] * 90)
    assert lift_at(y, -y.astype(float), 0.10) == 0.0


def test_binary_metrics_known_values():
    y = np.array([0, 0, 1, 1])
    m = binary_metrics(y, np.array([0.1, 0.4, 0.35, 0.8]))
    assert m["roc_auc"] == pytest.approx(0.75)
    assert m["brier"] == pytest.approx(np.mean((np.array([0.1, 0.4, 0.35, 0.8]) - y) ** 2))


@pytest.mark.parametrize("seed", range(40))
def test_roc_auc_average_precision_and_brier_equal_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 2_000))
    y = (rng.random(n) < rng.uniform(0.02, 0.98)).astype(int)
    score = np.round(rng.random(n), seed % 4)  # 0 to 3 decimals: many ties, then few
    if y.min() == y.max():
        y[0] = 1 - y[0]
    got = binary_metrics(y, score)
    assert got["roc_auc"] == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert got["pr_auc"] == pytest.approx(average_precision_score(y, score), abs=1e-12)
    assert got["brier"] == pytest.approx(brier_score_loss(y, score), abs=1e-12)
    assert roc_auc(y, 3 * score - 1) == pytest.approx(got["roc_auc"], abs=1e-12)  # ranks only


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::sklearn.exceptions.UndefinedMetricWarning")
def test_one_class_gives_what_scikit_learn_gives():
    assert np.isnan(roc_auc(np.array([1, 1, 1]), np.array([0.2, 0.5, 0.9])))
    assert average_precision(np.array([0, 0]), np.array([0.2, 0.5])) == average_precision_score([0, 0], [0.2, 0.5])
    assert average_precision(np.array([1, 1]), np.array([0.2, 0.5])) == 1.0


def test_brier_is_nan_for_scores_outside_unit_interval():
    assert np.isnan(binary_metrics(np.array([0, 1]), np.array([-1.0, 2.0]))["brier"])


def test_bootstrap_interval_contains_the_estimate():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    s = y * 0.3 + rng.random(500)
    lo, hi = bootstrap_ci(y, s, "roc_auc", n_boot=100)
    assert lo < binary_metrics(y, s)["roc_auc"] < hi


def test_recency_rule_is_calibrated_per_decile_and_monotone_on_monotone_data():
    recency = np.arange(1000, dtype=float)
    y = (recency > 700).astype(int)
    X = pd.DataFrame({"recency_days": recency})
    p = RecencyRule().fit(X, y).predict_proba(X)[:, 1]
    assert np.all(np.diff(p) >= 0)
    assert p.mean() == pytest.approx(y.mean(), abs=1e-9)


def test_recency_rule_gives_never_buyers_their_own_rate():
    X = pd.DataFrame({"recency_days": [1.0, 2.0, np.nan, np.nan]})
    rule = RecencyRule(n_bins=2).fit(X, np.array([0, 0, 1, 1]))
    assert rule.predict_proba(X.iloc[2:])[:, 1].tolist() == [1.0, 1.0]


def test_prior_rate_predicts_the_training_rate():
    p = (
        PriorRate()
        .fit(pd.DataFrame({"a": [1, 2, 3, 4]}), np.array([0, 0, 0, 1]))
        .predict_proba(pd.DataFrame({"a": [9]}))
    )
    assert p[0, 1] == pytest.approx(0.25)
