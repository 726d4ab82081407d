"""The gate against a real MLflow store: a worse model is refused, a better one promoted, rollback restores."""

import dataclasses
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification

from cxml import registry, tracking
from cxml.config import PipelineConfig, Workspace
from cxml.datasets import get_family
from cxml.datasets.tables import table_dataset
from cxml.models.churn import ChurnClassifier
from cxml.pyfunc import model_input
from cxml.training import train

pytestmark = pytest.mark.integration
NAME = "cxml.churn.gate_test"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    X, y = make_classification(2500, 10, n_informative=6, flip_y=0.05, random_state=3)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(10)]).assign(churned=y)
    frame["n_orders"] = np.random.default_rng(3).poisson(3, len(frame))  # an int64 count, as features have
    data, _ = table_dataset(frame, "churned", name="gate_test", source="generated")
    cfg = PipelineConfig.model_validate({"family": "churn", "tuning": {"n_trials": 3, "cv_folds": 2}})
    ws = Workspace(tmp_path_factory.mktemp("ws"))
    tracking.configure(ws)
    return data, cfg, ws


def crippled(spec):
    """A deliberately weak model: one shallow tree."""
    return dataclasses.replace(spec, build=lambda p: ChurnClassifier(n_estimators=1, max_depth=1, calibration="none"))


def test_gate_promotes_refuses_and_rolls_back(setup):
    data, cfg, ws = setup
    spec = get_family("churn").spec
    weak = train(crippled(spec), data, cfg, ws, model_name=NAME)
    assert weak.gate.passed, weak.gate.reason  # beats the no-skill baseline, no champion yet
    assert registry.alias_version(NAME, "champion") == weak.model_version

    strong = train(spec, data, cfg, ws, model_name=NAME)
    assert strong.gate.passed and strong.metrics["pr_auc"] > weak.metrics["pr_auc"]
    assert strong.champion_metrics["pr_auc"] == pytest.approx(weak.metrics["pr_auc"])
    assert registry.alias_version(NAME, "champion") == strong.model_version
    assert registry.alias_version(NAME, "previous") == weak.model_version

    worse = train(crippled(spec), data, cfg, ws, model_name=NAME)
    assert not worse.gate.passed
    assert "does not beat the champion" in worse.gate.reason
    client = tracking.client()
    assert client.get_model_version(NAME, worse.model_version).tags["validation_status"] == "rejected"
    assert registry.alias_version(NAME, "champion") == strong.model_version
    assert registry.alias_version(NAME, "challenger") == worse.model_version
    with pytest.raises(ValueError, match="validation_status='rejected'"):
        registry.promote(NAME, worse.model_version, "try")

    demoted, restored = registry.rollback(NAME)
    assert (demoted, restored) == (strong.model_version, weak.model_version)
    assert registry.alias_version(NAME, "champion") == weak.model_version
    assert client.get_model_version(NAME, strong.model_version).tags["validation_status"] == "rolled_back"


def test_run_is_tracked_with_nested_trials_dataset_and_probabilities(setup):
    data, cfg, ws = setup
    result = train(get_family("churn").spec, data, cfg, ws, model_name=NAME + ".tracked")
    run = mlflow.get_run(result.run_id)
    assert run.data.tags["cxml.feature_set"] == "table:gate_test"
    assert run.data.tags["cxml.git_commit"]
    assert {i.dataset.name for i in run.inputs.dataset_inputs} == {"gate_test-train", "gate_test-holdout"}
    children = mlflow.search_runs(
        experiment_ids=[run.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{result.run_id}'"
    )
    assert len(children) == cfg.tuning.n_trials
    model = mlflow.pyfunc.load_model(f"models:/{result.model_name}/{result.model_version}")
    with pytest.raises(mlflow.exceptions.MlflowException, match="n_orders"):
        model.predict(data.X_holdout)  # counts are declared doubles (a missing count is NaN): int64 is refused
    scores = model.predict(model_input(data.X_holdout))["score"].to_numpy()
    assert np.all((scores > 0) & (scores < 1)) and len(np.unique(scores)) > 10  # probabilities, not labels
    assert model.metadata.signature is not None
    requirements = mlflow.pyfunc.get_model_dependencies(f"models:/{result.model_name}/{result.model_version}")
    pinned = {line.split("==")[0] for line in Path(requirements).read_text().split()}
    assert {"lightgbm", "xgboost-cpu", "scikit-learn", "mlflow"} <= pinned  # the boosters the joblib file needs


def test_holdout_with_scores_is_logged_for_reports(setup):
    data, cfg, ws = setup
    result = train(get_family("churn").spec, data, cfg, ws, model_name=NAME + ".holdout")
    path = mlflow.artifacts.download_artifacts(run_id=result.run_id, artifact_path="holdout/holdout.parquet")
    frame = pd.read_parquet(path)
    assert len(frame) == len(data.X_holdout)
    np.testing.assert_array_equal(frame["__label__"].to_numpy(), data.y_holdout)
    assert set(frame.columns) >= {"__score__", "__baseline_score__", *data.X_holdout.columns}


def test_a_killed_run_promotes_nothing_and_resumes_its_study_and_run(setup, monkeypatch):
    data, cfg, ws = setup
    name = NAME + ".resume"
    real_log_trial = tracking.log_trial

    def killed_after_two(trial, parent_run_id, experiment_id):
        real_log_trial(trial, parent_run_id, experiment_id)
        if trial.number == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(tracking, "log_trial", killed_after_two)
    with pytest.raises(KeyboardInterrupt):
        train(get_family("churn").spec, data, cfg, ws, model_name=name)
    assert tracking.client().search_model_versions(f"name = '{name}'") == []
    monkeypatch.setattr(tracking, "log_trial", real_log_trial)

    result = train(get_family("churn").spec, data, cfg, ws, model_name=name, resume=True)
    assert result.study.n_complete + result.study.n_pruned == cfg.tuning.n_trials
    children = mlflow.search_runs(
        experiment_ids=[mlflow.get_run(result.run_id).info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{result.run_id}'",
    )
    assert len(children) == cfg.tuning.n_trials  # trials 0-1 before the kill, 2 after, one parent run
    assert registry.alias_version(name, "champion") == result.model_version == "1"
