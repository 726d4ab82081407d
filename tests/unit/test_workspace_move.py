"""Re-rooting a moved workspace's stored paths: which values change and which never do, on a small SQLite file
shaped like MLflow's (the real store is exercised in tests/integration/test_movable_workspace.py)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from cxml.config import Workspace
from cxml.workspace_move import RECORD_FILE, path_rewriter, recorded_root, reroot

pytestmark = pytest.mark.unit
OLD, NEW = Path("/srv/old ws"), Path("/home/me/new")


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("file:///srv/old%20ws/mlartifacts/cxml_churn", "file:///home/me/new/mlartifacts/cxml_churn"),
        ("/srv/old ws/data/company", "/home/me/new/data/company"),
        ('{"uri": "/srv/old ws/data/company"}', '{"uri": "/home/me/new/data/company"}'),
        ("sqlite:////srv/old ws/mlflow.db", "sqlite:////home/me/new/mlflow.db"),
        ("/srv/old ws", "/home/me/new"),
        ("/srv/old wsx/data", "/srv/old wsx/data"),  # another folder that only starts like it
        ("/backup/srv/old ws/data", "/backup/srv/old ws/data"),  # the same name under another folder
        ("models:/m-55b772a0452446b1", "models:/m-55b772a0452446b1"),
    ],
)
def test_only_paths_under_the_old_root_move(stored: str, expected: str) -> None:
    assert path_rewriter(OLD, NEW)(stored) == expected


def test_numbers_and_nulls_are_left_as_they_are() -> None:
    rewrite = path_rewriter(OLD, NEW)
    assert [rewrite(0.25), rewrite(None), rewrite(3)] == [0.25, None, 3]


def test_a_new_root_inside_the_old_one_is_rewritten_once() -> None:
    rewrite = path_rewriter(Path("/w"), Path("/w/inner"))
    once = rewrite("file:///w/mlartifacts/1")
    assert once == "file:///w/inner/mlartifacts/1" and rewrite(once) == once


def _store(root: Path, artifacts_root: Path) -> Path:
    """An MLflow-shaped store whose experiment and run live under ``artifacts_root``, with no record of a root."""
    root.mkdir(parents=True)
    path = root / "mlflow.db"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE experiments (experiment_id INTEGER, artifact_location VARCHAR(256))")
        con.execute("CREATE TABLE runs (run_uuid VARCHAR(32), artifact_uri VARCHAR(200), start_time BIGINT)")
        con.execute("INSERT INTO experiments VALUES (1, ?)", ((artifacts_root / "mlartifacts" / "churn").as_uri(),))
        con.execute("INSERT INTO runs VALUES ('r1', ?, 17)", ((artifacts_root / "mlartifacts" / "churn/r1").as_uri(),))
    con.close()
    return path


def test_a_workspace_without_a_record_tells_its_old_root_by_its_artifact_folders(tmp_path: Path) -> None:
    """A workspace written before the record existed, then copied: re-rooted on the first open, not the second."""
    store = _store(tmp_path / "copy", tmp_path / "original")
    ws = Workspace(tmp_path / "copy")
    said = reroot(ws)
    assert said is not None and said.startswith(f"workspace moved from {tmp_path / 'original'} to {ws.root}")
    assert "re-rooted 2 stored paths (experiments 1, runs 1)" in said
    with sqlite3.connect(store) as con:
        assert con.execute("SELECT artifact_uri, start_time FROM runs").fetchone() == (
            (ws.root / "mlartifacts" / "churn/r1").as_uri(),
            17,
        )
    con.close()
    assert recorded_root(ws.root) == ws.root and reroot(ws) is None


def test_a_workspace_opened_where_it_was_made_is_only_recorded(tmp_path: Path) -> None:
    _store(tmp_path / "ws", tmp_path / "ws")
    ws = Workspace(tmp_path / "ws")
    assert reroot(ws) is None
    assert json.loads((ws.root / RECORD_FILE).read_text()) == {"root": str(ws.root)}


def test_a_workspace_on_a_shared_tracking_store_is_never_touched(tmp_path: Path) -> None:
    store = _store(tmp_path / "copy", tmp_path / "original")
    before = store.read_bytes()
    assert reroot(Workspace(tmp_path / "copy", tracking_uri="http://mlflow.example:5000")) is None
    assert store.read_bytes() == before and not (tmp_path / "copy" / RECORD_FILE).exists()


def test_a_snapshot_record_that_names_its_tables_absolutely_is_re_rooted(tmp_path: Path) -> None:
    """Snapshots written before the record was relative name the old folder: the copy must read its own tables."""
    _store(tmp_path / "copy", tmp_path / "original")
    ws = Workspace(tmp_path / "copy")
    meta = ws.snapshots / "snapshot.json"
    meta.write_text(json.dumps({"as_of": "2025-01-01", "data": str(tmp_path / "original" / "data" / "company")}))
    said = reroot(ws)
    assert said is not None and "snapshot records 1" in said
    assert json.loads(meta.read_text()) == {"as_of": "2025-01-01", "data": str(ws.root / "data" / "company")}
