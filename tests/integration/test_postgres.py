"""PostgreSQL for what outgrows one machine: the MLflow store and Optuna studies shared by parallel workers.

One real cluster for the file (``postgres_fixtures``; one file, so one cluster per test session under
``--dist loadfile``). The churn slice runs through the CLI as a user runs it with ``--tracking-uri``, and the
registry is read back from the database: nothing may fall back to the workspace's SQLite file. Tuning runs two
worker processes on one study, and survives one of them being killed mid-trial.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time

import mlflow
import optuna
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sklearn.datasets import make_classification

from cxml import tracking
from cxml.config import TuningConfig, Workspace
from cxml.data.synthetic import write_company
from cxml.datasets import get_family
from cxml.jobs.snapshot import example_customer
from cxml.tuning import WORKER_ATTR, open_storage, run_study
from tests.conftest import run_cli, xgboost_pipeline
from tests.integration.postgres_fixtures import postgres  # noqa: F401 (fixture)
from tests.integration.serving_fixtures import serve

pytestmark = pytest.mark.integration


def test_churn_slice_on_postgres(postgres, tmp_path):  # noqa: F811
    url = postgres.database("mlflow_slice")
    data, home = tmp_path / "company", tmp_path / "ws"
    write_company(data, n_customers=1500, seed=4)

    def cxml(*args: str) -> dict | None:
        proc, payload = run_cli("--tracking-uri", url, *args, home=home)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return payload

    fast = ("--pipeline", str(xgboost_pipeline(tmp_path)))
    first = cxml("train", "churn", "--data", str(data), "--trials", "2", *fast, "--json")
    second = cxml("train", "churn", "--data", str(data), "--trials", "3", *fast, "--json")
    assert (first["model_version"], second["model_version"]) == ("1", "2")
    client = MlflowClient(tracking_uri=url, registry_uri=url)
    passed = [v for v in ("1", "2") if client.get_model_version("cxml.churn", v).tags["validation_status"] == "passed"]
    assert passed, "no version passed the gate on PostgreSQL"

    cxml("promote", "churn", "--version", passed[0])
    assert str(client.get_model_version_by_alias("cxml.churn", "champion").version) == passed[0]
    if len(passed) == 2:
        cxml("promote", "churn", "--version", passed[1])
        cxml("promote", "churn", "--rollback")
        assert str(client.get_model_version_by_alias("cxml.churn", "champion").version) == passed[0]

    cxml("snapshot", "--data", str(data))
    cxml("report", "churn")
    cxml("build")
    ws = Workspace(home)
    assert not (home / "mlflow.db").exists(), "something fell back to the workspace's SQLite store"
    runs = client.search_runs([client.get_experiment_by_name("cxml/churn").experiment_id])
    assert {first["run_id"], second["run_id"]} <= {r.info.run_id for r in runs}
    assert list((home / "reports").glob(f"cxml.churn-v{passed[0]}.html"))

    customer = example_customer(ws)
    with serve(ws, ws.manifest) as http:
        models = {m["family"]: m for m in http.get("/info").json()["models"]}
        assert models["churn"]["mlflow_version"] == passed[0]
        answer = http.post("/churn", json={"customer_id": customer})
        assert answer.status_code == 200, answer.text
        assert 0.0 <= answer.json()["probability"] <= 1.0 and answer.json()["model_version"] == passed[0]


@pytest.fixture(scope="module")
def xy():
    X, y = make_classification(4000, 10, n_informative=5, random_state=3)
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(10)]), y


def _trials(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=open_storage(url)).get_trials(deepcopy=False)


def test_two_workers_fill_one_study_and_every_trial_is_logged_once(postgres, xy):  # noqa: F811
    X, y = xy
    url = postgres.database("optuna_two")
    cfg = TuningConfig(n_trials=6, cv_folds=2, algorithms=("lightgbm",), n_jobs=1)
    seen: list[int] = []
    result = run_study(
        get_family("churn").spec, X, y, cfg, storage=url, study_name="two", workers=2,
        on_trial=lambda t: seen.append(t.number),
    )  # fmt: skip
    trials = _trials(url, "two")
    finished = [t for t in trials if t.state.is_finished()]
    assert len(finished) >= 6 and not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    assert sorted(seen) == sorted(t.number for t in finished) and len(set(seen)) == len(seen)
    assert result.n_complete + result.n_pruned == len(finished)
    assert result.best_value == max(t.value for t in finished if t.state == optuna.trial.TrialState.COMPLETE)


def test_a_worker_killed_mid_trial_and_the_study_still_finishes(postgres, xy):  # noqa: F811
    X, y = xy
    url = postgres.database("optuna_kill")
    cfg = TuningConfig(n_trials=8, cv_folds=3, algorithms=("lightgbm",), n_jobs=1)
    killed: list[int] = []

    def kill_one_worker_mid_trial() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            children = multiprocessing.active_children()  # the spawned worker; this process is the other
            running = len(children) == 1 and [
                t for t in _trials(url, "kill") if t.state == optuna.trial.TrialState.RUNNING
            ]
            if running:  # the worker that runs it, by the trial's host:pid
                pid = int(str(running[0].user_attrs.get(WORKER_ATTR, ":0")).rsplit(":", 1)[1])
                if pid in {c.pid for c in children}:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            time.sleep(0.2)

    killer = threading.Thread(target=kill_one_worker_mid_trial, daemon=True)
    killer.start()
    result = run_study(get_family("churn").spec, X, y, cfg, storage=url, study_name="kill", workers=2)
    killer.join()
    assert killed, "no worker was caught mid-trial"
    trials = _trials(url, "kill")
    states = [t.state for t in trials]
    done = [s for s in states if s in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)]
    assert len(done) >= 8 and optuna.trial.TrialState.RUNNING not in states
    assert optuna.trial.TrialState.FAIL in states  # the killed trial, failed and run again
    assert result.n_complete >= 1


def test_cxml_train_with_two_workers_on_a_postgres_study(postgres, tmp_path):  # noqa: F811
    url = postgres.database("optuna_cli")
    data, home = tmp_path / "company", tmp_path / "ws"
    write_company(data, n_customers=1500, seed=5)
    proc, payload = run_cli(
        "train", "churn", "--data", str(data), "--trials", "4", "--storage", url, "--workers", "2", "--json",
        home=home,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    tracking.configure(Workspace(home))
    params = mlflow.get_run(payload["run_id"]).data.params
    study = optuna.load_study(study_name=params["study"], storage=open_storage(url))
    finished = [t for t in study.trials if t.state.is_finished()]
    assert len(finished) >= 4
    nested = mlflow.search_runs(
        experiment_ids=[mlflow.get_run(payload["run_id"]).info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{payload['run_id']}'",
    )
    assert len(nested) == len(finished)  # every trial of both workers is a nested run of the one parent
    assert payload["model_version"] == "1"  # the best trial refitted and registered once
    assert not list((home / "studies").glob("*.payload.pkl"))  # the workers' copy of the rows is gone
