"""The closed loop and the rejection replay on small, known truths: exact regret arithmetic, logs in the campaign's
columns, the holdout never contacted, and replay estimates that match the arms they replay."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxml.campaigns.policies import PolicyError, make_policy
from cxml.campaigns.simulate import closed_loop, noisy_prior, replay
from cxml.campaigns.spec import ASSIGNMENT_COLUMNS, OUTCOME_COLUMNS, CampaignSpec
from cxml.data.synthetic import arm_outcomes, campaign_arms, generate_company

pytestmark = pytest.mark.unit
ARMS = ("control", "a", "b")
SPEC = CampaignSpec(campaign_id="sim", arms=ARMS, control="control", holdout_share=0.0)


def two_kinds(n: int = 4000) -> pd.DataFrame:
    """Half the customers respond best to ``a`` (0.30 vs 0.10), the other half to ``b``: best single arm 0.20."""
    first = np.arange(n) < n // 2
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "control": 0.05,
            "a": np.where(first, 0.30, 0.10),
            "b": np.where(first, 0.10, 0.30),
        }
    )


def test_arm_outcomes_are_control_probability_plus_the_true_effect():
    company = generate_company(1500, seed=3)
    effects = company.truth["effects"]
    truth = arm_outcomes(effects, "CMP05")
    assert list(truth.columns) == ["customer_id", *campaign_arms("CMP05")]
    row = effects[(effects["campaign_id"] == "CMP05")].iloc[0]
    mine = truth.set_index("customer_id").loc[row["customer_id"]]
    assert mine["control"] == pytest.approx(row["p_purchase_control"])
    assert mine[row["arm"]] == pytest.approx(np.clip(row["p_purchase_control"] + row["true_effect"], 0, 1))
    assert truth["customer_id"].is_unique and ((truth.iloc[:, 1:] >= 0) & (truth.iloc[:, 1:] <= 1)).all().all()


def test_unknown_simulated_campaign_is_named():
    with pytest.raises(ValueError, match="CMP09"):
        campaign_arms("CMP09")


def test_uniform_regret_is_exactly_the_gap_to_each_customers_best_arm():
    truth = two_kinds()
    result = closed_loop(truth, SPEC, make_policy(SPEC, policy="uniform"), days=4, seed=0)
    expected = (0.30 - (0.05 + 0.30 + 0.10) / 3) * len(truth)
    assert result.regret == pytest.approx(expected)
    assert result.daily["contacted"].sum() == len(truth)
    assert result.daily["cumulative_regret"].iloc[-1] == pytest.approx(result.regret)


def test_thompson_learns_the_best_single_arm_and_cuts_regret():
    truth = two_kinds(6000)
    uniform = closed_loop(truth, SPEC, make_policy(SPEC, policy="uniform"), days=6, seed=1)
    ts = closed_loop(truth, SPEC, make_policy(SPEC, policy="thompson", seed=1), days=6, seed=1)
    assert ts.regret < 0.75 * uniform.regret
    assert ts.daily["regret"].iloc[-1] < ts.daily["regret"].iloc[0]


def test_a_good_warm_start_targets_each_kind_and_beats_cold_thompson():
    truth = two_kinds(6000)
    prior = noisy_prior(truth, ARMS, noise_sd=0.02, seed=0)
    cold = closed_loop(truth, SPEC, make_policy(SPEC, policy="thompson", seed=2), days=6, seed=2)
    warm = closed_loop(truth, SPEC, make_policy(SPEC, policy="warm_thompson", seed=2), days=6, prior=prior, seed=2)
    assert warm.regret < 0.5 * cold.regret


def test_loop_logs_carry_the_campaign_columns_and_exact_propensities():
    spec = SPEC.model_copy(update={"holdout_share": 0.1})
    result = closed_loop(two_kinds(2000), spec, make_policy(spec, policy="thompson"), days=3, seed=0)
    a, o = result.assignments, result.outcomes
    assert tuple(a.columns) == ASSIGNMENT_COLUMNS and tuple(o.columns) == OUTCOME_COLUMNS
    assert len(a) == len(o) == 2000 and a["customer_id"].is_unique
    assert (a.loc[a["holdout"], "arm"] == "control").all() and (a.loc[a["holdout"], "propensity"] == 1.0).all()
    assert ((a["propensity"] > 0) & (a["propensity"] <= 1)).all()
    assert sorted(a["policy_version"].unique()) == [1, 2, 3]
    assert (o["observed_at"] > a["sent_at"]).all()
    assert result.daily["contacted"].sum() == int((~a["holdout"]).sum())


def test_same_seed_same_loop():
    truth = two_kinds(1000)
    one = closed_loop(truth, SPEC, make_policy(SPEC, seed=4), days=3, seed=4)
    two = closed_loop(truth, SPEC, make_policy(SPEC, seed=4), days=3, seed=4)
    pd.testing.assert_frame_equal(one.assignments, two.assignments)
    assert one.regret == two.regret


def test_wrong_prior_keeps_the_predictions_but_not_their_owners():
    truth = two_kinds(1000)
    good = noisy_prior(truth, ARMS, noise_sd=0.0, seed=0)
    bad = noisy_prior(truth, ARMS, noise_sd=0.0, seed=0, shuffle=True)
    assert sorted(good["a"]) == sorted(bad["a"])
    assert (good["a"].to_numpy() != bad["a"].to_numpy()).mean() > 0.3


def randomised_test(n: int = 30_000, seed: int = 0) -> pd.DataFrame:
    """A uniform three-arm test with response rates 0.10 / 0.15 / 0.20."""
    rng = np.random.default_rng(seed)
    arm = rng.choice(np.array(ARMS), n)
    rate = pd.Series({"control": 0.10, "a": 0.15, "b": 0.20})[arm].to_numpy()
    return pd.DataFrame({"customer_id": [f"r{i}" for i in range(n)], "arm": arm, "outcome": rng.random(n) < rate})


def test_replay_of_uniform_keeps_a_third_and_estimates_the_average_rate():
    table = randomised_test()
    result = replay(table.assign(outcome=table["outcome"].astype(float)), SPEC, make_policy(SPEC, policy="uniform"))
    assert result.n_kept == pytest.approx(len(table) / 3, rel=0.03)
    assert result.rate == pytest.approx(table["outcome"].mean(), abs=0.01)


def test_replay_of_thompson_approaches_the_best_arm():
    table = randomised_test().astype({"outcome": float})
    result = replay(table, SPEC, make_policy(SPEC, policy="thompson"), batch_size=300)
    best = table.loc[table["arm"] == "b", "outcome"].mean()
    assert result.rate > 0.95 * best
    kept = table.set_index("customer_id").loc[result.assignments["customer_id"]]
    assert (kept["arm"].to_numpy() == result.assignments["arm"].to_numpy()).all()  # only logged arms are kept


def test_replay_refuses_arms_the_campaign_lacks():
    table = randomised_test(100).assign(arm="zz", outcome=0.0)
    with pytest.raises(PolicyError, match="zz"):
        replay(table, SPEC, make_policy(SPEC))
