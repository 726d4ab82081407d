import numpy as np
import pytest

from cxml.evaluation.bootstrap import bootstrap_interval, bootstrap_intervals, percentile_interval, resamples

pytestmark = pytest.mark.unit


def test_interval_of_the_mean_covers_the_true_mean_about_95_percent_of_the_time():
    hits = 0
    for seed in range(200):
        x = np.random.default_rng(seed).normal(3.0, 1.0, 100)
        lo, hi = bootstrap_interval(x.size, lambda idx: x[idx].mean(), seed=seed)  # noqa: B023
        hits += lo <= 3.0 <= hi
    assert 0.88 <= hits / 200 <= 0.99


def test_interval_of_the_mean_is_close_to_the_normal_one():
    x = np.random.default_rng(0).normal(0.0, 2.0, 400)
    lo, hi = bootstrap_interval(x.size, lambda idx: x[idx].mean(), n_boot=2000, seed=1)
    half = 1.96 * x.std() / np.sqrt(x.size)
    assert lo == pytest.approx(x.mean() - half, abs=0.03)
    assert hi == pytest.approx(x.mean() + half, abs=0.03)


def test_resamples_draw_n_rows_per_resample_in_one_fixed_order():
    rng = np.random.default_rng(5)
    for idx in resamples(7, n_boot=4, seed=5):
        assert np.array_equal(idx, rng.integers(0, 7, 7))


def test_same_seed_same_interval_and_level_narrows_it():
    x = np.random.default_rng(2).random(50)
    first = bootstrap_interval(50, lambda idx: x[idx].mean(), seed=9)
    assert first == bootstrap_interval(50, lambda idx: x[idx].mean(), seed=9)
    lo, hi = bootstrap_interval(50, lambda idx: x[idx].mean(), seed=9, level=0.5)
    assert first[0] < lo < hi < first[1]


def test_stratified_resamples_keep_every_stratum_count():
    strata = np.array(["b", "a", "b", "c", "a", "b", "b", "c", "a", "b"])
    _, counts = np.unique(strata, return_counts=True)
    for idx in resamples(strata.size, n_boot=50, seed=0, strata=strata):
        assert idx.size == strata.size
        assert np.array_equal(idx, np.sort(idx))
        assert np.array_equal(np.unique(strata[idx], return_counts=True)[1], counts)
    # a statistic that only sees the per-stratum counts has a zero-width interval
    lo, hi = bootstrap_interval(strata.size, lambda idx: float((strata[idx] == "b").sum()), strata=strata)
    assert lo == hi == 5.0
    # unstratified, the count varies
    lo, hi = bootstrap_interval(strata.size, lambda idx: float((strata[idx] == "b").sum()))
    assert lo < 5.0 < hi


def test_stratified_draw_order_is_sorted_labels():
    strata = np.array([1, 0, 1, 0, 0])
    rng = np.random.default_rng(3)
    zeros, ones = np.flatnonzero(strata == 0), np.flatnonzero(strata == 1)
    expected = np.sort(np.concatenate([zeros[rng.integers(0, 3, 3)], ones[rng.integers(0, 2, 2)]]))
    assert np.array_equal(next(resamples(5, n_boot=1, seed=3, strata=strata)), expected)


def test_strata_need_one_label_per_row():
    with pytest.raises(ValueError, match="one label per row"):
        next(resamples(5, strata=[0, 1]))


def test_unscorable_resamples_are_left_out_and_none_gives_nan():
    assert percentile_interval([np.nan, 1.0, 2.0, np.inf, 3.0], level=0.5) == (1.5, 2.5)
    lo, hi = bootstrap_interval(10, lambda idx: float("nan"))
    assert np.isnan(lo) and np.isnan(hi)
    with pytest.raises(ValueError, match="level"):
        percentile_interval([1.0, 2.0], level=1.0)


def test_several_statistics_share_one_set_of_resamples():
    x = np.random.default_rng(4).random(60)
    both = bootstrap_intervals(60, lambda idx: {"mean": x[idx].mean(), "max": x[idx].max()}, seed=2)
    assert both["mean"] == bootstrap_interval(60, lambda idx: x[idx].mean(), seed=2)
    assert both["max"] == bootstrap_interval(60, lambda idx: x[idx].max(), seed=2)
    assert bootstrap_intervals(60, lambda idx: {}, seed=2) == {}
