"""The price family's elasticity checks at the gate, on the issue's numbers and through ``registry.decide``."""

import pytest

from cxml.config import GateConfig
from cxml.models.price import SPEC
from cxml.models.price_gate import elasticity_refusals
from cxml.registry import decide

pytestmark = pytest.mark.unit
GATE = GateConfig(primary_metric="demand_rmse", min_gain_vs_baseline=0.0, also_beat_baseline=("elasticity_mae",))


def metrics(rmse, e, lo, hi, max_lower=None, mae=None):
    out = {
        "demand_rmse": rmse,
        "elasticity_mean": e,
        "elasticity_mean_lower": lo,
        "elasticity_mean_upper": hi,
        "elasticity_max_lower": lo if max_lower is None else max_lower,
    }
    return out if mae is None else {**out, "elasticity_mae": mae}


BASELINE = metrics(0.30, -2.39, -2.60, -2.18)


def test_the_issues_promoted_plus_0_13_is_refused_for_disagreeing_with_the_baseline():
    """+0.13 with a wide interval against −2.39: not surely positive, but beyond both intervals and no truth."""
    decision = decide(SPEC, GATE, metrics(0.25, 0.13, -0.40, 0.66), BASELINE, None)
    assert not decision.passed
    assert "disagrees with the log-log baseline's -2.39 [-2.60, -2.18] beyond both intervals" in decision.reason


def test_a_surely_positive_pooled_elasticity_is_refused_even_with_better_demand_error():
    reasons = elasticity_refusals(metrics(0.25, 0.40, 0.10, 0.70), BASELINE)
    assert any("is positive with its interval clear of zero" in r for r in reasons)


def test_one_surely_positive_cell_is_refused():
    reasons = elasticity_refusals(metrics(0.25, -2.30, -2.60, -2.00, max_lower=0.05), BASELINE)
    assert reasons == [
        "a held-out cell's own-price elasticity is positive with its interval clear of zero (lower end +0.05): "
        "that cell's recommendations would raise prices to the guardrail"
    ]


def test_agreement_within_the_intervals_passes_on_demand_error():
    decision = decide(SPEC, GATE, metrics(0.25, -2.20, -2.45, -1.95), BASELINE, None)
    assert decision.passed, decision.reason


def test_a_known_truth_arbitrates_instead_of_the_baseline():
    """Where a simulation knows the elasticities, disagreeing with a biased log-log is no reason to refuse."""
    candidate = metrics(0.25, -1.60, -1.80, -1.40, mae=0.12)
    assert elasticity_refusals(candidate, {**BASELINE, "elasticity_mae": 0.7}) == []


def test_metrics_without_elasticities_give_no_reasons():
    assert elasticity_refusals({"pr_auc": 0.4}, {"pr_auc": 0.3}) == []


def test_the_models_own_pooled_interval_is_used_when_it_reports_one():
    """Per-retailer elasticities make the mean of the rows' interval ends wide ([-4.2, -0.9] reaches nothing); the
    pooled estimate's own interval is what disagrees with the baseline."""
    candidate = metrics(0.25, -1.0, -4.2, 2.1)
    fitted = {"elasticity.pooled": -1.0, "elasticity.pooled_lower": -1.3, "elasticity.pooled_upper": -0.7}
    assert elasticity_refusals(candidate, BASELINE) == []
    (reason,) = elasticity_refusals(candidate, BASELINE, fitted)
    assert "the pooled elasticity -1.00 [-1.30, -0.70] disagrees" in reason
    assert not decide(SPEC, GATE, candidate, BASELINE, None, fitted=fitted).passed
