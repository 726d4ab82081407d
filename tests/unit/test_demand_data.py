"""Demand data: order lines to cells, the user's panel, and the orange-juice loaders, on small handmade tables."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from cxml.data.oj import read_dominicks_oj, read_oj_bds
from cxml.data.synthetic import BUCKET_HOURS, BUCKETS, generate_company
from cxml.features.demand import (
    EVENING_HOUR,
    TIME_BUCKETS,
    DemandDataError,
    order_cells,
    panel_demand,
    time_bucket,
)

pytestmark = pytest.mark.unit
MON = pd.Timestamp("2025-01-06")  # a Monday


def tiny_tables() -> dict[str, pd.DataFrame]:
    orders = pd.DataFrame(
        {
            "order_id": ["o1", "o1", "o2", "o3", "o4"],
            "customer_id": ["A", "A", "B", "A", "B"],
            "ts": [
                MON + pd.Timedelta(hours=10),  # weekday_day, week 0
                MON + pd.Timedelta(hours=10),
                MON + pd.Timedelta(hours=19),  # weekday_evening, week 0
                MON + pd.Timedelta(days=5, hours=11),  # Saturday: weekend
                MON + pd.Timedelta(days=7, hours=9),  # weekday_day, week 1
            ],
            "product_id": ["P1", "P2", "P1", "P1", "P1"],
            "quantity": [2, 1, 1, 3, 1],
            "unit_price": [9.0, 20.0, 10.0, 9.0, 11.0],
            "discount": [1.8, 0.0, 0.0, 0.0, 0.0],
            "channel": ["web", "web", "web", "store", "web"],
            "campaign_id": ["C1", "C1", None, None, None],
            "returned": [False, False, False, False, True],
        }
    )
    products = pd.DataFrame(
        {"product_id": ["P1", "P2"], "category": ["food", "toys"], "list_price": [10.0, 20.0], "unit_cost": [6.0, 8.0]}
    )
    customers = pd.DataFrame({"customer_id": ["A", "B"], "region": ["north", "south"]})
    return {"orders": orders, "products": products, "customers": customers}


SEGMENTS = pd.DataFrame({"customer_id": ["A", "B"], "segment": ["loyal", "premium"]})


def test_time_buckets_use_the_simulators_names_and_hours():
    assert TIME_BUCKETS == BUCKETS
    assert EVENING_HOUR == BUCKET_HOURS[0][1] == BUCKET_HOURS[1][0]
    stamps = pd.Series([MON + pd.Timedelta(hours=9), MON + pd.Timedelta(hours=17), MON + pd.Timedelta(days=6)])
    assert time_bucket(stamps).tolist() == ["weekday_day", "weekday_evening", "weekend"]


def test_lines_are_summed_per_cell_and_week_with_prices_three_ways():
    cells = order_cells(tiny_tables(), by=("segment", "channel", "time_bucket"), segments=SEGMENTS)
    first = cells[(cells["segment"] == "loyal") & (cells["time_bucket"] == "weekday_day")].iloc[0]
    assert (first["week"], first["quantity"], first["lines"], first["orders"]) == (0, 3, 2, 1)
    assert first["price"] == pytest.approx((2 * 9.0 + 20.0) / 3)
    assert first["paid_price"] == pytest.approx((18.0 - 1.8 + 20.0) / 3)
    assert first["list_price"] == pytest.approx((2 * 10.0 + 20.0) / 3)
    assert first["unit_cost"] == pytest.approx((2 * 6.0 + 8.0) / 3)
    assert first["log_price_index"] == pytest.approx(2 * np.log(0.9) / 3)  # P2 sold at list
    assert first["discount_share"] == pytest.approx(1.8 / 38.0)
    assert first["campaign_share"] == 1.0
    assert first["log_quantity"] == pytest.approx(np.log(3))
    assert first["week_start"] == MON  # the first order's day, with no prices table
    later = cells[cells["week"] == 1].iloc[0]
    assert (later["segment"], later["time_bucket"], later["quantity"]) == ("premium", "weekday_day", 1)
    assert len(cells) == 4


def test_weeks_start_at_the_first_price_change_and_returns_can_be_dropped():
    tables = tiny_tables()
    tables["prices"] = pd.DataFrame({"valid_from": [MON - pd.Timedelta(days=3)]})  # a Friday
    cells = order_cells(tables, by=("channel",), drop_returned=True)
    assert cells[["channel", "week"]].values.tolist() == [["store", 1], ["web", 0]]  # Saturday opens week 1
    assert cells["week_start"].tolist() == [MON + pd.Timedelta(days=4), MON - pd.Timedelta(days=3)]
    assert cells["quantity"].sum() == 7  # the returned line of B (week 1, web) is gone


def test_cells_by_product_category_and_customer_columns():
    cells = order_cells(tiny_tables(), by=("category", "region"))
    assert set(zip(cells["category"], cells["region"], strict=True)) == {
        ("food", "north"),
        ("toys", "north"),
        ("food", "south"),
    }


def test_a_segment_without_a_mapping_and_unknown_products_are_refused():
    with pytest.raises(DemandDataError, match="pass segments="):
        order_cells(tiny_tables())
    tables = tiny_tables()
    tables["orders"].loc[2, "product_id"] = "P9"
    with pytest.raises(DemandDataError, match=r"1 lines have a product_id not found in products, e.g. \['P9'\]"):
        order_cells(tables, by=("channel",))


def test_non_positive_prices_in_orders_are_refused_naming_rows():
    tables = tiny_tables()
    tables["orders"].loc[3, "unit_price"] = 0.0
    with pytest.raises(DemandDataError, match=r"unit_price must be positive.*rows \[3\]"):
        order_cells(tables, by=("channel",))


def test_cells_of_a_simulated_company_match_its_truth_table_cells():
    company = generate_company(600, seed=3)
    segments = company.truth["customers"][["customer_id", "segment"]]
    cells = order_cells(company.tables, segments=segments)
    truth = company.truth["elasticities"]
    keys = ["segment", "channel", "time_bucket"]
    assert set(map(tuple, cells[keys].to_numpy())) == set(map(tuple, truth[keys].to_numpy()))
    assert cells["week"].min() == 0 and cells["week"].max() == 52
    # the price index moves with the channel's price moves, not with the product mix
    ratio = company.truth["price_index"].assign(week=lambda f: (f["week_start"] - f["week_start"].min()).dt.days // 7)
    merged = cells.merge(ratio, on=["channel", "week"])
    assert np.corrcoef(merged["log_price_index"], np.log(merged["price_ratio"]))[0, 1] > 0.95


def test_a_panel_gets_log_quantity_and_log_price():
    frame = pd.DataFrame(
        {"store": [1, 1, 2], "week": [1, 2, 1], "units": [10, 20, 5], "p": [2.0, 1.5, 2.5], "ad": [0, 1, 0]}
    )
    out = panel_demand(frame, quantity="units", price="p", group=["store"], time="week", controls=["ad"])
    assert list(out.columns) == ["store", "week", "ad", "quantity", "log_quantity", "price", "log_price"]
    np.testing.assert_allclose(out["log_quantity"], np.log([10, 20, 5]))
    np.testing.assert_allclose(out["log_price"], np.log([2.0, 1.5, 2.5]))
    logged = panel_demand(frame.assign(lq=np.log(frame["units"])), log_quantity="lq", price="p")
    np.testing.assert_allclose(logged["log_quantity"], out["log_quantity"])


def test_a_bad_panel_fails_naming_the_column_and_rows():
    frame = pd.DataFrame({"store": [1, None, 2], "units": [10, 0, 5], "p": [2.0, 1.5, -1.0]})
    with pytest.raises(DemandDataError, match="exactly one of quantity"):
        panel_demand(frame, quantity="units", log_quantity="units", price="p")
    with pytest.raises(DemandDataError, match=r"lacks the columns \['price'\]"):
        panel_demand(frame, quantity="units", price="price")
    with pytest.raises(
        DemandDataError, match=r"column 'units' must be positive and finite; 1 rows are not, e.g. rows \[1\]"
    ):
        panel_demand(frame, quantity="units", price="p")
    with pytest.raises(DemandDataError, match=r"column 'p' must be positive.*rows \[2\]"):
        panel_demand(frame.assign(units=1), quantity="units", price="p")
    with pytest.raises(DemandDataError, match=r"key column 'store' has missing values, e.g. rows \[1\]"):
        panel_demand(frame.assign(units=1, p=1.0), quantity="units", price="p", group=["store"])


def test_dominicks_loader_keeps_three_brands_with_own_and_cross_prices(tmp_path):
    prices = {f"price{b}": [0.01 * b, 0.01 * b] for b in range(1, 12)}
    yx = pd.DataFrame(
        {"store": [2, 2], "brand": [1, 10], "week": [40, 40], "logmove": [9.0, 8.0], "constant": 1, **prices}
    ).assign(deal=[1, 0], feat=[0.0, 1.0], profit=1.0)
    yx = pd.concat([yx, yx.assign(brand=3)], ignore_index=True)  # a brand that is not kept
    with gzip.open(tmp_path / "orangeJuice_yx.csv.gz", "wt") as fh:
        yx.to_csv(fh, index=False)
    demo = {c: [0.5] for c in ("AGE60", "EDUC", "ETHNIC", "HHLARGE", "WORKWOM", "HVAL150", "SSTRDIST", "SSTRVOL")}
    pd.DataFrame({"STORE": [2], **demo, "INCOME": [10.5], "CPDIST5": [1.0], "CPWVOL5": [0.3]}).to_csv(
        tmp_path / "orangeJuice_storedemo.csv", index=False
    )
    oj = read_dominicks_oj(tmp_path)
    assert oj["brand"].tolist() == ["dominicks", "tropicana"]
    np.testing.assert_allclose(oj["log_price"], np.log([0.10, 0.01]))
    np.testing.assert_allclose(oj["log_price_others"], [np.log([0.01, 0.05]).mean(), np.log([0.05, 0.10]).mean()])
    assert oj["INCOME"].tolist() == [10.5, 10.5]


def test_oj_bds_loader_adds_logs_and_refuses_non_positive_sales(tmp_path):
    path = tmp_path / "oj.csv"
    pd.DataFrame({"sales": [100, 50], "price": [2.0, 3.0], "brand": ["tropicana", "dominicks"], "feat": [0, 1]}).to_csv(
        path, index=False
    )
    oj = read_oj_bds(path)
    np.testing.assert_allclose(oj["log_sales"], np.log([100, 50]))
    pd.DataFrame({"sales": [0], "price": [2.0], "brand": ["x"], "feat": [0]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"must be positive, e.g. rows \[0\]"):
        read_oj_bds(path)
