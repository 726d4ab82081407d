"""Uplift end to end on a real MLflow store: a simulated campaign with known effects, tuned, registered, gated."""

from __future__ import annotations

import io

import mlflow
import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from cxml import registry, tracking
from cxml.config import PipelineConfig, UpliftConfig, Workspace
from cxml.data.sources import write_table_atomic
from cxml.data.synthetic import generate_company
from cxml.datasets import get_family
from cxml.datasets.uplift import uplift_dataset
from cxml.explain.card import write_card
from cxml.jobs.explain import explain_customer
from cxml.jobs.snapshot import write_snapshot
from cxml.models.uplift import CONTROL, SPEC, ResponseModel
from cxml.pyfunc import model_input
from cxml.training import train
from tests.conftest import run_cli

pytestmark = pytest.mark.integration
CAMPAIGN = "CMP05"


@pytest.fixture(autouse=True)
def _tracking_at_the_workspace(workspace):
    """Registry look-ups in the tests read this module's store (``train`` leaves the global URI as it was)."""
    tracking.configure(workspace)


@pytest.fixture(scope="module")
def company():
    return generate_company(n_customers=20_000, seed=0)


@pytest.fixture(scope="module")
def campaign(company):
    data = uplift_dataset(company.tables, UpliftConfig(campaign=CAMPAIGN), source="generated", seed=0)
    effects = company.truth["effects"]
    truth = effects[effects["campaign_id"] == CAMPAIGN].pivot(index="customer_id", columns="arm", values="true_effect")
    return data, truth.reindex(data.X_holdout.index)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return Workspace(tmp_path_factory.mktemp("ws"))


@pytest.fixture(scope="module")
def trained(campaign, workspace):
    data, _ = campaign
    cfg = PipelineConfig.model_validate(
        {
            "family": "uplift",
            "tuning": {"n_trials": 3, "cv_folds": 2, "algorithms": ["lightgbm"]},
            "gate": {"primary_metric": "qini", "min_gain_vs_baseline": 0.0, "min_value": 0.0},
        }
    )
    return train(get_family("uplift").spec, data, cfg, workspace)


def test_the_model_is_registered_and_gated_against_random_and_the_response_model(trained):
    assert trained.model_name == "cxml.uplift"
    qini, base = trained.metrics["qini"], trained.baseline_metrics["qini"]
    assert trained.gate.passed == (qini > base and qini > 0), trained.gate.reason
    if trained.gate.passed:
        assert registry.alias_version("cxml.uplift", "champion") == trained.model_version
    assert trained.metrics["qini_ci_low"] <= qini <= trained.metrics["qini_ci_high"]
    assert {"qini:letter", "qini:voucher_15", "qini:voucher_5"} <= set(trained.metrics)


def test_the_pyfunc_serves_one_effect_per_arm(trained, campaign):
    data, _ = campaign
    model = mlflow.pyfunc.load_model(f"models:/cxml.uplift/{trained.model_version}")
    effects = model.predict(model_input(data.X_holdout.head(50)))
    assert list(effects.columns) == ["letter", "voucher_15", "voucher_5"]
    assert effects.abs().to_numpy().max() <= 1 and effects.std().min() > 0  # probability differences, not labels


def test_estimated_effects_track_the_true_effects_better_than_a_response_model(trained, campaign):
    data, truth = campaign
    model = mlflow.pyfunc.load_model(f"models:/cxml.uplift/{trained.model_version}")
    effects = model.predict(model_input(data.X_holdout))
    response = SPEC.fit(ResponseModel(), data.X_train, data.y_train)
    control_rate = data.y_train.loc[data.y_train["arm"] == CONTROL, "outcome"].mean()
    naive = expit(response.effects(data.X_holdout)) - control_rate  # "effect" of targeting likely responders
    for arm in ("voucher_15", "voucher_5"):  # the arms with effects large enough to rank (letter is ~0.02)
        pehe = np.sqrt(np.mean((effects[arm] - truth[arm]) ** 2))
        pehe_response = np.sqrt(np.mean((naive[arm] - truth[arm]) ** 2))
        assert pehe < 0.8 * pehe_response, (arm, pehe, pehe_response)
        assert np.corrcoef(effects[arm], truth[arm])[0, 1] > 0.15


def test_explaining_a_customer_gives_effects_reasons_and_the_most_profitable_arm(trained, company, workspace):
    if not trained.gate.passed:
        pytest.skip(f"no champion to explain: {trained.gate.reason}")
    write_snapshot(workspace, company.tables)
    write_table_atomic(company.tables["campaigns"], workspace.data / "campaigns.parquet")
    customer = str(company.tables["customers"]["customer_id"].iloc[7])
    result = explain_customer(workspace, "uplift", customer, k=3)
    assert set(result["effects"]) == {"letter", "voucher_15", "voucher_5"}
    assert result["arm"] == max(result["effects"], key=lambda a: abs(result["effects"][a]))
    assert len(result["reasons"]) == 3 and all(f"the {result['arm']} effect by" in r["text"] for r in result["reasons"])
    best = max(result["expected_profit"], key=result["expected_profit"].get)
    expected = best if result["expected_profit"][best] > 0 else "do_not_contact"
    assert result["recommended_arm"] == expected


def test_the_cli_trains_uplift_on_an_experiment_table(tmp_path):
    rng = np.random.default_rng(0)
    n = 3000
    x, z = rng.normal(size=n), rng.normal(size=n)
    group = rng.choice(["none", "mail"], n)
    # z drives visits whatever the arm (what a response model ranks by); only x > 0 responds to the mail
    visit = rng.random(n) < 0.1 + 0.3 * (z > 0) + 0.25 * (group == "mail") * (x > 0)
    table = tmp_path / "experiment.csv"
    pd.DataFrame({"x": x, "z": z, "group": group, "visit": visit.astype(int)}).to_csv(table)  # with its row index
    args = ["--table", str(table), "--treatment", "group", "--control", "none", "--target", "visit"]
    proc, result = run_cli("train", "uplift", *args, "--trials", "4", "--json", home=tmp_path / "home")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert result["model_name"] == "cxml.uplift.experiment"
    assert result["metrics"]["qini"] > result["baseline_metrics"]["qini"]
    assert result["gate"]["decision"] == "promoted", result["gate"]
    assert "left out" in proc.stdout + proc.stderr  # the CSV's row index is an identifier, not a feature


def test_the_cli_names_what_an_uplift_table_lacks(tmp_path):
    table = tmp_path / "t.csv"
    pd.DataFrame({"x": [1, 2], "group": ["a", "b"], "visit": [0, 1]}).to_csv(table, index=False)
    proc, _ = run_cli("train", "uplift", "--table", str(table), "--target", "visit", home=tmp_path / "home")
    assert proc.returncode == 2 and "--treatment COL and --control VALUE" in proc.stderr


UPLIFT_HEADINGS = (
    "Data",
    "Metrics",
    "Grade",
    "Qini curves",
    "Uplift by decile",
    "Global drivers of the effect (SHAP)",
    "Example customers",
    "Performance per segment",
    "Gate decision",
)


def test_the_uplift_model_card_shows_qini_deciles_drivers_and_persuadables(trained, tmp_path):
    from PIL import Image

    from tests.integration.test_report import png_images

    path, card = write_card("cxml.uplift", trained.model_version, tmp_path, log_to_run=False)
    html = path.read_text()
    for heading in UPLIFT_HEADINGS:
        assert f"<h2>{heading}</h2>" in html
    assert card.metrics["qini"][0] == pytest.approx(trained.metrics["qini"])
    assert card.metrics["qini"][1] <= card.metrics["qini"][0] <= card.metrics["qini"][2]
    labels = [e.label.split(" (")[0] for e in card.examples]
    assert labels == ["most persuadable", "typical", "strongest sleeping dog"]
    assert card.examples[0].score > card.examples[2].score
    assert {"predicted", "observed", "gap", "flagged"} <= set(card.segments.columns)
    images = png_images(html)
    assert len(images) == 4  # Qini, deciles, SHAP bar, SHAP beeswarm
    for raw in images:
        pixels = np.asarray(Image.open(io.BytesIO(raw)).convert("L"))
        assert (pixels < 200).mean() > 0.005 and len(np.unique(pixels)) > 20
