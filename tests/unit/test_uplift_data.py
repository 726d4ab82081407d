"""Uplift targets and datasets: responses read only inside each customer's window, features from before the send."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxml.config import UpliftConfig
from cxml.data.synthetic import generate_company
from cxml.datasets.tables import TableError
from cxml.datasets.uplift import latest_campaign, uplift_dataset, uplift_table_dataset
from cxml.features.labels import campaign_outcomes

pytestmark = pytest.mark.unit
T0 = pd.Timestamp("2025-03-01 09:00")
DAY = pd.Timedelta(days=1)


def tiny_tables() -> dict[str, pd.DataFrame]:
    """Three exposed customers: A buys inside the window, B only before the send and after the window, C returns."""
    exposures = pd.DataFrame(
        {
            "campaign_id": ["K1", "K1", "K1", "K0"],
            "customer_id": ["A", "B", "C", "A"],
            "arm": ["offer", "control", "offer", "control"],
            "sent_at": [T0, T0 + pd.Timedelta(hours=1), T0, T0 - 30 * DAY],
        }
    )
    orders = pd.DataFrame(
        {
            "customer_id": ["A", "A", "B", "B", "C", "B"],
            "ts": [T0 + 2 * DAY, T0 + 3 * DAY, T0 - DAY, T0 + 15 * DAY, T0 + DAY, T0 + 60 * DAY],
            "quantity": [1, 2, 1, 1, 1, 1],
            "unit_price": [10.0, 5.0, 7.0, 7.0, 9.0, 1.0],
            "discount": [0.0, 1.0, 0.0, 0.0, 0.0, 0.0],
            "returned": [False, False, False, False, True, False],
        }
    )
    events = pd.DataFrame(
        {
            "identifier": ["ck1", "ck2", "ck3"],
            "customer_id": [None, "B", None],
            "ts": [T0 + DAY, T0 + 20 * DAY, T0 + DAY],
            "event_type": ["visit", "visit", "visit"],
        }
    )
    identities = pd.DataFrame({"identifier": ["ck1", "ck3"], "customer_id": ["C", None]})
    return {"exposures": exposures, "orders": orders, "events": events, "identities": identities}


def test_purchase_counts_only_kept_lines_inside_each_customers_window():
    out = campaign_outcomes(tiny_tables(), "K1", 14, "purchase")
    assert out["outcome"].to_dict() == {"A": 1.0, "B": 0.0, "C": 0.0}  # B: before and after; C: returned
    assert out["arm"].to_dict() == {"A": "offer", "B": "control", "C": "offer"}


def test_spend_sums_the_kept_value_in_the_window():
    out = campaign_outcomes(tiny_tables(), "K1", 14, "spend")
    assert out["outcome"].to_dict() == {"A": 10.0 + 2 * 5.0 - 1.0, "B": 0.0, "C": 0.0}


def test_visits_are_attributed_through_the_identity_graph():
    out = campaign_outcomes(tiny_tables(), "K1", 14, "visit")
    assert out["outcome"].to_dict() == {"A": 0.0, "B": 0.0, "C": 1.0}  # ck1 → C; B's visit is after 14 days


def test_an_unknown_campaign_names_the_known_ones():
    with pytest.raises(ValueError, match=r"'K9'.*\['K0', 'K1'\]"):
        campaign_outcomes(tiny_tables(), "K9", 14, "purchase")


def test_a_window_past_the_data_is_refused():
    with pytest.raises(ValueError, match="runs past the last order"):
        campaign_outcomes(tiny_tables(), "K1", 90, "purchase")


@pytest.fixture(scope="module")
def company():
    return generate_company(n_customers=3000, seed=2)


def test_the_dataset_reads_features_from_before_the_first_send(company):
    cfg = UpliftConfig()
    data = uplift_dataset(company.tables, cfg, source="generated")
    campaign = latest_campaign(company.tables, cfg.window_days)
    exposures = company.tables["exposures"]
    sent = exposures.loc[exposures["campaign_id"] == campaign, "sent_at"]
    assert pd.Timestamp(data.as_of) <= sent.min()
    assert len(data.X_train) + len(data.X_holdout) == sent.size
    assert set(data.y_holdout["arm"]) == set(data.y_train["arm"]) >= {"control"}
    assert data.y_train.index.equals(data.X_train.index)


def test_the_dataset_split_is_seeded_and_keeps_arm_shares(company):
    a = uplift_dataset(company.tables, UpliftConfig(), source="generated", seed=4)
    b = uplift_dataset(company.tables, UpliftConfig(), source="generated", seed=4)
    assert a.X_holdout.index.equals(b.X_holdout.index)
    share = a.y_holdout["arm"].value_counts(normalize=True)
    np.testing.assert_allclose(share, a.y_train["arm"].value_counts(normalize=True)[share.index], atol=0.02)


def test_a_flat_experiment_table_maps_the_control_value():
    frame = pd.DataFrame(
        {
            "age": range(40),
            "group": ["none", "mail", "sms", "none"] * 10,
            "visit": [0, 1] * 20,
            "spend": 0.0,
        }
    )
    data, _ = uplift_table_dataset(frame, "visit", "group", "none", name="t", source="t", drop=["spend"], seed=0)
    assert list(data.X_train.columns) == ["age"]
    assert set(data.y_train["arm"]) == {"control", "mail", "sms"}
    with pytest.raises(TableError, match="'nobody' is not a value of 'group'"):
        uplift_table_dataset(frame, "visit", "group", "nobody", name="t", source="t")
    with pytest.raises(TableError, match=r"'visit' must be numeric.*first rows \[0, 1, 2, 3, 4\]"):
        uplift_table_dataset(frame.assign(visit="yes?"), "visit", "group", "none", name="t", source="t")
