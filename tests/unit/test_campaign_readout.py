"""The anytime-valid readout on generated campaigns with known rates."""

import json

import numpy as np
import pandas as pd
import pytest

from cxml.campaigns.readout import eta, mixture_radius, readout, readout_history
from cxml.campaigns.spec import CampaignSpec

pytestmark = pytest.mark.unit

START = pd.Timestamp("2026-03-01")
SPEC = CampaignSpec(
    campaign_id="spring", arms=("control", "a", "b"), control="control", value_per_response=10, cost_per_contact=0.5
)


def campaign(
    rates: dict[str, float], n: int = 6000, *, seed: int = 0, holdout: float = 0.0, days: int = 10
) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    arms = list(rates)
    arm = np.array(arms)[rng.integers(0, len(arms), n)]
    is_holdout = rng.random(n) < holdout
    arm[is_holdout] = "control"
    sent = START + pd.to_timedelta(np.sort(rng.random(n)) * days, unit="D")
    y = rng.random(n) < np.array([rates[a] for a in arm])
    ids = np.array([f"c{i}" for i in range(n)])
    assignments = pd.DataFrame(
        {"campaign_id": "spring", "customer_id": ids, "arm": arm, "sent_at": sent, "holdout": is_holdout}
    )
    outcomes = pd.DataFrame(
        {"campaign_id": "spring", "customer_id": ids[y], "outcome": 1.0, "observed_at": sent[y] + pd.Timedelta("1h")}
    )
    return assignments, outcomes


def test_radius_is_the_normal_mixture_formula():
    t, var, rho2, alpha = 400.0, 0.09, 0.002, 0.05
    v = t * var * rho2 + 1
    expected = np.sqrt(2 * v / (t**2 * rho2) * np.log(np.sqrt(v) / alpha))
    assert mixture_radius(np.array([t]), np.array([var]), rho2, alpha)[0] == pytest.approx(expected)
    assert eta(0.05) == pytest.approx(-2 * np.log(0.05) + np.log(1 - 2 * np.log(0.05)))


def test_a_clear_winner_is_declared_with_the_lift_inside_its_interval():
    result = readout(*campaign({"control": 0.10, "a": 0.20, "b": 0.10}, n=9000), SPEC)
    a = result.arm("a")
    assert result.winner == "a"
    assert a.decision == "winner"
    assert a.lower < 0.10 < a.upper
    assert a.lift == pytest.approx(0.10, abs=0.03)
    assert result.arm("control").decision == "control"


def test_lift_matches_the_difference_in_means_under_uniform_assignment():
    assignments, outcomes = campaign({"control": 0.10, "a": 0.14, "b": 0.12}, n=20000, seed=3)
    result = readout(assignments, outcomes, SPEC)
    y = assignments["customer_id"].isin(outcomes["customer_id"])
    means = y.groupby(assignments["arm"]).mean()
    assert result.arm("b").lift == pytest.approx(means["b"] - means["control"], abs=0.003)
    assert result.arm("a").mean == pytest.approx(means["a"], abs=1e-12)


def test_an_arm_worse_than_min_lift_is_dropped():
    spec = SPEC.model_copy(update={"min_lift": 0.0})
    result = readout(*campaign({"control": 0.20, "a": 0.20, "b": 0.08}, n=9000, seed=1), spec)
    assert result.arm("b").decision == "drop"
    assert result.arm("a").decision == "continue"
    assert result.winner is None


def test_control_wins_when_every_arm_is_dropped():
    result = readout(*campaign({"control": 0.25, "a": 0.08, "b": 0.08}, n=9000, seed=2), SPEC)
    assert [a.decision for a in result.arms] == ["control", "drop", "drop"]
    assert result.winner == "control"


def test_no_decision_before_min_n_per_arm():
    result = readout(*campaign({"control": 0.0, "a": 1.0, "b": 0.0}, n=240, seed=4), SPEC)
    assert {a.decision for a in result.arms if a.arm != "control"} == {"continue"}


def test_adaptive_allocation_is_weighted_by_propensity():
    # no effect, but the base rate triples in the second half while the allocation moves to "a": the raw means
    # show a large fake lift, the propensity-weighted readout must not
    rng = np.random.default_rng(5)
    n = 20000
    late = np.arange(n) >= n // 2
    p_a = np.where(late, 0.9, 0.5)
    arm = np.where(rng.random(n) < p_a, "a", "control")
    propensity = np.where(arm == "a", p_a, 1 - p_a)
    y = rng.random(n) < np.where(late, 0.3, 0.1)
    ids = np.array([f"c{i}" for i in range(n)])
    sent = START + pd.to_timedelta(np.arange(n), unit="min")
    assignments = pd.DataFrame({"customer_id": ids, "arm": arm, "sent_at": sent, "propensity": propensity})
    outcomes = pd.DataFrame({"customer_id": ids[y], "outcome": 1.0})
    spec = CampaignSpec(campaign_id="adaptive", arms=("control", "a"), control="control")
    raw = y[arm == "a"].mean() - y[arm == "control"].mean()
    result = readout(assignments, outcomes, spec).arm("a")
    assert raw > 0.05
    assert abs(result.lift) < 0.015
    assert result.lower < 0 < result.upper
    assert result.mean == pytest.approx(0.2, abs=0.015)


def test_continuous_outcome_lift_in_spend():
    rng = np.random.default_rng(6)
    n = 8000
    arm = np.where(rng.random(n) < 0.5, "a", "control")
    spend = rng.gamma(2.0, 10.0, n) + np.where(arm == "a", 3.0, 0.0)
    ids = np.array([f"c{i}" for i in range(n)])
    assignments = pd.DataFrame({"customer_id": ids, "arm": arm, "sent_at": START + pd.to_timedelta(np.arange(n), "s")})
    outcomes = pd.DataFrame({"customer_id": ids, "outcome": spend})
    spec = CampaignSpec(campaign_id="spend", arms=("control", "a"), control="control", outcome="continuous")
    result = readout(assignments, outcomes, spec).arm("a")
    assert result.lower < 3.0 < result.upper
    assert result.lift == pytest.approx(3.0, abs=1.0)


def test_holdout_revenue_is_incremental_value_less_contact_costs():
    assignments, outcomes = campaign({"control": 0.10, "a": 0.20, "b": 0.20}, n=20000, seed=7, holdout=0.1)
    h = readout(assignments, outcomes, SPEC).holdout
    assert h is not None
    contacted = (~assignments["holdout"]) & (assignments["arm"] != "control")
    assert h.contacts == int(contacted.sum())
    assert h.n_holdout == int(assignments["holdout"].sum())
    # two thirds of the campaign's customers get an arm worth +0.10: +0.067 per customer against the holdout
    assert h.lower < 0.2 / 3 < h.upper
    assert h.revenue == pytest.approx(h.incremental_per_customer * h.n_campaign * 10 - h.contacts * 0.5)
    assert h.revenue_lower < h.revenue < h.revenue_upper


def test_outcomes_observed_after_the_look_are_not_counted():
    assignments, outcomes = campaign({"control": 0.3, "a": 0.3, "b": 0.3}, n=3000, seed=8)
    late = outcomes.assign(observed_at=START + pd.Timedelta(days=30))
    early = readout(assignments, late, SPEC, at=START + pd.Timedelta(days=20))
    assert [a.mean for a in early.arms] == [0.0, 0.0, 0.0]
    assert early.n == len(assignments)


def test_history_has_a_row_per_look_and_arm_ending_at_the_readout():
    assignments, outcomes = campaign({"control": 0.10, "a": 0.20, "b": 0.10}, n=9000, days=10)
    history = readout_history(assignments, outcomes, SPEC)
    assert len(history) == 10 * 3
    a = history[history["arm"] == "a"]
    assert a["n"].is_monotonic_increasing
    assert (a["upper"] - a["lower"]).iloc[-1] < (a["upper"] - a["lower"]).iloc[2]
    final = readout(assignments, outcomes, SPEC).arm("a")
    assert a["lift"].iloc[-1] == pytest.approx(final.lift)
    assert history.groupby("time")["share"].sum().to_numpy() == pytest.approx(np.ones(10))


def test_a_customer_keeps_their_first_assignment():
    assignments, outcomes = campaign({"control": 0.1, "a": 0.1, "b": 0.1}, n=600, seed=9)
    again = assignments.assign(arm="b", sent_at=assignments["sent_at"] + pd.Timedelta(days=1))
    assert readout(pd.concat([assignments, again]), outcomes, SPEC).n == 600


def test_bad_input_names_what_to_fix():
    assignments, outcomes = campaign({"control": 0.1, "a": 0.1, "b": 0.1}, n=300)
    with pytest.raises(ValueError, match="arm"):
        readout(assignments.assign(arm="c"), outcomes, SPEC)
    with pytest.raises(ValueError, match="sent_at"):
        readout(assignments.drop(columns="sent_at"), outcomes, SPEC)
    with pytest.raises(ValueError, match="propensity"):
        readout(assignments.assign(propensity=0.0), outcomes, SPEC)
    with pytest.raises(ValueError, match="numeric"):
        readout(assignments, outcomes.assign(outcome="yes"), SPEC)


def test_to_dict_is_plain_json():
    assignments, outcomes = campaign({"control": 0.1, "a": 0.1, "b": 0.1}, n=4, seed=10, holdout=0.5)
    payload = readout(assignments, outcomes, SPEC).to_dict()
    text = json.dumps(payload, allow_nan=False)
    assert json.loads(text)["campaign_id"] == "spring"
    assert [a["arm"] for a in payload["arms"]] == ["control", "a", "b"]


def test_an_arm_without_customers_has_no_lift_and_a_binary_interval_stays_within_one():
    assignments, outcomes = campaign({"control": 0.1, "a": 0.1}, n=40, seed=11)
    result = readout(assignments, outcomes, SPEC)
    b = result.arm("b")
    assert b.n == 0 and np.isnan(b.lift) and b.decision == "continue"
    assert result.arm("a").lower >= -1.0 and result.arm("a").upper <= 1.0
