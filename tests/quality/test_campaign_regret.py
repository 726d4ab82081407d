"""Closed loop on the simulated company, 20 seeds (the figures of bench/campaigns.py section 1): the warm start from
an uplift-quality model beats cold Thompson sampling, halves uniform's regret, and a wrong model costs little.
Run with ``-s`` to see the figures."""

from __future__ import annotations

import pytest

from cxml.jobs.campaign_simulate import WRONG_PRIOR, simulate_company

pytestmark = pytest.mark.quality


@pytest.fixture(scope="module")
def loop() -> dict:
    return simulate_company(customers=40_000, campaign="CMP05", seeds=range(20), days=14, prior_noise=0.1)


def test_figures(loop):
    print("\n" + "\n".join(f"{k:28s} regret {v['mean']:8.1f} ± {v['sd']:.1f}" for k, v in loop["regret"].items()))
    print(
        f"warm < cold on {loop['warm_beats_cold']}/20; warm/uniform {loop['warm_over_uniform']:.2f}; "
        f"wrong/cold {loop['wrong_prior_over_cold']:.2f}"
    )
    assert loop["seeds"] == 20 and loop["targeted"] > 15_000


def test_thompson_sampling_beats_uniform_allocation(loop):
    assert loop["regret"]["thompson"]["mean"] < 0.7 * loop["regret"]["uniform"]["mean"]


def test_warm_start_beats_cold_thompson_on_at_least_16_of_20_seeds(loop):
    assert loop["warm_beats_cold"] >= 16


def test_warm_start_regret_is_at_most_half_of_uniform(loop):
    assert loop["warm_over_uniform"] <= 0.5


def test_a_wrong_prior_costs_at_most_20_percent_over_cold_thompson(loop):
    assert loop["wrong_prior_over_cold"] <= 1.2, loop["regret"][WRONG_PRIOR]
