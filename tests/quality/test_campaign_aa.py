"""The campaign readout stays valid when read every day: A/A campaigns, simulated and on Hillstrom."""

import pytest
from bench.campaign_readout import aa_false_positives, hillstrom_aa, hillstrom_real, sample_size_with_lift

from tests.conftest import shared_data

pytestmark = pytest.mark.quality


def test_aa_false_positive_rate_over_30_daily_looks_is_at_most_alpha():
    rates = aa_false_positives(n_campaigns=1000)
    assert rates["readout"] <= 0.05, rates
    assert rates["naive_z"] >= 3 * max(rates["readout"], 0.05), rates


def test_a_real_lift_is_declared_within_the_horizon():
    result = sample_size_with_lift(n_campaigns=100)
    assert result["power_by_30_days"] >= 0.9, result
    assert result["mean_n_when_declared"] < 3 * result["fixed_horizon_n"], result


def test_hillstrom_with_shuffled_arms_declares_nothing():
    shared_data("hillstrom", "hillstrom.csv")
    assert hillstrom_aa(n_shuffles=20) == 0


def test_hillstrom_real_arms_crown_the_mens_email():
    shared_data("hillstrom", "hillstrom.csv")
    result = hillstrom_real()
    assert result["winner"] == "Mens E-Mail", result
    assert result["first_winner_day"] is not None and result["first_winner_day"] < 30, result
