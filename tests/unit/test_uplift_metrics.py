"""Uplift metrics against hand-computed values and seeded randomised experiments with a known true effect."""

import numpy as np
import pytest

import cxml.evaluation.uplift_metrics as um
from cxml.evaluation.uplift_metrics import (
    auuc,
    qini_coefficient,
    qini_curve,
    qini_normalised,
    uplift_at_k,
    uplift_bootstrap_ci,
    uplift_by_decile,
    uplift_curve,
    uplift_metrics,
)

pytestmark = pytest.mark.unit

BASE_RATE = 0.2
EFFECT = 0.3


def experiment(
    n: int, seed: int, *, dogs_effect: float = 0.0, spend: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Randomised 50/50 experiment: exactly half the rows are persuadables (true effect +EFFECT on the conversion
    rate, or +5 on spend), the rest have true effect ``dogs_effect``. Returns y, true effect, treatment."""
    rng = np.random.default_rng(seed)
    persuadable = rng.permutation(n) < n // 2
    effect = np.where(persuadable, EFFECT, dogs_effect)
    t = rng.integers(0, 2, n)
    if spend:
        y = rng.gamma(2.0, 10.0, n) + np.where(persuadable, 5.0, 0.0) * t
        return y, np.where(persuadable, 5.0, 0.0), t
    y = (rng.random(n) < BASE_RATE + effect * t).astype(float)
    return y, effect, t


def overall_incremental(y: np.ndarray, t: np.ndarray) -> float:
    y_t, y_c = y[t == 1].sum(), y[t == 0].sum()
    n_t, n_c = (t == 1).sum(), (t == 0).sum()
    return float((y_t - y_c * n_t / n_c) / y.size)


# Tiny example, listed in descending-score order (the test feeds it shuffled):
#   score  0.9 0.8 0.7 0.6 0.5 0.4
#   t       1   0   1   1   0   0
#   y       1   0   0   1   1   0
# k=1: Y_t=1 N_t=1 Y_c=0 N_c=0 -> Q = 1 (control term 0 as N_c = 0)
# k=2: Y_t=1 N_t=1 Y_c=0 N_c=1 -> Q = 1
# k=3: Y_t=1 N_t=2 Y_c=0 N_c=1 -> Q = 1
# k=4: Y_t=2 N_t=3 Y_c=0 N_c=1 -> Q = 2
# k=5: Y_t=2 N_t=3 Y_c=1 N_c=2 -> Q = 2 - 1*3/2 = 0.5
# k=6: Y_t=2 N_t=3 Y_c=1 N_c=3 -> Q = 2 - 1 = 1
TINY_S = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
TINY_T = np.array([1, 0, 1, 1, 0, 0])
TINY_Y = np.array([1.0, 0, 0, 1, 1, 0])
TINY_Q = np.array([0, 1, 1, 1, 2, 0.5, 1]) / 6
SHUFFLE = np.array([3, 0, 5, 1, 4, 2])


def test_qini_curve_matches_hand_computation():
    x, q = qini_curve(TINY_Y[SHUFFLE], TINY_S[SHUFFLE], TINY_T[SHUFFLE])
    np.testing.assert_allclose(x, np.arange(7) / 6)
    np.testing.assert_allclose(q, TINY_Q)


def test_qini_coefficient_matches_hand_computation():
    # trapezoid over steps of 1/6 on 6*q = [0,1,1,1,2,0.5,1]: (1/6) * (1+2+2+3+2.5+1.5)/2 / 6 = 1/6;
    # random line area = 0.5 * (1/6) -> coefficient 1/12
    assert qini_coefficient(TINY_Y[SHUFFLE], TINY_S[SHUFFLE], TINY_T[SHUFFLE]) == pytest.approx(1 / 12)


def test_uplift_curve_matches_hand_computation():
    # U(k) = (Y_t/N_t - Y_c/N_c) * k/6, 0 while N_c = 0 (k=1)
    expected = np.array([0, 0, 1 * 2, 0.5 * 3, (2 / 3) * 4, (2 / 3 - 1 / 2) * 5, (2 / 3 - 1 / 3) * 6]) / 6
    x, u = uplift_curve(TINY_Y[SHUFFLE], TINY_S[SHUFFLE], TINY_T[SHUFFLE])
    np.testing.assert_allclose(x, np.arange(7) / 6)
    np.testing.assert_allclose(u, expected)
    assert auuc(TINY_Y, TINY_S, TINY_T) == pytest.approx(float(np.sum(np.diff(x) * (u[1:] + u[:-1]) / 2)))


def test_uplift_at_k_matches_hand_computation():
    # top 3 rows: t = 1, 0, 1 with y = 1, 0, 0 -> treated mean 0.5, control mean 0
    assert uplift_at_k(TINY_Y, TINY_S, TINY_T, k=0.5) == pytest.approx(0.5)
    # k=0.65 -> ceil(3.9) = 4 rows: t = 1, 0, 1, 1 with y = 1, 0, 0, 1 -> 2/3 - 0
    assert uplift_at_k(TINY_Y, TINY_S, TINY_T, k=0.65) == pytest.approx(2 / 3)
    # top 1 row is treated only -> no control rows -> NaN
    assert np.isnan(uplift_at_k(TINY_Y, TINY_S, TINY_T, k=1 / 6))


def test_tied_scores_are_evaluated_only_at_boundaries_between_distinct_scores():
    tied = np.array([2.0, 2, 1, 1, 1, 0])  # same ranks as TINY_S, ties grouped as {1,2}, {3,4,5}, {6}
    x, q = qini_curve(TINY_Y, tied, TINY_T)
    np.testing.assert_allclose(x, [0, 2 / 6, 5 / 6, 1])
    np.testing.assert_allclose(q, TINY_Q[[0, 2, 5, 6]])
    # order of rows inside a tie does not matter
    swap = np.array([1, 0, 4, 3, 2, 5])
    np.testing.assert_allclose(qini_curve(TINY_Y[swap], tied[swap], TINY_T[swap])[1], q)


def test_constant_score_gives_a_straight_line_and_zero_qini():
    y, _, t = experiment(5000, 0)
    x, q = qini_curve(y, np.full(y.size, 0.7), t)
    np.testing.assert_allclose(x, [0, 1])
    np.testing.assert_allclose(q, [0, overall_incremental(y, t)])
    assert qini_coefficient(y, np.zeros(y.size), t) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("ranking", ["perfect", "reversed", "random", "constant"])
def test_curves_start_at_origin_and_end_at_the_overall_effect_whatever_the_ranking(ranking):
    y, effect, t = experiment(4000, 1)
    score = {
        "perfect": effect,
        "reversed": -effect,
        "random": np.random.default_rng(9).random(y.size),
        "constant": np.ones(y.size),
    }[ranking]
    x, q = qini_curve(y, score, t)
    assert (x[0], q[0]) == (0.0, 0.0)
    assert x[-1] == pytest.approx(1.0)
    assert np.all(np.diff(x) > 0)
    assert q[-1] == pytest.approx(overall_incremental(y, t))
    xu, u = uplift_curve(y, score, t)
    assert (xu[0], u[0]) == (0.0, 0.0)
    assert u[-1] == pytest.approx(y[t == 1].mean() - y[t == 0].mean())


def test_perfect_ranking_beats_random_and_random_is_about_zero():
    # 20,000 rows: across 40 seeds the random ranking's coefficient has sd ~0.0009, so the mean of 5 seeds has a
    # standard error ~0.0004; 0.002 is ~5 standard errors and ~10 % of the perfect ranking's value (~0.019).
    perfect, random = [], []
    for seed in range(5):
        y, effect, t = experiment(20_000, seed)
        perfect.append(qini_coefficient(y, effect, t))
        random.append(qini_coefficient(y, np.random.default_rng(100 + seed).random(y.size), t))
    assert abs(np.mean(random)) < 0.002
    assert min(perfect) > max(random) + 0.01
    # theory: the curve rises to 0.5 * 0.5 * 0.3 = 0.075 at x = 0.5 then stays flat -> area 0.05625 - 0.0375
    assert np.mean(perfect) == pytest.approx(0.01875, abs=0.003)


def test_perfect_ranking_has_larger_auuc_than_random():
    y, effect, t = experiment(20_000, 2)
    assert auuc(y, effect, t) > auuc(y, np.random.default_rng(0).random(y.size), t) + 0.02


def test_reversed_ranking_gives_negative_qini():
    y, effect, t = experiment(20_000, 3)
    assert qini_coefficient(y, -effect, t) < -0.01


def test_sleeping_dogs_make_the_perfect_curve_peak_above_its_end():
    y, effect, t = experiment(20_000, 4, dogs_effect=-0.15)
    _, q = qini_curve(y, effect, t)
    assert q.max() > q[-1] + 0.02  # targeting everyone loses what the sleeping dogs take away
    assert qini_coefficient(y, effect, t) > 0 > qini_coefficient(y, -effect, t)


def test_uplift_at_half_of_the_perfect_ranking_recovers_the_true_effect():
    # top half = exactly the persuadables; ~5,000 rows per arm -> standard error ~0.01, tolerance 3 SE
    y, effect, t = experiment(20_000, 5)
    assert uplift_at_k(y, effect, t, k=0.5) == pytest.approx(EFFECT, abs=0.03)
    assert uplift_at_k(y, -effect, t, k=0.5) == pytest.approx(0.0, abs=0.03)


def test_uplift_by_decile_on_ten_rows_orders_bins_and_counts_every_row():
    rng = np.random.default_rng(0)
    score = rng.random(10)
    t = np.array([1, 0] * 5)
    frame = uplift_by_decile(rng.integers(0, 2, 10), score, t)
    assert list(frame.columns) == [
        "bin",
        "n_treated",
        "n_control",
        "rate_treated",
        "rate_control",
        "observed_uplift",
        "mean_predicted_uplift",
    ]
    assert frame["bin"].tolist() == list(range(1, 11))
    assert frame.loc[0, "mean_predicted_uplift"] == score.max()
    assert frame["mean_predicted_uplift"].is_monotonic_decreasing
    assert (frame["n_treated"] + frame["n_control"]).sum() == 10
    assert frame["n_treated"].sum() == 5


def test_uplift_by_decile_bins_are_equal_sized_and_empty_bins_are_kept():
    y, score, t = TINY_Y, TINY_S, TINY_T
    sizes = uplift_by_decile(np.r_[y, y, y, y], np.r_[score, score, score, score], np.r_[t, t, t, t], n_bins=5)
    assert (sizes["n_treated"] + sizes["n_control"]).tolist() == [5, 5, 5, 5, 4]
    small = uplift_by_decile(y, score, t, n_bins=8)
    assert len(small) == 8
    assert (small["n_treated"] + small["n_control"]).tolist() == [1, 1, 1, 1, 1, 1, 0, 0]
    assert small["observed_uplift"].isna().all()  # one row per bin -> one group is always empty


def test_uplift_by_decile_observed_uplift_is_higher_in_top_bins_of_a_perfect_ranking():
    y, effect, t = experiment(20_000, 6)
    frame = uplift_by_decile(y, effect, t)
    top, bottom = frame["observed_uplift"].iloc[:5], frame["observed_uplift"].iloc[5:]
    assert top.min() > bottom.max()
    assert top.mean() == pytest.approx(EFFECT, abs=0.03)


def test_uplift_metrics_agree_with_the_individual_functions_even_with_ties():
    y, effect, t = experiment(3000, 7)
    score = np.round(effect + np.random.default_rng(1).normal(0, 0.1, y.size), 1)  # many ties
    assert uplift_metrics(y, score, t) == pytest.approx(
        {
            "qini": qini_coefficient(y, score, t),
            "qini_norm": qini_normalised(y, score, t),
            "auuc": auuc(y, score, t),
            "uplift_at_10": uplift_at_k(y, score, t, 0.1),
            "uplift_at_30": uplift_at_k(y, score, t, 0.3),
        }
    )


def test_normalised_qini_is_one_for_the_perfect_ranking_and_about_zero_for_random():
    y, effect, t = experiment(20_000, 3)
    assert qini_normalised(y, y * (2 * t - 1), t) == pytest.approx(1.0)
    true_rank = qini_normalised(y, effect, t)
    assert 0.1 < true_rank < 1  # the true effect ranks well but cannot see the noise of each outcome
    noise = [qini_normalised(y, np.random.default_rng(s).random(y.size), t) for s in range(5)]
    assert abs(np.mean(noise)) < 0.02
    # the tiny example by hand: perfect ranking = rows (t=1,y=1) first, (t=0,y=1) last
    assert qini_normalised(TINY_Y, TINY_S, TINY_T) == pytest.approx(
        qini_coefficient(TINY_Y, TINY_S, TINY_T) / qini_coefficient(TINY_Y, TINY_Y * (2 * TINY_T - 1), TINY_T)
    )


def test_continuous_outcomes_work():
    y, effect, t = experiment(20_000, 8, spend=True)
    _, q = qini_curve(y, effect, t)
    assert q[-1] == pytest.approx(overall_incremental(y, t))
    assert qini_coefficient(y, effect, t) > qini_coefficient(y, np.random.default_rng(0).random(y.size), t) + 0.2
    # gamma(2, 10) spend has sd ~14 -> standard error of the difference ~0.3 with ~5,000 rows per arm
    assert uplift_at_k(y, effect, t, k=0.5) == pytest.approx(5.0, abs=1.0)
    assert np.isfinite(list(uplift_metrics(y, effect, t).values())).all()


def test_bootstrap_interval_contains_the_estimate_and_narrows_with_more_rows():
    widths = []
    for n in (2000, 20_000):
        y, effect, t = experiment(n, 9)
        score = effect + np.random.default_rng(n).normal(0, 0.1, n)
        lo, hi = uplift_bootstrap_ci(y, score, t, n_boot=100)
        assert lo < qini_coefficient(y, score, t) < hi
        widths.append(hi - lo)
    assert widths[1] < widths[0] / 2  # sqrt(10) ~ 3.2 expected


def test_bootstrap_is_reproducible_and_accepts_every_metric_key():
    y, effect, t = experiment(2000, 10)
    for metric in uplift_metrics(y, effect, t):
        first = uplift_bootstrap_ci(y, effect, t, metric=metric, n_boot=30, seed=3)
        assert first == uplift_bootstrap_ci(y, effect, t, metric=metric, n_boot=30, seed=3)
        assert first[0] <= first[1]


def test_stratified_bootstrap_keeps_group_sizes_fixed(monkeypatch):
    monkeypatch.setitem(um._METRICS, "n_treated", lambda y, s, t: float(t.sum()))
    y, effect, t = experiment(2000, 11)
    n_treated = float(t.sum())
    assert uplift_bootstrap_ci(y, effect, t, metric="n_treated", n_boot=50) == (n_treated, n_treated)
    lo, hi = uplift_bootstrap_ci(y, effect, t, metric="n_treated", n_boot=50, stratify=False)
    assert lo < hi


def test_bootstrap_rejects_an_unknown_metric():
    with pytest.raises(ValueError, match="unknown metric 'roc_auc'"):
        uplift_bootstrap_ci(TINY_Y, TINY_S, TINY_T, metric="roc_auc")


@pytest.mark.parametrize(
    ("y", "score", "t", "message"),
    [
        (TINY_Y, TINY_S, np.array([1, 0, 2, 1, 0, 0]), r"treatment must contain only 0 \(control\) and 1.*\[2\]"),
        (TINY_Y, TINY_S, np.ones(6, dtype=int), "no control rows"),
        (TINY_Y, TINY_S, np.zeros(6, dtype=int), "no treated rows"),
        (TINY_Y, TINY_S[:5], TINY_T, "length mismatch: y has 6 rows, uplift 5, treatment 6"),
        (TINY_Y, np.r_[TINY_S[:5], np.nan], TINY_T, "uplift contains NaN"),
        (np.r_[TINY_Y[:5], np.nan], TINY_S, TINY_T, "y contains NaN"),
        (TINY_Y[:0], TINY_S[:0], TINY_T[:0], "empty"),
    ],
)
@pytest.mark.parametrize("fn", [qini_curve, uplift_curve, qini_coefficient, auuc, uplift_metrics, uplift_by_decile])
def test_bad_input_raises_value_error_naming_the_problem(fn, y, score, t, message):
    with pytest.raises(ValueError, match=message):
        fn(y, score, t)


def test_boolean_treatment_is_accepted():
    assert qini_coefficient(TINY_Y, TINY_S, TINY_T.astype(bool)) == pytest.approx(1 / 12)


def test_k_outside_the_unit_interval_is_rejected():
    with pytest.raises(ValueError, match="k must be a fraction"):
        uplift_at_k(TINY_Y, TINY_S, TINY_T, k=30)
