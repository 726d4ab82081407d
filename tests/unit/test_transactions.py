"""Bring-your-own transactions: standard columns, returns netted, bad input named; the contract adapter."""

import numpy as np
import pandas as pd
import pytest

from cxml.features.transactions import STANDARD_COLUMNS, contract_transactions, normalise_transactions

pytestmark = pytest.mark.unit

ARGS = {"customer": "cust", "item": "sku", "time": "when", "quantity": "qty", "invoice": "inv", "price": "unit"}


def _frame(rows):
    return pd.DataFrame(rows, columns=["cust", "sku", "when", "qty", "inv", "unit"])


def test_standard_columns_and_whole_float_ids_lose_their_point_zero():
    raw = _frame([[17850.0, 85123, "2010-12-01 08:26", 6, 536365, 2.55], [None, "X", "2010-12-01 09:00", 1, 2, 1.0]])
    tx, notes = normalise_transactions(raw, **ARGS)
    assert list(tx.columns) == list(STANDARD_COLUMNS)
    assert tx.loc[0, "customer_id"] == "17850" and tx.loc[0, "item"] == "85123" and tx.loc[0, "invoice"] == "536365"
    assert pd.api.types.is_datetime64_any_dtype(tx["ts"]) and tx.loc[0, "quantity"] == 6.0
    assert notes.dropped_no_customer == 1 and notes.rows_out == 1


def test_a_cancellation_is_netted_against_the_latest_earlier_purchase():
    raw = _frame(
        [
            ["a", "X", "2024-01-01", 10, "1", 1.0],
            ["a", "X", "2024-01-05", 3, "2", 1.0],
            ["a", "X", "2024-01-09", -5, "C3", 1.0],
            ["a", "Y", "2024-01-02", 1, "1", 1.0],
        ]
    )
    tx, notes = normalise_transactions(raw, **ARGS)
    x = tx[tx["item"] == "X"].set_index("invoice")["quantity"]
    assert x.to_dict() == {"1": 8.0}  # the 3 of invoice 2 go first, then 2 of invoice 1
    assert notes.returns == 1 and notes.returns_matched == 1
    assert notes.units_netted == 5 and notes.purchases_removed == 1
    assert (tx["quantity"] > 0).all()


def test_a_return_without_an_earlier_purchase_is_counted_but_nets_nothing():
    raw = _frame(
        [
            ["a", "X", "2024-01-01", -2, "C1", 1.0],  # before the purchase: bought before the data began
            ["a", "X", "2024-01-03", 4, "2", 1.0],
            ["b", "X", "2024-01-04", -1, "5", 1.0],  # negative quantity, no "C": still a return; b never bought X
        ]
    )
    tx, notes = normalise_transactions(raw, **ARGS)
    assert tx["quantity"].tolist() == [4.0]
    assert notes.returns == 2 and notes.returns_matched == 0 and notes.units_netted == 0


def test_rows_without_item_or_quantity_are_dropped_and_counted():
    raw = _frame([["a", None, "2024-01-01", 1, "1", 1.0], ["a", "X", "2024-01-01", 0, "1", 1.0]])
    tx, notes = normalise_transactions(raw, **ARGS)
    assert tx.empty and notes.dropped_no_item == 1 and notes.dropped_zero_quantity == 1
    assert "1 without an item" in notes.summary()


def test_optional_columns_default_to_one_unit_and_one_invoice_per_customer_and_time():
    raw = pd.DataFrame({"c": ["a", "a", "a"], "i": ["X", "Y", "X"], "t": ["2024-01-01", "2024-01-01", "2024-01-02"]})
    tx, _ = normalise_transactions(raw, customer="c", item="i", time="t")
    assert tx["quantity"].tolist() == [1.0, 1.0, 1.0]
    assert tx["invoice"].nunique() == 2
    assert tx["price"].isna().all() and tx["group"].isna().all()


def test_missing_columns_are_named():
    raw = _frame([["a", "X", "2024-01-01", 1, "1", 1.0]])
    with pytest.raises(ValueError, match=r"item='SKU'.*columns present"):
        normalise_transactions(raw, **{**ARGS, "item": "SKU"})


def test_unparsable_times_name_the_column_and_rows():
    raw = _frame([["a", "X", "2024-01-01", 1, "1", 1.0], ["a", "X", "yesterday", 1, "2", 1.0]])
    with pytest.raises(ValueError, match=r"'when'.*1: 'yesterday'"):
        normalise_transactions(raw, **ARGS)


def test_non_numeric_quantities_are_named():
    raw = _frame([["a", "X", "2024-01-01", "two", "1", 1.0]])
    with pytest.raises(ValueError, match="'qty'"):
        normalise_transactions(raw, **ARGS)


def test_the_input_frame_is_not_modified():
    raw = _frame([["a", "X", "2024-01-01", 3, "1", 1.0], ["a", "X", "2024-01-02", -1, "C2", 1.0]])
    before = raw.copy()
    normalise_transactions(raw, **ARGS)
    pd.testing.assert_frame_equal(raw, before)


def test_timezones_become_naive_utc():
    raw = _frame([["a", "X", "2024-01-01T10:00:00+02:00", 1, "1", 1.0]])
    tx, _ = normalise_transactions(raw, **ARGS)
    assert tx.loc[0, "ts"] == pd.Timestamp("2024-01-01 08:00")


def _tables():
    products = pd.DataFrame({"product_id": ["P1", "P2", "P3"], "category": ["ink", "ink", "paper"]})
    orders = pd.DataFrame(
        {
            "order_id": ["o1", "o1", "o2"],
            "customer_id": ["c1", "c1", "c2"],
            "ts": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-02"]),
            "product_id": ["P1", "P3", "P2"],
            "quantity": [2, 1, 1],
            "unit_price": [5.0, 3.0, 4.0],
            "returned": [False, False, True],
        }
    )
    return {"orders": orders, "products": products}


def test_contract_orders_at_the_category_and_product_level():
    by_category = contract_transactions(_tables(), "category")
    assert by_category["item"].tolist() == ["ink", "paper"]  # the returned line is left out
    assert by_category["group"].isna().all()
    by_product = contract_transactions(_tables(), "product")
    assert by_product["item"].tolist() == ["P1", "P3"]
    assert by_product["group"].tolist() == ["ink", "paper"]
    assert by_product["price"].tolist() == [5.0, 3.0] and by_product["invoice"].tolist() == ["o1", "o1"]


def test_contract_orders_with_an_unknown_product_or_level_fail():
    tables = _tables()
    tables["orders"].loc[0, "product_id"] = "P9"
    with pytest.raises(ValueError, match="P9"):
        contract_transactions(tables)
    with pytest.raises(ValueError, match="level"):
        contract_transactions(_tables(), "brand")  # type: ignore[arg-type]


def test_netting_many_returns_stays_consistent():
    rng = np.random.default_rng(0)
    n = 400
    raw = _frame(
        [
            [
                f"c{rng.integers(20)}",
                f"i{rng.integers(5)}",
                f"2024-01-{1 + i % 28:02d}",
                int(rng.integers(1, 5)),
                str(i),
                1.0,
            ]
            for i in range(n)
        ]
    )
    returns = raw.sample(60, random_state=0).assign(qty=lambda f: -f["qty"], inv=lambda f: "C" + f["inv"])
    tx, notes = normalise_transactions(pd.concat([raw, returns], ignore_index=True), **ARGS)
    assert notes.returns == 60
    assert tx["quantity"].sum() == pytest.approx(raw["qty"].sum() - notes.units_netted)
    assert notes.units_netted <= returns["qty"].abs().sum()
