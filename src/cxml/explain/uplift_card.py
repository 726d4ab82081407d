"""The uplift parts of a model card: metrics with intervals, Qini and decile plots, SHAP of the effect,
persuadable and sleeping-dog examples, and observed vs predicted uplift per segment (pure: frames in)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cxml.evaluation import uplift_plots
from cxml.evaluation.segments import MIN_ROWS, segment_columns
from cxml.explain import shap_plots
from cxml.features.reasons import Reason
from cxml.models.uplift import CONTROL, explain_row

HEADLINE = ("qini", "qini_norm", "auuc", "uplift_at_10", "uplift_at_30")
GAP_THRESHOLD = 0.05
"""A segment is flagged when its mean predicted effect and its observed uplift differ by more than this."""


def targets(holdout: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The logged holdout's targets (``outcome``, ``arm``) and the arms, in the model's column order."""
    arms = [c.split(":", 1)[1] for c in holdout.columns if c.startswith("__score__:")]
    y = pd.DataFrame({"outcome": holdout["__label__"].to_numpy(float), "arm": holdout["__arm__"].astype(str)})
    return y.set_axis(holdout.index), arms


def arm_scores(holdout: pd.DataFrame, arms: list[str], prefix: str) -> np.ndarray:
    return holdout[[f"__{prefix}__:{a}" for a in arms]].to_numpy(float)


def figures(holdout: pd.DataFrame, X: pd.DataFrame, estimator: Any, *, sample: int = 1000, seed: int = 0) -> dict:
    """Qini curves, uplift by decile, and SHAP of the effect of the arm with the largest mean effect."""
    y, arms = targets(holdout)
    score, base = arm_scores(holdout, arms, "score"), arm_scores(holdout, arms, "baseline_score")
    received = y["arm"].to_numpy()
    panels = []
    for i, arm in enumerate(arms):
        rows = np.isin(received, (arm, CONTROL))
        t = (received[rows] == arm).astype(int)
        panels.append((arm, y["outcome"].to_numpy()[rows], score[rows, i], base[rows, i], t))
    top = arms[int(np.argmax(score.mean(axis=0)))]
    rows_x = X.sample(min(sample, len(X)), random_state=seed)
    explanation = estimator.explain(rows_x, arm=top)
    return {
        "qini": uplift_plots.qini_plot(panels),
        "deciles": uplift_plots.decile_plot(panels),
        "shap_bar": shap_plots.bar(explanation),
        "shap_beeswarm": shap_plots.beeswarm(explanation),
        "shap_arm": top,
    }


def examples(estimator: Any, X: pd.DataFrame, holdout: pd.DataFrame) -> list[dict[str, Any]]:
    """The most persuadable customer, a typical one and the strongest sleeping dog, each with reasons."""
    y, arms = targets(holdout)
    best = arm_scores(holdout, arms, "score").max(axis=1)
    order = np.argsort(best, kind="stable")
    picks = [(order[-1], "most persuadable"), (order[len(order) // 2], "typical"), (order[0], "strongest sleeping dog")]
    out = []
    for i, label in picks:
        row = X.iloc[[int(i)]]
        explained = explain_row(estimator, row, 3)
        out.append(
            {
                "customer_id": str(X.index[i]),
                "label": label,
                "arm": explained["arm"],
                "effect": explained["effects"][explained["arm"]],
                "received": str(y["arm"].iloc[i]),
                "outcome": float(y["outcome"].iloc[i]),
                "reasons": [Reason(**r) for r in explained["reasons"]],
            }
        )
    return out


def segment_table(X: pd.DataFrame, holdout: pd.DataFrame) -> pd.DataFrame:
    """Per segment: rows, mean predicted effect (over arms), observed uplift (any arm vs control), the gap."""
    y, arms = targets(holdout)
    predicted = arm_scores(holdout, arms, "score").mean(axis=1)
    treated = (y["arm"] != CONTROL).to_numpy()
    outcome = y["outcome"].to_numpy()
    rows = []
    for dimension, labels in segment_columns(X).items():
        values = labels.to_numpy()
        for level in sorted(pd.unique(values), key=str):
            mask = values == level
            t, c = mask & treated, mask & ~treated
            observed = outcome[t].mean() - outcome[c].mean() if t.any() and c.any() else float("nan")
            gap = float(predicted[mask].mean() - observed)
            rows.append(
                {
                    "dimension": dimension,
                    "segment": str(level),
                    "rows": int(mask.sum()),
                    "predicted": float(predicted[mask].mean()),
                    "observed": float(observed),
                    "gap": gap,
                    "flagged": bool(mask.sum() >= MIN_ROWS and np.isfinite(gap) and abs(gap) > GAP_THRESHOLD),
                }
            )
    return pd.DataFrame(rows, columns=["dimension", "segment", "rows", "predicted", "observed", "gap", "flagged"])
