"""Expected incremental profit per arm and the best arm, property by property."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxml.decision.value import NO_CONTACT, ContactCosts, best_arm, incremental_profit

pytestmark = pytest.mark.unit
COSTS = ContactCosts(margin=30.0, cost_per_contact=0.5, incentive_cost=4.0, control_rate=0.2)


def test_profit_follows_the_formula():
    effects = pd.DataFrame({"a": [0.1, 0.0]}, index=["c1", "c2"])
    profit = incremental_profit(effects, COSTS)
    expected = [0.1 * 30 - 0.5 - 4.0 * 0.3, 0.0 - 0.5 - 4.0 * 0.2]
    np.testing.assert_allclose(profit["a"], expected)


def test_a_sleeping_dog_or_a_costly_sure_thing_is_not_contacted():
    effects = pd.DataFrame({"voucher": [-0.05, 0.01, 0.2], "letter": [-0.02, 0.0, 0.05]}, index=["dog", "sure", "p"])
    best = best_arm(incremental_profit(effects, COSTS))
    assert best.loc["dog", "arm"] == NO_CONTACT and best.loc["dog", "expected_profit"] == 0
    assert best.loc["sure", "arm"] == NO_CONTACT
    assert best.loc["p", "arm"] == "voucher" and best.loc["p", "expected_profit"] > 0


def test_the_best_arm_is_never_worth_less_than_any_arm_or_than_doing_nothing():
    rng = np.random.default_rng(0)
    effects = pd.DataFrame(rng.normal(0.05, 0.1, (500, 3)), columns=["a", "b", "c"])
    profit = incremental_profit(effects, COSTS)
    best = best_arm(profit)
    assert (best["expected_profit"] >= 0).all()
    assert np.all(best["expected_profit"].to_numpy() >= profit.max(axis=1).clip(lower=0).to_numpy() - 1e-12)


def test_a_larger_effect_never_lowers_profit_when_the_margin_beats_the_incentive():
    effects = pd.DataFrame({"a": np.linspace(-0.2, 0.5, 50)})
    assert np.all(np.diff(incremental_profit(effects, COSTS)["a"]) > 0)


def test_costs_are_validated():
    with pytest.raises(ValueError, match="probability"):
        ContactCosts(margin=1, cost_per_contact=0, incentive_cost=0, control_rate=1.5)
    with pytest.raises(ValueError, match="must not be negative"):
        ContactCosts(margin=1, cost_per_contact=-1, incentive_cost=0, control_rate=0.1)
