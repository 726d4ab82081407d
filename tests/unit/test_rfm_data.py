"""Lifetime-value rows: calibration RFM features and holdout targets from a transaction log."""

import pandas as pd
import pytest

from cxml.features.rfm_data import RFM_FEATURES, TARGETS, clv_contract_rows, clv_rows, order_transactions, parse_times

pytestmark = pytest.mark.unit

TRANSACTIONS = pd.DataFrame(
    {
        "cust": ["a", "a", "a", "a", "b", "c", "c", "d"],
        "day": [20240101, 20240101, 20240115, 20240420, 20240110, 20240105, 20240410, 20240331],
        "amount": [10.0, 5.0, 30.0, 40.0, 8.0, 12.0, 50.0, 9.0],
    }
)


def rows(frame=TRANSACTIONS, **kwargs):
    args = {"customer": "cust", "time": "day", "value": "amount", "calibration_end": "2024-03-31"}
    return clv_rows(frame, **{**args, "observation_end": "2024-06-29", "period_days": 7.0, **kwargs})


def test_features_and_targets_by_hand():
    X, y, notes = rows()
    assert list(X.columns) == list(RFM_FEATURES) and list(y.columns) == list(TARGETS)
    assert list(X.index) == ["a", "b", "c"]  # d's only purchase is on the calibration end (T = 0)
    assert notes and "1 customers" in notes[0] and "d" in notes[0]
    a = X.loc["a"]
    assert a["frequency"] == 1  # two lines on Jan 1 are one purchase, Jan 15 the repeat, Apr 20 in the holdout
    assert a["recency"] == pytest.approx(14 / 7) and a["T"] == pytest.approx(90 / 7)
    assert a["monetary_value"] == 30.0  # the repeat purchase only
    assert a["average_spend"] == pytest.approx((15 + 30) / 2)
    assert y.loc["a", "purchases"] == 1 and y.loc["a", "value"] == 40.0
    assert y.loc["c", "value"] == 50.0 and y.loc["b", "purchases"] == 0
    assert y["duration"].tolist() == pytest.approx([90 / 7] * 3)


def test_whole_numbers_are_read_as_yyyymmdd():
    parsed = parse_times(pd.Series([19970101, 19980630]), "date")
    assert list(parsed) == [pd.Timestamp("1997-01-01"), pd.Timestamp("1998-06-30")]


@pytest.mark.parametrize(
    ("column", "bad", "message"),
    [
        ("day", 20241340, r"'day': 1 values are not dates written as YYYYMMDD; rows \[2\]"),
        ("amount", "twelve", r"'amount': 1 values are not numbers; rows \[2\]"),
    ],
)
def test_bad_rows_are_named(column, bad, message):
    frame = TRANSACTIONS.astype({column: object})
    frame.loc[2, column] = bad
    with pytest.raises(ValueError, match=message):
        rows(frame)


def test_text_dates_that_do_not_parse_are_named():
    frame = TRANSACTIONS.assign(day=TRANSACTIONS["day"].astype(str).str.replace("20240410", "soon"))
    with pytest.raises(ValueError, match=r"'day': 1 values are not a date; rows \[6\]"):
        rows(frame)


def test_the_holdout_must_follow_the_calibration():
    with pytest.raises(ValueError, match="must come after the calibration end"):
        rows(observation_end="2024-03-01")


def test_contract_orders_become_kept_transactions_with_line_value():
    orders = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b"],
            "ts": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-03"]),
            "quantity": [2, 1, 3],
            "unit_price": [10.0, 5.0, 4.0],
            "discount": [1.0, 0.0, 2.0],
            "returned": [False, True, False],
        }
    )
    tx = order_transactions(orders)
    assert list(tx["customer_id"]) == ["a", "b"] and list(tx["value"]) == [19.0, 10.0]


def test_a_contract_holdout_past_the_data_is_refused():
    tables = {"orders": pd.DataFrame({"ts": pd.to_datetime(["2025-01-01", "2025-06-30"])})}
    with pytest.raises(ValueError, match="beyond the last order"):
        clv_contract_rows(tables, "2025-06-01", horizon_days=90)
