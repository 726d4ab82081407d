"""What ``cxml train --json`` says of the gate: promoted, refused, or passed without taking the alias."""

from __future__ import annotations

import json

import pytest

from cxml.registry import GateDecision
from cxml.training import TrainResult

pytestmark = pytest.mark.unit


def _result(passed: bool, made_champion: bool | None) -> TrainResult:
    gate = GateDecision(passed, "why", "pr_auc", 0.7, 0.5, None)
    return TrainResult("run", "cxml.churn", "3", {}, {}, gate, made_champion=made_champion)


@pytest.mark.parametrize(
    ("passed", "made_champion", "decision"),
    [
        (True, True, "promoted"),
        (True, None, "promoted"),
        (False, False, "refused"),
        (True, False, "passed, not made champion"),  # a promote or rollback moved the champion during the gate
    ],
)
def test_the_json_decision_says_whether_the_version_became_champion(passed, made_champion, decision):
    line = json.loads(_result(passed, made_champion).to_json())
    assert line["gate"]["decision"] == decision
