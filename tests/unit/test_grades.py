import math

import pytest

from cxml.evaluation.grades import RULES, grade, relative_gain

pytestmark = pytest.mark.unit


def test_relative_gain_is_signed_by_direction():
    assert relative_gain(0.33, 0.30) == pytest.approx(0.10)
    assert relative_gain(0.09, 0.10, higher_is_better=False) == pytest.approx(0.10)
    assert relative_gain(0.27, 0.30) == pytest.approx(-0.10)


def test_a_needs_ten_percent_gain_and_an_interval_clear_of_the_baseline():
    g = grade("pr_auc", 0.40, 0.30, ci_low=0.35, ci_high=0.45)
    assert g.letter == "A"
    assert "pr_auc 0.4000 vs baseline 0.3000" in g.reason


def test_an_interval_touching_the_baseline_gives_b():
    g = grade("pr_auc", 0.40, 0.30, ci_low=0.29, ci_high=0.45)
    assert g.letter == "B" and "interval reaches the baseline" in g.reason


def test_a_worse_model_than_the_previous_champion_is_not_a():
    g = grade("pr_auc", 0.40, 0.30, ci_low=0.35, champion=0.42)
    assert g.letter == "B" and "previous champion was better" in g.reason


def test_missing_champion_does_not_lower_the_grade():
    assert grade("pr_auc", 0.40, 0.30, ci_low=0.35, champion=None).letter == "A"


def test_small_gain_is_b_and_no_gain_is_c():
    assert grade("pr_auc", 0.31, 0.30, ci_low=0.305).letter == "B"  # +3.3 %
    assert grade("pr_auc", 0.302, 0.30, ci_low=0.301).letter == "C"  # +0.7 %
    assert grade("pr_auc", 0.25, 0.30, ci_low=0.2).letter == "C"


def test_lower_is_better_metrics_use_the_upper_bound():
    assert grade("brier", 0.08, 0.10, ci_high=0.09, higher_is_better=False).letter == "A"
    assert grade("brier", 0.08, 0.10, ci_high=0.11, higher_is_better=False).letter == "B"


def test_nan_metric_is_c():
    g = grade("pr_auc", math.nan, 0.3)
    assert g.letter == "C"


def test_rules_are_documented_for_each_letter():
    assert [r[0] for r in RULES] == ["A", "B", "C"]
