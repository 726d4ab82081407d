"""Churn labels: who is in the population, what counts as churn, where the windows start and end."""

from __future__ import annotations

import pandas as pd
import pytest

from cxml.features.labels import churn_labels

pytestmark = pytest.mark.unit

AS_OF = pd.Timestamp("2025-06-01")


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    customers = pd.DataFrame(
        {
            "customer_id": pd.Series(["A", "B", "C", "D", "E", "F", "G"], dtype="str"),
            "signup_at": pd.to_datetime(["2024-01-01"] * 6 + ["2025-07-01"]),
        }
    )
    rows = [
        ("A", "2025-05-20", False),  # active, buys again in the horizon -> 0
        ("A", "2025-06-10", False),
        ("B", "2025-05-20", False),  # active, buys only at as_of + horizon (excluded end) -> 1
        ("B", "2025-07-01", False),
        ("C", "2025-05-02", False),  # active (window start is inclusive), buys exactly at as_of -> 0
        ("C", "2025-06-01", False),
        ("D", "2025-04-01", False),  # last purchase before the active window -> not in the population
        ("D", "2025-06-05", False),
        ("E", "2025-05-25", True),  # only a returned line in the window -> not active
        ("F", "2025-05-30", False),  # active, returns everything in the horizon -> 1
        ("F", "2025-06-15", True),
        ("G", "2025-08-01", False),  # signs up after as_of
    ]
    orders = pd.DataFrame(
        {
            "customer_id": pd.Series([r[0] for r in rows], dtype="str"),
            "ts": pd.to_datetime([r[1] for r in rows]),
            "returned": [r[2] for r in rows],
        }
    )
    return orders, customers


def test_population_is_customers_with_a_kept_purchase_in_the_active_window() -> None:
    orders, customers = _frames()
    labels = churn_labels(orders, customers, AS_OF, horizon_days=30, active_window_days=30)
    assert list(labels.index) == ["A", "B", "C", "F"]
    assert labels.index.name == "customer_id"


def test_churn_is_no_kept_purchase_in_the_horizon_with_half_open_windows() -> None:
    orders, customers = _frames()
    labels = churn_labels(orders, customers, AS_OF, horizon_days=30, active_window_days=30)
    assert labels.to_dict() == {"A": 0, "B": 1, "C": 0, "F": 1}
    assert pd.api.types.is_integer_dtype(labels)
    assert labels.name == "churn"


def test_active_window_is_half_open() -> None:
    orders, customers = _frames()
    as_of = pd.Timestamp("2025-05-30")
    labels = churn_labels(orders, customers, as_of, horizon_days=30, active_window_days=10)
    # A and B bought exactly at the window start (kept); F's purchase at exactly as_of belongs to the horizon
    assert list(labels.index) == ["A", "B"]


def test_horizon_past_the_last_order_is_censored() -> None:
    orders, customers = _frames()
    with pytest.raises(ValueError, match="censored"):
        churn_labels(orders, customers, AS_OF, horizon_days=90, active_window_days=30)


def test_labels_do_not_mutate_inputs() -> None:
    orders, customers = _frames()
    before = orders.copy(deep=True), customers.copy(deep=True)
    churn_labels(orders, customers, AS_OF, horizon_days=30, active_window_days=30)
    pd.testing.assert_frame_equal(orders, before[0])
    pd.testing.assert_frame_equal(customers, before[1])
