import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from cxml.evaluation.baselines import no_skill_value
from cxml.evaluation.gate_margins import DEFAULT_MARGINS, margin_text
from cxml.evaluation.grades import RULES, change_text, grade, relative_gain
from cxml.evaluation.uplift_metrics import qini_coefficient, uplift_bootstrap_ci

pytestmark = pytest.mark.unit

PIPELINES = Path(__file__).parents[2] / "src" / "cxml" / "pipelines"


def test_relative_gain_is_signed_by_direction():
    assert relative_gain(0.33, 0.30) == pytest.approx(0.10)
    assert relative_gain(0.09, 0.10, higher_is_better=False) == pytest.approx(0.10)
    assert relative_gain(0.27, 0.30) == pytest.approx(-0.10)


def test_no_relative_change_against_a_negative_or_near_zero_baseline():
    assert math.isnan(relative_gain(0.0049, -0.0010))
    assert math.isnan(relative_gain(0.0049, 0.0004))  # under 10 % of the model's size
    absolute = "+0.0059 absolute; no relative change against a baseline near zero or negative"
    assert change_text(0.0049, -0.0010) == absolute
    assert change_text(0.33, 0.30) == "+10.0%"


def test_a_needs_ten_percent_gain_and_an_interval_clear_of_the_baseline():
    g = grade("pr_auc", 0.40, 0.30, ci_low=0.35, ci_high=0.45, no_skill=0.2)
    assert g.letter == "A"
    assert "pr_auc 0.4000 vs baseline 0.3000 (+33.3%)" in g.reason and "clears the baseline" in g.reason


def test_an_interval_touching_the_baseline_gives_c():
    g = grade("pr_auc", 0.40, 0.30, ci_low=0.29, ci_high=0.45)
    assert g.letter == "C" and "reaches the baseline 0.3000" in g.reason


def test_an_interval_touching_the_no_skill_value_gives_c_even_above_the_baseline():
    g = grade("pr_auc", 0.40, 0.10, ci_low=0.15, ci_high=0.45, no_skill=0.2)
    assert g.letter == "C" and "reaches the no-skill value 0.2000" in g.reason


def test_the_demos_disputed_uplift_a_is_now_c_without_a_relative_change():
    """Qini 0.0049, 95 % interval [−0.0002, 0.0107], response model −0.0010: the interval holds random targeting."""
    g = grade("qini", 0.0049, -0.0010, ci_low=-0.0002, ci_high=0.0107, no_skill=no_skill_value("qini"))
    assert g.letter == "C"
    assert "reaches the no-skill value 0.0000" in g.reason and "%" not in g.reason.split(":")[0]
    assert math.isnan(g.relative_gain) and g.absolute_gain == pytest.approx(0.0059)


def test_the_demos_disputed_cross_sell_is_c_inside_the_baselines_interval():
    """MAP@10 0.3865 against co-purchase 0.3843: the model's interval reaches the baseline's value."""
    g = grade("map_at_10", 0.3865, 0.3843, ci_low=0.3702, ci_high=0.4031, no_skill=0.31)
    assert g.letter == "C" and "reaches the baseline 0.3843" in g.reason


def test_uplift_clear_of_zero_and_of_a_negative_baseline_is_a_in_absolute_terms():
    g = grade("qini", 0.0060, -0.0010, ci_low=0.0010, ci_high=0.0110, no_skill=0.0)
    assert g.letter == "A" and "+0.0070 absolute" in g.reason


def test_a_worse_model_than_the_previous_champion_is_b():
    g = grade("pr_auc", 0.40, 0.30, ci_low=0.35, champion=0.42)
    assert g.letter == "B" and "previous champion was better" in g.reason


def test_missing_champion_does_not_lower_the_grade():
    assert grade("pr_auc", 0.40, 0.30, ci_low=0.35, champion=None).letter == "A"


def test_small_gain_with_a_clear_interval_is_b_and_tiny_or_no_gain_is_c():
    assert grade("pr_auc", 0.31, 0.30, ci_low=0.305).letter == "B"  # +3.3 %
    assert grade("pr_auc", 0.302, 0.30, ci_low=0.301).letter == "C"  # +0.7 %
    assert grade("pr_auc", 0.25, 0.30, ci_low=0.2).letter == "C"


def test_lower_is_better_metrics_use_the_upper_bound_and_the_constants_rmse():
    assert grade("rmse", 80.0, 100.0, ci_high=90.0, higher_is_better=False, no_skill=120.0).letter == "A"
    assert grade("rmse", 80.0, 100.0, ci_high=101.0, higher_is_better=False).letter == "C"
    worse_than_constant = grade("rmse", 80.0, 100.0, ci_high=95.0, higher_is_better=False, no_skill=90.0)
    assert worse_than_constant.letter == "C" and "no-skill value 90.0000" in worse_than_constant.reason


def test_a_missing_interval_is_not_clear():
    assert grade("pr_auc", 0.40, 0.30).letter == "C"


def test_nan_metric_is_c():
    assert grade("pr_auc", math.nan, 0.3).letter == "C"


def test_rules_are_documented_for_each_letter():
    assert [r[0] for r in RULES] == ["A", "B", "C"]


def test_constant_uplift_scores_give_qini_exactly_zero_with_a_zero_width_interval():
    """The demo's "Qini 0 with interval [0, 0]": one run of tied scores is one straight chord from (0, 0) to the
    curve's end, so the area between it and the random line is exactly 0 in every resample (no clipping)."""
    rng = np.random.default_rng(0)
    t = rng.integers(0, 2, 2000)
    y = rng.binomial(1, 0.1 + 0.05 * t)
    constant = np.zeros(2000)
    assert qini_coefficient(y, constant, t) == 0.0
    lo, hi = uplift_bootstrap_ci(y, constant, t, n_boot=50)
    assert lo == hi == 0.0
    g = grade("qini", 0.0, -0.001, ci_low=lo, ci_high=hi, no_skill=0.0)
    assert g.letter == "C"


def test_no_skill_values_per_metric():
    y = np.array([0, 0, 0, 1.0])
    assert no_skill_value("qini") == 0.0
    assert no_skill_value("roc_auc") == no_skill_value("c_index") == 0.5
    assert no_skill_value("pr_auc", y) == pytest.approx(0.25)
    assert no_skill_value("brier", y) == pytest.approx(0.1875)
    assert no_skill_value("rmse", np.array([1.0, 3.0])) == pytest.approx(1.0)
    assert no_skill_value("map_at_10", None, {"popularity:map_at_10": 0.31, "map_at_10": 0.38}) == 0.31
    assert no_skill_value("map_at_10") is None


@pytest.mark.parametrize("family", sorted(DEFAULT_MARGINS))
def test_stated_default_margins_are_the_shipped_ones(family):
    gate = yaml.safe_load((PIPELINES / f"{family}.yaml").read_text())["gate"]
    note = DEFAULT_MARGINS[family]
    assert (gate["primary_metric"], gate["min_gain_vs_baseline"]) == (note.metric, note.min_gain_vs_baseline)
    text = margin_text(family, gate)
    assert text.startswith(f"gate margin: {note.metric} must beat the baseline by more than") and note.why in text


def test_an_overridden_margin_says_so():
    text = margin_text("churn", {"primary_metric": "pr_auc", "min_gain_vs_baseline": 0.05})
    assert "overrode the default (pr_auc by 0.01" in text
