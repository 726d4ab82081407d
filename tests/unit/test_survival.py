"""Survival metrics against hand computations and a brute-force C-index; the boosted survival model on simulated
Weibull data with censoring (ordering recovered, curves monotone, remaining tenure sensible)."""

import time

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from cxml.evaluation.survival_metrics import (
    brier_scores,
    calibration_at_horizons,
    calibration_error,
    concordance,
    concordance_index,
    integrated_brier_score,
    kaplan_meier,
    median_survival,
    survival_at,
)
from cxml.models.survival_boost import SurvivalBooster

pytestmark = pytest.mark.unit


def brute_force_c(duration, event, risk):
    concordant = tied = comparable = 0.0
    for i in range(len(duration)):
        if not event[i]:
            continue
        for j in range(len(duration)):
            if duration[j] > duration[i] or (duration[j] == duration[i] and not event[j]):
                comparable += 1
                concordant += risk[i] > risk[j]
                tied += risk[i] == risk[j]
    return (concordant + 0.5 * tied) / comparable, concordant, tied, comparable


@pytest.mark.parametrize(
    "duration, event, risk, expected",
    [
        ([1, 2, 3, 4], [1, 1, 1, 1], [4, 3, 2, 1], 1.0),
        ([1, 2, 3, 4], [1, 1, 1, 1], [1, 2, 3, 4], 0.0),
        ([1, 2, 3, 4], [1, 1, 1, 1], [5, 5, 5, 5], 0.5),
        ([1, 2, 3], [1, 0, 1], [3, 1, 2], 1.0),  # censored subject 2 only compared as the longer-lived one
        ([1, 2, 3], [1, 0, 1], [1, 3, 2], 0.0),
        ([2, 2, 3], [1, 0, 1], [2, 1, 3], 0.5),  # censored at the event time: still at risk, so comparable
        ([2, 2, 3], [1, 1, 0], [2, 1, 3], 0.0),  # two events at one time are not compared; both below the 3
        ([1, 2, 3, 4], [0, 1, 0, 1], [9, 1, 2, 0], 0.5),  # t=2 vs t=3 discordant, vs t=4 concordant
    ],
)
def test_c_index_hand_cases(duration, event, risk, expected):
    assert concordance_index(duration, event, risk) == pytest.approx(expected)


def test_c_index_pair_counts_by_hand():
    # events at 1 (risk 2) and 3 (risk 1); censored at 3 (risk 1) and 5 (risk 3)
    counts = concordance([1, 3, 3, 5], [1, 1, 0, 0], [2, 1, 1, 3])
    # pairs: (1 vs 3e) conc, (1 vs 3c) conc, (1 vs 5) disc, (3e vs 3c) tie, (3e vs 5) disc
    assert (counts.concordant, counts.discordant, counts.tied_risk, counts.comparable) == (2, 2, 1, 5)
    assert counts.c_index == pytest.approx(2.5 / 5)


def test_c_index_equals_brute_force_with_ties():
    rng = np.random.default_rng(0)
    d = rng.integers(1, 12, 300).astype(float)  # many tied times
    e = rng.random(300) < 0.6
    r = rng.integers(0, 8, 300).astype(float)  # many tied risks
    expected, conc, tied, comp = brute_force_c(d, e, r)
    got = concordance(d, e, r)
    assert (got.concordant, got.tied_risk, got.comparable) == (conc, tied, comp)
    assert got.c_index == pytest.approx(expected)


def test_c_index_is_fast_on_many_rows():
    rng = np.random.default_rng(1)
    d, e, r = rng.exponential(10, 50_000), rng.random(50_000) < 0.3, rng.normal(size=50_000)
    start = time.perf_counter()
    c = concordance_index(d, e, r)
    assert time.perf_counter() - start < 2.0
    assert c == pytest.approx(0.5, abs=0.02)


def test_kaplan_meier_by_hand():
    km = kaplan_meier([1, 2, 2, 3, 4, 5], [1, 1, 0, 1, 0, 1])
    assert km["time"].tolist() == [1, 2, 3, 4, 5]
    assert km["at_risk"].tolist() == [6, 5, 3, 2, 1]
    assert km["events"].tolist() == [1, 1, 1, 0, 1]
    assert km["censored"].tolist() == [0, 1, 0, 1, 0]
    np.testing.assert_allclose(km["survival"], [5 / 6, 2 / 3, 4 / 9, 4 / 9, 0.0])
    # Greenwood at t = 2: S^2 (1/(6*5) + 1/(5*4)) = (4/9) / 12
    assert km.loc[1, "std_error"] == pytest.approx(np.sqrt(4 / 9 / 12))
    assert (km["lower"] <= km["survival"]).all() and (km["survival"] <= km["upper"]).all()
    assert median_survival(km) == 3.0
    np.testing.assert_allclose(survival_at(km, [0.5, 2.5, 10]), [1.0, 2 / 3, 0.0])


def test_kaplan_meier_without_censoring_is_the_empirical_survival():
    rng = np.random.default_rng(2)
    d = rng.exponential(5.0, 500)
    km = kaplan_meier(d, np.ones(500))
    np.testing.assert_allclose(km["survival"], 1 - np.arange(1, 501) / 500)


def test_kaplan_meier_per_group():
    km = kaplan_meier([1, 2, 3, 1, 4], [1, 1, 1, 0, 1], group=["a", "a", "a", "b", "b"])
    assert km.columns[0] == "group"
    np.testing.assert_allclose(km.loc[km["group"] == "a", "survival"], [2 / 3, 1 / 3, 0.0])
    np.testing.assert_allclose(km.loc[km["group"] == "b", "survival"], [1.0, 0.0])
    assert median_survival(km[km["group"] == "b"]) == 4.0


def test_metrics_name_bad_rows():
    with pytest.raises(ValueError, match=r"event.*rows \[1\]"):
        kaplan_meier([1, 2], [1, 2])
    with pytest.raises(ValueError, match=r"duration.*rows \[0\]"):
        concordance_index([-1, 2], [1, 0], [0.1, 0.2])


def weibull_customers(n, seed, censor_at=None):
    """Weibull AFT: log T = 2 + 0.8 x0 - 0.5 x1 + 0.3 plan + 0.5 * extreme-value noise; uniform censoring."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"x0": rng.normal(size=n), "x1": rng.normal(size=n), "noise": rng.normal(size=n)})
    X["plan"] = rng.choice(["basic", "premium"], n)
    eta = 2 + 0.8 * X["x0"] - 0.5 * X["x1"] + 0.3 * (X["plan"] == "premium")
    t = np.exp(eta + 0.5 * np.log(rng.exponential(size=n)))  # log of Exp(1) is the extreme-value (minimum) law
    c = rng.uniform(0, censor_at or 40.0, n)
    return X, np.minimum(t, c), (t <= c).astype(int), eta.to_numpy(), t


@pytest.fixture(scope="module")
def weibull():
    return weibull_customers(3000, seed=3), weibull_customers(1500, seed=4)


@pytest.mark.parametrize("params", [{"objective": "cox"}, {"objective": "aft", "distribution": "extreme"}])
def test_censored_weibull_ordering_is_recovered(weibull, params):
    (X, d, e, _, _), (X_test, _, _, eta_test, t_test) = weibull
    assert 0.2 < 1 - e.mean() < 0.6  # a real share of censoring
    model = SurvivalBooster(**params, n_estimators=400).fit(X, d, e)
    risk = model.predict_risk(X_test)
    assert risk.index.equals(X_test.index)
    # ranked against the uncensored true times, close to the oracle that knows the linear predictor
    oracle = concordance_index(t_test, np.ones_like(t_test), -eta_test)
    assert concordance_index(t_test, np.ones_like(t_test), risk) > oracle - 0.03


def test_aft_recovers_the_weibull_scale(weibull):
    (X, d, e, _, _), _ = weibull
    model = SurvivalBooster(objective="aft", distribution="extreme", n_estimators=400).fit(X, d, e)
    assert model.sigma_ == pytest.approx(0.5, rel=0.2)


@pytest.mark.parametrize("objective", ["cox", "aft"])
def test_survival_curves_are_monotone_and_calibrated(weibull, objective):
    (X, d, e, _, _), (X_test, d_test, e_test, _, _) = weibull
    model = SurvivalBooster(objective=objective, distribution="extreme", n_estimators=400).fit(X, d, e)
    times = [1.0, 3.0, 6.0, 12.0, 24.0]
    curves = model.predict_survival(X_test, times)
    assert list(curves.columns) == times
    assert (np.diff(curves.to_numpy(), axis=1) <= 1e-12).all()
    assert ((curves >= 0) & (curves <= 1)).all().all()
    table = calibration_at_horizons(d_test, e_test, curves[[3.0, 6.0, 12.0]])
    assert set(table["horizon"]) == {3.0, 6.0, 12.0} and table["n"].sum() == 3 * len(X_test)
    assert (calibration_error(table) < 0.06).all()
    # high predicted risk bins really do survive less
    at_12 = table[table["horizon"] == 12.0]
    assert at_12["observed"].iloc[:3].mean() < at_12["observed"].iloc[-3:].mean()


def test_expected_remaining_tenure_against_the_survival_curve(weibull):
    (X, d, e, _, _), (X_test, _, _, _, _) = weibull
    model = SurvivalBooster(objective="cox", n_estimators=200).fit(X, d, e)
    rows = X_test.head(20)
    remaining = model.expected_remaining_tenure(rows, 0.0, horizon=30.0)
    grid = np.linspace(0, 30, 30001)
    curve = model.predict_survival(rows, grid).to_numpy()
    np.testing.assert_allclose(remaining, curve[:, :-1].sum(axis=1) * (grid[1] - grid[0]), rtol=2e-3)
    assert ((remaining > 0) & (remaining <= 30)).all()
    older = model.expected_remaining_tenure(rows, np.full(20, 5.0), horizon=30.0)
    assert older.index.equals(rows.index)


def test_brier_score_is_lower_for_the_model_than_for_a_constant(weibull):
    (X, d, e, _, _), (X_test, d_test, e_test, _, _) = weibull
    model = SurvivalBooster(objective="cox", n_estimators=200).fit(X, d, e)
    times = [2.0, 4.0, 8.0, 16.0]
    curves = model.predict_survival(X_test, times)
    km = kaplan_meier(d, e)
    flat = pd.DataFrame({t: np.full(len(X_test), survival_at(km, t)[0]) for t in times}, index=X_test.index)
    assert (brier_scores(d_test, e_test, curves) < brier_scores(d_test, e_test, flat)).all()
    assert integrated_brier_score(d_test, e_test, curves) < integrated_brier_score(d_test, e_test, flat)


def test_brier_score_by_hand_without_censoring():
    # no censoring: G = 1, BS(t) = mean((1(T > t) - S)^2)
    predicted = pd.DataFrame({2.0: [0.9, 0.2, 0.5]})
    assert brier_scores([1, 3, 5], [1, 1, 1], predicted)[2.0] == pytest.approx((0.81 + 0.64 + 0.25) / 3)


def test_survival_booster_validates_targets_and_clones():
    X = pd.DataFrame({"a": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match=r"event.*rows \[2\]"):
        SurvivalBooster().fit(X, [1, 2, 3], [1, 0, "maybe"])
    with pytest.raises(ValueError, match=r"duration.*rows \[1\]"):
        SurvivalBooster().fit(X, [1, -2, 3], [1, 0, 1])
    model = SurvivalBooster(objective="aft", sigma=0.7)
    assert clone(model).get_params() == model.get_params()


def test_zero_durations_are_accepted(weibull):
    (X, d, e, _, _), _ = weibull
    d = d.copy()
    d[:50] = 0.0
    model = SurvivalBooster(n_estimators=50).fit(X, d, e)
    assert model.min_duration_ > 0
    assert np.isfinite(model.predict_risk(X.head())).all()
