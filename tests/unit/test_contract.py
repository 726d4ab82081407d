"""Each broken rule of the data contract fails with its table, column, rule and offending rows."""

import numpy as np
import pandas as pd
import pytest

from cxml.data.contract import ContractError, validate_tables

pytestmark = pytest.mark.unit
NOW = pd.Timestamp("2026-01-01")


def tiny_tables() -> dict[str, pd.DataFrame]:
    ts = pd.to_datetime(["2025-03-01", "2025-03-02", "2025-04-01"])
    return {
        "customers": pd.DataFrame(
            {
                "customer_id": ["C1", "C2"],
                "signup_at": pd.to_datetime(["2024-01-01", "2024-06-01"]),
                "region": ["north", "south"],
                "birth_year": pd.array([1980, None], dtype="Int64"),
                "gender": ["f", None],
                "consent_marketing": [True, False],
                "consent_profiling": [True, True],
                "preferred_channel": ["web", "store"],
            }
        ),
        "identities": pd.DataFrame(
            {
                "identifier": ["e1", "k1", "k9"],
                "identifier_type": ["email_hash", "cookie", "cookie"],
                "customer_id": ["C1", "C1", None],
            }
        ),
        "products": pd.DataFrame(
            {
                "product_id": ["P1", "P2"],
                "category": ["tea", "cups"],
                "list_price": [10.0, 5.0],
                "unit_cost": [4.0, 2.0],
            }
        ),
        "orders": pd.DataFrame(
            {
                "order_id": ["O1", "O1", "O2"],
                "line_no": [0, 1, 0],
                "customer_id": ["C1", "C1", "C2"],
                "ts": ts,
                "product_id": ["P1", "P2", "P1"],
                "quantity": [1, 2, -1],
                "unit_price": [10.0, 5.0, 10.0],
                "discount": [0.0, 0.5, 0.0],
                "channel": ["web", "web", "store"],
                "campaign_id": [None, None, "K1"],
                "returned": [False, False, True],
            }
        ),
        "events": pd.DataFrame(
            {
                "identifier": ["k1", None],
                "customer_id": [None, "C2"],
                "ts": ts[:2],
                "event_type": ["visit", "cart"],
                "device": ["mobile", "desktop"],
                "os": ["ios", "windows"],
                "browser": ["safari", "edge"],
                "referrer_type": ["social", "organic"],
                "country": ["GB", "GB"],
            }
        ),
        "service_contacts": pd.DataFrame(
            {
                "contact_id": ["S1"],
                "customer_id": ["C2"],
                "ts": ts[:1],
                "channel": ["phone"],
                "reason": ["delivery"],
                "resolved": [False],
                "survey_score": [np.nan],
                "sentiment": [-0.5],
            }
        ),
        "campaigns": pd.DataFrame(
            {
                "campaign_id": ["K1"],
                "channel": ["email"],
                "offer": ["10% off"],
                "start_at": pd.to_datetime(["2025-02-01"]),
                "end_at": pd.to_datetime(["2025-03-01"]),
                "cost_per_contact": [0.1],
                "incentive_cost": [2.0],
            }
        ),
        "exposures": pd.DataFrame(
            {
                "campaign_id": ["K1", "K1"],
                "customer_id": ["C1", "C2"],
                "arm": ["discount_10", "control"],
                "sent_at": pd.to_datetime(["2025-02-02", "2025-02-02"]),
            }
        ),
    }


def violations(tables):
    with pytest.raises(ContractError) as info:
        validate_tables(tables, now=NOW)
    return {(v.table, v.column, v.rule.split(" (")[0]): v for v in info.value.violations}


def test_valid_tables_pass():
    validate_tables(tiny_tables(), now=NOW)


def test_missing_column():
    t = tiny_tables()
    t["orders"] = t["orders"].drop(columns=["unit_price"])
    assert ("orders", "unit_price", "missing column") in violations(t)


def test_mistyped_column_names_column_and_dtype():
    t = tiny_tables()
    t["orders"] = t["orders"].assign(quantity=["1", "2", "x"])
    v = violations(t)
    [key] = [k for k in v if k[1] == "quantity"]
    assert key[2].startswith("expected int")


def test_null_key():
    t = tiny_tables()
    t["customers"].loc[1, "customer_id"] = None
    v = violations(t)
    assert ("customers", "customer_id", "null in a non-nullable column") in v


def test_duplicate_key_shows_the_rows():
    t = tiny_tables()
    t["orders"].loc[1, "line_no"] = 0
    v = violations(t)[("orders", "order_id,line_no", "duplicate key")]
    assert v.n_rows == 2 and list(v.examples["order_id"]) == ["O1", "O1"]


def test_timestamp_in_the_future():
    t = tiny_tables()
    t["orders"].loc[2, "ts"] = pd.Timestamp("2027-01-01")
    v = violations(t)
    assert any(k[:2] == ("orders", "ts") and "future" in k[2] for k in v)


def test_negative_quantity_on_a_line_that_is_not_a_return():
    t = tiny_tables()
    t["orders"].loc[2, "returned"] = False
    v = violations(t)[("orders", "quantity", "negative quantity on a line that is not a return")]
    assert list(v.examples["order_id"]) == ["O2"]


def test_orphan_customer_ids():
    t = tiny_tables()
    t["exposures"].loc[1, "customer_id"] = "C404"
    v = violations(t)[("exposures", "customer_id", "orphan: not in customers.customer_id")]
    assert list(v.examples["customer_id"]) == ["C404"]


def test_unknown_identifier_type():
    t = tiny_tables()
    t["identities"].loc[0, "identifier_type"] = "passport"
    assert any(k[:2] == ("identities", "identifier_type") for k in violations(t))


def test_message_names_table_column_rule_and_rows():
    t = tiny_tables()
    t["orders"].loc[2, "returned"] = False
    with pytest.raises(ContractError, match=r"orders\.quantity: negative quantity .*\(1 rows\)[\s\S]*O2"):
        validate_tables(t, now=NOW)


def test_missing_required_table_but_optional_prices_may_be_absent():
    t = tiny_tables()
    del t["campaigns"]
    v = violations(t)
    assert ("campaigns", "*", "missing table") in v
    assert not any(k[0] == "prices" for k in v)


def test_exposures_may_carry_the_propensity_and_policy_version_they_were_drawn_with():
    """DESIGN §11: absent = uniform over the arms present; present = checked like any other column."""
    t = tiny_tables()
    n = len(t["exposures"])
    assert "propensity" not in t["exposures"]
    validate_tables(t, now=NOW)  # left out: fine
    t["exposures"] = t["exposures"].assign(propensity=[0.5] * n, policy_version=["v1"] * n)
    validate_tables(t, now=NOW)
    t["exposures"] = t["exposures"].assign(propensity=[0.0] + [1.5] * (n - 1))
    bad = violations(t)[("exposures", "propensity", "propensity outside")]  # "(0, 1]" follows
    assert bad.n_rows == n
    t["exposures"] = t["exposures"].assign(propensity=["often"] * n)
    assert any(k[:2] == ("exposures", "propensity") and k[2].startswith("expected float") for k in violations(t))
