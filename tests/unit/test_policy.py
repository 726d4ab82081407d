"""The next-best-action policy, property by property: consent, caps, cooldown, holdout, and the values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxml.decision.nba import ActionEconomics, NbaConfig, campaign_actions, retention_actions, suggestion_actions
from cxml.decision.policy import (
    DO_NOTHING,
    Action,
    ContactPolicy,
    ContactState,
    contact_states,
    decide,
    in_holdout,
    state_of,
)
from cxml.decision.value import ContactCosts

pytestmark = pytest.mark.unit
NOW = pd.Timestamp("2025-06-01")
NO_HOLDOUT = ContactPolicy(holdout_share=0.0)
OFFER = Action("spring:discount_10", "marketing", 5.0)
CALL = Action("service_check_in", "service", 1.0)
NEGATIVE = Action("retention_offer", "marketing", -2.0)


def consenting(*contacts: str, negative: str | None = None) -> ContactState:
    return ContactState(True, tuple(pd.Timestamp(c) for c in contacts), pd.Timestamp(negative) if negative else None)


def test_best_positive_action_wins_with_runners_up() -> None:
    d = decide("c1", [CALL, OFFER, NEGATIVE], consenting(), NOW, NO_HOLDOUT)
    assert d.chosen == OFFER and [a.name for a in d.runners_up] == ["service_check_in", "retention_offer"]
    assert not d.blocked and not d.holdout


def test_nothing_positive_means_do_nothing() -> None:
    d = decide("c1", [NEGATIVE], consenting(), NOW, NO_HOLDOUT)
    assert d.chosen.name == DO_NOTHING and d.chosen.expected_value == 0.0


@pytest.mark.parametrize("seed", range(20))
def test_never_marketing_without_consent(seed: int) -> None:
    rng = np.random.default_rng(seed)
    actions = [
        Action(f"a{i}", "marketing" if rng.random() < 0.7 else "service", float(rng.normal(3, 5))) for i in range(6)
    ]
    d = decide(f"c{seed}", actions, ContactState(False), NOW, NO_HOLDOUT)
    assert d.chosen.kind != "marketing"
    assert all(reason == "no marketing consent" for reason in d.blocked.values())
    services = [a for a in actions if a.kind == "service" and a.expected_value > 0]
    if services:  # the best service action is still offered
        assert d.chosen == max(services, key=lambda a: a.expected_value)


@pytest.mark.parametrize(
    ("contacts", "blocked"),
    [
        ((), False),
        (("2025-05-20",), False),  # 12 days ago: outside 7 days, 1 of 3 in 30 days
        (("2025-05-28",), True),  # 4 days ago: the 7-day cap of 1 is reached
        (("2025-05-05", "2025-05-12", "2025-05-20"), True),  # 3 in 30 days
        (("2025-04-01", "2025-04-10", "2025-04-20"), False),  # all older than 30 days
        (("2025-06-02",), False),  # in the future of the decision: ignored
    ],
)
def test_contact_caps_use_rolling_windows(contacts: tuple[str, ...], blocked: bool) -> None:
    d = decide("c1", [OFFER, CALL], consenting(*contacts), NOW, NO_HOLDOUT)
    assert (d.chosen == CALL) is blocked
    assert ("spring:discount_10" in d.blocked) is blocked
    if blocked:
        assert d.blocked[OFFER.name].startswith("contact cap")


def test_cooldown_after_a_negative_response() -> None:
    policy = ContactPolicy(holdout_share=0.0, cooldown_days=60)
    assert decide("c1", [OFFER], consenting(negative="2025-05-01"), NOW, policy).chosen.name == DO_NOTHING
    assert decide("c1", [OFFER], consenting(negative="2025-03-01"), NOW, policy).chosen == OFFER


def test_holdout_is_persistent_and_of_the_stated_size() -> None:
    ids = [f"C{i:07d}" for i in range(20_000)]
    member = np.array([in_holdout(i, 0.05, "salt") for i in ids])
    assert member.mean() == pytest.approx(0.05, abs=0.005)
    assert (member == np.array([in_holdout(i, 0.05, "salt") for i in ids])).all()
    assert (member != np.array([in_holdout(i, 0.05, "other salt") for i in ids])).any()
    policy = ContactPolicy(holdout_share=0.05, holdout_salt="salt")
    inside = ids[int(np.flatnonzero(member)[0])]
    d = decide(inside, [OFFER, CALL], consenting(), NOW, policy)
    assert d.holdout and d.chosen.name == DO_NOTHING and "holdout" in d.reasons[0]


def test_campaign_values_follow_the_profit_formula() -> None:
    costs = ContactCosts(margin=30.0, cost_per_contact=0.5, incentive_cost=4.0, control_rate=0.1)
    actions = {a.name: a for a in campaign_actions({"d10": 0.05, "d20": -0.02}, costs, "spring")}
    assert actions["spring:d10"].expected_value == pytest.approx(0.05 * 30 - 0.5 - 4.0 * 0.15)
    assert actions["spring:d20"].expected_value == pytest.approx(-0.02 * 30 - 0.5 - 4.0 * 0.08)
    assert campaign_actions({"d10": 0.05}, None, "spring") == []


def test_retention_and_suggestion_values() -> None:
    econ = ActionEconomics(retention_offer_cost=10, retention_contact_cost=0, save_rate=0.2, check_in_cost=2)
    offer, check_in = retention_actions(0.5, 400.0, econ)
    assert offer.kind == "marketing" and offer.expected_value == pytest.approx(0.5 * 400 * 0.2 - 10)
    assert check_in.kind == "service" and check_in.expected_value == pytest.approx(0.5 * 400 * 0.05 - 2)
    assert "assumed save rate" in offer.reason
    (s,) = suggestion_actions([("ink", 0.4, 12.0)], econ)
    assert s.name == "suggest:ink" and s.expected_value == pytest.approx(0.4 * 0.1 * 12 - 0.05)


def test_config_rejects_unknown_keys(tmp_path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("policy:\n  max_contacts_7d: 2\n  max_contact_30d: 5\n")
    with pytest.raises(ValueError, match="max_contact_30d"):
        NbaConfig.from_yaml(path)
    assert NbaConfig.from_yaml(None).policy.max_contacts_7d == 1


def test_contact_states_from_the_contract_tables() -> None:
    tables = {
        "customers": pd.DataFrame({"customer_id": ["A", "B", "C"], "consent_marketing": [True, True, False]}),
        "exposures": pd.DataFrame(
            {
                "customer_id": ["A", "A", "B", "A"],
                "sent_at": pd.to_datetime(["2025-05-25", "2025-03-01", "2025-05-10", "2025-06-05"]),
            }
        ),
        "service_contacts": pd.DataFrame(
            {
                "customer_id": ["B", "B", "A"],
                "ts": pd.to_datetime(["2025-05-15", "2025-05-30", "2025-05-26"]),
                "sentiment": [-0.8, -0.9, 0.5],
                "survey_score": [np.nan, np.nan, 1.0],
            }
        ),
    }
    states = contact_states(tables, NOW, ContactPolicy())
    assert states.loc["A", "contacts"] == (pd.Timestamp("2025-05-25"),)  # March is outside 30 days, June is future
    assert states.loc["A", "last_negative_at"] == pd.Timestamp("2025-05-26")  # survey 1 the day after a send
    assert states.loc["B", "last_negative_at"] == pd.Timestamp("2025-05-15")  # 05-30 is 20 days after the send
    assert pd.isna(states.loc["C", "last_negative_at"]) and not state_of(states.loc["C"]).consent_marketing
    d = decide("B", [OFFER], state_of(states.loc["B"]), NOW, ContactPolicy(holdout_share=0.0))
    assert d.chosen.name == DO_NOTHING and d.blocked[OFFER.name].startswith("cooldown")
