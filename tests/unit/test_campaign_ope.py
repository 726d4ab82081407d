"""Off-policy evaluation on generated logs whose true policy values are known."""

import numpy as np
import pandas as pd
import pytest

from cxml.campaigns.ope import cross_fitted_rewards, evaluate, targeting_rule

pytestmark = pytest.mark.unit

ARMS = ["control", "offer"]
FEATURES = ["x0", "x1"]


def logs(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Logging policy: P(offer) = 0.2 for x0 < 0, 0.6 otherwise. Response: 0.1 + 0.2 · offer · 1[x0 > 0]."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2))
    p_offer = np.where(x[:, 0] > 0, 0.6, 0.2)
    offer = rng.random(n) < p_offer
    y = rng.random(n) < 0.1 + 0.2 * (offer & (x[:, 0] > 0))
    return pd.DataFrame(
        {
            "x0": x[:, 0],
            "x1": x[:, 1],
            "arm": np.where(offer, "offer", "control"),
            "propensity": np.where(offer, p_offer, 1 - p_offer),
            "outcome": y.astype(float),
        }
    )


def test_targeting_rule_gives_the_arm_to_the_top_share_by_score():
    frame = pd.DataFrame({"uplift": [0.5, 0.1, 0.9, 0.3, 0.7, 0.0, 0.2, 0.8, 0.4, 0.6]})
    target = targeting_rule(frame, ARMS, score="uplift", arm="offer", control="control", top=0.3)
    assert target.shape == (10, 2)
    assert np.flatnonzero(target[:, 1]).tolist() == [2, 4, 7]
    assert (target.sum(axis=1) == 1).all()


def test_targeting_rule_rejects_an_unknown_arm():
    with pytest.raises(ValueError, match="'email'"):
        targeting_rule(pd.DataFrame({"s": [1.0]}), ARMS, score="s", arm="email", control="control", top=0.5)


def test_replaying_the_logging_policy_gives_the_logged_mean_exactly():
    frame = logs()
    p_offer = np.where(frame["x0"] > 0, 0.6, 0.2)
    target = np.column_stack([1 - p_offer, p_offer])
    estimates = evaluate(frame, target, ARMS, features=FEATURES, seed=0, n_folds=3)
    assert estimates["ips"].value == pytest.approx(frame["outcome"].mean())
    assert estimates["snips"].value == pytest.approx(frame["outcome"].mean())


def test_every_estimator_finds_the_value_of_offering_to_positive_x0():
    frame = logs(n=6000, seed=1)
    target = np.column_stack([frame["x0"] <= 0, frame["x0"] > 0]).astype(float)
    truth = 0.1 + 0.2 * 0.5  # half the customers get the +0.2 of the offer
    estimates = evaluate(frame, target, ARMS, features=FEATURES, seed=1, n_folds=3)
    assert set(estimates) == {"ips", "snips", "dm", "dr"}
    for name, e in estimates.items():
        assert e.lower < e.value < e.upper, name
        assert e.value == pytest.approx(truth, abs=0.025), name
    assert estimates["dr"].lower < truth < estimates["dr"].upper


def test_dr_is_tighter_than_ips():
    frame = logs(n=6000, seed=2)
    target = np.column_stack([frame["x0"] <= 0, frame["x0"] > 0]).astype(float)
    e = evaluate(frame, target, ARMS, features=FEATURES, seed=2, n_folds=3)
    assert e["dr"].upper - e["dr"].lower < e["ips"].upper - e["ips"].lower


def test_reward_model_is_seeded_and_scores_only_the_arms_needed():
    frame = logs(n=1500)
    x, y = frame[FEATURES].to_numpy(), frame["outcome"].to_numpy()
    arm = (frame["arm"] == "offer").to_numpy().astype(int)
    needed = np.array([False, True])
    q1 = cross_fitted_rewards(x, arm, y, 2, arms_needed=needed, n_folds=3, seed=4)
    q2 = cross_fitted_rewards(x, arm, y, 2, arms_needed=needed, n_folds=3, seed=4)
    assert np.isnan(q1[:, 0]).all()
    assert np.array_equal(q1[:, 1], q2[:, 1])
    assert ((q1[:, 1] > 0) & (q1[:, 1] < 1)).all()


def test_bad_input_names_what_to_fix():
    frame = logs(n=200)
    ok = np.column_stack([np.ones(200), np.zeros(200)])
    with pytest.raises(ValueError, match="propensity"):
        evaluate(frame.assign(propensity=0.0), ok, ARMS, features=FEATURES)
    with pytest.raises(ValueError, match="target must be"):
        evaluate(frame, ok[:100], ARMS, features=FEATURES)
    with pytest.raises(ValueError, match="numeric"):
        evaluate(frame.assign(x1="a"), ok, ARMS, features=FEATURES)
    with pytest.raises(ValueError, match="'x9'"):
        evaluate(frame, ok, ARMS, features=["x9"])


def test_a_continuous_outcome_is_valued_in_its_own_units():
    frame = logs(n=4000, seed=3)
    rng = np.random.default_rng(3)
    offer_pays = (frame["arm"] == "offer") & (frame["x0"] > 0)
    frame = frame.assign(outcome=rng.gamma(2.0, 5.0, len(frame)) + np.where(offer_pays, 6.0, 0.0))
    target = np.column_stack([frame["x0"] <= 0, frame["x0"] > 0]).astype(float)
    truth = 10.0 + 6.0 * 0.5
    estimates = evaluate(frame, target, ARMS, features=FEATURES, seed=3, n_folds=3)
    assert estimates["dr"].lower < truth < estimates["dr"].upper
    assert estimates["dm"].value == pytest.approx(truth, abs=1.0)
