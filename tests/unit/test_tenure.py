"""Tenure labels: who is followed from as_of, when their churn is detected, and who is censored."""

import pandas as pd
import pytest

from cxml.features.tenure import DAYS_PER_MONTH, lifetime_labels, tenure_labels

pytestmark = pytest.mark.unit

AS_OF = pd.Timestamp("2025-04-01")


def _orders(rows):
    frame = pd.DataFrame(rows, columns=["customer_id", "ts", "returned"])
    return frame.assign(ts=pd.to_datetime(frame["ts"]))


def _customers(ids, signup="2024-01-01"):
    return pd.DataFrame({"customer_id": ids, "signup_at": pd.to_datetime([signup] * len(ids))})


def _months(days):
    return days / DAYS_PER_MONTH


@pytest.fixture
def orders():
    return _orders(
        [
            ("a", "2025-03-01", False),  # anchor; buys 40 days later, then a 144-day gap: churn at Apr 10 + 90
            ("a", "2025-04-10", False),
            ("a", "2025-09-01", False),
            ("b", "2025-03-20", False),  # anchor, one more purchase, then silence until the end: churn
            ("b", "2025-05-01", False),
            ("c", "2025-03-15", False),  # keeps buying every ~2 months up to the end: censored
            ("c", "2025-05-15", False),
            ("c", "2025-07-15", False),
            ("c", "2025-09-15", False),
            ("c", "2025-11-15", False),
            ("d", "2024-12-01", False),  # already lapsed at as_of: not followed
            ("d", "2025-06-01", False),
            ("e", "2025-03-25", True),  # only a returned line before as_of: not active
            ("f", "2025-04-05", False),  # first purchase after as_of: not in the population
            ("z", "2025-12-31", False),  # the data end
        ]
    )


def test_durations_and_events_from_the_first_gap_longer_than_the_lapse(orders):
    labels = tenure_labels(orders, _customers(list("abcdefz")), AS_OF, lapse_days=90)
    assert list(labels.index) == ["a", "b", "c"]
    assert labels.loc["a", "event"] == 1
    assert labels.loc["a", "duration"] == pytest.approx(_months(9 + 90))
    assert labels.loc["b", "event"] == 1
    assert labels.loc["b", "duration"] == pytest.approx(_months(30 + 90))
    end = pd.Timestamp("2025-12-31")
    assert labels.loc["c", "event"] == 0  # detection (Nov 15 + 90 days) falls after the last order
    assert labels.loc["c", "duration"] == pytest.approx(_months((end - AS_OF).days))
    assert labels["event"].dtype == "int64" and labels.index.name == "customer_id"


def test_an_earlier_end_censors_and_hides_later_purchases(orders):
    labels = tenure_labels(orders, _customers(list("abcz")), AS_OF, lapse_days=90, end="2025-06-01")
    assert labels.loc["a", "event"] == 0  # Jul 9 detection is past the end
    assert labels.loc["a", "duration"] == pytest.approx(_months(61))
    assert labels.loc["b", "event"] == 0


def test_a_gap_of_exactly_the_lapse_is_not_a_churn():
    orders = _orders([("a", "2025-03-31", False), ("a", "2025-06-29", False), ("z", "2025-12-31", False)])
    labels = tenure_labels(orders, _customers(["a", "z"]), AS_OF, lapse_days=90)
    assert labels.loc["a", "duration"] == pytest.approx(_months(89 + 90))  # churn after Jun 29, not Mar 31


def test_customers_who_sign_up_at_or_after_as_of_are_left_out(orders):
    customers = _customers(list("abcz")).assign(
        signup_at=pd.to_datetime(["2024-01-01", "2025-04-01", "2024-01-01", "2024-01-01"])
    )
    assert list(tenure_labels(orders, customers, AS_OF).index) == ["a", "c"]


def test_inputs_are_not_modified(orders):
    before = orders.copy()
    tenure_labels(orders, _customers(list("abcz")), AS_OF)
    pd.testing.assert_frame_equal(orders, before)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"lapse_days": 0}, "lapse_days"), ({"end": "2025-03-01"}, "must come after as_of")],
)
def test_bad_arguments_are_refused(orders, kwargs, message):
    with pytest.raises(ValueError, match=message):
        tenure_labels(orders, _customers(list("abc")), AS_OF, **kwargs)


def test_lifetimes_run_from_the_first_purchase_to_the_first_lapse_before_as_of(orders):
    as_of = pd.Timestamp("2025-10-01")
    labels = lifetime_labels(orders, _customers(list("abcdefz")), as_of, lapse_days=90)
    assert list(labels.index) == ["a", "b", "c", "d", "f"]  # e only returned, z bought after as_of
    days = {"a": 130, "b": 132, "c": 200, "d": 90, "f": 90}  # a: Mar 1 → Apr 10 + 90; c: still buying
    assert labels["duration"].to_dict() == pytest.approx({k: _months(v) for k, v in days.items()})
    assert labels["event"].to_dict() == {"a": 1, "b": 1, "c": 0, "d": 1, "f": 1}


def test_lifetimes_never_read_at_or_after_as_of(orders):
    as_of = pd.Timestamp("2025-10-01")
    later = _orders([("c", "2025-10-01", False), ("b", "2025-12-01", False)])
    customers = _customers(list("abcdefz"))
    pd.testing.assert_frame_equal(
        lifetime_labels(orders, customers, as_of), lifetime_labels(pd.concat([orders, later]), customers, as_of)
    )
