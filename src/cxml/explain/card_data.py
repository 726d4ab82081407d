"""What a model card shows, as data: the numbers, figures and examples of one card (rendered by ``card_html``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from cxml.evaluation.grades import Grade
from cxml.features.reasons import Reason


@dataclass(frozen=True)
class Example:
    customer_id: str
    label: str
    score: float
    actual: int
    reasons: list[Reason]


@dataclass(frozen=True)
class CardData:
    """Every number and figure of one card; ``figures`` are PNG data URIs keyed by name."""

    model_name: str
    version: str
    run_id: str
    aliases: list[str]
    family: str
    data: dict[str, str]
    primary_metric: str
    metrics: dict[str, tuple[float, float, float]]  # name → (value, ci_low, ci_high)
    baseline: dict[str, tuple[float, float, float]]
    champion: dict[str, float]
    grade: Grade
    gate_passed: bool | None
    gate_reason: str
    validation_status: str
    figures: dict[str, str]
    examples: list[Example]
    segments: pd.DataFrame
    baseline_name: str = "naive baseline"
    tags: dict[str, str] = field(default_factory=dict)
    no_skill: float | None = None
    """The primary metric with no skill (random targeting, a constant, popularity): a grade of A or B needs the
    interval clear of it and of the baseline (:mod:`cxml.evaluation.grades`)."""
    gate_margin: str = ""
    """What the gate required (its margins) and why that default, in a sentence
    (:mod:`cxml.evaluation.gate_margins`)."""

    def summary(self) -> dict[str, Any]:
        """What the index page needs about this card (written beside it as JSON)."""
        value, lo, hi = self.metrics[self.primary_metric]
        return {
            "model_name": self.model_name,
            "version": self.version,
            "aliases": self.aliases,
            "family": self.family,
            "feature_set": self.data.get("feature set", ""),
            "primary_metric": self.primary_metric,
            "value": value,
            "ci": [lo, hi],
            "baseline": self.baseline[self.primary_metric][0],
            "grade": asdict(self.grade),
            "no_skill": self.no_skill,
            "gate_margin": self.gate_margin,
            "gate_reason": self.gate_reason,
            "validation_status": self.validation_status,
            "flagged_segments": int(self.segments["flagged"].sum()) if len(self.segments) else 0,
        }


def card_stem(name: str, version: str) -> str:
    return f"{name}-v{version}"
