"""The Bank table resampled to 30,000 rows, trained through ``cxml train churn --table``: its surnames, row numbers
and customer ids reach neither the model, nor its input example, nor the holdout, nor any artifact or logged
dataset of the run, and the warning names ``Surname``."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from cxml import tracking
from cxml.config import Workspace
from cxml.pyfunc import load_estimator
from tests.conftest import run_cli, shared_data

pytestmark = pytest.mark.integration

LEFT_OUT = ["Surname", "RowNumber", "CustomerId"]


def _feature_names(estimator) -> list[str]:
    names = getattr(estimator, "feature_names_in_", None)
    assert names is not None, f"{type(estimator).__name__} does not say its features"
    return [str(n) for n in names]


def test_surnames_of_the_30000_row_bank_table_never_reach_the_model_or_mlflow(tmp_path):
    bank = pd.read_csv(shared_data("bank_churn", "Churn_Modelling.csv"))
    table = bank.sample(30_000, replace=True, random_state=17).reset_index(drop=True)
    # Resampled rows repeat, so boosters memorise them and never stop early (3 min of training); with the label
    # shuffled they stop at once. What is asserted is where the columns go, not what the model learns.
    table["Exited"] = table["Exited"].sample(frac=1.0, random_state=18).to_numpy()
    assert table["Surname"].nunique() < 30_000 * 0.2  # the old rule (a fifth of the rows) would have kept it
    csv, home = tmp_path / "bank_30000.csv", tmp_path / "ws"
    table.to_csv(csv, index=False)
    # distinctive surnames that are in the table (long enough not to turn up in binary bytes by chance)
    common = table["Surname"].value_counts()
    surnames = [s for s in common.index if len(s) >= 7 and s.isalpha()][:5]
    assert len(surnames) == 5

    fast = tmp_path / "fast.yaml"  # one LightGBM trial: what is asserted is where the columns go, not quality
    fast.write_text("family: churn\ntuning:\n  n_trials: 1\n  algorithms: [lightgbm]\n")
    proc, payload = run_cli(
        "train", "churn", "--table", str(csv), "--target", "Exited", "--pipeline", str(fast), "--json",
        "--home", str(home), home=home,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert payload is not None
    warning = next(line for line in proc.stderr.splitlines() if "Surname: left out as personal data" in line)
    assert "named like a person's name" in warning and "free text" in warning
    assert all(f"{c}: left out" in proc.stderr for c in ("RowNumber", "CustomerId"))

    tracking.configure(Workspace(home))
    model_uri = f"models:/{payload['model_name']}/{payload['model_version']}"
    features = _feature_names(load_estimator(model_uri))
    assert {"CreditScore", "Geography", "Gender", "Age", "Tenure", "Balance"} <= set(features)
    assert set(LEFT_OUT).isdisjoint(features)

    run = mlflow.get_run(payload["run_id"])
    schemas = [d.dataset.schema or "" for d in run.inputs.dataset_inputs]
    assert schemas and all(json.loads(s)["mlflow_colspec"] for s in schemas)
    for schema in schemas:
        assert not any(c in schema for c in LEFT_OUT), schema
    logged = json.dumps({"params": run.data.params, "tags": run.data.tags})
    assert not any(word in logged for word in [*LEFT_OUT, *surnames])

    run_files = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, dst_path=str(tmp_path / "run")))
    model_files = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(tmp_path / "model")))
    # the model carries cxml's own source (code/cxml, so it loads where cxml is not installed): code, not data
    files = [
        p
        for root in (run_files, model_files)
        for p in root.rglob("*")
        if p.is_file() and p.relative_to(root).parts[0] != "code"
    ]
    assert (model_files / "code" / "cxml").is_dir()
    names = {p.name for p in files}
    assert {"holdout.parquet", "input_example.json"} <= names, sorted(names)
    for path in files:
        data = path.read_bytes()
        for word in [*LEFT_OUT, *surnames]:
            assert word.encode() not in data, f"{word!r} in {path}"
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
            assert set(LEFT_OUT).isdisjoint(map(str, frame.columns)), path
            text = frame.select_dtypes(exclude="number").astype(str)
            assert not text.isin(surnames).any().any(), path
    example = json.loads(next(p for p in files if p.name == "input_example.json").read_text())
    assert set(LEFT_OUT).isdisjoint(example.get("columns", example))
