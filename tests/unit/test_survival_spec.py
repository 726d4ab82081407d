"""The survival family: TenureBooster, the Kaplan–Meier baseline, metrics, the user-table builder and the spec."""

import matplotlib.pyplot as plt
import numpy as np
import optuna
import pandas as pd
import pytest
import shap
from pydantic import ValidationError
from scipy.stats import spearmanr
from sklearn.base import clone

from cxml.config import PipelineConfig
from cxml.datasets.survival import survival_table_dataset
from cxml.evaluation.survival_metrics import concordance_index, kaplan_meier, survival_at
from cxml.models.survival import (
    SPEC,
    KaplanMeierBaseline,
    TenureBooster,
    options,
    restricted_mean,
    survival_metrics,
    survival_targets,
)
from cxml.tuning import cross_validate

pytestmark = pytest.mark.unit

HORIZONS = (3.0, 6.0, 12.0)


def simulate(n=1200, seed=0):
    """Exponential lifetimes with a log hazard of 0.9 x1 - 0.6 x2 (+0.5 for plan "basic"), uniform censoring."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {"x1": rng.normal(size=n), "x2": rng.normal(size=n), "plan": rng.choice(["basic", "plus"], size=n)}
    )
    log_hazard = 0.9 * X["x1"] - 0.6 * X["x2"] + 0.5 * (X["plan"] == "basic")
    lifetime = rng.exponential(1 / (0.06 * np.exp(log_hazard)))
    censor = rng.uniform(2, 30, n)
    y = survival_targets(np.minimum(lifetime, censor), (lifetime <= censor).astype(int), X.index, HORIZONS)
    return X, y, log_hazard.to_numpy()


@pytest.fixture(scope="module")
def fitted():
    X, y, log_hazard = simulate()
    model = SPEC.fit(SPEC.build({"n_jobs": 1, "random_state": 0}), X.iloc[:900], y.iloc[:900])
    return model, X.iloc[900:], y.iloc[900:], log_hazard[900:]


def test_risk_follows_the_true_hazard(fitted):
    model, X, y, log_hazard = fitted
    risk = model.predict_frame(X)["risk"]
    assert spearmanr(risk, log_hazard).statistic > 0.8
    assert concordance_index(y["duration"], y["event"], risk) > 0.7


def test_scores_risk_first_then_survival_at_each_horizon_then_tenure(fitted):
    model, X, _, _ = fitted
    frame = model.predict_frame(X)
    assert list(frame.columns) == SPEC.score_columns(model)
    assert list(frame.columns) == ["risk", "survival_3", "survival_6", "survival_12", "expected_remaining_tenure"]
    curves = frame[["survival_3", "survival_6", "survival_12"]].to_numpy()
    assert ((curves > 0) & (curves < 1)).all() and (np.diff(curves, axis=1) <= 1e-12).all()
    assert frame["expected_remaining_tenure"].between(0, 12).all()
    # lower survival at 12, fewer expected months: the tenure ranks customers like S(12)
    assert spearmanr(frame["survival_12"], frame["expected_remaining_tenure"]).statistic > 0.95


def test_horizons_ride_on_the_targets_into_the_fit_and_the_metrics():
    X, y, _ = simulate(400)
    y.attrs["horizons"] = (2.0, 4.5)
    model = SPEC.fit(SPEC.build({"n_estimators": 50}), X, y)
    assert SPEC.score_columns(model) == ["risk", "survival_2", "survival_4.5", "expected_remaining_tenure"]
    metrics = SPEC.metrics(y, SPEC.score(model, X))
    assert {"calibration_error_2", "calibration_error_4.5", "brier_4.5"} <= set(metrics)


def test_cross_validation_keeps_the_horizons_through_the_folds():
    X, y, _ = simulate(600)
    metrics = cross_validate(SPEC, {"n_estimators": 100, "n_jobs": 1}, X, y, folds=3, seed=0)
    assert metrics["c_index"] > 0.65
    assert np.isfinite([metrics["calibration_error_3"], metrics["brier_12"]]).all()


def test_kaplan_meier_baseline_is_one_curve_with_c_one_half():
    X, y, _ = simulate(500)
    baseline = SPEC.fit(SPEC.baseline(X), X, y)
    frame = baseline.predict_frame(X)
    curve = kaplan_meier(y["duration"], y["event"])
    np.testing.assert_allclose(frame.iloc[0, 1:4], survival_at(curve, HORIZONS))
    assert frame.nunique().max() == 1
    assert SPEC.metrics(y, frame.to_numpy())["c_index"] == 0.5


def test_restricted_mean_of_a_step_curve_by_hand():
    curve = pd.DataFrame({"time": [1.0, 3.0], "survival": [0.5, 0.25]})
    assert restricted_mean(curve, 2.0) == pytest.approx(1 * 1.0 + 1 * 0.5)
    assert restricted_mean(curve, 5.0) == pytest.approx(1.0 + 2 * 0.5 + 2 * 0.25)


def test_horizons_beyond_the_longest_duration_have_no_calibration():
    y = survival_targets([1.0, 2.0, 4.0, 5.0] * 5, [1, 0, 1, 1] * 5, pd.RangeIndex(20), (3.0, 12.0))
    score = np.column_stack([np.arange(20.0), np.full(20, 0.6), np.full(20, 0.1), np.full(20, 3.0)])
    metrics = survival_metrics(y, score, (3.0, 12.0))
    assert np.isfinite(metrics["calibration_error_3"]) and np.isnan(metrics["calibration_error_12"])
    assert metrics["c_index"] == pytest.approx(concordance_index(y["duration"], y["event"], score[:, 0]))


def test_interval_brackets_the_c_index(fitted):
    model, X, y, _ = fitted
    score = SPEC.score(model, X)
    lo, hi = SPEC.interval(y, score, "c_index", 0)
    assert lo < SPEC.metrics(y, score)["c_index"] < hi and hi - lo < 0.2


def test_explanations_add_up_to_the_risk_for_cox_and_aft(fitted):
    _, X, _, _ = fitted
    X_fit, y_fit, _ = simulate(600, seed=1)
    for objective in ("cox", "aft"):
        model = SPEC.fit(TenureBooster(objective=objective, n_estimators=200), X_fit, y_fit)
        e = model.explain(X.head(20))
        assert e.output_names == ("risk (log hazard)" if objective == "cox" else "risk (minus log time)")
        np.testing.assert_allclose(
            e.values.sum(axis=1) + e.base_values, model.predict_frame(X.head(20))["risk"], atol=1e-4
        )
        assert shap.plots.waterfall(e[0], show=False).get_yticklabels()
        plt.close("all")
        explained = SPEC.explain_row(model, X.head(1), 2)
        assert explained["score"] == pytest.approx(explained["scores"]["risk"])
        assert explained["reasons"][0]["feature"] in {"x1", "x2", "plan"}
        assert len(explained["reasons"]) == 2 and " risk by " in explained["reasons"][0]["text"]


def test_the_estimator_contract(fitted):
    model = fitted[0]
    copy = clone(model)
    assert copy.get_params() == model.get_params() and not hasattr(copy, "model_")
    assert list(model.feature_names_in_) == ["x1", "x2", "plan"]


def test_search_space_builds_both_objectives():
    for params in ({"objective": "cox"}, {"objective": "aft", "distribution": "logistic"}):
        trial = optuna.trial.FixedTrial(
            {
                **params,
                "learning_rate": 0.05,
                "max_depth": 3,
                "min_child_weight": 1.0,
                "subsample": 0.8,
                "colsample_bytree": 0.8,
                "reg_lambda": 1.0,
            }
        )
        model = SPEC.build(SPEC.search_space(trial, ("xgboost",)))
        assert model.objective == params["objective"]


def _table():
    X, y, _ = simulate(300)
    return X.assign(
        months=y["duration"].round(1),
        left=np.where(y["event"] == 1, "Yes", "No"),
        id=[f"c{i}" for i in range(300)],
        leak=y["duration"],
    )


def test_a_user_table_is_split_with_parsed_events_and_horizons():
    data, notes = survival_table_dataset(
        _table(), "months", "left", name="t", source="mem", id_column="id", drop=["leak"], horizons=(1.0, 2.0)
    )
    assert notes == [] and list(data.X_train.columns) == ["x1", "x2", "plan"]
    assert data.X_train.index[0].startswith("c") and len(data.X_holdout) == 60
    assert set(data.y_train["event"]) == {0, 1} and data.y_holdout.attrs["horizons"] == (1.0, 2.0)
    assert data.y_train["event"].mean() == pytest.approx(data.y_holdout["event"].mean(), abs=0.02)


def test_a_user_table_with_bad_durations_names_the_rows():
    table = _table().astype({"months": object})
    table.loc[[4, 7], "months"] = ["soon", -1.0]
    with pytest.raises(ValueError, match=r"'months' must be numbers >= 0; 2 rows .*first rows \[4, 7\]"):
        survival_table_dataset(table, "months", "left", name="t", source="mem")


def test_a_user_table_drops_rows_without_an_event_and_refuses_unknown_columns():
    table = _table()
    table.loc[[3], "left"] = None
    data, notes = survival_table_dataset(table, "months", "left", name="t", source="mem")
    assert "1 rows without months or left dropped" in notes[0]
    assert len(data.X_train) + len(data.X_holdout) == 299
    with pytest.raises(ValueError, match=r"columns not in the table: \['tenure'\]"):
        survival_table_dataset(table, "tenure", "left", name="t", source="mem")


def test_options_are_validated():
    cfg = PipelineConfig(family="survival", options={"horizons": [12, 3], "lapse_days": 60})
    assert options(cfg).horizons == (3.0, 12.0) and options(cfg).lapse_days == 60
    with pytest.raises(ValidationError, match="horizon"):
        options(PipelineConfig(family="survival", options={"horizon": [3]}))
    with pytest.raises(ValidationError, match="positive"):
        options(PipelineConfig(family="survival", options={"horizons": [0, 3]}))


def test_the_spec_of_the_family():
    assert SPEC.family == "survival" and SPEC.primary_metric == "c_index" and SPEC.greater_is_better
    assert isinstance(SPEC.baseline(pd.DataFrame()), KaplanMeierBaseline)
