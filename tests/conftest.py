"""Shared test helpers: where the public data sets live, and running the CLI as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# One booster thread per test process, inherited by every command a test starts: `make test` runs more workers
# than cores, and a LightGBM or XGBoost pool of all cores in each would fight the others for them. The models are
# the same at any count (tests/unit/test_threads.py), so this changes only the speed.
os.environ.setdefault("CXML_THREADS", "1")
SHARED_DATA = ROOT.parent / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """A public data set read in place from ../shared/data; skips (with the path) when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"public data set not found at {path} (expected ../shared/data beside the repo)")
    return path


NO_MLFLOW_ENV: dict[str, str | None] = {"MLFLOW_TRACKING_URI": None, "MLFLOW_REGISTRY_URI": None}
"""``CliRunner().invoke(..., env=NO_MLFLOW_ENV)``: an in-process command must not inherit the store another test
left in the environment (MLflow's ``set_tracking_uri`` writes it there), as ``run_cli`` does for a subprocess."""


def xgboost_pipeline(folder: Path, family: str = "churn") -> Path:
    """A pipeline over the shipped one that tunes XGBoost alone, for tests of the workspace, the store or the server
    where the model only has to exist: the shipped churn search starts with CatBoost's defaults (1,000-tree scale,
    bagged five times at the refit), which adds ~10 s to every small training and proves nothing there."""
    path = folder / f"{family}-xgboost.yaml"
    path.write_text(f"family: {family}\ntuning:\n  algorithms: [xgboost]\n")
    return path


def run_cli(*args: str, home: Path, timeout: float = 900) -> tuple[subprocess.CompletedProcess, dict | None]:
    """Run ``cxml`` in a subprocess from the repo root; returns the process and the last-line JSON if any."""
    # MLflow's set_tracking_uri writes MLFLOW_TRACKING_URI into this process's environment; the command must not
    # inherit another test's store (the CLI honours the variable), so it starts without it, like a user's shell
    inherited = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    env = {
        **inherited,
        "CXML_HOME": str(home),
        "BENTOML_DO_NOT_TRACK": "true",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "cxml.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = proc.stdout.strip().splitlines()
    payload = None
    if lines and lines[-1].startswith("{"):
        payload = json.loads(lines[-1])
    return proc, payload
