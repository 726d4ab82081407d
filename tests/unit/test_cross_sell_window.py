"""The cross-sell window chosen from a transaction file: on a small shop where the right item filter, horizon,
as_of and minimum buyers are known by construction, the rules find them; flags and pipeline options win; the
choices reach the dataset's params with their reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxml.config import PipelineConfig, TrainRequest
from cxml.datasets.cross_sell import table_dataset
from cxml.datasets.cross_sell_window import (
    choose_as_of,
    choose_horizon,
    choose_item_filter,
    choose_min_buyers,
    returning_buyers,
)
from cxml.features.transactions import normalise_transactions

pytestmark = pytest.mark.unit
START = pd.Timestamp("2024-01-01")


def shop(seed: int = 0) -> pd.DataFrame:
    """60 days of line items: 300 customers order every 10 days (±1) from a random first day; the shop is closed on
    days 45–55 (nobody buys), so a horizon at the end of the file holds its last four days only; 12 numbered
    products (P01: 1 in 2 orders … P12: 1 in 40) and a POST fee line."""
    rng = np.random.default_rng(seed)
    rows = []
    share = 1 / (1.5 * np.arange(1, 13))
    for c in range(300):
        day = int(rng.integers(0, 10))
        while day < 60:
            if not 45 <= day <= 55:
                invoice = f"{c}-{day}"
                ts = START + pd.Timedelta(days=day, hours=10)
                bought = [f"P{k + 1:02d}" for k in range(12) if rng.random() < share[k]] or ["P01"]
                rows += [(f"c{c}", item, ts, 1, invoice) for item in [*bought, "POST"]]
            day += 10 + int(rng.integers(-1, 2))
    return pd.DataFrame(rows, columns=["customer", "sku", "when", "qty", "invoice"])


@pytest.fixture(scope="module")
def tx() -> pd.DataFrame:
    frame = shop()
    return normalise_transactions(
        frame, customer="customer", item="sku", time="when", quantity="qty", invoice="invoice"
    )[0]


def test_ids_without_a_digit_are_left_out_when_nearly_all_ids_have_one():
    choice = choose_item_filter(pd.Series([f"{k:05d}" for k in range(40)] + ["POST", "M"]))
    assert choice.value == r"\d" and choice.by == "data" and "POST" in choice.why and "M" in choice.why
    words = choose_item_filter(pd.Series(["milk", "bread", "eggs", "tea 2"]))
    assert words.value == "" and "every item kept" in words.why


def test_the_horizon_is_the_75th_percentile_gap_in_whole_weeks(tx):
    choice = choose_horizon(tx)
    assert choice.value == "14" and choice.by == "data"  # gaps of 9–11 days (~20 over the closure) → 2 weeks
    assert "3 in 4 repeat orders" in choice.why


def test_as_of_steps_back_past_a_horizon_emptied_by_the_closure(tx):
    counts = returning_buyers(tx, 14)
    latest = counts.index.max()
    assert latest == pd.Timestamp("2024-02-16")  # the last day whose 14-day horizon fits in the file
    choice = choose_as_of(tx, 14)
    chosen = pd.Timestamp(choice.value)
    assert counts[chosen] >= 0.5 * counts.max() and (counts[counts.index > chosen] < 0.5 * counts.max()).all()
    assert chosen < latest and "steps back" in choice.why


def test_min_buyers_is_two_percent_of_the_look_back_customers(tx):
    choice = choose_min_buyers(tx, pd.Timestamp("2024-02-01"), 90)
    assert choice.value == "6" and "300 look-back customers" in choice.why  # ceil(0.02 × 300)


def test_flags_win_over_the_pipeline_and_the_pipeline_over_the_data(tx):
    assert choose_horizon(tx, 21, 7).value == "21" and choose_horizon(tx, 21, 7).by == "flag"
    assert choose_horizon(tx, None, 7).value == "7" and choose_horizon(tx, None, 7).by == "pipeline"
    assert choose_as_of(tx, 14, "2024-01-20", "2024-01-25").value == "2024-01-20"
    assert choose_min_buyers(tx, pd.Timestamp("2024-02-01"), 90, 3, 9).value == "3"
    assert choose_item_filter(pd.Series(["00001", "POST"]), "none").value == ""
    with pytest.raises(ValueError, match="not a regular expression"):
        choose_item_filter(pd.Series(["00001"]), "(")


def test_a_file_too_short_for_the_horizon_says_what_to_change(tx):
    with pytest.raises(ValueError, match="shorter --horizon-days"):
        choose_as_of(tx, 60)


def _request(path, **flags) -> TrainRequest:
    return TrainRequest(
        family="cross_sell", transactions=path, customer="customer", item="sku", time="when", quantity="qty", **flags
    )


def test_the_dataset_applies_the_choices_and_writes_them_to_its_params(tmp_path):
    path = tmp_path / "orders.csv"
    shop().to_csv(path, index=False)
    cfg = PipelineConfig.model_validate({"family": "cross_sell"})
    data, notes = table_dataset(_request(path), cfg)
    p = data.params
    assert p["item_filter"] == r"\d" and p["horizon_days"] == "14" and p["min_buyers_by"] == "data"
    assert data.as_of == p["as_of"] < "2024-02-16" and all(p[f"{k}_why"] for k in ("as_of", "min_buyers"))
    items = set(data.X_train["item"]) | set(data.X_holdout["item"])
    assert "POST" not in items and "P01" in items
    assert any(n.startswith("as_of ") and "(data:" in n for n in notes)
    assert data.summary["data.horizon_days"] == "14"

    flagged, _ = table_dataset(
        _request(path, as_of="2024-01-25", horizon_days=7, min_buyers=200, item_filter="none"), cfg
    )
    q = flagged.params
    assert (q["as_of"], q["horizon_days"], q["min_buyers"], q["item_filter"]) == ("2024-01-25", "7", "200", "")
    assert {q[f"{k}_by"] for k in ("as_of", "horizon_days", "min_buyers", "item_filter")} == {"flag"}
    assert set(flagged.X_train["item"]) | set(flagged.X_holdout["item"]) <= {"P01", "POST"}  # ≥ 200 buyers each
