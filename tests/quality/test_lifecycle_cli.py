"""``cxml train survival`` on Telco and ``cxml train clv`` on CDNOW, run as a user runs them (a subprocess, a fresh
workspace): tuned, evaluated on a holdout, gated and registered. Figures are printed (run with ``-s``)."""

import json

import pandas as pd
import pytest

from tests.conftest import run_cli, shared_data

pytestmark = pytest.mark.quality


def _figures(payload: dict, keys: list[str]) -> str:
    m, b, cv = payload["metrics"], payload["baseline_metrics"], payload["cv_metrics"]
    parts = [f"{k} {m[k]:.4f} (baseline {b[k]:.4f}{f', cv {cv[k]:.4f}' if k in cv else ''})" for k in keys]
    return "; ".join(parts)


def test_survival_on_telco_reaches_a_c_index_of_0_86(tmp_path):
    telco = shared_data("telco_churn", "WA_Fn-UseC_-Telco-Customer-Churn.csv")
    proc, payload = run_cli(
        "train", "survival", "--table", str(telco), "--duration", "tenure", "--event", "Churn",
        "--id", "customerID", "--drop", "TotalCharges", "--trials", "6", "--json", home=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    keys = ["c_index", "c_index_ci_low", "c_index_ci_high", "calibration_error_3", "calibration_error_12", "brier_12"]
    print(f"\nTelco survival: {_figures(payload, keys)}\n{payload['gate']['reason']}")
    assert payload["model_name"] == "cxml.survival.wa_fn_usec_telco_customer_churn"
    assert payload["gate"]["decision"] == "promoted"
    assert payload["metrics"]["c_index"] >= 0.86 and payload["cv_metrics"]["c_index"] >= 0.86  # 5-fold CV
    assert payload["baseline_metrics"]["c_index"] == 0.5
    assert payload["metrics"]["calibration_error_12"] < 0.06


@pytest.fixture(scope="module")
def cdnow_csv(tmp_path_factory):
    """CDNOW_master.txt is whitespace-separated; ``--transactions`` reads CSV or Parquet."""
    path = shared_data("cdnow", "CDNOW_master.txt")
    out = tmp_path_factory.mktemp("cdnow") / "cdnow_master.csv"
    pd.read_csv(path, sep=r"\s+", dtype={"customer_id": str}).to_csv(out, index=False)
    return out


def test_clv_on_cdnow_is_promoted_over_average_spend_times_retention(tmp_path, cdnow_csv):
    proc, payload = run_cli(
        "train", "clv", "--transactions", str(cdnow_csv), "--customer", "customer_id", "--time", "date",
        "--value", "dollar_value", "--calibration-end", "1997-09-30", "--trials", "6", "--json", home=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    keys = ["rmse", "mae", "total_value_pct", "total_purchases_pct", "auc_repeat", "auc_p_alive", "spearman"]
    print(f"\nCDNOW clv: {_figures(payload, keys)}\n{payload['gate']['reason']}")
    m, b = payload["metrics"], payload["baseline_metrics"]
    assert payload["model_name"] == "cxml.clv.cdnow_master" and payload["gate"]["decision"] == "promoted"
    assert m["rmse"] < b["rmse"] and m["rmse_ci_high"] < b["rmse"]
    assert m["auc_repeat"] >= 0.72 and m["auc_p_alive"] >= 0.7 and m["spearman"] > b["spearman"]
    assert abs(m["total_purchases_pct"]) < 20


def test_clv_on_a_whitespace_separated_file_says_how_to_fix_it(tmp_path):
    proc, payload = run_cli(
        "train", "clv", "--transactions", str(shared_data("cdnow", "CDNOW_master.txt")), "--customer", "customer_id",
        "--time", "date", "--value", "dollar_value", "--calibration-end", "1997-09-30", "--json", home=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2 and payload is None
    assert "whitespace-separated" in proc.stderr and "CSV" in proc.stderr


def test_clv_names_the_rows_with_bad_values(tmp_path):
    frame = pd.DataFrame(
        {"id": ["a", "a", "b"], "day": ["2024-01-01", "2024-02-01", "2024-01-05"], "amount": ["5", "n/a?", "7"]}
    )
    frame.to_csv(tmp_path / "bad.csv", index=False)
    proc, _ = run_cli(
        "train", "clv", "--transactions", str(tmp_path / "bad.csv"), "--customer", "id", "--time", "day",
        "--value", "amount", "--calibration-end", "2024-01-15", home=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "'amount': 1 values are not numbers; rows [1]" in proc.stderr, json.dumps(proc.stderr[-500:])
