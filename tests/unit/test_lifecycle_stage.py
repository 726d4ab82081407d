import pandas as pd
import pytest
from pydantic import ValidationError

from cxml.models.lifecycle_stage import (
    GONE,
    NOT_YET,
    STAGES,
    StageRules,
    migration_matrix,
    stage_at,
)

pytestmark = pytest.mark.unit

AS_OF = pd.Timestamp("2025-07-01")


def days_ago(d: float, as_of: pd.Timestamp = AS_OF) -> pd.Timestamp:
    return as_of - pd.Timedelta(days=d)


def tables() -> dict[str, pd.DataFrame]:
    """One customer per rule (and a few traps), dates counted back from AS_OF."""
    signup = {
        "NEW": 50,
        "ACTIVE": 400,
        "OVERDUE": 400,
        "AT_RISK": 400,
        "SLEEPING": 400,
        "CHURNED": 600,
        "NEVER_BOUGHT": 500,
        "WON_BACK": 500,
        "OLD_RETURN": 500,
        "RETURNED_ONLY": 400,
        "FUTURE": -10,  # signs up after AS_OF
    }
    buys: dict[str, list[float]] = {
        "NEW": [20],
        "ACTIVE": [130, 110, 90, 70, 50, 30, 10],
        "OVERDUE": [96, 89, 82, 75, 68, 61, 54, 47, 40],  # weekly, silent for 40 days: 5.7 usual gaps
        "AT_RISK": [300, 120],
        "SLEEPING": [390, 200],
        "CHURNED": [500, 400],
        "WON_BACK": [400, 390, 30],  # a 360-day lapse, back 30 days ago
        "OLD_RETURN": [450, 440, 200, 180, 60],  # back after a lapse 200 days ago: now simply active
        "RETURNED_ONLY": [300, 20],  # the recent order was returned
    }
    customers = pd.DataFrame(
        {"customer_id": list(signup), "signup_at": [days_ago(d) for d in signup.values()]},
    )
    rows = []
    for cid, ds in buys.items():
        for k, d in enumerate(ds):
            returned = cid == "RETURNED_ONLY" and d == 20
            rows.append({"order_id": f"{cid}-{k}", "customer_id": cid, "ts": days_ago(d), "returned": returned})
    rows.append({"order_id": "late", "customer_id": "CHURNED", "ts": AS_OF, "returned": False})  # at as_of: unseen
    return {"customers": customers, "orders": pd.DataFrame(rows)}


@pytest.fixture(scope="module")
def stages() -> pd.DataFrame:
    return stage_at(tables(), AS_OF)


@pytest.mark.parametrize(
    ("customer", "stage"),
    [
        ("NEW", "new"),
        ("ACTIVE", "active"),
        ("OVERDUE", "at risk"),
        ("AT_RISK", "at risk"),
        ("SLEEPING", "sleeping"),
        ("CHURNED", "churned"),
        ("NEVER_BOUGHT", "churned"),
        ("WON_BACK", "won back"),
        ("OLD_RETURN", "active"),
        ("RETURNED_ONLY", "sleeping"),
    ],
)
def test_each_rule_on_a_hand_built_customer(stages, customer, stage):
    assert stages.loc[customer, "stage"] == stage, stages.loc[customer, "reason"]


def test_only_the_past_and_signed_up_customers_count(stages):
    assert "FUTURE" not in stages.index
    assert stages.loc["CHURNED", "days_since_last_purchase"] == pytest.approx(400)
    assert stages.loc["RETURNED_ONLY", "days_since_last_purchase"] == pytest.approx(300)
    assert list(stages["stage"].cat.categories) == list(STAGES)


def test_reasons_say_why_in_numbers(stages):
    assert stages.loc["OVERDUE", "reason"] == "last purchase 40 days ago, 5.7× the usual gap"
    assert stages.loc["WON_BACK", "reason"] == "back 30 days ago after a lapse of 180+ days"
    assert stages.loc["NEVER_BOUGHT", "reason"].endswith("(no purchase since sign-up)")
    assert stages.loc["WON_BACK", "days_since_return"] == pytest.approx(30)


def test_thresholds_come_from_the_config():
    loose = StageRules(active_days=130, at_risk_days=200, overdue_gap_ratio=None)
    s = stage_at(tables(), AS_OF, loose)
    assert s.loc["AT_RISK", "stage"] == "active"
    assert s.loc["OVERDUE", "stage"] == "active"  # overdue rule switched off
    young = stage_at(tables(), AS_OF, StageRules(new_days=30))
    assert young.loc["NEW", "stage"] == "active"


def test_new_can_count_from_the_first_purchase():
    t = tables()
    t["customers"].loc[t["customers"]["customer_id"] == "ACTIVE", "signup_at"] = days_ago(900)
    by_purchase = stage_at(t, AS_OF, StageRules(new_from="first_purchase"))
    assert by_purchase.loc["NEW", "stage"] == "new"
    assert by_purchase.loc["ACTIVE", "stage"] == "active"  # first purchase 130 days ago


def test_orders_without_a_returned_column_count_every_line():
    t = tables()
    t["orders"] = t["orders"].drop(columns="returned")
    assert stage_at(t, AS_OF).loc["RETURNED_ONLY", "stage"] == "won back"  # the order 20 days ago now counts


def test_config_is_validated():
    with pytest.raises(ValidationError, match="active_days < at_risk_days < sleeping_days"):
        StageRules(active_days=200)
    with pytest.raises(ValidationError, match="extra"):
        StageRules(activ_days=10)  # type: ignore[call-arg]


def test_features_give_the_same_stages_except_won_back():
    features = pd.DataFrame(
        {
            "tenure_days": [50.0, 400, 400, 400, 500, 500],
            "recency_days": [20.0, 10, 40, 120, float("nan"), 30],
            "mean_gap_days": [float("nan"), 20, 7, 180, float("nan"), 185],
        },
        index=["NEW", "ACTIVE", "OVERDUE", "AT_RISK", "NEVER_BOUGHT", "WON_BACK"],
    )
    s = stage_at(features, AS_OF)
    assert s["stage"].astype(str).to_dict() == {
        "ACTIVE": "active",
        "AT_RISK": "at risk",
        "NEVER_BOUGHT": "churned",
        "NEW": "new",
        "OVERDUE": "at risk",
        "WON_BACK": "active",
    }
    with pytest.raises(ValueError, match="needs the orders table"):
        stage_at(features, AS_OF, StageRules(new_from="first_purchase"))


def test_missing_columns_are_named():
    t = tables()
    t["orders"] = t["orders"].drop(columns="ts")
    with pytest.raises(ValueError, match=r"orders lacks column\(s\) \['ts'\]"):
        stage_at(t, AS_OF)
    with pytest.raises(ValueError, match="needs table 'orders'"):
        stage_at({"customers": t["customers"]}, AS_OF)


def test_migration_counts_between_two_cut_offs():
    t = tables()
    later = AS_OF + pd.Timedelta(days=60)
    a, b = stage_at(t, AS_OF), stage_at(t, later)
    m = migration_matrix(a, b)
    # 60 days on, nobody bought again: ACTIVE is silent 70 days, 3.5 usual gaps (overdue); NEW (signed up 110
    # days ago, bought 80 days ago) became active; AT_RISK (120 → 180 days) stays at risk; FUTURE joined as new
    assert m.pairs.loc["NEW", "after"] == "active"
    assert m.pairs.loc["ACTIVE", "after"] == "at risk"
    assert m.pairs.loc["AT_RISK", "after"] == "at risk"
    assert m.pairs.loc["WON_BACK", "after"] == "active"  # its return is now 90 days old
    assert m.pairs.loc["FUTURE", "before"] == NOT_YET
    assert m.counts.loc[NOT_YET, "new"] == 1
    assert m.counts.to_numpy().sum() == len(a.index.union(b.index)) == 11
    assert m.counts.loc["at risk"].sum() == (a["stage"] == "at risk").sum()
    row = m.shares.loc["at risk"]
    assert row.sum() == pytest.approx(1.0)
    assert m.counts[GONE].sum() == 0


def test_who_moved_from_active_to_at_risk():
    t = tables()
    a = stage_at(t, AS_OF)
    b = stage_at(t, AS_OF + pd.Timedelta(days=90))  # ACTIVE silent 100 days now, OLD_RETURN 150
    m = migration_matrix(a, b)
    assert list(m.moved("active", "at risk")) == ["ACTIVE", "OLD_RETURN"]
    assert m.counts.loc["active", "at risk"] == 2
    assert m.shares.loc["active", "at risk"] == pytest.approx(2 / (a["stage"] == "active").sum())
    with pytest.raises(ValueError, match="unknown stage 'actve'"):
        m.moved("actve", "at risk")


def test_migration_refuses_unknown_stages():
    a = pd.Series(["active", "dormant"], index=["A", "B"])
    with pytest.raises(ValueError, match=r"unknown stages \['dormant'\] e.g. customers \['B'\]"):
        migration_matrix(a, a)
