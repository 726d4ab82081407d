"""``cxml train churn --data`` on corrupt tables: the contract message, exit 2 (train's code for input it
refuses), no traceback, nothing written. Every corruption is checked through ``cxml validate`` in the unit tests;
these three (an unreadable file, a bad value, an empty table) prove ``train`` takes the same path."""

from __future__ import annotations

from pathlib import Path

import pytest

from cxml.data.synthetic import Company
from tests.conftest import run_cli
from tests.unit.test_corrupt_tables import CASES, Case, _assert_message, _broken, _files, clean_dir, company

pytestmark = pytest.mark.integration
__all__ = ["clean_dir", "company"]  # the fixtures, shared with the unit cases


TRAIN_CASES = [c for c in CASES if c.id in {"truncated parquet", "abc in a float column", "empty orders"}]


@pytest.mark.parametrize("case", TRAIN_CASES, ids=[c.id for c in TRAIN_CASES])
def test_train_refuses_with_the_message_and_writes_nothing(
    clean_dir: Path, company: Company, tmp_path: Path, case: Case
) -> None:
    folder = _broken(clean_dir, company, tmp_path, case)
    home = tmp_path / "home"
    proc, payload = run_cli("train", "churn", "--data", str(folder), "--json", home=home, timeout=300)
    assert proc.returncode == 2 and payload is None, proc.stderr[-2000:]  # train's exit code for input it refuses
    _assert_message(proc.stderr, case)
    assert not (home / "mlflow.db").exists() and not (home / "snapshots").exists()
    assert _files(home) == []
