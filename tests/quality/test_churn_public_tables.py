"""Bring-your-own-table churn on the public sets: the README's command, 5-fold cross-validated ROC-AUC.

Thresholds sit a little below what bench/churn_peers.py measured for the same command (bench/RESULTS.md, churn
section: Telco 0.8494, Bank 0.8714 with CatBoost in the search), above its best peers there but CatBoost's
defaults on Bank (Telco: logistic regression 0.8445, the issue's XGBoost 0.8441; Bank: XGBoost 0.8643, CatBoost
0.8704, which the command beats on 4 of 5 folds by margins the load-dependent timeout could eat). On Telco the
additive logit earns a share of the blend.
"""

import pytest

from tests.conftest import run_cli, shared_data

pytestmark = pytest.mark.quality

CASES = {
    "telco": (
        ("telco_churn", "WA_Fn-UseC_-Telco-Customer-Churn.csv"),
        ["--target", "Churn", "--id", "customerID"],
        0.847,
    ),
    "bank": (
        ("bank_churn", "Churn_Modelling.csv"),
        ["--target", "Exited", "--id", "CustomerId", "--drop", "RowNumber", "--drop", "Surname"],
        0.869,
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_cross_validated_roc_auc(name, tmp_path):
    parts, args, threshold = CASES[name]
    proc, result = run_cli(
        "train",
        "churn",
        "--table",
        str(shared_data(*parts)),
        *args,
        "--trials",
        "25",
        "--json",
        home=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert result["cv_metrics"]["roc_auc"] >= threshold, result
    assert result["metrics"]["pr_auc"] > result["baseline_metrics"]["pr_auc"]
    assert result["gate"]["decision"] == "promoted"
    assert result["model_name"].startswith("cxml.churn.")
    weight = result["params"]["linear_weight"]
    assert 0 <= weight <= 1
    if name == "telco":
        assert weight > 0, result["params"]


def test_blank_total_charges_are_coerced_with_a_warning(tmp_path):
    path = shared_data("telco_churn", "WA_Fn-UseC_-Telco-Customer-Churn.csv")
    proc, _ = run_cli(
        "train",
        "churn",
        "--table",
        str(path),
        "--target",
        "Churn",
        "--id",
        "customerID",
        "--trials",
        "1",
        "--json",
        home=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "TotalCharges: 11 blank" in proc.stderr
