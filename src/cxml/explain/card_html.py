"""HTML of model cards and of their index, from the templates ``model_card.html`` and ``cards_index.html``.

Pure: card data in, one self-contained page out (the shared stylesheet inlined, images as ``data:`` URIs, links
relative), so a card opens offline and a browser showing it never touches the network. This module only turns
numbers into the rows the templates lay out; the markup is in ``cxml/templates``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from cxml.evaluation.grades import RULES
from cxml.evaluation.segments import GAP_THRESHOLD
from cxml.explain.card_data import CardData, card_stem
from cxml.explain.uplift_card import GAP_THRESHOLD as UPLIFT_GAP
from cxml.html import num, render

INDEX_METRICS = 8
"""Metrics per champion block on the index; the card shows them all."""
_CI_SUFFIXES = ("_ci_low", "_ci_high")


def render_card(card: CardData) -> str:
    """The whole card as one HTML string."""
    return render("model_card.html", card=card, rules=RULES, segments=_segments(card))


def _segments(card: CardData) -> dict[str, Any]:
    """The per-segment table's rows (formatted cells), row classes and the sentence about what is flagged."""
    seg = card.segments
    if seg.empty:
        return {}
    flagged = int(seg["flagged"].sum())
    if card.family == "uplift":
        header = ["dimension", "segment", "customers", "predicted effect", "observed uplift", "gap", ""]
        rule = (
            "the mean predicted effect differs from the uplift observed in the segment (treated − control) by more "
            f"than {UPLIFT_GAP}."
        )
        note = "Observed uplift in small segments is noisy; segments under 30 customers are never flagged."
        rows = [
            [
                *(r.dimension, r.segment, num(r.rows, ","), num(r.predicted, "+.3f"), num(r.observed, "+.3f")),
                *(num(r.gap, "+.3f"), "⚠ gap" if r.flagged else ""),
            ]
            for r in seg.itertuples(index=False)
        ]
    else:
        header = ["dimension", "segment", "customers", "churn rate", "ROC-AUC", "PR-AUC", "gap", ""]
        rule = f"ROC-AUC differs from the overall value by more than {GAP_THRESHOLD}."
        note = "Segments under 30 customers or with a single class are shown but never flagged."
        rows = [
            [
                *(r.dimension, r.segment, num(r.rows, ","), num(r.label_rate, ".1%"), num(r.roc_auc, ".3f")),
                *(num(r.pr_auc, ".3f"), num(r.gap, "+.3f"), "⚠ gap" if r.flagged else ""),
            ]
            for r in seg.itertuples(index=False)
        ]
    return {
        "flagged": flagged,
        "rule": rule,
        "note": note,
        "header": header,
        "rows": rows,
        "classes": ["flag" if f else "" for f in seg["flagged"]],
        "numeric": tuple(range(2, len(header) - 1)),
    }


def render_index(cards: list[dict[str, Any]], champions: list[dict[str, Any]]) -> str:
    """One compact block per champion on its family's own metrics, then every card in the folder."""
    return render(
        "cards_index.html",
        champions=[_champion_block(c) for c in champions],
        cards=[{**c, "stem": card_stem(c["model_name"], c["version"]), "family": c.get("family", "?")} for c in cards],
        max_metrics=INDEX_METRICS,
    )


def _champion_block(c: dict[str, Any]) -> dict[str, Any]:
    """A champion's own metrics (primary first), its baseline's beside them, at most ``INDEX_METRICS``."""
    primary = c.get("primary_metric") or (c["card"] or {}).get("primary_metric")
    names = sorted(
        (k for k in c["holdout"] if not k.endswith(_CI_SUFFIXES) and pd.notna(c["holdout"][k])),
        key=lambda m: (m != primary, m),
    )
    metrics = [
        {"name": m, "primary": m == primary, "model": c["holdout"][m], "baseline": c["baseline"].get(m)}
        for m in names[:INDEX_METRICS]
    ]
    return {
        **c,
        "family": c.get("family", "?"),
        "stem": card_stem(c["model_name"], c["version"]),
        "metrics": metrics,
        "more": max(len(names) - INDEX_METRICS, 0),
    }
