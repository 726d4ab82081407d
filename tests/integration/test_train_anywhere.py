"""``cxml train`` run from a folder outside the repository reads the pipeline shipped inside the package."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import mlflow
import pytest

from cxml import tracking
from cxml.config import Workspace
from cxml.data.synthetic import write_company
from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def test_train_from_another_folder_gets_the_shipped_pipeline(tmp_path):
    data, home, elsewhere = tmp_path / "company", tmp_path / "ws", tmp_path / "elsewhere"
    write_company(data, n_customers=1500, seed=2)
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PYTHONPATH"] = str(ROOT / "src")
    cmd = [sys.executable, "-m", "cxml.cli", "train", "churn", "--data", str(data), "--trials", "1", "--json"]
    proc = subprocess.run(
        [*cmd, "--home", str(home)], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    payload = json.loads(proc.stdout.strip().splitlines()[-1])
    tracking.configure(Workspace(home))
    params = mlflow.get_run(payload["run_id"]).data.params
    config = json.loads(params["config"])
    # the shipped churn.yaml: as_of, label windows, the tuning time limit and gate (trials overridden to 1)
    assert params["as_of"] == "2025-10-01" and config["as_of"] == "2025-10-01"
    assert config["tuning"]["timeout_s"] == 240 and config["tuning"]["n_trials"] == 1
    assert config["label"] == {"horizon_days": 90, "active_window_days": 180}
    assert not (elsewhere / ".cxml").exists() and (home / "mlflow.db").exists()
