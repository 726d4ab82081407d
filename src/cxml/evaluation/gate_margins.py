"""Each family's default gate margin, stated with the reason for it, so a card can say what the gate required and
why (pure: the defaults mirror ``cxml/pipelines/<family>.yaml``; a unit test keeps the two equal).

The gate (:func:`cxml.registry.decide`) compares point estimates on one holdout with an absolute margin; the
grade (:mod:`cxml.evaluation.grades`) is where the intervals are judged. A margin is therefore set to the size
of a difference that would matter to the user of the family, not to the sampling noise of one holdout.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class MarginNote:
    metric: str
    min_gain_vs_baseline: float
    why: str


DEFAULT_MARGINS: dict[str, MarginNote] = {
    "churn": MarginNote(
        "pr_auc",
        0.01,
        "one point of PR-AUC: the recency rule is a strong, free baseline, and a model that cannot add a point over "
        "it on the holdout does not pay for its features and upkeep.",
    ),
    "survival": MarginNote(
        "c_index",
        0.02,
        "Kaplan–Meier without covariates orders customers at random (C = 0.5); two points above it is the smallest "
        "ordering gain worth serving, and the C-index must also exceed 0.5 (min_value).",
    ),
    "uplift": MarginNote(
        "qini",
        0.0,
        "any strict gain over the response model, and the Qini's whole 95 % holdout interval above 0 (random "
        "targeting, min_value with min_value_by_interval): Qini is small in absolute terms (0.005 is typical), so a "
        "fixed margin would be either noise-sized or unreachable, but a Qini that cannot be told from random "
        "targeting is not served.",
    ),
    "cross_sell": MarginNote(
        "map_at_10",
        0.0,
        "any strict gain over the stronger of popularity and co-purchase, metric by metric: both baselines are free "
        "to run, so the model is served only if it ranks better than both; the grade checks the interval.",
    ),
    "clv": MarginNote(
        "rmse",
        0.0,
        "any strict RMSE improvement in the value's currency: the unit differs between data sets, so no fixed "
        "absolute margin fits them all; the grade checks the interval.",
    ),
    "price": MarginNote(
        "demand_rmse",
        0.0,
        "any strict improvement of held-out log-quantity RMSE over the log-log baseline, and the elasticity checks: "
        "a beaten elasticity error where a simulation knows the truth, a negative own-price elasticity, and no "
        "disagreement with the baseline's elasticity beyond both intervals (price_gate).",
    ),
}


def margin_text(family: str, gate: Mapping[str, object]) -> str:
    """What the gate required of this version and why: the default's reason, or that the run overrode it."""
    m = str(gate.get("primary_metric", "?"))
    margin = gate.get("min_gain_vs_baseline")
    champion = gate.get("min_gain_vs_champion", 0.0)
    said = f"gate margin: {m} must beat the baseline by more than {margin} (absolute) and the champion by {champion}"
    note = DEFAULT_MARGINS.get(family)
    if note is None:
        return f"{said}; no stated default for family {family!r}"
    if note.metric == m and margin is not None and float(str(margin)) == note.min_gain_vs_baseline:
        return f"{said}. Why: {note.why}"
    return f"{said}; this run overrode the default ({note.metric} by {note.min_gain_vs_baseline}, because {note.why})"
