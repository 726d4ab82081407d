"""``cxml train price`` as a user runs it: on a small simulated company (tracked in ``cxml/price``, registered
``cxml.price``, gated against the constant-elasticity log-log with numbers, then served through ``PriceScorer``),
on the classic ``oj.csv`` panel, and on a bad table.

The company is 5,000 customers of seed 2: seed 0's app channel barely moves its price (0.5 %), so no estimator
sees an elasticity there (tests/quality/test_price_simulated.py); on 2,000 customers of seed 2 the held-out
elasticity error is about level with the log-log's (0.71 against 0.70: the gate refuses), on 5,000 it is 0.28
against 0.79. Cells are segment × channel × time bucket × week either way, so both train in the same time.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml

from cxml import registry, tracking
from cxml.config import Workspace
from cxml.data.sources import read_tables, read_truth
from cxml.data.synthetic import write_company
from cxml.models.price_frame import PriceOptions
from cxml.pyfunc import load_estimator
from cxml.serving.price_scoring import PriceScorer, price_serving_table
from cxml.training import HOLDOUT_ARTIFACT
from tests.conftest import ROOT, run_cli, shared_data

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fast_pipeline(tmp_path_factory) -> Path:
    cfg = yaml.safe_load((ROOT / "src" / "cxml" / "pipelines" / "price.yaml").read_text())
    cfg["tuning"].update(n_trials=1, cv_folds=2)
    path = tmp_path_factory.mktemp("pipeline") / "price.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def company(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("company") / "co"
    write_company(folder, 5000, seed=2)
    return folder


@pytest.fixture(scope="module")
def trained(company, fast_pipeline, tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    proc, payload = run_cli(
        "train", "price", "--data", str(company), "--pipeline", str(fast_pipeline), "--json", home=home
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return Workspace(home), payload


def test_company_run_is_tracked_registered_and_beats_log_log_on_demand_and_elasticity(trained):
    ws, payload = trained
    m, b = payload["metrics"], payload["baseline_metrics"]
    assert payload["model_name"] == "cxml.price" and payload["gate"]["decision"] == "promoted"
    assert m["demand_rmse"] < b["demand_rmse"] and m["elasticity_mae"] < b["elasticity_mae"]
    assert "elasticity_mae" in payload["gate"]["reason"] and f"{m['demand_rmse']:.4f}" in payload["gate"]["reason"]
    assert m["elasticity_mae"] < 0.5 and 0.7 <= m["elasticity_coverage"] <= 0.99
    tracking.configure(ws)
    run = tracking.client().get_run(payload["run_id"])
    assert tracking.client().get_experiment(run.info.experiment_id).name == "cxml/price"
    assert run.data.tags["cxml.price_truth"] == "elasticities"
    assert registry.alias_version("cxml.price", registry.CHAMPION) == payload["model_version"]
    holdout = pd.read_parquet(
        mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path=HOLDOUT_ARTIFACT)
    )
    assert {"__score__:elasticity", "__baseline_score__:log_quantity", "__true_elasticity__"} <= set(holdout.columns)


def test_champion_serves_elasticities_and_recommended_prices(trained, company):
    ws, payload = trained
    tracking.configure(ws)
    model = load_estimator(f"models:/cxml.price/{payload['model_version']}")
    tables = read_tables(company)
    segments = read_truth(company)["customers"][["customer_id", "segment"]]
    as_of = tables["orders"]["ts"].max().normalize() + pd.Timedelta(days=1)
    table = price_serving_table(tables, as_of, model, segments=segments, options=PriceOptions())
    assert table["price_change"].abs().max() <= 0.10 + 1e-9 and len(table) > 500
    scorer = PriceScorer(model, table, segments)
    cell = table.iloc[0]
    customer = segments.loc[segments["segment"] == cell["segment"], "customer_id"].iloc[0]
    answer = scorer.quote(
        customer_id=str(customer),
        product_id=cell["product_id"],
        channel=cell["channel"],
        time_bucket=cell["time_bucket"],
    )
    assert answer["recommended_price"] == pytest.approx(cell["recommended_price"])
    assert answer["elasticity_interval"][0] < answer["elasticity"] < answer["elasticity_interval"][1]
    direct = scorer.elasticity(segment=cell["segment"], channel=cell["channel"], time_bucket=cell["time_bucket"])
    assert direct["elasticity"] == pytest.approx(answer["elasticity"])


def test_oj_panel_gives_the_classic_log_log_elasticity(fast_pipeline, tmp_path):
    oj = tmp_path / "oj.csv"  # Taddy's panel with its log sales, so --log-quantity is exercised
    table = pd.read_csv(shared_data("oj_bds", "oj.csv"))
    table.assign(log_sales=np.log(table["sales"])).drop(columns="sales").to_csv(oj, index=False)
    args = ["--table", str(oj), "--log-quantity", "log_sales", "--price", "price", "--group", "brand"]
    proc, payload = run_cli("train", "price", *args, "--pipeline", str(fast_pipeline), "--json", home=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert payload["model_name"] == "cxml.price.oj"
    assert payload["baseline_metrics"]["elasticity_mean"] == pytest.approx(-3.14, abs=0.05)  # Taddy: −3.14
    assert payload["metrics"]["elasticity_mean"] == pytest.approx(-3.14, abs=0.3)
    assert payload["metrics"]["demand_rmse"] < payload["baseline_metrics"]["demand_rmse"]


def test_a_bad_panel_exits_2_naming_the_column_and_rows(tmp_path):
    path = tmp_path / "panel.csv"
    pd.DataFrame({"units": [3, 4, 5], "cost": [1.0, -2.0, 1.5], "store": ["a", "b", "a"]}).to_csv(path, index=False)
    args = ["--table", str(path), "--quantity", "units", "--price", "cost", "--group", "store"]
    proc, _ = run_cli("train", "price", *args, home=tmp_path)
    assert proc.returncode == 2
    assert "'cost' must be positive" in proc.stderr and "rows [1]" in proc.stderr
