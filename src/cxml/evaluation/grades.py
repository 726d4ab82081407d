"""A letter grade for a model, from documented rules on the primary metric (pure: numbers in, grade out).

The rules, applied in order to the holdout value of the primary metric (relative gain = (model − baseline) /
|baseline|, in the metric's "better" direction):

* **A** — relative gain over the naive baseline ≥ 10 %, the lower end of the model's bootstrap interval is
  above the baseline (the gain is not noise), and the model is no worse than the previous champion.
* **B** — relative gain over the baseline ≥ 2 % (the model clearly beats the naive rule, but by less, or its
  interval touches the baseline, or the previous champion was better).
* **C** — anything else: the model does not meaningfully beat the naive rule.

A missing champion (first model) never lowers the grade; a missing interval counts as "not above baseline".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

A_MIN_GAIN = 0.10
B_MIN_GAIN = 0.02

RULES = (
    f"A: beats the naive baseline by ≥ {A_MIN_GAIN:.0%} (relative) on the primary metric, the bootstrap interval's "
    "lower end is above the baseline, and it is no worse than the previous champion.",
    f"B: beats the naive baseline by ≥ {B_MIN_GAIN:.0%} (relative) on the primary metric.",
    "C: anything else.",
)


@dataclass(frozen=True)
class Grade:
    letter: str
    relative_gain: float
    reason: str


def relative_gain(model: float, baseline: float, *, higher_is_better: bool = True) -> float:
    """Gain of ``model`` over ``baseline`` as a fraction of the baseline, positive when the model is better."""
    if not (math.isfinite(model) and math.isfinite(baseline)):
        return float("nan")
    diff = model - baseline if higher_is_better else baseline - model
    if baseline == 0:
        return math.inf if diff > 0 else (0.0 if diff == 0 else -math.inf)
    return diff / abs(baseline)


def grade(
    metric: str,
    model: float,
    baseline: float,
    *,
    ci_low: float | None = None,
    ci_high: float | None = None,
    champion: float | None = None,
    higher_is_better: bool = True,
) -> Grade:
    """Grade A/B/C by the module's rules; the reason says which rule decided, with the numbers."""
    gain = relative_gain(model, baseline, higher_is_better=higher_is_better)
    gain_text = f"{metric} {model:.4f} vs baseline {baseline:.4f} ({gain:+.1%})"
    if not math.isfinite(gain) and not gain > 0:
        return Grade("C", gain, f"{gain_text}: no measurable gain over the baseline")
    bound = ci_low if higher_is_better else ci_high
    significant = (
        bound is not None and math.isfinite(bound) and (bound > baseline if higher_is_better else bound < baseline)
    )
    not_worse = (
        champion is None
        or not math.isfinite(champion)
        or (model >= champion if higher_is_better else model <= champion)
    )
    if gain >= A_MIN_GAIN and significant and not_worse:
        return Grade("A", gain, f"{gain_text}: ≥ {A_MIN_GAIN:.0%} better, interval clear of the baseline")
    if gain >= B_MIN_GAIN:
        why = []
        if gain < A_MIN_GAIN:
            why.append(f"gain below {A_MIN_GAIN:.0%}")
        if not significant:
            why.append("interval reaches the baseline")
        if not not_worse:
            why.append(f"previous champion was better ({champion:.4f})")
        return Grade("B", gain, f"{gain_text}: beats the baseline by ≥ {B_MIN_GAIN:.0%}; not A: {', '.join(why)}")
    return Grade("C", gain, f"{gain_text}: less than {B_MIN_GAIN:.0%} better than the baseline")
