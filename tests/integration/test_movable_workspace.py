"""A workspace moved or copied keeps working (issue 17): a copy trains, promotes and logs into itself and never
into the original; a moved one scores, explains, reports and exports its champion from the new place. The
re-rooting is said once, on the first command after the move, and never again."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import sqlite3
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from typer.testing import CliRunner

from cxml import registry, tracking
from cxml.cli import app
from cxml.config import Workspace
from cxml.data.synthetic import write_company
from cxml.jobs.export import export_for_serving
from cxml.jobs.snapshot import read_snapshot, snapshot_data_dir
from cxml.pyfunc import load_estimator
from cxml.serving.store import read_manifest
from cxml.workspace_move import RECORD_FILE
from tests.conftest import NO_MLFLOW_ENV, xgboost_pipeline

pytestmark = pytest.mark.integration
NAME = "cxml.churn"
MOVED = "workspace moved from"


def _cli(*args: str) -> str:
    """One in-process ``cxml`` command; what it printed."""
    result = CliRunner().invoke(app, list(args), env=NO_MLFLOW_ENV)
    assert result.exit_code == 0, result.output[-2000:]
    return result.output


def _answer(*args: str) -> dict:
    """One in-process ``cxml`` command with ``--json``; its JSON answer."""
    printed = _cli(*args, "--json").splitlines()
    return json.loads(next(line for line in reversed(printed) if line.startswith("{")))


def _tree(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``root``: its content digest and modification time."""
    return {
        str(path.relative_to(root)): (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _store_text(root: Path) -> str:
    with sqlite3.connect(root / "mlflow.db") as con:
        return "\n".join(con.iterdump())


def _reroots(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "cxml.workspace_move" and MOVED in r.getMessage()]


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Workspace A: a 1,500-customer company inside it, a churn champion and the serving snapshot."""
    root = tmp_path_factory.mktemp("moves") / "A"
    write_company(Workspace(root).data, n_customers=1500, seed=3)
    trained = _answer(
        "train", "churn", "--trials", "1", "--pipeline", str(xgboost_pipeline(root.parent)), "--home", str(root)
    )
    assert trained["model_version"] == "1" and trained["gate"]["decision"] == "promoted", trained["gate"]
    _cli("snapshot", "--home", str(root))
    return root


def test_a_copy_trains_promotes_and_logs_into_itself_never_into_the_original(
    original: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    copy = tmp_path / "B"
    shutil.copytree(original, copy)  # contents and modification times
    before = _tree(original)
    caplog.set_level(logging.INFO, logger="cxml.workspace_move")

    trained = _answer(
        "train", "churn", "--trials", "1", "--pipeline", str(xgboost_pipeline(tmp_path)), "--home", str(copy)
    )
    _cli("promote", "churn", "--version", "1", "--home", str(copy))
    _cli("report", "churn", "--home", str(copy))  # logs the card to v1's run, the one copied from A

    assert _tree(original) == before  # not one byte, not one modification time
    assert [m.split(":")[0] for m in _reroots(caplog)] == [_said(original, copy)]  # by the first command only
    assert str(original) not in _store_text(copy)
    tracking.configure(Workspace(copy))
    runs = mlflow.search_runs(experiment_names=["cxml/churn"])
    assert runs["artifact_uri"].str.startswith(f"{copy.as_uri()}/mlartifacts/cxml_churn/").all()
    assert trained["run_id"] in set(runs["run_id"]) and trained["model_version"] == "2"
    written = set(_tree(copy)) - set(before)
    assert any(f.startswith("mlartifacts/cxml_churn/models/") and f.endswith("MLmodel") for f in written)
    v1_run = tracking.client().get_model_version(NAME, "1").run_id
    assert list((copy / "mlartifacts" / "cxml_churn" / v1_run / "artifacts" / "model_card").glob("*.html"))
    assert registry.alias_version(NAME, registry.CHAMPION) == "1"
    assert json.loads((copy / RECORD_FILE).read_text()) == {"root": str(copy)}


def test_a_moved_workspace_explains_scores_reports_and_exports_from_its_new_place(
    original: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    before, after = tmp_path / "M", tmp_path / "C"
    shutil.copytree(original, before)
    tracking.configure(Workspace(before))  # M is a workspace of its own; then it moves, and M is gone
    before.rename(after)
    caplog.set_level(logging.INFO, logger="cxml.workspace_move")
    snapshot, _ = read_snapshot(Workspace(after))
    customer = str(snapshot.index[0])

    explained = _answer("explain", "churn", "--customer", customer, "--home", str(after))
    scored = _answer("score", "churn", "--out", str(tmp_path / "scores.parquet"), "--home", str(after))
    _cli("report", "churn", "--home", str(after))
    tags = export_for_serving(Workspace(after))

    assert [m.split(":")[0] for m in _reroots(caplog)] == [_said(before, after)]  # by the first command only
    stored = _store_text(after)
    assert not before.exists() and str(before) not in stored and str(original) not in stored
    tracking.configure(Workspace(original))
    estimator = load_estimator(f"models:/{NAME}/1")
    features = snapshot[list(estimator.feature_names_in_)]
    expected = pd.Series(estimator.predict_proba(features)[:, 1], index=features.index.astype(str))
    tracking.configure(Workspace(after))
    assert registry.alias_version(NAME, registry.CHAMPION) == "1"
    moved = load_estimator(f"models:/{NAME}/1")
    assert moved.predict_proba(features)[:, 1].tolist() == expected.tolist()
    assert explained["model_version"] == "1" and explained["score"] == pytest.approx(expected[customer], abs=1e-12)
    scores = pd.read_parquet(tmp_path / "scores.parquet").set_index("customer_id")["score"]
    assert scored["rows"] == len(expected) == len(scores)
    assert scores.reindex(expected.index).to_numpy() == pytest.approx(expected.to_numpy(), abs=1e-12)
    v1_run = tracking.client().get_model_version(NAME, "1").run_id
    assert list((after / "mlartifacts" / "cxml_churn" / v1_run / "artifacts" / "model_card").glob("*.html"))
    assert read_manifest(after / "served.json") == tags and tags["churn"].startswith("cxml-churn:v1-")
    assert (after / "bentoml" / "models" / "cxml-churn").is_dir()
    assert snapshot_data_dir(Workspace(after)) == Workspace(after).data  # scores read the moved tables


def _said(old: Path, new: Path) -> str:
    return f"{MOVED} {old} to {new}"
