"""What a card's data says about its grade and the gate's margin (the HTML rendering reads these fields)."""

import pandas as pd
import pytest

from cxml.evaluation.baselines import no_skill_value
from cxml.evaluation.gate_margins import DEFAULT_MARGINS, margin_text
from cxml.evaluation.grades import grade
from cxml.explain.card_data import CardData

pytestmark = pytest.mark.unit


def test_the_summary_carries_the_no_skill_value_and_the_stated_gate_margin():
    gate = {"primary_metric": "qini", "min_gain_vs_baseline": 0.0, "min_gain_vs_champion": 0.0}
    skill = no_skill_value("qini")
    card = CardData(
        model_name="cxml.uplift",
        version="3",
        run_id="r",
        aliases=["champion"],
        family="uplift",
        data={"feature set": "customer360"},
        primary_metric="qini",
        metrics={"qini": (0.0049, -0.0002, 0.0107)},
        baseline={"qini": (-0.0010, -0.006, 0.004)},
        champion={},
        grade=grade("qini", 0.0049, -0.0010, ci_low=-0.0002, ci_high=0.0107, no_skill=skill),
        gate_passed=True,
        gate_reason="promoted",
        validation_status="passed",
        figures={},
        examples=[],
        segments=pd.DataFrame(),
        no_skill=skill,
        gate_margin=margin_text("uplift", gate),
    )
    summary = card.summary()
    assert summary["grade"]["letter"] == "C" and summary["no_skill"] == 0.0
    assert summary["gate_margin"].endswith(DEFAULT_MARGINS["uplift"].why)
