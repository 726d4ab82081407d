"""Survival and lifetime value through the shared pipeline, into a real MLflow store: tuned, registered, gated,
logged as a pyfunc that serves every score column; and on the contract tables of a small simulated company."""

import dataclasses
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from cxml import registry, tracking
from cxml.config import PipelineConfig, TrainRequest, Workspace
from cxml.data.synthetic import write_company
from cxml.datasets import get_family
from cxml.datasets.clv import _split
from cxml.datasets.survival import survival_table_dataset
from cxml.features.rfm_data import clv_rows
from cxml.jobs.explain import explain_customer
from cxml.jobs.snapshot import run_snapshot
from cxml.jobs.train import run_train
from cxml.models.clv import LifetimeValueModel
from cxml.models.spec import Dataset
from cxml.pyfunc import model_input
from cxml.training import HOLDOUT_ARTIFACT, train
from tests.unit.test_clv_spec import simulate as simulate_transactions
from tests.unit.test_survival_spec import _table as survival_table

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
TUNING = {"n_trials": 3, "cv_folds": 2}


@pytest.fixture(autouse=True)
def _tracking_at_the_workspace(ws):
    """Registry look-ups in the tests read this module's store (``train`` leaves the global URI as it was)."""
    tracking.configure(ws)


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return Workspace(tmp_path_factory.mktemp("ws"))


def _served(result, X):
    model = mlflow.pyfunc.load_model(f"models:/{result.model_name}/{result.model_version}")
    return model.predict(model_input(X))


def _assert_card_shows(result, title, ws):
    """The run logged the family's plot, and its model card shows the plot and the logged holdout metrics."""
    from cxml.explain.card import write_card

    run = tracking.client().get_run(result.run_id)
    logged = {a.path for a in tracking.client().list_artifacts(result.run_id, "figures")}
    assert len(logged) == 1, logged
    path, card = write_card(result.model_name, result.model_version, ws.root / "cards", log_to_run=False)
    m = card.primary_metric
    assert card.metrics[m][0] == pytest.approx(run.data.metrics[f"holdout_{m}"])
    assert title in path.read_text() and card.grade.letter in "ABC"


def test_survival_is_registered_gated_and_served_with_every_column(ws):
    data, _ = survival_table_dataset(
        survival_table(), "months", "left", name="tenure", source="generated", drop=["leak", "id"]
    )
    cfg = PipelineConfig.model_validate(
        {"family": "survival", "tuning": TUNING, "gate": {"primary_metric": "c_index", "min_value": 0.5}}
    )
    result = train(get_family("survival").spec, data, cfg, ws, model_name="cxml.survival.test")
    assert result.gate.passed, result.gate.reason
    assert result.gate.reason.startswith("promoted: c_index") and "baseline 0.5000" in result.gate.reason
    assert result.metrics["c_index"] > 0.65 and result.baseline_metrics["c_index"] == 0.5
    assert result.metrics["c_index_ci_low"] < result.metrics["c_index"] < result.metrics["c_index_ci_high"]
    version = tracking.client().get_model_version(result.model_name, result.model_version)
    assert version.tags["validation_status"] == "passed"
    assert registry.alias_version(result.model_name, "champion") == result.model_version

    served = _served(result, data.X_holdout)
    assert list(served.columns) == ["risk", "survival_3", "survival_6", "survival_12", "expected_remaining_tenure"]
    assert served["survival_12"].between(0, 1).all() and served["risk"].nunique() > 10
    holdout = pd.read_parquet(mlflow.artifacts.download_artifacts(run_id=result.run_id, artifact_path=HOLDOUT_ARTIFACT))
    assert {"__label__", "__duration__", "__score__:risk", "__baseline_score__:survival_3"} <= set(holdout.columns)
    _assert_card_shows(result, "Calibration at the horizons", ws)


def test_clv_lower_rmse_is_promoted_and_a_worse_one_refused_against_the_champion(ws):
    X, y, _ = clv_rows(
        simulate_transactions(800),
        customer="customer",
        time="ts",
        value="amount",
        calibration_end="2024-06-30",
        observation_end="2024-12-31",
    )
    X_tr, X_ho, y_tr, y_ho = _split(X, y, 0.3, 0)
    dataset = Dataset("sim", "generated", X_tr, y_tr, X_ho, y_ho, feature_set="rfm:sim")
    cfg = PipelineConfig.model_validate({"family": "clv", "tuning": TUNING, "gate": {"primary_metric": "rmse"}})
    spec = get_family("clv").spec
    good = train(spec, dataset, cfg, ws, model_name="cxml.clv.test")
    assert good.gate.passed and good.metrics["rmse"] < good.baseline_metrics["rmse"], good.gate.reason
    served = _served(good, X_ho)
    _assert_card_shows(good, "Holdout value by decile", ws)
    assert list(served.columns) == ["expected_value", "expected_purchases", "p_alive"]
    assert served["p_alive"].between(0, 1).all() and (served["expected_value"] >= 0).all()

    crippled = dataclasses.replace(spec, build=lambda p: LifetimeValueModel(kind="gbm", n_estimators=1, max_depth=1))
    worse = train(crippled, dataset, cfg, ws, model_name="cxml.clv.test")
    assert not worse.gate.passed and "does not beat the champion" in worse.gate.reason
    assert worse.champion_metrics["rmse"] == pytest.approx(good.metrics["rmse"])
    assert registry.alias_version("cxml.clv.test", "champion") == good.model_version


@pytest.fixture(scope="module")
def company(tmp_path_factory):
    out = tmp_path_factory.mktemp("company") / "company"
    write_company(out, n_customers=2000, seed=3)
    return out


@pytest.mark.parametrize("family", ["survival", "clv"])
def test_contract_tables_train_and_gate_with_the_shipped_pipeline(ws, company, family):
    request = TrainRequest(
        family=family, data=company, pipeline=ROOT / "src" / "cxml" / "pipelines" / f"{family}.yaml", trials=3
    )
    result = run_train(request, ws)
    assert result.model_name == f"cxml.{family}"
    assert result.gate.passed, result.gate.reason
    run = mlflow.get_run(result.run_id)
    assert run.data.params["as_of"] == {"survival": "2025-06-01", "clv": "2025-07-01"}[family]
    if family == "survival":
        run_snapshot(ws, company)
        customer = pd.read_parquet(ws.snapshots / "customer360.parquet")["customer_id"].iloc[0]
        explained = explain_customer(ws, "survival", str(customer), k=2)
        assert set(explained["scores"]) >= {"risk", "survival_3", "expected_remaining_tenure"}
        assert len(explained["reasons"]) == 2 and np.isfinite(explained["score"])
