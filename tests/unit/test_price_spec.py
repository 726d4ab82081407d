"""The price family's spec on small generated panels with known elasticities: estimator, metrics, gate, datasets,
recommendations and the pure scorer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from cxml.config import GateConfig, PipelineConfig, TrainRequest, load_pipeline
from cxml.datasets.price import table_dataset
from cxml.datasets.tables import TableError
from cxml.decision.price_plan import guardrails_of, price_recommendations
from cxml.decision.pricing import PricingGuardrails
from cxml.models.price import SPEC, explain_row, metrics, score
from cxml.models.price_dml import ConstantElasticity, PriceDML, Roles
from cxml.models.price_frame import options, panel_rows
from cxml.registry import decide
from cxml.serving.price_scoring import PriceScorer
from cxml.serving.scoring import RequestError

pytestmark = pytest.mark.unit
THETA = {"a": -0.8, "b": -1.6, "c": -2.6}
FAST = {"n_estimators": 200, "n_folds": 3}


def panel(n: int = 2400, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Price rises with a demand shifter (the control), so log-log on the price alone is biased."""
    rng = np.random.default_rng(seed)
    segment = rng.choice(list(THETA), n)
    w = rng.normal(size=n)
    t = 0.5 * w + rng.normal(0, 0.3, n)
    theta = pd.Series(segment).map(THETA).to_numpy()
    y = 3.0 + theta * t + 1.5 * w + rng.normal(0, 0.3, n)
    X = pd.DataFrame({"segment": segment, "control:w": w, "log_price": t})
    return X, pd.DataFrame({"log_quantity": y, "true_elasticity": theta})


@pytest.fixture(scope="module")
def data():
    return panel()


@pytest.fixture(scope="module")
def fitted(data) -> PriceDML:
    X, y = data
    return PriceDML(**FAST, demand="mean").fit(X, y)


def test_roles_come_from_the_column_names_and_make_two_way_groups():
    roles = Roles.of(["segment", "unit:channel", "time_bucket", "time:week", "control:x", "log_price"])
    assert roles.effects == ["segment", "unit:channel", "time_bucket"] and roles.controls == ["control:x"]
    assert roles.additive() == [["week", "segment", "time_bucket"], ["channel", "segment", "time_bucket"]]
    assert Roles.of(["brand", "time:week", "log_price"]).additive() is None
    with pytest.raises(ValueError, match="log_price"):
        Roles.of(["segment"])


def test_recovers_each_segments_elasticity_inside_its_interval(fitted):
    cells = pd.DataFrame({"segment": list(THETA)})
    e = fitted.elasticity(cells)
    truth = np.array(list(THETA.values()))
    assert np.abs(e["elasticity"] - truth).max() < 0.12, e
    assert np.all((e["elasticity_lower"] <= truth) & (truth <= e["elasticity_upper"]))


def test_beats_the_constant_elasticity_baseline_on_demand_and_elasticity(data, fitted):
    X, y = data
    X_new, y_new = panel(1200, seed=1)
    ours = metrics(y_new, score(fitted, X_new))
    base = metrics(y_new, score(ConstantElasticity().fit(X, y), X_new))
    assert ours["demand_rmse"] < base["demand_rmse"]
    assert ours["elasticity_mae"] < 0.1 < 0.5 < base["elasticity_mae"]
    assert 0.0 <= ours["elasticity_coverage"] <= 1.0 and base["elasticity_coverage"] == 0.0


def test_raising_the_price_never_raises_the_what_if_demand(fitted, data):
    X, _ = data
    curves = fitted.what_if(X.head(20), np.exp(np.linspace(-0.5, 0.5, 11)))
    steps = curves.groupby("row")["log_quantity"].diff().dropna()
    assert (steps <= 1e-12).all() and (steps < 0).any()


def test_clone_and_set_params_round_trip():
    model = PriceDML(learning_rate=0.07, demand="gbm")
    assert clone(model).get_params() == model.get_params()
    assert SPEC.build({"num_leaves": 7}).get_params()["num_leaves"] == 7


def test_metrics_leave_out_the_elasticity_error_without_truth(data, fitted):
    X, y = data
    out = metrics(y[["log_quantity"]], score(fitted, X))
    assert set(out) == {
        "demand_rmse",
        "demand_mae",
        "elasticity_mean",
        "elasticity_mean_lower",
        "elasticity_mean_upper",
        "elasticity_max_lower",
    }
    e = fitted.elasticity(X)
    assert out["elasticity_mean_lower"] == pytest.approx(e["elasticity_lower"].mean())
    assert out["elasticity_max_lower"] == pytest.approx(e["elasticity_lower"].max())


def test_fitted_params_report_the_nuisance_choice_and_the_price_variation_left(fitted):
    p = fitted.fitted_params()
    assert p["nuisance.treatment"] in ("lightgbm", "linear") and p["nuisance.outcome"] in ("lightgbm", "linear")
    chosen = p["nuisance.treatment"]
    assert p[f"nuisance.r2.treatment.{chosen}"] == max(
        p["nuisance.r2.treatment.lightgbm"], p["nuisance.r2.treatment.linear"]
    )
    assert 0 < p["residual_price_share"] <= 1
    assert p["elasticity.pooled_lower"] < p["elasticity.pooled"] < p["elasticity.pooled_upper"]


def test_explain_row_gives_the_interval_and_drivers_in_words(fitted):
    out = explain_row(fitted, pd.DataFrame({"segment": ["c"], "control:w": [0.0], "log_price": [0.0]}), 2)
    lo, hi = out["interval"]
    assert lo < out["elasticity"] < hi and out["interval_level"] == pytest.approx(0.9)
    assert out["reasons"][0]["feature"] == "segment[c]"
    assert "more price-sensitive" in out["reasons"][0]["text"]


def test_the_gate_also_requires_beating_the_baseline_on_elasticity_error():
    cfg = GateConfig(primary_metric="demand_rmse", min_gain_vs_baseline=0.0, also_beat_baseline=("elasticity_mae",))
    better_demand = {"demand_rmse": 0.5, "elasticity_mae": 0.9}
    base = {"demand_rmse": 0.6, "elasticity_mae": 0.7}
    refused = decide(SPEC, cfg, better_demand, base, None)
    assert not refused.passed and "elasticity_mae 0.9000 does not beat the baseline 0.7000" in refused.reason
    assert decide(SPEC, cfg, {"demand_rmse": 0.5, "elasticity_mae": 0.3}, base, None).passed
    assert decide(SPEC, cfg, {"demand_rmse": 0.5}, {"demand_rmse": 0.6}, None).passed  # no truth: skipped


def test_the_shipped_pipeline_validates_with_its_guardrails():
    cfg = load_pipeline("price")
    assert cfg.gate.primary_metric == "demand_rmse" and cfg.gate.also_beat_baseline == ("elasticity_mae",)
    assert guardrails_of(options(cfg)) == PricingGuardrails(max_change=0.10, min_margin=0.05, fairness_spread=0.15)


def test_a_panel_becomes_roles_and_a_bad_price_names_its_column_and_rows(tmp_path):
    frame = pd.DataFrame({"units": [5, 6, 7, 8], "p": [1.0, 2.0, 0.0, 1.5], "brand": list("xyxy"), "wk": [1, 1, 2, 2]})
    with pytest.raises(ValueError, match=r"'p' must be positive.*rows \[2\]"):
        panel_rows(frame, price="p", quantity="units", group=["brand"], time="wk")
    X, y = panel_rows(frame.assign(p=[1.0, 2.0, 3.0, 1.5]), price="p", quantity="units", group=["brand"], time="wk")
    assert list(X.columns) == ["brand", "time:wk", "log_price"]
    assert y["log_quantity"].to_numpy() == pytest.approx(np.log([5, 6, 7, 8]))
    path = tmp_path / "panel.csv"
    frame.to_csv(path, index=False)
    req = TrainRequest(family="price", table=path, quantity="units", price="p", group=("brand",))
    with pytest.raises(TableError, match="'p'"):
        table_dataset(req, PipelineConfig(family="price"))
    with pytest.raises(TableError, match="exactly one of --quantity"):
        table_dataset(TrainRequest(family="price", table=path, price="p"), PipelineConfig(family="price"))


def _cells() -> pd.DataFrame:
    rows = [(s, p, "web", "weekend") for s in THETA for p in ("P1", "P2")]
    frame = pd.DataFrame(rows, columns=["segment", "product_id", "channel", "time_bucket"])
    return frame.assign(price=10.0, unit_cost=6.0, quantity=50.0)


def test_recommendations_respect_max_change_and_the_fairness_spread(fitted):
    guard = PricingGuardrails(max_change=0.1, min_margin=0.05, fairness_spread=0.05)
    rec = price_recommendations(fitted, _cells(), guard)
    assert len(rec) == 6 and rec["price_change"].abs().max() <= 0.1 + 1e-9
    spread = rec.groupby("product_id")["recommended_price"].agg(lambda p: p.max() / p.min() - 1)
    assert (spread <= 0.05 + 1e-9).all()
    inelastic = rec.set_index(["segment", "product_id"]).loc[("a", "P1")]
    assert inelastic["recommended_price"] > 10.0  # elasticity −0.8: a higher price earns more margin
    assert inelastic["margin_change_lower"] <= inelastic["margin_change"] <= inelastic["margin_change_upper"]


def test_scorer_answers_by_segment_or_customer_and_names_unknown_keys(fitted):
    rec = price_recommendations(fitted, _cells(), PricingGuardrails())
    scorer = PriceScorer(fitted, rec, pd.DataFrame({"customer_id": ["C1"], "segment": ["c"]}))
    by_segment = scorer.quote(segment="c", product_id="P2", channel="web", time_bucket="weekend")
    by_customer = scorer.quote(customer_id="C1", product_id="P2", channel="web", time_bucket="weekend")
    assert by_customer["segment"] == "c" and by_customer["recommended_price"] == by_segment["recommended_price"]
    lo, hi = by_segment["elasticity_interval"]
    assert lo < by_segment["elasticity"] < hi and by_segment["elasticity"] == pytest.approx(-2.6, abs=0.15)
    with pytest.raises(RequestError) as unknown:
        scorer.quote(segment="c", product_id="P9", channel="web", time_bucket="weekend")
    assert unknown.value.status == 404 and unknown.value.detail[0].loc == ["product_id"]
    with pytest.raises(RequestError) as stranger:
        scorer.quote(customer_id="C404", product_id="P1", channel="web", time_bucket="weekend")
    assert stranger.value.status == 404 and stranger.value.detail[0].type == "unknown_customer"
    with pytest.raises(RequestError) as both:
        scorer.quote(segment="c", customer_id="C1", product_id="P1", channel="web", time_bucket="weekend")
    assert both.value.status == 422


def test_every_panel_option_reaches_the_model_frame_with_its_role(tmp_path):
    frame = pd.DataFrame(
        {"logq": [1.6, 1.8, 1.9, 2.1], "p": [1.0, 2.0, 3.0, 1.5], "brand": list("xyxy"), "wk": [1, 1, 2, 2],
         "feat": [0, 1, 0, 1], "income": [10.1, 10.5, 10.1, 10.5]}
    )  # fmt: skip
    path = tmp_path / "panel.csv"
    frame.to_csv(path, index=False)
    req = TrainRequest(
        family="price", table=path, log_quantity="logq", price="p", group=("brand", "income"), time="wk",
        controls=("feat",),
    )  # fmt: skip
    data, notes = table_dataset(req, PipelineConfig(family="price", options={"holdout_fraction": 0.25}))
    X = pd.concat([data.X_train, data.X_holdout]).sort_index()
    assert list(X.columns) == ["brand", "income", "time:wk", "control:feat", "log_price"]
    y = pd.concat([data.y_train, data.y_holdout]).sort_index()
    assert y["log_quantity"].to_numpy() == pytest.approx(frame["logq"])  # taken as given, not logged again
    assert X["log_price"].to_numpy() == pytest.approx(np.log(frame["p"])) and notes == []
