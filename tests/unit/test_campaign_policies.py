"""Allocation policies, one behaviour per test: floors, stopped arms, the holdout, exact propensities, the posterior
arithmetic, the warm start (and the data overriding it), top-two's challenger share and clear errors."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from cxml.campaigns.policies import PolicyError, holdout_mask, make_policy
from cxml.campaigns.spec import CampaignSpec

pytestmark = pytest.mark.unit
ARMS = ("control", "a", "b")
SPEC = CampaignSpec(campaign_id="c1", arms=ARMS, control="control", holdout_share=0.0)


def logs(rates: dict[str, float], n: int, *, seed: int = 0, segment: str = "*", prefix: str = "x"):
    """Randomised assignments (uniform over ``rates``' arms) and Bernoulli outcomes at the given rates."""
    rng = np.random.default_rng(seed)
    arm = rng.choice(list(rates), n)
    y = (rng.random(n) < np.array([rates[a] for a in arm])).astype(float)
    ids = [f"{prefix}{i}" for i in range(n)]
    a = pd.DataFrame({"campaign_id": "c1", "customer_id": ids, "arm": arm, "segment": segment, "holdout": False})
    o = pd.DataFrame({"campaign_id": "c1", "customer_id": ids, "outcome": y})
    return a, o


EMPTY_A = pd.DataFrame({"customer_id": pd.Series(dtype=str), "arm": pd.Series(dtype=str)})
EMPTY_O = pd.DataFrame({"customer_id": pd.Series(dtype=str), "outcome": pd.Series(dtype=float)})


def test_uniform_gives_every_active_arm_the_same_share():
    policy = make_policy(SPEC, policy="uniform").fit(*logs({"control": 0.1, "a": 0.5, "b": 0.1}, 3000))
    np.testing.assert_allclose(policy.shares_, 1 / 3)


def test_thompson_without_data_is_uniform_up_to_monte_carlo_error():
    policy = make_policy(SPEC, policy="thompson", n_draws=20_000).fit(EMPTY_A, EMPTY_O)
    np.testing.assert_allclose(policy.shares_[0], 1 / 3, atol=0.015)


def test_thompson_puts_all_but_the_floors_on_a_clear_winner():
    policy = make_policy(SPEC, policy="thompson").fit(*logs({"control": 0.1, "a": 0.1, "b": 0.3}, 6000))
    shares = dict(zip(ARMS, policy.shares_[0], strict=True))
    assert shares["control"] == pytest.approx(SPEC.min_share)
    assert shares["a"] == pytest.approx(SPEC.min_share)
    assert shares["b"] == pytest.approx(1 - 2 * SPEC.min_share)


def test_stopped_arm_gets_zero_and_the_rest_still_sum_to_one():
    policy = make_policy(SPEC, policy="thompson", stopped=["b"]).fit(*logs({"control": 0.1, "a": 0.1, "b": 0.3}, 6000))
    assert policy.shares_[0][ARMS.index("b")] == 0.0
    np.testing.assert_allclose(policy.shares_.sum(axis=1), 1.0)
    assert (policy.shares_[:, :2] >= SPEC.min_share - 1e-12).all()


def test_beta_posterior_counts_successes_and_failures():
    a = pd.DataFrame({"customer_id": ["1", "2", "3", "4"], "arm": ["a", "a", "a", "b"]})
    o = pd.DataFrame({"customer_id": ["1", "2", "3", "4"], "outcome": [1.0, 1.0, 0.0, 0.0]})
    post = make_policy(SPEC, policy="thompson").fit(a, o).posteriors().set_index(["segment", "arm"])
    assert post.loc[("*", "a"), "alpha"] == 3.0 and post.loc[("*", "a"), "beta"] == 2.0
    assert post.loc[("*", "b"), "alpha"] == 1.0 and post.loc[("*", "b"), "beta"] == 2.0
    assert post.loc[("*", "control"), "n"] == 0


def test_pending_assignments_and_holdout_rows_are_not_evidence():
    a = pd.DataFrame({"customer_id": ["1", "2", "3"], "arm": ["a", "a", "control"], "holdout": [False, False, True]})
    o = pd.DataFrame({"customer_id": ["1", "3"], "outcome": [1.0, 1.0]})  # 2 has no outcome yet
    post = make_policy(SPEC, policy="thompson").fit(a, o).posteriors().set_index(["segment", "arm"])
    assert post.loc[("*", "a"), "n"] == 1
    assert post.loc[("*", "control"), "n"] == 0


def test_segments_learn_their_own_best_arm():
    a1, o1 = logs({"control": 0.1, "a": 0.3, "b": 0.1}, 6000, seed=1, segment="young", prefix="y")
    a2, o2 = logs({"control": 0.1, "a": 0.1, "b": 0.3}, 6000, seed=2, segment="old", prefix="o")
    policy = make_policy(SPEC, policy="thompson").fit(pd.concat([a1, a2]), pd.concat([o1, o2]))
    best = {seg: ARMS[int(np.argmax(row))] for seg, row in zip(policy.segments_, policy.shares_, strict=True)}
    assert best["young"] == "a" and best["old"] == "b"


def test_propensities_are_the_probabilities_the_arms_are_drawn_with():
    policy = make_policy(SPEC, policy="thompson").fit(*logs({"control": 0.1, "a": 0.14, "b": 0.15}, 3000))
    ids = np.array([f"n{i}" for i in range(40_000)])
    arms, propensity = policy.choose(ids, None, np.random.default_rng(3))
    for k, arm in enumerate(ARMS):
        chosen = arms == arm
        assert propensity[chosen] == pytest.approx(policy.shares_[0][k])
        assert chosen.mean() == pytest.approx(policy.shares_[0][k], abs=0.01)


def test_holdout_customers_get_control_with_propensity_one_and_always_the_same_ones():
    spec = SPEC.model_copy(update={"holdout_share": 0.2})
    policy = make_policy(spec, policy="thompson").fit(*logs({"control": 0.1, "a": 0.1, "b": 0.3}, 6000))
    ids = np.array([f"h{i}" for i in range(5000)])
    hold = holdout_mask(ids, spec)
    arms, propensity = policy.choose(ids, None, np.random.default_rng(0))
    assert hold.mean() == pytest.approx(0.2, abs=0.02)
    assert (arms[hold] == "control").all() and (propensity[hold] == 1.0).all()
    assert np.array_equal(hold, holdout_mask(ids, spec))


def test_top_two_gives_the_runner_up_about_half_when_the_leader_is_sure():
    policy = make_policy(SPEC, policy="top_two").fit(*logs({"control": 0.05, "a": 0.2, "b": 0.3}, 9000))
    shares = dict(zip(ARMS, policy.shares_[0], strict=True))
    assert shares["b"] == pytest.approx(0.5, abs=0.03)
    assert shares["a"] > 0.3


def test_cost_aware_reward_prefers_control_when_contacts_cost_more_than_they_earn():
    spec = SPEC.model_copy(update={"value_per_response": 10.0, "cost_per_contact": 2.0})
    policy = make_policy(spec, policy="thompson").fit(*logs({"control": 0.10, "a": 0.15, "b": 0.12}, 9000))
    assert ARMS[int(np.argmax(policy.shares_[0]))] == "control"  # +0.05 × 10 = 0.5 < 2 per contact


def test_continuous_outcomes_use_the_normal_inverse_gamma_model():
    rng = np.random.default_rng(0)
    spec = SPEC.model_copy(update={"outcome": "continuous"})
    arm = rng.choice(ARMS, 3000)
    spend = rng.gamma(2.0, 20.0, 3000) + np.where(arm == "a", 10.0, 0.0)
    ids = [f"s{i}" for i in range(3000)]
    policy = make_policy(spec).fit(
        pd.DataFrame({"customer_id": ids, "arm": arm}), pd.DataFrame({"customer_id": ids, "outcome": spend})
    )
    post = policy.posteriors().set_index(["segment", "arm"])
    assert post.loc[("*", "a"), "mu"] == pytest.approx(spend[arm == "a"].mean(), rel=0.01)
    assert ARMS[int(np.argmax(policy.shares_[0]))] == "a"


def warm_prior(ids, best: dict[str, str]) -> pd.DataFrame:
    """A model that predicts 0.3 for each customer's ``best`` arm and 0.1 for the others."""
    return pd.DataFrame({"customer_id": ids, **{a: [0.3 if best[i] == a else 0.1 for i in ids] for a in ARMS}})


def test_warm_start_allocates_by_the_model_before_any_data():
    ids = [f"w{i}" for i in range(10)]
    prior = warm_prior(ids, {i: "a" if k < 5 else "b" for k, i in enumerate(ids)})
    policy = make_policy(SPEC.model_copy(update={"prior_weight": 50.0}), policy="warm_thompson").fit(
        EMPTY_A, EMPTY_O, prior
    )
    arms, _ = policy.choose(np.array(ids * 200), None, np.random.default_rng(0))
    assert (arms[np.isin(np.array(ids * 200), ids[:5])] == "a").mean() > 0.8
    assert (arms[np.isin(np.array(ids * 200), ids[5:])] == "b").mean() > 0.8


def test_warm_start_data_override_a_wrong_model():
    a, o = logs({"control": 0.1, "a": 0.1, "b": 0.3}, 9000)
    prior = warm_prior(a["customer_id"].tolist(), dict.fromkeys(a["customer_id"], "a"))  # says a; truth says b
    policy = make_policy(SPEC, policy="warm_thompson").fit(a, o, prior)
    assert policy.segments_ == ["*", "warm:a"]
    assert ARMS[int(np.argmax(policy.shares_[1]))] == "b"


def test_a_strong_prior_the_data_contradict_is_dropped():
    a, o = logs({"control": 0.1, "a": 0.1, "b": 0.3}, 3000)
    prior = warm_prior(a["customer_id"].tolist(), dict.fromkeys(a["customer_id"], "a"))  # a at 0.3: data say 0.1
    spec = SPEC.model_copy(update={"prior_weight": 5000.0})
    post = make_policy(spec, policy="warm_thompson").fit(a, o, prior).posteriors().set_index(["segment", "arm"])
    cell = post.loc[("warm:a", "a")]
    assert cell["alpha"] + cell["beta"] < 1200  # ~1000 own contacts + 2, not 5000 pseudo-observations
    assert post.loc[("warm:a", "a"), "alpha"] / (cell["alpha"] + cell["beta"]) == pytest.approx(0.1, abs=0.02)


def test_a_segment_with_little_data_borrows_the_other_segments_picture():
    a, o = logs({"control": 0.1, "a": 0.1, "b": 0.3}, 6000, segment="seen")
    new = [f"new{i}" for i in range(5)]
    a = pd.concat([a, pd.DataFrame({"campaign_id": "c1", "customer_id": new, "arm": "a", "segment": "unseen"})])
    o = pd.concat(
        [o, pd.DataFrame({"campaign_id": "c1", "customer_id": new, "outcome": 1.0})]
    )  # 5 of 5 respond to a: a fluke
    policy = make_policy(SPEC, policy="thompson", borrow_weight=200.0).fit(a, o)
    post = policy.posteriors().set_index(["segment", "arm"])
    assert post.loc[("unseen", "b"), "alpha"] + post.loc[("unseen", "b"), "beta"] == pytest.approx(202.0)
    assert ARMS[int(np.argmax(policy.shares_[policy.segments_.index("unseen")]))] == "b"


def test_warm_allocation_carries_each_customers_shares():
    ids = ["p", "q"]
    prior = warm_prior(ids, {"p": "a", "q": "b"})
    policy = make_policy(SPEC, policy="warm_thompson").fit(EMPTY_A, EMPTY_O, prior)
    allocation = policy.allocate(3, pd.DataFrame({"customer_id": ids, "segment": "*"}), created_at="2026-01-01")
    assert allocation.per_customer and set(allocation.customer_shares) == {"p", "q"}
    assert allocation.shares_for("p") == allocation.shares["warm:a"]
    assert allocation.shares_for("stranger") == allocation.shares["*"]
    again = type(allocation).from_json(allocation.to_json())
    assert again == allocation


def test_allocation_rows_sum_to_one_and_respect_the_floor():
    allocation = make_policy(SPEC).fit(*logs({"control": 0.1, "a": 0.1, "b": 0.3}, 6000)).allocate(1)
    for row in allocation.shares.values():
        assert sum(row.values()) == pytest.approx(1.0)
        assert min(row.values()) >= SPEC.min_share - 1e-12
    assert allocation.policy == "thompson" and allocation.version == 1


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"policy": "greedy"}, "unknown policy"),
        ({"stopped": ["zzz"]}, "stopped arms ['zzz']"),
        ({"stopped": list(ARMS)}, "every arm is stopped"),
    ],
)
def test_bad_policy_arguments_name_what_to_fix(kwargs, fragment):
    with pytest.raises(PolicyError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        make_policy(SPEC, **kwargs).fit(EMPTY_A, EMPTY_O)


def test_unknown_arms_and_non_binary_outcomes_are_refused():
    a = pd.DataFrame({"customer_id": ["1"], "arm": ["zz"]})
    with pytest.raises(PolicyError, match="arms \\['zz'\\]"):
        make_policy(SPEC).fit(a, EMPTY_O)
    a = pd.DataFrame({"customer_id": ["1"], "arm": ["a"]})
    with pytest.raises(PolicyError, match="0 or 1"):
        make_policy(SPEC).fit(a, pd.DataFrame({"customer_id": ["1"], "outcome": [3.0]}))


def test_warm_start_without_a_prior_says_what_it_needs():
    with pytest.raises(PolicyError, match="needs a prior"):
        make_policy(SPEC, policy="warm_thompson").fit(EMPTY_A, EMPTY_O)


def test_a_fit_over_a_million_assignments_takes_well_under_ten_seconds():
    a, o = logs({"control": 0.1, "a": 0.12, "b": 0.13}, 1_000_000)
    start = time.process_time()
    make_policy(SPEC).fit(a, o)
    assert time.process_time() - start < 5.0
