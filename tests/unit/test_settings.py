"""Settings never depend on the working directory: shipped defaults, project overrides, named files, typos."""

from __future__ import annotations

import pytest

from cxml.config import SettingsError, Workspace, load_pipeline
from cxml.decision.nba import NbaConfig

pytestmark = pytest.mark.unit


def test_the_shipped_pipeline_is_read_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_pipeline("churn")
    assert cfg.as_of == "2025-10-01" and cfg.tuning.n_trials == 25 and cfg.tuning.timeout_s == 240


def test_a_project_file_overrides_key_by_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "churn.yaml").write_text("family: churn\ntuning:\n  n_trials: 3\n")
    cfg = load_pipeline("churn")
    assert cfg.tuning.n_trials == 3 and cfg.tuning.timeout_s == 240 and cfg.as_of == "2025-10-01"


def test_a_named_file_that_is_missing_fails_at_once(tmp_path):
    with pytest.raises(SettingsError, match=r"nope\.yaml does not exist"):
        load_pipeline("churn", tmp_path / "nope.yaml")


def test_a_typo_names_the_file_and_the_key(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("family: churn\ntuning:\n  n_trails: 3\n")
    with pytest.raises(SettingsError, match=r"mine\.yaml: tuning\.n_trails: Extra inputs"):
        load_pipeline("churn", path)


def test_bad_yaml_names_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("family: [churn\n")
    with pytest.raises(SettingsError, match=r"broken\.yaml: not valid YAML"):
        load_pipeline("churn", path)


def test_the_policy_resolves_from_the_workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ws = Workspace(tmp_path / "ws")
    assert ws.policy is None and NbaConfig.from_yaml(ws.policy).policy.max_contacts_30d == 3
    ws.root.mkdir()
    (ws.root / "policy.yaml").write_text("policy:\n  max_contacts_30d: 1\n")
    assert NbaConfig.from_yaml(ws.policy).policy.max_contacts_30d == 1
    assert NbaConfig.from_yaml(ws.policy).policy.max_contacts_7d == 1  # the shipped value beneath


def test_a_workspace_uses_its_own_store_unless_given_one(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////elsewhere.db")  # what mlflow.set_tracking_uri leaves
    assert Workspace(tmp_path).tracking_uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert Workspace(tmp_path, tracking_uri="http://127.0.0.1:5000").tracking_uri == "http://127.0.0.1:5000"


def test_the_command_line_honours_mlflow_tracking_uri(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from cxml.cli import app

    other = tmp_path / "shared" / "mlflow.db"
    other.parent.mkdir()
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{other}"}
    result = CliRunner().invoke(app, ["promote", "churn", "--home", str(tmp_path / "ws")], env=env)
    assert other.exists() and not (tmp_path / "ws" / "mlflow.db").exists(), result.output
    flag = ["--tracking-uri", f"sqlite:///{tmp_path / 'flag.db'}", "promote", "churn", "--home", str(tmp_path / "ws")]
    CliRunner().invoke(app, flag)
    assert (tmp_path / "flag.db").exists() and not (tmp_path / "ws" / "mlflow.db").exists()


def test_house_floors_hold():
    """The import-linter contracts of pyproject.toml (the floors of DESIGN §2) are kept."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    lint = Path(sys.executable).parent / "lint-imports"
    out = subprocess.run([str(lint), "--no-cache"], cwd=repo, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:]


def test_one_as_of_rule_for_every_family():
    from cxml.datasets import check_as_of, get_family

    assert check_as_of(get_family("churn"), "2025-10-01T13:00", from_command_line=True) == "2025-10-01"
    with pytest.raises(ValueError, match="churn needs a date"):
        check_as_of(get_family("churn"), None, from_command_line=False)
    with pytest.raises(ValueError, match="is not a date"):
        check_as_of(get_family("survival"), "last tuesday", from_command_line=True)
    with pytest.raises(ValueError, match="uplift takes no --as-of: features are taken as of the campaign"):
        check_as_of(get_family("uplift"), "2025-10-01", from_command_line=True)
    assert check_as_of(get_family("uplift"), "2025-10-01", from_command_line=False) is None  # a pipeline's value
    assert check_as_of(get_family("price"), None, from_command_line=False) is None  # cutoff: optional
