"""The uplift gate: a Qini whose holdout interval includes 0 cannot be told from random targeting."""

from __future__ import annotations

import pytest

from cxml.config import load_pipeline
from cxml.models.uplift import SPEC
from cxml.registry import decide

pytestmark = pytest.mark.unit
GATE = load_pipeline("uplift").gate
BASELINE = {"qini": -0.0010, "qini_ci_low": -0.0060, "qini_ci_high": 0.0040}


def test_the_pipeline_asks_for_the_interval():
    assert GATE.min_value == 0.0 and GATE.min_value_by_interval


def test_the_demo_champion_of_the_issue_is_refused_its_interval_includes_zero():
    candidate = {"qini": 0.0049, "qini_ci_low": -0.0002, "qini_ci_high": 0.0107}
    decision = decide(SPEC, GATE, candidate, BASELINE, None)
    assert not decision.passed
    assert "interval [-0.0002, 0.0107] includes 0.0" in decision.reason


def test_an_interval_above_zero_that_beats_the_response_model_is_promoted():
    candidate = {"qini": 0.0049, "qini_ci_low": 0.0011, "qini_ci_high": 0.0090}
    assert decide(SPEC, GATE, candidate, BASELINE, None).passed


def test_a_candidate_without_an_interval_is_refused_when_the_interval_is_required():
    decision = decide(SPEC, GATE, {"qini": 0.0049}, BASELINE, None)
    assert not decision.passed and "includes 0.0" in decision.reason


def test_without_the_option_the_point_value_decides_as_before():
    gate = GATE.model_copy(update={"min_value_by_interval": False})
    candidate = {"qini": 0.0049, "qini_ci_low": -0.0002, "qini_ci_high": 0.0107}
    assert decide(SPEC, gate, candidate, BASELINE, None).passed
