"""A workspace shared by concurrent commands (issue 17, "Sharing a workspace"): promotion and rollback are
serialised, a second training waits or refuses with a message, a version whose run died before the gate is
never promotable and the next run marks it abandoned."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification

from cxml import registry, tracking
from cxml.config import Workspace
from cxml.workspace_lock import hold
from tests.conftest import ROOT, run_cli, xgboost_pipeline

pytestmark = pytest.mark.integration
NAME = "cxml.churn.shared"
PASSED = ["1", "2", "3", "4", "5", "6"]


def _status(name: str, version: str) -> str | None:
    return tracking.client().get_model_version(name, version).tags.get("validation_status")


@pytest.fixture
def store(tmp_path, monkeypatch):
    """Six passed versions, a rejected one (7) and one left pending by a run (8), in a fresh SQLite workspace."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    ws = Workspace(tmp_path / "ws")
    with tracking.using(ws):
        c = tracking.client()
        c.create_registered_model(NAME)
        for status in [*["passed"] * 6, "rejected", "pending"]:
            c.create_model_version(NAME, source=str(tmp_path / "model"), tags={"validation_status": status})
        yield ws


def test_concurrent_promote_and_rollback_only_ever_serve_a_passed_version(store):
    """100 rounds of promote 1 ∥ rollback ∥ promote 6 (plus promote of the rejected and the pending version),
    each from a state drawn at random: champion and previous always name versions that passed."""
    c, rng = tracking.client(), random.Random(17)
    outcomes: dict[str, int] = {}
    bad: list[str] = []
    demoted: list[str] = []
    started = time.monotonic()
    for round_ in range(100):
        while demoted:  # undo the last round's rollback tag: every round starts from six passed versions
            c.set_model_version_tag(NAME, demoted.pop(), "validation_status", "passed")
        champion, previous = rng.sample(PASSED, 2)
        c.set_registered_model_alias(NAME, "champion", champion)
        c.set_registered_model_alias(NAME, "previous", previous)
        ops = [
            lambda: registry.promote(NAME, "1", "race"),
            lambda: demoted.append(registry.rollback(NAME)[0]),
            lambda: registry.promote(NAME, "6", "race"),
            lambda: registry.promote(NAME, rng.choice(["7", "8"]), "race"),
        ]
        barrier = threading.Barrier(len(ops))

        def run(op, barrier=barrier, round_=round_):
            barrier.wait()
            try:
                op()
                key = "applied"
            except ValueError as exc:
                key = "refused: " + str(exc).split(";")[0].split(":")[0][:40]
            except Exception as exc:  # a store error from a lost race (StaleDataError before the lock)
                key = "crashed"
                bad.append(f"round {round_}: {type(exc).__name__}: {str(exc)[:100]}")
            outcomes[key] = outcomes.get(key, 0) + 1

        threads = [threading.Thread(target=run, args=(op,)) for op in ops]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        champ = registry.alias_version(NAME, "champion")
        prev = registry.alias_version(NAME, "previous")
        if champ is None or _status(NAME, champ) != "passed":
            bad.append(f"round {round_}: champion {champ} is {champ and _status(NAME, champ)}")
        if prev is not None and (prev == champ or _status(NAME, prev) != "passed"):
            bad.append(f"round {round_}: previous {prev} is {_status(NAME, prev)} (champion {champ})")
    elapsed = time.monotonic() - started
    print(f"100 rounds in {elapsed:.1f} s: {outcomes}; {len(bad)} violations")
    assert not bad, bad
    assert outcomes["applied"] >= 100  # the rounds did race real changes, not only refusals
    assert elapsed < 60


def test_a_lost_race_at_the_gate_keeps_the_status_but_not_the_alias(store):
    """Compare-and-set: a candidate gated against champion 2 does not take the alias once someone moved it."""
    c = tracking.client()
    c.set_registered_model_alias(NAME, "champion", "3")
    decision = registry.GateDecision(True, "promoted: test", "roc_auc", 0.9, 0.5, 0.8)
    assert not registry.apply_decision(NAME, "8", decision, champion_seen="2")
    assert registry.alias_version(NAME, "champion") == "3"
    assert _status(NAME, "8") == "passed"
    assert "the champion moved from 2 to 3" in c.get_model_version(NAME, "8").tags["gate_reason"]
    assert registry.apply_decision(NAME, "8", decision, champion_seen="3")
    assert registry.alias_version(NAME, "champion") == "8"
    assert registry.alias_version(NAME, "previous") == "3"


def test_a_pending_version_cannot_be_promoted(store):
    with pytest.raises(ValueError, match=r"validation_status='pending'.*died before it"):
        registry.promote(NAME, "8", "try")


# --- training on a shared workspace, through the command line in subprocesses --------------------------------


@pytest.fixture
def table(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    X, y = make_classification(600, 6, n_informative=4, random_state=1)
    path = tmp_path / "shared.csv"
    pd.DataFrame(X, columns=[f"f{i}" for i in range(6)]).assign(churned=y).to_csv(path, index=False)
    return path


def _train_args(table: Path) -> list[str]:
    pipeline = xgboost_pipeline(table.parent)
    return [
        "train",
        "churn",
        "--table",
        str(table),
        "--target",
        "churned",
        "--trials",
        "1",
        "--pipeline",
        str(pipeline),
    ]


def _env(home: Path) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    path = os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {**inherited, "CXML_HOME": str(home), "PYTHONPATH": path}


def _no_traceback(*texts: str) -> None:
    for text in texts:
        assert "Traceback" not in text, text


def test_two_trainings_at_once_the_second_waits_and_both_finish(table, tmp_path):
    home = tmp_path / ".cxml"
    command = [sys.executable, "-m", "cxml.cli", *_train_args(table), "--json"]
    procs = [subprocess.Popen(command, cwd=ROOT, env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]  # fmt: skip
    outputs = [p.communicate(timeout=600) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
        _no_traceback(out, err)
    waited = [err for _, err in outputs if "waiting up to 1800 s for the other training run" in err]
    assert len(waited) == 1, [err[-2000:] for _, err in outputs]
    assert "train churn --table" in waited[0]  # names the run it waits for
    with tracking.using(Workspace(home)):
        found = tracking.client().search_model_versions("name = 'cxml.churn.shared'")
        assert sorted(v.tags["validation_status"] for v in found) in (["passed", "passed"], ["passed", "rejected"])
        runs = mlflow.search_runs(search_all_experiments=True)
        assert set(runs["status"]) == {"FINISHED"}


def test_a_training_on_a_busy_workspace_says_so_waits_and_gives_up_without_a_run(table, tmp_path):
    home = tmp_path / ".cxml"
    with hold(home / "train.lock", what="the test's long training", timeout=0):
        proc, _ = run_cli(*_train_args(table), "--wait", "1", home=home, timeout=300)
    assert proc.returncode == 1, proc.stderr[-3000:]
    _no_traceback(proc.stdout, proc.stderr)
    assert "waiting up to 1 s for the other training run" in proc.stderr
    assert "the test's long training" in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "busy after waiting 1 s" in errors[0] and "nothing was trained" in errors[0]
    assert not (home / "mlflow.db").exists()  # no run was started, so none is left FAILED


KILLED_AT_THE_GATE = """
import os, sys
from cxml import registry
registry.decide = lambda *a, **k: os._exit(137)  # kill -9 between registration and the gate
from cxml.cli import app
sys.argv = ["cxml", *sys.argv[1:]]
app()
"""


def test_a_version_registered_by_a_killed_run_is_never_promotable_and_resume_marks_it(table, tmp_path):
    home = tmp_path / ".cxml"
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_AT_THE_GATE, *_train_args(table)],
        cwd=ROOT,
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == 137, killed.stderr[-3000:]
    name = "cxml.churn.shared"
    with tracking.using(Workspace(home)):
        assert _status(name, "1") == "pending"
        assert registry.alias_version(name, "champion") is None

    proc, _ = run_cli("promote", "churn", "--name", name, "--version", "1", home=home, timeout=120)
    assert proc.returncode == 1 and "validation_status='pending'" in proc.stderr
    _no_traceback(proc.stderr)

    proc, payload = run_cli(*_train_args(table), "--resume", "--json", home=home, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resume: continuing run" in proc.stderr
    assert f"{name} version 1 was left pending" in proc.stderr and "marked abandoned" in proc.stderr
    assert payload["model_version"] == "2"
    with tracking.using(Workspace(home)):
        v1 = tracking.client().get_model_version(name, "1")
        assert v1.tags["validation_status"] == "abandoned"
        assert "died between registration and the gate" in v1.tags["gate_reason"]
        assert _status(name, "2") == "passed" and registry.alias_version(name, "champion") == "2"

    proc, _ = run_cli("promote", "churn", "--name", name, "--version", "1", home=home, timeout=120)
    assert proc.returncode == 1 and "validation_status='abandoned'" in proc.stderr
    _no_traceback(proc.stderr)


def test_a_gate_that_fails_in_process_marks_its_version_abandoned_at_once(tmp_path, monkeypatch):
    from cxml.config import PipelineConfig
    from cxml.datasets import get_family
    from cxml.datasets.tables import table_dataset
    from cxml.training import train

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    X, y = make_classification(400, 5, random_state=2)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)]).assign(churned=y)
    frame["n"] = np.arange(len(frame)) % 7
    data, _ = table_dataset(frame, "churned", name="gate_fail", source="generated")
    cfg = PipelineConfig.model_validate({"family": "churn", "tuning": {"n_trials": 1, "cv_folds": 2}})
    ws = Workspace(tmp_path / "ws")

    def broken(*args, **kwargs):
        raise RuntimeError("the gate broke")

    monkeypatch.setattr(registry, "decide", broken)
    with pytest.raises(RuntimeError, match="the gate broke"):
        train(get_family("churn").spec, data, cfg, ws, model_name="cxml.churn.gate_fail")
    with tracking.using(ws):
        v1 = tracking.client().get_model_version("cxml.churn.gate_fail", "1")
        assert v1.tags["validation_status"] == "abandoned"
        assert "RuntimeError: the gate broke" in v1.tags["gate_reason"]
        assert registry.alias_version("cxml.churn.gate_fail", "champion") is None
