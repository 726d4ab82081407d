"""ElasticityDML on generated data with known elasticities: recovery, intervals, panels, reproducibility, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from cxml.models.dml import ElasticityDML

pytestmark = pytest.mark.unit
THETA = {"a": -1.0, "b": -2.0, "c": -3.0}
FAST = {"n_estimators": 300, "n_folds": 3, "refit_nuisances": False}


def confounded(n: int, seed: int) -> pd.DataFrame:
    """Price rises with a demand shifter (w1), so the naive log-log slope is biased upwards."""
    rng = np.random.default_rng(seed)
    w1, w2 = rng.normal(size=n), rng.uniform(-2, 2, n)
    segment = rng.choice(list(THETA), n)
    t = 0.6 * w1 + 0.3 * np.sin(2 * w2) + rng.normal(0, 0.4, n)
    theta = pd.Series(segment).map(THETA).to_numpy()
    y = theta * t + 2.0 * w1 + np.cos(w2) + rng.normal(0, 0.3, n)
    return pd.DataFrame({"segment": segment, "w1": w1, "w2": w2, "log_price": t, "log_q": y, "theta": theta})


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return confounded(3000, 0)


@pytest.fixture(scope="module")
def fitted(data) -> ElasticityDML:
    model = ElasticityDML(n_estimators=300, n_folds=3)
    return model.fit(data[["segment"]], data["log_q"], treatment=data["log_price"], controls=data[["w1", "w2"]])


def test_naive_log_log_slope_is_biased_on_this_data(data):
    for seg, theta in THETA.items():
        rows = data[data["segment"] == seg]
        slope = np.polyfit(rows["log_price"], rows["log_q"], 1)[0]
        assert slope - theta > 1.0  # confounding by w1 pushes it up by ~2


def test_recovers_each_segments_elasticity_and_covers_it(fitted):
    cells = pd.DataFrame({"segment": list(THETA)})
    est = fitted.effect(cells)
    lo, hi = fitted.effect_interval(cells, alpha=0.05)
    truth = np.array(list(THETA.values()))
    assert np.abs(est - truth).max() < 0.08, est
    assert np.all((lo <= truth) & (truth <= hi)), (lo, hi)


def test_group_effects_are_the_mean_elasticity_with_a_narrower_interval_than_rows(fitted, data):
    frame = data.assign(all="all")
    groups = fitted.group_effects(frame, "segment")
    assert list(groups.columns) == ["segment", "n", "elasticity", "se", "ci_lower", "ci_upper"]
    assert groups["n"].sum() == len(data)
    pooled = fitted.group_effects(frame, "all").iloc[0]
    assert pooled["elasticity"] == pytest.approx(fitted.effect(frame).mean())
    assert pooled["se"] < groups["se"].min()


def test_summary_reports_every_term_with_robust_intervals(fitted):
    table = fitted.summary(alpha=0.1)
    assert list(table.index) == ["intercept", "segment[b]", "segment[c]"]
    assert table.loc["intercept", "coef"] == pytest.approx(-1.0, abs=0.08)
    assert table.loc["segment[c]", "coef"] == pytest.approx(-2.0, abs=0.15)
    assert np.all(table["ci_lower"] < table["coef"]) and np.all(table["coef"] < table["ci_upper"])
    assert table.loc["segment[c]", "p_value"] < 1e-6


def mild(n: int, seed: int) -> pd.DataFrame:
    """One elasticity (−2), a price that follows a demand shifter: naive slope ≈ −1.2."""
    rng = np.random.default_rng(seed)
    w1, w2 = rng.normal(size=n), rng.uniform(-2, 2, n)
    t = 0.3 * w1 + 0.2 * np.sin(2 * w2) + rng.normal(0, 0.5, n)
    y = -2.0 * t + w1 + np.cos(w2) + rng.normal(0, 0.5, n)
    return pd.DataFrame({"w1": w1, "w2": w2, "log_price": t, "log_q": y})


def test_90_percent_intervals_cover_the_elasticity_in_repeated_simulations():
    fast = {"n_estimators": 40, "learning_rate": 0.2, "early_stopping_rounds": 10, "n_folds": 3, "n_iter": 1}
    covered, errors = [], []
    for seed in range(20):
        d = mild(500, 100 + seed)
        model = ElasticityDML(**fast, refit_nuisances=False, random_state=seed)
        model.fit(None, d["log_q"], treatment=d["log_price"], controls=d[["w1", "w2"]])
        lo, hi = model.effect_interval(alpha=0.1)
        covered.append(lo[0] <= -2.0 <= hi[0])
        errors.append(model.effect()[0] + 2.0)
    assert 0.75 <= np.mean(covered) <= 0.98, np.mean(covered)
    assert abs(np.mean(errors)) < 0.06, np.mean(errors)


def test_the_same_seed_gives_the_same_estimates_and_clone_round_trips(data):
    rows = data.head(1000)
    args = (rows[["segment"]], rows["log_q"])
    kw = {"treatment": rows["log_price"], "controls": rows[["w1", "w2"]]}
    a = ElasticityDML(**FAST, n_iter=1, random_state=3).fit(*args, **kw)
    b = clone(a).fit(*args, **kw)
    assert b.get_params() == a.get_params()
    np.testing.assert_array_equal(a.coef_.to_numpy(), b.coef_.to_numpy())
    np.testing.assert_array_equal(a.cov_.to_numpy(), b.cov_.to_numpy())


def test_predict_moves_log_demand_by_the_elasticity_times_the_log_price_change(fitted, data):
    rows = data.head(50)
    controls = rows[["w1", "w2"]]
    base = fitted.predict(rows[["segment"]], treatment=rows["log_price"], controls=controls)
    up = fitted.predict(rows[["segment"]], treatment=rows["log_price"] + 0.1, controls=controls)
    np.testing.assert_allclose(up - base, 0.1 * fitted.effect(rows), atol=1e-9)
    assert np.corrcoef(base, rows["log_q"])[0, 1] > 0.8


def panel(seed: int) -> pd.DataFrame:
    """Channel × week × segment cells: the price moves per channel and week, demand has week shocks."""
    rng = np.random.default_rng(seed)
    channels, weeks, segments = ["web", "app", "store", "phone"], np.arange(80), list(THETA)
    idx = pd.MultiIndex.from_product([segments, channels, weeks], names=["segment", "channel", "week"])
    frame = idx.to_frame(index=False)
    c = frame["channel"].map({ch: i for i, ch in enumerate(channels)}).to_numpy()
    moves = rng.normal(0, 0.15, (4, 8)).repeat(10, axis=1)  # a new price every 10 weeks per channel
    week_shock = rng.normal(0, 0.3, 80)
    t = 0.05 * c + moves[c, frame["week"]] + 0.2 * week_shock[frame["week"]]  # prices follow demand shocks
    theta = frame["segment"].map(THETA).to_numpy()
    y = theta * t + 0.5 * c + week_shock[frame["week"]] * 2 + rng.normal(0, 0.05, len(frame))
    return frame.assign(log_price=t, log_q=y)


def test_additive_nuisances_with_the_iv_score_recover_elasticities_from_channel_by_week_prices():
    d = panel(1)
    kw = {"treatment": d["log_price"], "controls": d[["channel", "week"]]}
    groups = [["week", "segment"], ["channel", "segment"]]
    model = ElasticityDML(n_folds=3, n_estimators=300, additive=groups, min_child_samples=3, refit_nuisances=False)
    model.fit(d[["segment"]], d["log_q"], **kw)
    est = model.effect(pd.DataFrame({"segment": list(THETA)}))
    assert np.abs(est - np.array(list(THETA.values()))).max() < 0.1, est
    free = ElasticityDML(
        n_folds=3, n_estimators=300, score="partialling_out", min_child_samples=3, refit_nuisances=False
    )
    free.fit(d[["segment"]], d["log_q"], **kw)
    # unconstrained trees learn each channel-week price, leaving little price variation to learn from
    assert free.diagnostics_["treatment_residual_sd"] < model.diagnostics_["treatment_residual_sd"]


def test_pairwise_interactions_add_product_terms(data):
    model = ElasticityDML(**FAST, interactions="pairwise")
    model.fit(data[["segment", "w1"]], data["log_q"], treatment=data["log_price"], controls=data[["w2"]])
    assert "segment[b]:w1" in model.coef_.index
    assert model.coef_["segment[b]:w1"] == pytest.approx(0.0, abs=0.15)


def test_histogram_gbm_nuisances_agree_with_lightgbm(data):
    cells = pd.DataFrame({"segment": list(THETA)})
    rows = data.head(600)
    args = (rows[["segment"]], rows["log_q"])
    kw = {"treatment": rows["log_price"], "controls": rows[["w1", "w2"]]}
    fast = {**FAST, "n_folds": 2, "n_iter": 1}
    hist = ElasticityDML(**fast, nuisance="hist").fit(*args, **kw)
    lgbm = ElasticityDML(**fast).fit(*args, **kw)
    np.testing.assert_allclose(hist.effect(cells), lgbm.effect(cells), atol=0.25)
    np.testing.assert_allclose(hist.effect(cells), list(THETA.values()), atol=0.4)


def test_an_unseen_category_is_refused_naming_the_column(fitted):
    with pytest.raises(ValueError, match=r"column 'segment' has values not seen in fit \(\['z'\]\)"):
        fitted.effect(pd.DataFrame({"segment": ["a", "z"]}))


def test_a_missing_treatment_value_is_refused_naming_rows(data):
    bad = data["log_price"].copy()
    bad.iloc[7] = np.nan
    with pytest.raises(ValueError, match=r"treatment must be finite; 1 rows are not, e.g. rows \[7\]"):
        ElasticityDML(**FAST).fit(data[["segment"]], data["log_q"], treatment=bad, controls=data[["w1"]])


def test_a_price_that_never_varies_is_not_identified(data):
    with pytest.raises(ValueError, match="not identified"):
        ElasticityDML(**FAST).fit(data[["segment"]], data["log_q"], treatment=np.full(len(data), 0.3))


def two_way_panel(n_groups: int = 40, n_weeks: int = 30, seed: int = 0) -> pd.DataFrame:
    """Price = group level + week pattern + a small within-group movement; demand elasticity −2 everywhere."""
    rng = np.random.default_rng(seed)
    g, w = np.repeat(np.arange(n_groups), n_weeks), np.tile(np.arange(n_weeks), n_groups)
    move = rng.normal(0, 0.03, g.size)
    t = rng.normal(0, 0.3, n_groups)[g] + rng.normal(0, 0.1, n_weeks)[w] + move
    y = rng.normal(0, 0.5, n_groups)[g] + rng.normal(0, 0.2, n_weeks)[w] - 2.0 * t + rng.normal(0, 0.1, g.size)
    return pd.DataFrame({"group": [f"g{i}" for i in g], "week": w, "t": t, "y": y, "move": move})


def test_auto_nuisance_picks_the_two_way_linear_model_where_it_is_the_truth_and_says_so():
    panel = two_way_panel()
    model = ElasticityDML(nuisance="auto", fixed_effects=["week"], score="partialling_out", **FAST)
    model.fit(None, panel["y"], treatment=panel["t"], controls=panel[["group", "week"]])
    assert model.nuisance_choice_ == {"treatment": "linear", "outcome": "linear"}
    fits = model.nuisance_fit_["treatment"]
    assert fits["linear"] > fits["lightgbm"] and set(fits) == {"linear", "lightgbm"}
    assert model.coef_["intercept"] == pytest.approx(-2.0, abs=0.1)


def test_residual_price_share_is_the_share_of_within_group_movement_left():
    """Only the ±3 % movement is left by the two-way nuisance: its variance over the within-group variance of t."""
    panel = two_way_panel()
    model = ElasticityDML(nuisance="linear", fixed_effects=["week"], score="partialling_out", **FAST)
    model.fit(panel[["group"]], panel["y"], treatment=panel["t"], controls=panel[["week"]])
    within = (panel["t"] - panel.groupby("group")["t"].transform("mean")).var(ddof=0)
    expected = panel["move"].var(ddof=0) / within
    assert model.diagnostics_["residual_price_share"] == pytest.approx(expected, rel=0.15)
    assert model.diagnostics_["residual_price_share"] < 0.2
