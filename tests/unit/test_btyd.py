"""BTYD models: RFM summary by hand, likelihoods against their defining integrals, parameters recovered from
simulations with known truth, and BG/NBD's P(alive) = 1 for non-repeaters shown and worked around."""

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import quad
from scipy.special import gammaln
from scipy.stats import chi2
from sklearn.base import clone

from cxml.features.rfm import rfm_summary
from cxml.models.btyd import BetaGeoNBD, GammaGamma, ModifiedBetaGeoNBD, ParetoNBD

pytestmark = pytest.mark.unit

HOLDOUT = 20.0
T_RANGE = (30.0, 80.0)


def _rfm(times: list[np.ndarray], T: np.ndarray, hold: list[np.ndarray]) -> pd.DataFrame:
    x = np.array([len(t) for t in times], dtype=float)
    tx = np.array([t[-1] if len(t) else 0.0 for t in times])
    frame = pd.DataFrame({"frequency": x, "recency": tx, "T": T})
    frame["frequency_holdout"] = [len(h) for h in hold]
    return frame


def simulate_bgnbd(n, r, alpha, a, b, *, seed, dropout_at_first=False):
    """Customers of BG/NBD (or MBG/NBD): repeat purchase times in (0, T], purchases in (T, T + HOLDOUT], alive."""
    rng = np.random.default_rng(seed)
    lam, p = rng.gamma(r, 1 / alpha, n), rng.beta(a, b, n)
    T = rng.uniform(T_RANGE[0], T_RANGE[1], n)
    times, hold, alive = [], [], np.ones(n, bool)
    for i in range(n):
        dead = dropout_at_first and rng.random() < p[i]
        now, mine, later, dead_by_T = 0.0, [], [], dead
        while not dead:
            now += rng.exponential(1 / lam[i])
            if now > T[i] + HOLDOUT:
                break
            (mine if now <= T[i] else later).append(now)
            dead = rng.random() < p[i]
            dead_by_T = dead and now <= T[i]
        times.append(np.array(mine))
        hold.append(np.array(later))
        alive[i] = not dead_by_T
    frame = _rfm(times, T, hold)
    frame["alive"] = alive
    return frame


def simulate_pareto_nbd(n, r, alpha, s, beta, *, seed):
    rng = np.random.default_rng(seed)
    lam, mu = rng.gamma(r, 1 / alpha, n), rng.gamma(s, 1 / beta, n)
    T = rng.uniform(T_RANGE[0], T_RANGE[1], n)
    death = rng.exponential(1 / mu)
    times, hold = [], []
    for i in range(n):
        end = min(death[i], T[i] + HOLDOUT)
        k = rng.poisson(lam[i] * end)
        t = np.sort(rng.uniform(0, end, k))
        times.append(t[t <= T[i]])
        hold.append(t[t > T[i]])
    frame = _rfm(times, T, hold)
    frame["alive"] = death > T
    return frame


BG = [1.5, 10.0, 1.0, 6.0]  # r, alpha, a, b: enough repeat purchases per customer to identify the dropout
PARETO = [1.5, 10.0, 1.5, 30.0]  # r, alpha, s, beta
LR_LIMIT = chi2.ppf(0.999, 4)  # 2 (LL(fit) - LL(truth)) ~ chi2(4) under the truth
# fits here use one start (n_starts=1) to keep the file fast; the quality tests run the default three


@pytest.fixture(scope="module")
def bg_data():
    return simulate_bgnbd(4000, *BG, seed=1)


@pytest.fixture(scope="module")
def bg_fit(bg_data):
    return BetaGeoNBD(n_starts=1).fit(bg_data)


@pytest.fixture(scope="module")
def pareto_data():
    return simulate_pareto_nbd(4000, *PARETO, seed=2)


def _at(model, params):
    fixed = clone(model)
    fixed.params_ = pd.Series(params, index=list(model._names))
    return fixed


def _assert_recovered(model, data, truth):
    """Rates within 15 %, dropout parameters within 30 %, and a likelihood-ratio test against the truth."""
    np.testing.assert_allclose(model.params_.to_numpy()[:2], truth[:2], rtol=0.15)
    np.testing.assert_allclose(model.params_.to_numpy()[2:], truth[2:], rtol=0.3)
    lr = 2 * len(data) * (model.score(data) - _at(model, truth).score(data))
    assert 0 <= lr < LR_LIMIT  # >= 0: the optimiser found the maximum, not a nearby point


def test_rfm_summary_by_hand():
    tx = pd.DataFrame(
        {
            "cid": ["a", "a", "a", "a", "b", "c", "c", "c"],
            "ts": [
                "2024-01-01 09:00",
                "2024-01-01 17:00",  # same day: one purchase, values summed
                "2024-01-05",
                "2024-01-11",  # after calibration: holdout
                "2024-01-03",
                "2024-01-02",
                "2024-01-04",
                "2024-01-10",
            ],
            "amount": [10.0, 5.0, 30.0, 7.0, 20.0, 4.0, 6.0, 8.0],
        }
    )
    out = rfm_summary(
        tx, customer="cid", time="ts", value="amount", calibration_end="2024-01-06", observation_end="2024-01-10"
    )
    expected = pd.DataFrame(
        {
            "frequency": [1.0, 0.0, 1.0],
            "recency": [4.0, 0.0, 2.0],
            "T": [5.0, 3.0, 4.0],
            "monetary_value": [30.0, 0.0, 6.0],
            "frequency_holdout": [0.0, 0.0, 1.0],  # a's 01-11 is after observation_end
            "monetary_value_holdout": [0.0, 0.0, 8.0],
            "duration_holdout": [4.0, 4.0, 4.0],
        },
        index=pd.Index(["a", "b", "c"], name="cid"),
    )
    pd.testing.assert_frame_equal(out, expected)


def test_rfm_summary_in_weeks_and_late_customers_excluded():
    tx = pd.DataFrame({"id": [1, 1, 2], "d": [20240101, 20240115, 20240301]})
    out = rfm_summary(
        tx, customer="id", time="d", calibration_end="2024-01-29", freq_multiplier=7, time_format="%Y%m%d"
    )
    assert list(out.index) == [1]
    assert out.loc[1].tolist() == [1.0, 2.0, 4.0]


def test_rfm_summary_names_bad_rows():
    tx = pd.DataFrame({"id": [1, 2, 3], "ts": ["2024-01-01", "not a date", "2024-01-02"]})
    with pytest.raises(ValueError, match=r"'ts'.*rows \[1\]"):
        rfm_summary(tx, customer="id", time="ts", calibration_end="2024-02-01")
    with pytest.raises(ValueError, match="lack columns"):
        rfm_summary(tx, customer="id", time="when", calibration_end="2024-02-01")


def test_fit_rejects_inconsistent_rfm_rows():
    bad = pd.DataFrame(
        {"frequency": [1, 0, 2], "recency": [3.0, 1.0, 2.0], "T": [5.0, 4.0, 6.0]}, index=["x", "y", "z"]
    )
    with pytest.raises(ValueError, match=r"'recency'.*\['y'\]"):
        BetaGeoNBD().fit(bad)


@pytest.mark.parametrize("alpha, beta", [(8.0, 3.0), (3.0, 8.0), (5.0, 5.0)])
def test_pareto_likelihood_equals_its_defining_integral(alpha, beta):
    """L = Γ(r+x)α^r β^s/Γ(r) [ (α+T)^-(r+x) (β+T)^-s + s ∫_{t_x}^T (α+τ)^-(r+x) (β+τ)^-(s+1) dτ ], both α ≶ β."""
    r, s = 0.7, 0.9
    model = ParetoNBD()
    model.params_ = pd.Series([r, alpha, s, beta], index=["r", "alpha", "s", "beta"])
    for x, tx, T in [(0, 0.0, 30.0), (3, 12.5, 30.0), (12, 29.0, 35.0), (1, 35.0, 35.0)]:
        integrand = lambda u, x=x: (alpha + u) ** -(r + x) * (beta + u) ** -(s + 1)  # noqa: E731
        integral = quad(integrand, tx, T, epsabs=0, epsrel=1e-12)[0]
        head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        direct = head + np.log((alpha + T) ** -(r + x) * (beta + T) ** -s + s * integral)
        assert model.log_likelihood(x, tx, T)[0] == pytest.approx(direct, rel=1e-9)


def test_bgnbd_recovers_simulated_parameters(bg_data, bg_fit):
    _assert_recovered(bg_fit, bg_data, BG)


def test_pareto_nbd_recovers_simulated_parameters(pareto_data):
    _assert_recovered(ParetoNBD(n_starts=1).fit(pareto_data), pareto_data, PARETO)


def test_mbgnbd_recovers_simulated_parameters():
    sim = simulate_bgnbd(4000, *BG, seed=3, dropout_at_first=True)
    model = ModifiedBetaGeoNBD(n_starts=1).fit(sim)
    _assert_recovered(model, sim, BG)
    assert model.predict(sim, HOLDOUT)["p_alive"].mean() == pytest.approx(sim["alive"].mean(), abs=0.03)


@pytest.mark.parametrize("model_class", [BetaGeoNBD, ParetoNBD])
def test_conditional_expectation_and_p_alive_match_the_simulation(model_class, bg_data, pareto_data):
    data, truth = (bg_data, BG) if model_class is BetaGeoNBD else (pareto_data, PARETO)
    predicted = _at(model_class(), truth).predict(data, HOLDOUT)
    assert predicted["expected_purchases"].sum() == pytest.approx(data["frequency_holdout"].sum(), rel=0.05)
    assert predicted["p_alive"].mean() == pytest.approx(data["alive"].mean(), abs=0.02)


def test_expected_population_matches_simulated_new_customers():
    sim = simulate_bgnbd(3000, *BG, seed=5)
    expected = _at(BetaGeoNBD(), BG).expected_population(sim["T"].to_numpy())
    assert expected.mean() == pytest.approx(sim["frequency"].mean(), rel=0.05)


def test_bgnbd_gives_every_non_repeater_p_alive_one_and_the_alternatives_do_not(bg_data, bg_fit):
    once = bg_data[bg_data["frequency"] == 0]
    assert len(once) > 50
    bg = bg_fit
    assert np.all(bg.p_alive(once["frequency"], once["recency"], once["T"]) == 1.0)  # the known failure
    assert np.all(bg.p_alive(0, 0, [1.0, 100.0, 1e4]) == 1.0)  # even a one-off buyer of long ago
    for alternative in (_at(ParetoNBD(), PARETO), _at(ModifiedBetaGeoNBD(), BG)):
        p = alternative.p_alive(once["frequency"], once["recency"], once["T"])
        assert p.max() < 1.0
        old, young = alternative.p_alive(0, 0, [100.0, 5.0])
        assert old < young


def test_p_alive_falls_with_time_since_last_purchase():
    model = ParetoNBD()
    model.params_ = pd.Series([0.6, 8.0, 0.8, 12.0], index=["r", "alpha", "s", "beta"])
    p = model.p_alive(5, np.array([30.0, 20.0, 5.0]), 30.0)
    assert p[0] > p[1] > p[2]
    assert p[0] == pytest.approx(1.0)


def simulate_spend(n, p, q, v, *, seed):
    rng = np.random.default_rng(seed)
    nu = rng.gamma(q, 1 / v, n)
    x = rng.integers(1, 8, n).astype(float)
    m = rng.gamma(p * x, 1 / nu) / x  # the mean of x Gamma(p, nu) values
    return pd.DataFrame({"frequency": x, "monetary_value": m}), p / nu


def test_gamma_gamma_recovers_parameters_and_shrinks_spend():
    data, true_mean = simulate_spend(8000, 6.0, 4.0, 15.0, seed=4)
    gg = GammaGamma(n_starts=1).fit(data)
    np.testing.assert_allclose(gg.params_.to_numpy(), [6.0, 4.0, 15.0], rtol=0.2)
    predicted = gg.expected_average_spend(data["frequency"], data["monetary_value"])
    # the posterior mean is closer to each customer's true mean spend than their observed average
    assert np.mean((predicted - true_mean) ** 2) < np.mean((data["monetary_value"] - true_mean) ** 2)
    assert gg.expected_average_spend(0, 0)[0] == pytest.approx(6.0 * 15.0 / 3.0, rel=0.25)


def test_customer_lifetime_value_discounts_expected_spend():
    bg = _at(BetaGeoNBD(), BG)
    gg = GammaGamma()
    gg.params_ = pd.Series([6.0, 4.0, 15.0], index=["p", "q", "v"])
    args = (np.array([2.0, 5.0]), np.array([10.0, 25.0]), np.array([30.0, 30.0]), np.array([20.0, 40.0]))
    undiscounted = gg.customer_lifetime_value(bg, *args, periods=6, period_length=4.0, discount_rate=0.0)
    spend = gg.expected_average_spend(args[0], args[3])
    np.testing.assert_allclose(undiscounted, bg.expected_purchases(24.0, *args[:3]) * spend)
    discounted = gg.customer_lifetime_value(bg, *args, periods=6, period_length=4.0, discount_rate=0.05)
    assert np.all(discounted < undiscounted) and np.all(discounted > undiscounted / 1.05**6)


def test_gamma_gamma_rejects_zero_spend_for_repeat_buyers():
    data = pd.DataFrame({"frequency": [1, 2, 3, 1], "monetary_value": [5.0, 0.0, 4.0, 3.0]})
    with pytest.raises(ValueError, match=r"monetary_value.*\[1\]"):
        GammaGamma().fit(data)
