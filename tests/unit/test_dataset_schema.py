"""The schema cxml logs with each training frame equals MLflow's own inference, at a fraction of its cost."""

import json
import time

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.types.utils import _infer_schema

from cxml import tracking
from cxml.config import Workspace

pytestmark = pytest.mark.unit


def _frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    spend = rng.gamma(2.0, 50.0, rows)
    spend[::7] = np.nan
    channel = pd.Series(rng.choice(["web", "app", "store"], rows), dtype="str")
    channel[::11] = None
    return pd.DataFrame(
        {
            "orders": rng.integers(0, 20, rows),
            "spend": spend,
            "share": rng.random(rows).astype("float32"),
            "consent": rng.random(rows) < 0.5,
            "signup_at": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 500, rows), unit="D"),
            "channel": channel,
            "segment": pd.Series(rng.choice(["a", "b"], rows), dtype="object"),
            "churned": rng.integers(0, 2, rows),
        }
    )


@pytest.mark.parametrize("rows", [1, 5, 3_000])
def test_the_schema_equals_mlflows_own(rows):
    frame = _frame(rows)
    assert tracking.dataset_schema(frame).to_dict() == _infer_schema(frame).to_dict()


def test_a_missing_value_past_the_sample_still_makes_the_column_optional():
    frame = _frame(tracking.SCHEMA_SAMPLE_ROWS * 3)
    frame["channel"] = frame["channel"].fillna("web")
    frame.loc[len(frame) - 1, "channel"] = None
    spec = {c.name: c for c in tracking.dataset_schema(frame).inputs}
    assert not spec["channel"].required and spec["orders"].required and not spec["spend"].required
    assert spec["channel"].type == _infer_schema(frame).input_dict()["channel"].type


def test_an_all_missing_text_column_gets_a_type_and_is_optional():
    frame = _frame(50).assign(note=pd.Series([None] * 50, dtype="object"))
    spec = {c.name: c for c in tracking.dataset_schema(frame).inputs}
    assert not spec["note"].required


def test_it_is_vectorised_and_the_logged_input_carries_it(tmp_path):
    frame = _frame(200_000)
    started = time.perf_counter()
    fast = tracking.dataset_schema(frame)
    fast_s = time.perf_counter() - started
    started = time.perf_counter()
    _infer_schema(frame)
    mlflow_s = time.perf_counter() - started
    assert fast_s * 10 < mlflow_s, (fast_s, mlflow_s)  # a ratio in one run, not a wall-clock limit

    with tracking.using(Workspace(tmp_path)), mlflow.start_run() as run:  # the process's MLflow URI restored after
        tracking.log_dataset(
            frame.drop(columns="churned"), frame[["churned"]], name="t-train", source="t", context="train"
        )
        logged = mlflow.get_run(run.info.run_id).inputs.dataset_inputs[0].dataset
    assert json.loads(logged.schema)["mlflow_colspec"] == fast.to_dict()
    assert json.loads(logged.profile) == {"num_rows": 200_000, "num_elements": 1_600_000}


def test_a_schema_that_cannot_be_typed_never_fails_the_run(tmp_path, monkeypatch):
    def cannot_type(frame):
        raise TypeError("a column of mixed Python objects")

    monkeypatch.setattr(tracking, "dataset_schema", cannot_type)
    frame = _frame(20)
    with tracking.using(Workspace(tmp_path)), mlflow.start_run() as run:
        tracking.log_dataset(frame.drop(columns="churned"), frame[["churned"]], name="t", source="t", context="train")
        logged = mlflow.get_run(run.info.run_id).inputs.dataset_inputs[0].dataset
    assert json.loads(logged.profile)["num_rows"] == 20  # logged, with MLflow's own schema
