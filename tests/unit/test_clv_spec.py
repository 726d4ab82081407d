"""The clv family: LifetimeValueModel's three kinds, the naive baseline, value metrics, the gate's direction."""

import matplotlib.pyplot as plt
import numpy as np
import optuna
import pandas as pd
import pytest
import shap
from pydantic import ValidationError
from sklearn.base import clone

from cxml.config import GateConfig, PipelineConfig
from cxml.features.rfm_data import clv_rows
from cxml.models.clv import SPEC, AverageSpendRetention, LifetimeValueModel, options, value_metrics
from cxml.registry import decide

pytestmark = pytest.mark.unit

CAL_END, OBS_END = pd.Timestamp("2024-06-30"), pd.Timestamp("2024-12-31")


def simulate(n=1500, seed=0):
    """A Pareto/NBD world (in weeks): purchase rate ~ Gamma(0.8, 1/8), lifetime rate ~ Gamma(0.6, 1/12),
    gamma-distributed spend per purchase; first purchases in the first 12 weeks of 2024."""
    rng = np.random.default_rng(seed)
    rate, death = rng.gamma(0.8, 1 / 8, n), rng.gamma(0.6, 1 / 12, n)
    mean_spend = rng.gamma(4.0, 10.0, n)
    start = pd.Timestamp("2024-01-01")
    rows = []
    for i in range(n):
        first = rng.uniform(0, 12)
        end = min(first + rng.exponential(1 / death[i]), 52.0)
        t = first
        while t <= end:
            rows.append((f"c{i:04d}", start + pd.Timedelta(weeks=t), rng.gamma(6.0, mean_spend[i] / 6.0)))
            t += rng.exponential(1 / rate[i])
    return pd.DataFrame(rows, columns=["customer", "ts", "amount"])


@pytest.fixture(scope="module")
def rows():
    X, y, _ = clv_rows(
        simulate(), customer="customer", time="ts", value="amount", calibration_end=CAL_END, observation_end=OBS_END
    )
    return X.iloc[:1000], y.iloc[:1000], X.iloc[1000:], y.iloc[1000:]


@pytest.fixture(scope="module")
def fitted(rows):
    X, y, _, _ = rows
    final = {"n_jobs": 1, **SPEC.refit_params}  # as refitted after tuning: with P(alive)
    return {kind: SPEC.fit(SPEC.build({"kind": kind, **final}), X, y) for kind in ("pareto_nbd", "bg_nbd", "gbm")}


@pytest.mark.parametrize("kind", ["pareto_nbd", "bg_nbd"])
def test_btyd_predicts_holdout_purchases_and_value_in_total(rows, fitted, kind):
    _, _, X, y = rows
    metrics = SPEC.metrics(y, SPEC.score(fitted[kind], X))
    assert abs(metrics["total_purchases_pct"]) < 15 and abs(metrics["total_value_pct"]) < 20
    assert metrics["auc_repeat"] > 0.75 and metrics["spearman"] > 0.5


def test_every_kind_beats_average_spend_times_retention(rows, fitted):
    X_tr, y_tr, X, y = rows
    baseline = SPEC.fit(SPEC.baseline(X_tr), X_tr, y_tr)
    naive = SPEC.metrics(y, SPEC.score(baseline, X))
    for kind, model in fitted.items():
        rmse = SPEC.metrics(y, SPEC.score(model, X))["rmse"]
        assert SPEC.better(rmse, naive["rmse"]), (kind, rmse, naive["rmse"])


def test_p_alive_comes_from_pareto_nbd_even_for_bg_nbd(rows, fitted):
    _, _, X, _ = rows
    non_repeaters = X["frequency"] == 0
    bg = fitted["bg_nbd"]
    assert (bg.transaction_model_.p_alive(X["frequency"], X["recency"], X["T"])[non_repeaters] == 1).all()
    served = bg.predict_frame(X)["p_alive"][non_repeaters]
    assert served.max() < 1 and served.nunique() > 5  # Pareto/NBD: falls with the customer's age T
    pd.testing.assert_series_equal(served, fitted["pareto_nbd"].predict_frame(X)["p_alive"][non_repeaters])


def test_tuning_trials_skip_the_companion_p_alive_but_keep_the_value_metrics(rows):
    X, y, X_ho, y_ho = rows
    trial_model = SPEC.fit(SPEC.build({"kind": "bg_nbd"}), X, y)
    assert trial_model.alive_model_ is None and trial_model.predict_frame(X_ho)["p_alive"].isna().all()
    metrics = SPEC.metrics(y_ho, SPEC.score(trial_model, X_ho))
    assert np.isnan(metrics["auc_p_alive"]) and np.isfinite([metrics["rmse"], metrics["auc_repeat"]]).all()


def test_score_columns_value_first(rows, fitted):
    _, _, X, _ = rows
    for model in fitted.values():
        frame = model.predict_frame(X)
        assert list(frame.columns) == SPEC.score_columns(model) == ["expected_value", "expected_purchases", "p_alive"]
        assert (frame >= 0).all().all() and (frame["p_alive"] <= 1).all()


def test_the_horizon_comes_from_the_targets_and_scales_purchases(rows, fitted):
    X, y, X_ho, _ = rows
    model = fitted["pareto_nbd"]
    assert model.horizon_ == pytest.approx(y["duration"].iloc[0])
    longer = LifetimeValueModel(horizon=2 * model.horizon_).fit(X, y)
    assert (longer.predict_frame(X_ho)["expected_purchases"] > model.predict_frame(X_ho)["expected_purchases"]).all()


def test_gbm_explanations_add_up(rows, fitted):
    _, _, X, _ = rows
    gbm = fitted["gbm"]
    e = gbm.explain(X.head(10))
    assert e.output_names == "expected value" and list(e.feature_names) == list(gbm.encoder_.feature_names_in_)
    value = gbm.predict_frame(X.head(10))["expected_value"]
    np.testing.assert_allclose(np.maximum(e.values.sum(axis=1) + e.base_values, 0), value, rtol=1e-4, atol=1e-3)
    assert shap.plots.waterfall(e[0], show=False).get_yticklabels()
    plt.close("all")
    with pytest.raises(ValueError, match="kind='gbm'"):
        fitted["pareto_nbd"].explain(X.head(1))
    explained = SPEC.explain_row(gbm, X.head(1), 2)
    assert len(explained["reasons"]) == 2 and "expected value" in explained["reasons"][0]["text"]
    btyd = SPEC.explain_row(fitted["pareto_nbd"], X.head(1), 2)
    assert btyd["reasons"] == [] and "repeat purchases" in btyd["headline"]


def test_baseline_is_average_spend_times_the_repeat_rate(rows):
    X, y, _, _ = rows
    baseline = AverageSpendRetention().fit(X, y)
    frame = baseline.predict_frame(X.head(3))
    np.testing.assert_allclose(frame["expected_value"], X["average_spend"].head(3) * y["purchases"].mean())
    assert frame["p_alive"].iloc[0] == pytest.approx((y["purchases"] > 0).mean())


def test_value_metrics_by_hand():
    y = pd.DataFrame({"value": [0.0, 10.0, 30.0, 0.0], "purchases": [0.0, 1.0, 2.0, 0.0], "duration": 4.0})
    score = np.array([[1.0, 0.1, 0.2], [9.0, 0.8, 0.9], [25.0, 1.5, 0.7], [3.0, 0.2, 0.1]])
    metrics = value_metrics(y, score)
    assert metrics["rmse"] == pytest.approx(np.sqrt((1 + 1 + 25 + 9) / 4))
    assert metrics["mae"] == pytest.approx((1 + 1 + 5 + 3) / 4)
    assert metrics["total_value_pct"] == pytest.approx(100 * (38 / 40 - 1))
    assert metrics["total_purchases_pct"] == pytest.approx(100 * (2.6 / 3 - 1))
    assert metrics["auc_repeat"] == 1.0 and metrics["auc_p_alive"] == 1.0
    assert metrics["spearman"] == pytest.approx(0.9487, abs=1e-4)  # ranks (1.5, 3, 4, 1.5) vs (1, 3, 4, 2)


def test_lower_rmse_wins_at_the_gate():
    gate = GateConfig(primary_metric="rmse", min_gain_vs_baseline=0.0)
    assert not SPEC.greater_is_better
    assert decide(SPEC, gate, {"rmse": 90.0}, {"rmse": 120.0}, None).passed
    refused = decide(SPEC, gate, {"rmse": 125.0}, {"rmse": 120.0}, {"rmse": 100.0})
    assert not refused.passed and "baseline" in refused.reason and "champion" in refused.reason


def test_interval_brackets_the_rmse(rows, fitted):
    _, _, X, y = rows
    score = SPEC.score(fitted["pareto_nbd"], X)
    lo, hi = SPEC.interval(y, score, "rmse", 0)
    assert lo < SPEC.metrics(y, score)["rmse"] < hi


def test_the_estimator_contract_and_bad_kind(rows):
    X, y, _, _ = rows
    model = LifetimeValueModel(kind="gbm", max_depth=2)
    assert clone(model).get_params() == model.get_params()
    with pytest.raises(ValueError, match="kind must be one of"):
        LifetimeValueModel(kind="bgnbd").fit(X, y)
    with pytest.raises(ValueError, match="one positive holdout length"):
        LifetimeValueModel().fit(X, y.assign(duration=np.arange(len(y), dtype=float)))


def test_search_space_chooses_the_kind():
    btyd = optuna.trial.FixedTrial({"kind": "bg_nbd"})
    assert SPEC.search_space(btyd, ("xgboost",)) == {"kind": "bg_nbd"}
    gbm = optuna.trial.FixedTrial(
        {
            "kind": "gbm",
            "algorithm": "lightgbm",
            "learning_rate": 0.05,
            "max_depth": 3,
            "min_child_weight": 5.0,
            "subsample": 0.8,
            "colsample_bytree": 0.8,
            "reg_lambda": 1.0,
            "num_leaves": 8,
        }
    )
    model = SPEC.build(SPEC.search_space(gbm, ("lightgbm",)))
    assert model.kind == "gbm" and model.algorithm == "lightgbm" and model.num_leaves == 8


def test_options_are_validated():
    assert options(PipelineConfig(family="clv", options={"horizon_days": 90})).horizon_days == 90
    with pytest.raises(ValidationError, match="horizon"):
        options(PipelineConfig(family="clv", options={"horizon": 90}))


@pytest.mark.parametrize("kind", ["pareto_nbd", "bg_nbd", "gbm"])
def test_the_refit_reports_every_btyd_models_parameters_whatever_the_kind(fitted, kind):
    params = fitted[kind].fitted_params()
    assert params["transaction_model"] == kind
    names = {k for k in params if k != "transaction_model"}
    expected = {f"bg_nbd.{p}" for p in ("r", "alpha", "a", "b")}
    expected |= {f"pareto_nbd.{p}" for p in ("r", "alpha", "s", "beta")} | {f"gamma_gamma.{p}" for p in "pqv"}
    assert names == expected
    assert all(np.isfinite(params[k]) and params[k] > 0 for k in names)


def test_the_simulated_worlds_rate_parameters_are_recovered(fitted):
    """The generator's purchase rates are Gamma(0.8, rate 8): Pareto/NBD's r and alpha should land near them."""
    params = fitted["pareto_nbd"].fitted_params()
    assert params["pareto_nbd.r"] == pytest.approx(0.8, rel=0.3)
    assert params["pareto_nbd.alpha"] == pytest.approx(8.0, rel=0.3)


def test_label_free_refit_uses_every_customers_rfm_and_never_a_target(rows, fitted):
    X, y, X_ho, _ = rows
    every = pd.concat([X, X_ho])
    model = SPEC.fit(SPEC.build({"kind": "bg_nbd", "n_jobs": 1, **SPEC.refit_params}), X, y).fit_label_free(every)
    alone = LifetimeValueModel(kind="bg_nbd", fit_every_btyd=True).fit(every, pd.concat([y, rows[3]]))
    for name in ("bg_nbd.r", "bg_nbd.alpha", "bg_nbd.a", "bg_nbd.b", "gamma_gamma.p"):
        assert model.fitted_params()[name] == pytest.approx(alone.fitted_params()[name], rel=1e-6)
    assert model.fitted_params()["bg_nbd.a"] != pytest.approx(fitted["bg_nbd"].fitted_params()["bg_nbd.a"], rel=1e-6)


def test_tuning_trials_fit_only_what_their_kind_needs(rows):
    X, y, _, _ = rows
    trial = LifetimeValueModel(kind="gbm", with_p_alive=False).fit(X, y)
    assert trial.fitted_params() == {"transaction_model": "gbm"}
