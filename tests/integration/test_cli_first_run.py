"""A new workspace on the command line, end to end in a subprocess (a real, empty MLflow store in a temp dir):
``build``, ``serve`` and ``promote`` before anything is trained print one clear error line that names the
command to run, exit 1, and never a traceback."""

from __future__ import annotations

import pytest

from cxml import registry, tracking
from cxml.config import Workspace
from cxml.data.synthetic import write_company
from tests.conftest import run_cli

pytestmark = pytest.mark.integration


@pytest.fixture
def empty_home(tmp_path, monkeypatch):
    """A workspace with nothing in it (no data, no MLflow store), and no tracking server from outside."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path / ".cxml"


def _one_clear_error(proc, *needles: str) -> str:
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


@pytest.mark.parametrize("command", ["build", "serve"])
def test_build_and_serve_before_any_training_say_train_churn_first(command, empty_home):
    proc, _ = run_cli(command, home=empty_home, timeout=120)
    _one_clear_error(proc, "train churn first", "cxml train churn")
    assert not (empty_home / "snapshots").exists() or not any((empty_home / "snapshots").iterdir())


def test_build_with_a_missing_data_folder_still_says_train_churn_first(empty_home, tmp_path):
    proc, _ = run_cli("build", "--data", str(tmp_path / "nowhere"), home=empty_home, timeout=120)
    _one_clear_error(proc, "cxml train churn")


def test_promote_without_a_champion_says_how_to_make_one(empty_home):
    proc, _ = run_cli("promote", "churn", home=empty_home, timeout=120)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    assert "cxml.churn: no champion yet" in proc.stdout and "`cxml train churn`" in proc.stdout
    assert "None" not in proc.stdout


def test_promote_a_version_that_does_not_exist_is_a_clear_error(empty_home):
    proc, _ = run_cli("promote", "churn", "--version", "99", home=empty_home, timeout=120)
    line = _one_clear_error(proc, "cxml.churn has no version 99", "no versions yet")
    assert "MlflowException" not in proc.stderr and "RESOURCE_DOES_NOT_EXIST" not in line


def test_build_with_data_but_no_model_says_train_churn_first_before_writing_a_snapshot(empty_home):
    write_company(empty_home / "data" / "company", 300, seed=0)
    proc, _ = run_cli("build", home=empty_home, timeout=120)
    _one_clear_error(proc, "train churn first: cxml train churn")
    assert not (empty_home / "snapshots").exists() or not any((empty_home / "snapshots").iterdir())


def test_promote_names_the_versions_that_do_exist(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    ws = Workspace(tmp_path / "ws")
    with tracking.using(ws):
        c = tracking.client()
        c.create_registered_model("cxml.churn")
        for _ in range(2):
            c.create_model_version("cxml.churn", source=str(tmp_path / "model"))
        assert registry.versions("cxml.churn") == ["1", "2"]
        with pytest.raises(ValueError, match=r"cxml\.churn has no version 99: its versions are 1, 2"):
            registry.promote("cxml.churn", "99", reason="test")
        with pytest.raises(ValueError, match="only a passed version can be promoted"):
            registry.promote("cxml.churn", "2", reason="test")
