"""Cross-sell through the shared pipeline into a real MLflow store: tuned, registered, gated against both
baselines with a reason, logged as a pyfunc that loads and serves pair probabilities; then refused against
itself as champion; and trained from a transaction file through ``run_train``."""

from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest

from cxml import registry, tracking
from cxml.config import PipelineConfig, TrainRequest, Workspace
from cxml.datasets import get_family
from cxml.jobs.train import run_train
from cxml.models.cross_sell import calibration_plot
from cxml.models.spec import Dataset
from cxml.pyfunc import model_input
from cxml.training import HOLDOUT_ARTIFACT, train
from tests.unit.test_cross_sell_spec import shop, shop_rows

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
CFG = {
    "family": "cross_sell",
    "tuning": {"n_trials": 2, "cv_folds": 2, "algorithms": ["lightgbm"]},
    "gate": {"primary_metric": "map_at_10", "min_gain_vs_baseline": 0.0},
}


@pytest.fixture(autouse=True)
def _tracking_at_the_workspace(ws):
    """Registry look-ups in the tests read this module's store (``train`` leaves the global URI as it was)."""
    tracking.configure(ws)


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return Workspace(tmp_path_factory.mktemp("ws"))


@pytest.fixture(scope="module")
def data():
    X_tr, X_ho, y_tr, y_ho = shop_rows()
    return Dataset("shop", "generated", X_tr, y_tr, X_ho, y_ho, feature_set="affinity:shop", as_of="2024-03-31")


@pytest.fixture(scope="module")
def first(ws, data):
    return train(
        get_family("cross_sell").spec, data, PipelineConfig.model_validate(CFG), ws, model_name="cxml.cross_sell.t"
    )


def test_registered_and_promoted_over_both_baselines(first):
    assert first.gate.passed, first.gate.reason
    assert first.gate.reason.startswith("promoted: map_at_10") and "no champion yet" in first.gate.reason
    m, b = first.metrics, first.baseline_metrics
    assert b["map_at_10"] == max(b["popularity:map_at_10"], b["co_purchase:map_at_10"])
    assert m["map_at_10"] > b["map_at_10"] and m["success_at_10"] >= b["success_at_10"] - 0.02
    assert m["map_at_10_ci_low"] < m["map_at_10"] < m["map_at_10_ci_high"]
    version = tracking.client().get_model_version(first.model_name, first.model_version)
    assert version.tags["validation_status"] == "passed"
    assert registry.alias_version(first.model_name, "champion") == first.model_version


def test_logged_pyfunc_loads_and_serves_pair_probabilities(first, data):
    model = mlflow.pyfunc.load_model(f"models:/{first.model_name}/{first.model_version}")
    served = model.predict(model_input(data.X_holdout))
    assert list(served.columns) == ["probability"]
    p = served["probability"].to_numpy()
    assert ((p > 0) & (p < 1)).all() and len(np.unique(p)) > 20
    spec = get_family("cross_sell").spec
    assert spec.metrics(data.y_holdout, p)["map_at_10"] == pytest.approx(first.metrics["map_at_10"])


def test_holdout_artefact_rederives_the_figures_and_the_calibration_plot(first, data):
    path = mlflow.artifacts.download_artifacts(run_id=first.run_id, artifact_path=HOLDOUT_ARTIFACT)
    holdout = pd.read_parquet(path)
    assert {"__label__", "__customer_id__", "__item__", "__owned__", "__score__"} <= set(holdout.columns)
    y = holdout[["__label__", "__customer_id__", "__item__", "__owned__"]].set_axis(
        ["label", "customer_id", "item", "owned"], axis=1
    )
    assert get_family("cross_sell").spec.metrics(y, holdout["__score__"].to_numpy())["map_at_10"] == pytest.approx(
        first.metrics["map_at_10"]
    )
    assert calibration_plot(holdout).startswith("data:image/png;base64,")


def test_the_calibration_plot_is_logged_and_the_model_card_shows_it(first, tmp_path):
    from cxml.explain.card import write_card

    png = mlflow.artifacts.download_artifacts(
        run_id=first.run_id, artifact_path="figures/calibration_of_p_buys_item.png"
    )
    assert Path(png).read_bytes()[:4] == b"\x89PNG"
    path, card = write_card(first.model_name, first.model_version, tmp_path, log_to_run=False)
    html = path.read_text()
    assert card.primary_metric == "map_at_10" and card.metrics["map_at_10"][0] == pytest.approx(
        first.metrics["map_at_10"]
    )
    assert card.baseline["map_at_10"][0] == pytest.approx(first.baseline_metrics["map_at_10"])
    assert "Calibration of P(buys item)" in html and html.count("data:image/png;base64,") == 1
    assert card.grade.letter in "ABC" and "promoted" in html


def test_the_same_model_again_is_refused_against_the_champion(first, ws, data):
    again = train(
        get_family("cross_sell").spec, data, PipelineConfig.model_validate(CFG), ws, model_name=first.model_name
    )
    assert not again.gate.passed
    assert "does not beat the champion" in again.gate.reason
    assert again.champion_metrics is not None
    assert again.champion_metrics["map_at_10"] == pytest.approx(first.metrics["map_at_10"])
    assert registry.alias_version(first.model_name, "champion") == first.model_version


def _shop_request(tmp_path: Path, seed: int, pipeline_yaml: str, **window: Any) -> TrainRequest:
    """A cross-sell request on a generated shop's transaction file, with its own pipeline and window flags."""
    path = tmp_path / "orders.csv"
    shop(seed=seed).to_csv(path, index=False)
    pipeline = tmp_path / "cross_sell.yaml"
    pipeline.write_text(pipeline_yaml)
    return TrainRequest(
        family="cross_sell",
        transactions=path,
        customer="customer",
        item="sku",
        time="when",
        quantity="qty",
        pipeline=pipeline,
        **window,
    )


def test_run_train_on_a_transaction_file(ws, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # pipelines/cross_sell.yaml
    pipeline = (
        "family: cross_sell\noptions: {horizon_days: 30, min_item_buyers: 5}\n"
        "tuning: {n_trials: 2, cv_folds: 2, algorithms: [lightgbm]}\ngate: {primary_metric: map_at_10}\n"
    )
    result = run_train(_shop_request(tmp_path, 3, pipeline), ws)
    assert result.model_name == "cxml.cross_sell.orders"
    assert result.gate.reason.startswith(("promoted", "refused"))
    assert result.metrics["map_at_10"] > result.baseline_metrics["popularity:map_at_10"]
    assert result.data_params["horizon_days"] == "30" and result.data_params["horizon_days_by"] == "pipeline"
    assert result.data_params["as_of_by"] == "data" and result.data_params["as_of_why"]


def test_the_window_flags_reach_the_run_and_its_mlflow_params(ws, tmp_path, monkeypatch):
    """``--as-of`` is taken on a transaction file for cross-sell (the start of the horizon), as are the other
    window flags, and every choice lands in the MLflow run as ``data.<name>``."""
    monkeypatch.chdir(ROOT)
    pipeline = (
        "family: cross_sell\ntuning: {n_trials: 1, cv_folds: 2, algorithms: [lightgbm]}\n"
        "gate: {primary_metric: map_at_10}\n"
    )
    window = {"as_of": "2024-03-15", "horizon_days": 21, "min_buyers": 8, "item_filter": "^[ab]"}
    result = run_train(_shop_request(tmp_path, 4, pipeline, **window), ws)
    chosen = {k: result.data_params[k] for k in ("as_of", "horizon_days", "min_buyers", "item_filter")}
    assert chosen == {"as_of": "2024-03-15", "horizon_days": "21", "min_buyers": "8", "item_filter": "^[ab]"}
    params = tracking.client().get_run(result.run_id).data.params
    assert params["data.as_of"] == "2024-03-15" and params["data.as_of_by"] == "flag"
    assert params["as_of"] == "2024-03-15"
