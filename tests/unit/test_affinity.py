"""Point-in-time cross-sell pairs: hand-checked affinity features, owned mask, labels, and no leakage."""

import math

import numpy as np
import pandas as pd
import pytest

from cxml.data.synthetic import generate_company
from cxml.features.affinity import CONTEXT_COLUMNS, build_cross_sell, cross_sell_from_tables, describe_pair
from cxml.features.transactions import normalise_transactions

pytestmark = pytest.mark.unit

AS_OF = pd.Timestamp("2024-02-01")


def _tx(rows):
    raw = pd.DataFrame(rows, columns=["customer", "item", "ts", "invoice"])
    return normalise_transactions(raw, customer="customer", item="item", time="ts", invoice="invoice")[0]


@pytest.fixture
def tx():
    """a and b own X and Y, c owns X and Z, d only bought before the look-back; c buys Y in the horizon."""
    return _tx(
        [
            ["a", "X", "2024-01-10", "a1"],
            ["a", "Y", "2024-01-20", "a2"],
            ["b", "X", "2024-01-15", "b1"],
            ["b", "Y", "2024-01-15", "b1"],
            ["c", "X", "2024-01-25", "c1"],
            ["c", "Z", "2024-01-25", "c1"],
            ["d", "Y", "2023-12-01", "d1"],
            ["c", "Y", "2024-02-05", "c2"],
            ["a", "Z", "2024-02-15", "a3"],  # at as_of + 14 days: outside the half-open horizon
        ]
    )


@pytest.fixture
def data(tx):
    return build_cross_sell(tx, AS_OF, lookback_days=31, horizon_days=14)


def test_customers_items_and_owned_mask(data):
    assert list(data.customers) == ["a", "b", "c"]  # d bought nothing in the look-back
    assert list(data.items) == ["X", "Y", "Z"]
    assert data.owned.loc["a"].tolist() == [True, True, False]
    assert data.owned.loc["c"].tolist() == [True, False, True]


def test_labels_are_purchases_in_the_half_open_horizon(data):
    relevance = data.relevance
    assert relevance.loc["c", "Y"] == 1
    assert relevance.loc["a", "Z"] == 0
    assert relevance.to_numpy().sum() == 1


def test_cosine_similarity_and_co_purchase_scores_by_hand(data):
    sim = data.similarity
    assert sim.loc["X", "Y"] == pytest.approx(2 / math.sqrt(3 * 2))
    assert sim.loc["X", "Z"] == pytest.approx(1 / math.sqrt(3 * 1))
    assert sim.loc["Y", "Z"] == 0 and sim.loc["X", "X"] == 0
    cy, az = data.pairs.loc[("c", "Y")], data.pairs.loc[("a", "Z")]
    assert cy["copurchase_score"] == pytest.approx(2 / math.sqrt(6))
    assert cy["copurchase_max"] == pytest.approx(2 / math.sqrt(6)) and cy["anchor_item"] == "X"
    assert cy["conditional_max"] == pytest.approx(2 / 3)  # P(Y | X): 2 of X's 3 buyers own Y
    assert az["conditional_max"] == pytest.approx(1 / 3)
    assert cy["anchor_orders"] == 1 and cy["anchor_recency_days"] == pytest.approx(7)
    assert cy["related_orders"] == 1 and cy["related_recency_days"] == pytest.approx(7)
    assert cy["item_popularity"] == pytest.approx(2 / 3)


def test_rfm_features_from_the_look_back(data):
    a = data.pairs.loc[("a", "X")]
    assert a["recency_days"] == pytest.approx(12)
    assert a["orders_lookback"] == 2 and a["items_lookback"] == 2
    assert a["first_purchase_days"] == pytest.approx(22)
    assert a["mean_gap_days"] == pytest.approx(10)
    assert np.isnan(data.pairs.loc[("b", "X"), "mean_gap_days"])  # one order: no gap yet


def test_nothing_at_or_after_as_of_changes_a_feature(tx, data):
    rng = np.random.default_rng(0)
    future = _tx(
        [
            [
                f"c{rng.integers(5)}" if k % 2 else "a",
                f"{'XYZW'[rng.integers(4)]}",
                AS_OF + pd.Timedelta(hours=k),
                f"f{k}",
            ]
            for k in range(40)
        ]
    )
    noisy = build_cross_sell(pd.concat([tx, future]), AS_OF, lookback_days=31, horizon_days=14)
    pd.testing.assert_frame_equal(noisy.pairs, data.pairs)
    pd.testing.assert_frame_equal(noisy.similarity, data.similarity)
    assert not noisy.labels.equals(data.labels)  # the future does reach the labels
    unlabelled = build_cross_sell(tx[tx["ts"] < AS_OF], AS_OF, lookback_days=31)
    pd.testing.assert_frame_equal(unlabelled.pairs, data.pairs)
    assert unlabelled.labels is None


def test_a_purchase_at_as_of_is_a_label_not_a_feature(tx):
    at = pd.concat([tx, _tx([["a", "Z", AS_OF, "a9"]])])
    data = build_cross_sell(at, AS_OF, lookback_days=31, horizon_days=14)
    assert not data.owned.loc["a", "Z"] and data.relevance.loc["a", "Z"] == 1


def test_a_horizon_past_the_data_is_refused(tx):
    with pytest.raises(ValueError, match="censored"):
        build_cross_sell(tx, AS_OF, lookback_days=31, horizon_days=30)


def test_item_universe_by_buyers_or_given(tx):
    data = build_cross_sell(tx, AS_OF, lookback_days=31, horizon_days=14, min_item_buyers=2)
    assert list(data.items) == ["X", "Y"]
    fixed = build_cross_sell(tx, AS_OF, lookback_days=31, horizon_days=14, items=["Z", "X", "Q"])
    assert list(fixed.items) == ["Q", "X", "Z"]
    assert fixed.matrix(fixed.pairs["item_popularity"]).loc["a", "Q"] == 0
    with pytest.raises(ValueError, match="no item"):
        build_cross_sell(tx, AS_OF, lookback_days=31, min_item_buyers=10)
    with pytest.raises(ValueError, match="no purchases"):
        build_cross_sell(tx, "2023-06-01", lookback_days=31)


def test_subset_keeps_items_and_labels_aligned(data):
    sub = data.subset(["c"])
    assert list(sub.customers) == ["c"] and list(sub.items) == list(data.items)
    assert sub.relevance.loc["c", "Y"] == 1 and len(sub.labels) == len(sub.pairs) == 3


def test_group_features_when_items_carry_a_group():
    raw = pd.DataFrame(
        [
            ["a", "ink1", "ink", "2024-01-10", "a1"],
            ["a", "ink2", "ink", "2024-01-20", "a2"],
            ["a", "pen1", "pens", "2024-01-20", "a2"],
            ["b", "pen1", "pens", "2024-01-22", "b1"],
        ],
        columns=["c", "i", "g", "t", "inv"],
    )
    tx = normalise_transactions(raw, customer="c", item="i", time="t", invoice="inv", group="g")[0]
    data = build_cross_sell(tx, AS_OF, lookback_days=31)
    b_ink = data.pairs.loc[("b", "ink1")]
    assert b_ink["group_orders"] == 0 and np.isnan(b_ink["group_recency_days"]) and b_ink["item_group"] == "ink"
    a_pen = data.pairs.loc[("a", "pen1")]
    assert a_pen["group_orders"] == 1 and a_pen["group_share"] == pytest.approx(0.5)
    assert data.pairs.loc[("b", "pen1"), "group_recency_days"] == pytest.approx(10)


def test_reasons_in_words(data):
    row = {**data.pairs.loc[("c", "Y")].to_dict(), "item": "Y"}
    names = {"X": "printer ink", "Y": "paper"}
    assert describe_pair("anchor_orders", row, names) == "bought printer ink 1 time"
    assert describe_pair("anchor_recency_days", row, names) == "last bought printer ink 7 days ago"
    assert describe_pair("conditional_max", row, names) == "67% of buyers of one of their items also bought paper"
    assert describe_pair("recency_days", row) == "no purchase in 7 days"  # the feature registry's words
    assert describe_pair("related_orders", {"item": "Y", "related_orders": 0.0}) == "no orders of related items"


def test_contract_tables_join_the_customer_360_and_ignore_the_future():
    company = generate_company(300, seed=1)
    as_of = pd.Timestamp("2025-09-01")
    data = cross_sell_from_tables(company.tables, as_of, level="product", lookback_days=120, horizon_days=60)
    assert {"tenure_days", "web_visits_30d", "group_orders", "group_share"} <= set(data.pairs.columns)
    assert set(CONTEXT_COLUMNS) <= set(data.pairs.columns)
    assert data.pairs.index.names == ["customer_id", "item"] and len(data.items) > 30
    past = {}
    for name, table in company.tables.items():
        when = {"orders": "ts", "events": "ts", "service_contacts": "ts", "exposures": "sent_at"}.get(name)
        past[name] = table[table[when] < as_of] if when else table
    unlabelled = cross_sell_from_tables(past, as_of, level="product", lookback_days=120, horizon_days=None)
    pd.testing.assert_frame_equal(unlabelled.pairs, data.pairs)


def test_history_orders_reach_before_the_look_back(tx):
    """e bought X twice before the 31-day look-back and Y in it: X is not owned, yet its history shows."""
    earlier = _tx([["e", "X", "2023-11-01", "e0"], ["e", "X", "2023-12-01", "e1"], ["e", "Y", "2024-01-20", "e2"]])
    both = pd.concat([tx, earlier], ignore_index=True)
    pairs = build_cross_sell(both, AS_OF, lookback_days=31, horizon_days=14).pairs
    assert not pairs.loc[("e", "X"), "owned"] and pairs.loc[("e", "X"), "history_orders"] == 2
    assert pairs.loc[("e", "Y"), "owned"] and pairs.loc[("e", "Y"), "history_orders"] == 1
    bounded = build_cross_sell(both, AS_OF, lookback_days=31, horizon_days=14, history_days=70).pairs
    assert bounded.loc[("e", "X"), "history_orders"] == 1  # 2023-11-01 is more than 70 days before as_of


def test_taste_score_by_hand_without_groups(data):
    """Items stand for groups: a, b bought X and Y, c X and Z; the prior is what customers with c's mix buy."""
    # own shares a = b = (1/2, 1/2, 0), c = (1/2, 0, 1/2); rows of the mix: X (1/2, 1/3, 1/6), Y (1/2, 1/2, 0),
    # Z (1/2, 0, 1/2); c's prior (1/2, 1/6, 1/3), a's (1/2, 5/12, 1/12); shrunk by 8 lines over 2 own lines
    assert data.pairs.loc[("c", "Y"), "taste_score"] == pytest.approx((0 + 8 / 6) / (2 + 8))
    assert data.pairs.loc[("a", "Z"), "taste_score"] == pytest.approx((0 + 8 / 12) / (2 + 8))
    assert data.pairs.loc[("a", "X"), "taste_score"] == pytest.approx((1 + 8 / 2) / (2 + 8))


def test_taste_score_by_hand_with_groups():
    """X and Y share group g1, Z is g2: the customer's shrunk share of the group times the item's share of it."""
    from cxml.features.affinity import _taste

    history = pd.DataFrame({"customer_id": ["a", "a", "a", "b"], "item": ["X", "X", "Z", "Y"]})
    groups = pd.Series(["g1", "g1", "g2"], index=pd.Index(["X", "Y", "Z"]))
    taste = _taste(history, pd.Index(["a", "b"]), pd.Index(["X", "Y", "Z"]), groups)
    # a's group lines (2, 1), b's (1, 0); mix rows g1 (13/15, 2/15), g2 (2/3, 1/3); a's prior (0.8, 0.2)
    assert taste[0, 1] == pytest.approx((2 + 8 * 0.8) / (3 + 8) / 3)  # Y: a third of g1's lines
    assert taste[0, 0] == pytest.approx((2 + 8 * 0.8) / (3 + 8) * 2 / 3)
    assert taste[1, 2] == pytest.approx((0 + 8 * 2 / 15) / (1 + 8))  # Z: all of g2's lines
    assert taste.sum(axis=1) == pytest.approx([1.0, 1.0])  # shares of the customer's next lines
