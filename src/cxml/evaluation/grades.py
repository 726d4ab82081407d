"""A letter grade for a model, from documented rules on the primary metric (pure: numbers in, grade out).

A grade is a claim a reviewer can check against the card's numbers, so A and B need more than a better point
estimate: the 95 % bootstrap interval of the primary metric must clear both the naive baseline's value and the
*no-skill* value (random targeting: Qini 0; a constant prediction: the holdout's own spread for RMSE; a random
ordering: ROC-AUC or C-index 0.5; PR-AUC the positive rate), so the gain cannot be noise. The rules, in order:

* **A** — the interval clears the baseline and the no-skill value, the gain over the baseline is ≥ 10 %
  relative (or the baseline is near zero or negative, where a relative change means nothing), and the model is
  no worse than the previous champion.
* **B** — the interval clears the baseline and the no-skill value, and the gain is ≥ 2 % relative (or the
  baseline is near zero or negative).
* **C** — anything else: the model is not distinguishably better than the naive rule or than no skill.

A relative change is reported only against a baseline on the right side of zero and at least
``NEAR_ZERO`` × |model| in size: against −0.0010 a model at 0.0049 would read "+590 %", a number that says
nothing. There the absolute difference is shown instead. A missing champion (first model) never lowers the
grade; a missing interval counts as "not clear".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

A_MIN_GAIN = 0.10
B_MIN_GAIN = 0.02
NEAR_ZERO = 0.10
"""A baseline smaller than this share of the model's value (in absolute size) is "near zero": a relative change
against it would exceed +900 % and is replaced by the absolute difference."""

RULES = (
    "A: the primary metric's 95 % interval clears both the naive baseline and the no-skill value (random "
    f"targeting, a constant), it beats the baseline by ≥ {A_MIN_GAIN:.0%} relative (absolute where the baseline is "
    "near zero or negative), and it is no worse than the previous champion.",
    "B: the interval clears the baseline and the no-skill value, and it beats the baseline by "
    f"≥ {B_MIN_GAIN:.0%} relative (absolute where the baseline is near zero or negative).",
    "C: anything else (the interval reaches the baseline or the no-skill value, or the gain is too small).",
)


@dataclass(frozen=True)
class Grade:
    letter: str
    relative_gain: float
    """NaN where the baseline is near zero or negative (see ``absolute_gain``)."""
    reason: str
    absolute_gain: float = float("nan")
    """model − baseline in the metric's better direction (positive: the model is better)."""


def relative_gain(model: float, baseline: float, *, higher_is_better: bool = True) -> float:
    """Gain of ``model`` over ``baseline`` as a fraction of the baseline, positive when the model is better;
    NaN where the baseline is near zero or on the wrong side of it (:func:`relative_is_meaningful`)."""
    if not relative_is_meaningful(model, baseline):
        return float("nan")
    diff = model - baseline if higher_is_better else baseline - model
    return diff / abs(baseline)


def relative_is_meaningful(model: float, baseline: float) -> bool:
    """A ratio to the baseline is read as "x % better" only when the baseline is positive and not near zero."""
    if not (math.isfinite(model) and math.isfinite(baseline)):
        return False
    return baseline > 0 and baseline >= NEAR_ZERO * abs(model)


def change_text(model: float, baseline: float, *, higher_is_better: bool = True) -> str:
    """``+12.3 %`` against a meaningful baseline; otherwise the absolute difference, saying why."""
    if relative_is_meaningful(model, baseline):
        return f"{relative_gain(model, baseline, higher_is_better=higher_is_better):+.1%}"
    diff = model - baseline
    return f"{diff:+.4f} absolute; no relative change against a baseline near zero or negative"


def _clears(bound: float | None, value: float | None, higher_is_better: bool) -> bool:
    """Whether the interval's worse end ``bound`` is strictly better than ``value`` (None: nothing to clear)."""
    if value is None or not math.isfinite(value):
        return True
    if bound is None or not math.isfinite(bound):
        return False
    return bound > value if higher_is_better else bound < value


def grade(
    metric: str,
    model: float,
    baseline: float,
    *,
    ci_low: float | None = None,
    ci_high: float | None = None,
    champion: float | None = None,
    higher_is_better: bool = True,
    no_skill: float | None = None,
) -> Grade:
    """Grade A/B/C by the module's rules; the reason says which rule decided, with the numbers."""
    gain = relative_gain(model, baseline, higher_is_better=higher_is_better)
    absolute = (model - baseline if higher_is_better else baseline - model) if math.isfinite(model) else math.nan
    change = change_text(model, baseline, higher_is_better=higher_is_better)
    text = f"{metric} {model:.4f} vs baseline {baseline:.4f} ({change})"
    if not (math.isfinite(absolute) and absolute > 0):
        return Grade("C", gain, f"{text}: no measurable gain over the baseline", absolute)
    bound = ci_low if higher_is_better else ci_high
    interval = f"95 % interval [{_fmt(ci_low)}, {_fmt(ci_high)}]"
    if bound is not None and ci_low is not None and ci_high is not None and ci_low == ci_high:
        interval += " (zero width: the scores do not rank the rows, e.g. a constant model)"
    misses = []
    if not _clears(bound, baseline, higher_is_better):
        misses.append(f"reaches the baseline {baseline:.4f}")
    if not _clears(bound, no_skill, higher_is_better):
        misses.append(f"reaches the no-skill value {no_skill:.4f}")
    if misses:
        return Grade("C", gain, f"{text}: {interval} {' and '.join(misses)}, so the gain may be noise", absolute)
    skill = f" and the no-skill value {no_skill:.4f}" if no_skill is not None and math.isfinite(no_skill) else ""
    clear = f"{interval} clears the baseline{skill}"
    not_worse = (
        champion is None
        or not math.isfinite(champion)
        or (model >= champion if higher_is_better else model <= champion)
    )
    if _enough(gain, A_MIN_GAIN) and not_worse:
        return Grade("A", gain, f"{text}: {clear}", absolute)
    if _enough(gain, B_MIN_GAIN):
        why = []
        if not _enough(gain, A_MIN_GAIN):
            why.append(f"gain below {A_MIN_GAIN:.0%}")
        if not not_worse:
            why.append(f"previous champion was better ({champion:.4f})")
        return Grade("B", gain, f"{text}: {clear}; not A: {', '.join(why)}", absolute)
    return Grade("C", gain, f"{text}: {clear}, but less than {B_MIN_GAIN:.0%} better than the baseline", absolute)


def _enough(gain: float, threshold: float) -> bool:
    """A relative gain reaches ``threshold``; NaN (no meaningful ratio, the interval already cleared) counts as yes."""
    return not math.isfinite(gain) or gain >= threshold


def _fmt(value: float | None) -> str:
    return "?" if value is None or not math.isfinite(value) else f"{value:.4f}"
