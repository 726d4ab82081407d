"""``cxml train cross_sell --transactions`` on the Online Retail sample: promoted, MAP@10 and Success@10 above
both baselines on the held-out customers.

Data (MANIFEST §8): 49,999 line items, 2010-12-01 .. 2011-01-09. The pipeline chooses from the data (and logs why):
fee lines without a digit in their StockCode left out (217 rows), a 14-day horizon from 2010-12-27, the look-back
everything before, items with at least 18 look-back buyers (371 StockCodes); 30 % of the 884 active customers held
out. Invoices starting with "C" are cancellations, netted out. Few customers come back in the first trading week
of January: only 31 held-out customers buy a new item, so the interval is wide (MAP@10 0.128, 95 % customer
bootstrap 0.056 .. 0.219, against 0.059 for the stronger baseline, with the default trials).
"""

import pytest

from tests.conftest import run_cli, shared_data

pytestmark = pytest.mark.quality


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    path = shared_data("online_retail_sample", "online_retail_first_49999_rows.csv")
    # the command of the issue and the README: Quantity and InvoiceNo are found by name, and said so in the log
    # fmt: off
    proc, result = run_cli(
        "train", "cross_sell", "--transactions", str(path), "--customer", "CustomerID", "--item", "StockCode",
        "--time", "InvoiceDate", "--trials", "6", "--json", home=home, timeout=600,
    )
    # fmt: on
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert result is not None, proc.stdout[-3000:]
    print("\n" + proc.stdout[-2500:])
    return proc, result


def test_rows_without_a_customer_are_dropped_with_a_count_in_the_log(trained):
    proc, _ = trained
    log = proc.stdout + proc.stderr
    assert "217 rows whose item does not match" in log  # fees and manual lines, before the customer check
    assert "17,793 rows without a customer dropped" in log
    assert "returns/cancellations removed" in log and "as_of 2010-12-27" in log
    assert "column 'Quantity' read as quantity" in log and "column 'InvoiceNo' read as invoice" in log


def test_the_gate_promotes(trained):
    _, result = trained
    assert result["gate"]["decision"] == "promoted", result["gate"]
    assert result["model_name"] == "cxml.cross_sell.online_retail_first_49999_rows"


@pytest.mark.parametrize("metric", ["map_at_10", "success_at_10"])
def test_beats_both_baselines(trained, metric):
    _, result = trained
    model, baseline = result["metrics"], result["baseline_metrics"]
    for name in ("popularity", "co_purchase"):
        assert model[metric] > baseline[f"{name}:{metric}"], (metric, name, model[metric], baseline)
    assert model["n_customers"] >= 30  # held-out customers who buy a new item in the two weeks (31 measured)
    assert model["ece"] < 0.01  # calibrated: mean |predicted - observed| over probability deciles
