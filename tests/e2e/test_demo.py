"""The README's main job on a small company: every step runs for real, nothing is served."""

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from cxml import registry, tracking
from cxml.config import Workspace
from tests.conftest import ROOT, run_cli

pytestmark = pytest.mark.e2e

# What the demo promotes at this size (3,000 customers, seed 0, 4 trials). The run is deterministic (two runs gave
# the same summary to the last digit) and each of these clears its gate by a wide margin: churn PR-AUC 0.69 vs the
# baseline's 0.57, survival C-index 0.76 vs 0.50, CLV RMSE 854 vs 1424, segments mean bootstrap ARI 0.99 (with seed 1
# the same four pass by similar margins). A gate of theirs that refuses is a regression, and the tests fail on it.
EXPECTED_CHAMPIONS = ("churn", "survival", "clv", "segments")
# Only checked to be consistent (champion ⇔ promoted ⇔ served), since at this size their gates turn on the draw: on
# 16a87e3 with seed 0, uplift (Qini 0.0133 vs the response model's 0.0118) and cross-sell (MAP@10 0.3750 vs 0.3612)
# were promoted with intervals that reach their baselines (grade C), and price was refused (elasticity MAE 0.92 vs
# the constant elasticity's 0.74); earlier builds refused uplift and cross-sell on the same seed.
OTHER_FAMILIES = ("uplift", "cross_sell", "price")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    home = tmp_path_factory.mktemp("demo")
    proc, _ = run_cli("demo", "--customers", "3000", "--trials", "4", "--no-serve", home=home, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return home, proc


def _summary(proc) -> dict:
    return json.loads(proc.stdout.split("demo ready in ")[1].split(": ", 1)[1].splitlines()[0])


def _gate(summary: dict, family: str) -> str:
    """The gate's sentence ("promoted: …" or "refused: …") of one family in the demo's summary."""
    if family == "churn":
        return summary["gate"]
    if family == "segments":
        return summary["segments"]["gate"]["reason"]
    return summary[family]["gate"]


@pytest.mark.parametrize("family", EXPECTED_CHAMPIONS)
def test_demo_promotes_each_family_it_is_built_to(demo, family):
    home, proc = demo
    summary = _summary(proc)
    assert _gate(summary, family).startswith("promoted"), f"cxml.{family}'s gate refused: {_gate(summary, family)}"
    tracking.configure(Workspace(home))
    assert registry.alias_version(f"cxml.{family}", "champion") == "1"
    assert family in summary["served"]


def test_demo_reports_each_step_and_a_gated_champion(demo):
    _, proc = demo
    for step in (*(f"{i}/8" for i in range(1, 9)), "built the Bento", "demo ready"):
        assert step in proc.stdout
    summary = _summary(proc)
    assert summary["metrics"]["pr_auc"] > summary["baseline_metrics"]["pr_auc"]
    assert summary["served"]["churn"].startswith("cxml-churn:v1-")


def test_demo_writes_the_champions_model_card_and_index(demo):
    home, proc = demo
    summary = _summary(proc)
    card = home / "reports" / "cxml.churn-v1.html"
    assert summary["model_card"] == str(card) and summary["grade"] in "ABC"
    html = card.read_text()
    assert "<h2>Gate decision</h2>" in html and summary["gate"] in html
    index = (home / "reports" / "index.html").read_text()
    assert "href='cxml.churn-v1.html'" in index
    for family in ("survival", "clv"):  # every other champion has its card too
        assert f"href='cxml.{family}-v{summary[family]['version']}.html'" in index
    for family in OTHER_FAMILIES:
        entry = summary[family]
        assert (f"href='cxml.{family}-v{entry['version']}.html'" in index) == entry["gate"].startswith("promoted")


def test_demo_ends_with_what_to_open(demo):
    """The cards index, the journey page (written by the demo, funnel never widening), MLflow UI, Swagger."""
    home, proc = demo
    summary = _summary(proc)
    tail = proc.stdout.split("\nOpen:\n", 1)[1]
    journey = home / "reports" / "journey" / "journey.html"
    assert {k: v for k, v in summary["pages"].items() if k != "campaign"} == {
        "cards": str(home / "reports" / "index.html"),
        "journey": str(journey),
    }
    assert Path(summary["pages"]["campaign"]).is_file()
    for line in (str(journey), str(home / "reports" / "index.html"), "mlflow ui --backend-store-uri", "/docs"):
        assert line in tail
    assert "<h2>Funnel</h2>" in journey.read_text()
    funnel = pd.read_parquet(journey.parent / "funnel.parquet")
    assert (funnel["reached"].diff().dropna() <= 0).all() and (funnel["median_days"].dropna() >= 0).all()


def test_demo_champion_is_in_mlflow_with_its_trials(demo):
    home, _ = demo
    tracking.configure(Workspace(home))
    assert registry.alias_version("cxml.churn", "champion") == "1"
    runs = mlflow.search_runs(experiment_names=["cxml/churn"])
    assert len(runs) == 1 + 4  # the parent and one nested run per trial


def test_demo_tunes_and_gates_uplift_and_serves_it_only_as_a_champion(demo):
    home, proc = demo
    summary = _summary(proc)
    tracking.configure(Workspace(home))
    assert len(mlflow.search_runs(experiment_names=["cxml/uplift"])) == 1 + 4
    champion = registry.alias_version("cxml.uplift", "champion")
    assert (champion is not None) == summary["uplift"]["gate"].startswith("promoted")
    assert ("uplift" in summary["served"]) == (champion is not None)


def test_demo_trains_every_family_and_serves_each_champion(demo):
    home, proc = demo
    summary = _summary(proc)
    tracking.configure(Workspace(home))
    for family in ("survival", "clv", "cross_sell", "price"):  # promoted ones asserted above, refused ones consistent
        champion = registry.alias_version(f"cxml.{family}", "champion")
        assert (champion is not None) == summary[family]["gate"].startswith("promoted"), summary[family]
        assert (family in summary["served"]) == (champion is not None)
    assert summary["segments"]["k"] >= 2 and sum(summary["segments"]["stages"].values()) == 3000
    assert ("segments" in summary["served"]) == (registry.alias_version("cxml.segments", "champion") is not None)


def test_explain_prints_reasons_in_words(demo):
    home, _ = demo
    snapshot = home / "snapshots" / "customer360.parquet"
    import pandas as pd

    customer = str(pd.read_parquet(snapshot)["customer_id"].iloc[5])
    proc, result = run_cli("explain", "churn", "--customer", customer, "--json", home=home)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 0 <= result["score"] <= 1 and len(result["reasons"]) == 3
    assert all(("raises risk by" in r["text"]) or ("lowers risk by" in r["text"]) for r in result["reasons"])


def test_unknown_customer_is_a_clear_error(demo):
    home, _ = demo
    proc, _ = run_cli("explain", "churn", "--customer", "NOPE", home=home)
    assert proc.returncode == 1 and "NOPE" in proc.stderr and "Traceback" not in proc.stderr


def test_the_bento_was_built(demo):
    home, _ = demo
    out = subprocess.run(
        [sys.executable, "-m", "bentoml", "list", "-o", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"BENTOML_HOME": str(home / "bentoml"), "BENTOML_DO_NOT_TRACK": "true", "PATH": ""},
    )
    assert any(b["tag"].startswith("cxml:") for b in json.loads(out.stdout)), out.stderr


def test_invalid_data_is_refused_before_anything_is_written(tmp_path):
    import pandas as pd

    from cxml.data.synthetic import write_company

    data = tmp_path / "company"
    write_company(data, 300, seed=1)
    orders = pd.read_parquet(data / "orders.parquet")
    orders.loc[orders.index[:3], "customer_id"] = "GHOST"
    orders.to_parquet(data / "orders.parquet")
    home = tmp_path / "home"
    proc, _ = run_cli("train", "churn", "--data", str(data), "--json", home=home)
    assert proc.returncode == 2
    assert "orders.customer_id: orphan" in proc.stderr and "GHOST" in proc.stderr
    assert not (home / "mlflow.db").exists()
    proc, _ = run_cli("validate", "--data", str(data), home=home)
    assert proc.returncode == 1 and "orphan" in proc.stderr
