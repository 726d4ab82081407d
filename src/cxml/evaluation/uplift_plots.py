"""Uplift figures as PNG ``data:`` URIs: Qini curves and observed uplift by decile, one panel per arm."""

from __future__ import annotations

import numpy as np

from cxml.evaluation.plots import BASELINE_COLOR, MODEL_COLOR, _figure, to_data_uri
from cxml.evaluation.uplift_metrics import qini_coefficient, qini_curve, uplift_by_decile

Arm = tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""(arm, outcome, model score, baseline score, treated 0/1) on the arm's and the control rows."""


def qini_plot(arms: list[Arm]) -> str:
    """Qini curve of the model and of the baseline per arm, with the random-targeting line."""
    fig = _figure(4.2 * len(arms), 3.8)
    for i, (arm, y, score, base, t) in enumerate(arms):
        ax = fig.add_subplot(1, len(arms), i + 1)
        for s, label, color in ((score, "model", MODEL_COLOR), (base, "baseline", BASELINE_COLOR)):
            x, q = qini_curve(y, s, t)
            ax.plot(x, q, color=color, label=f"{label} (Qini {qini_coefficient(y, s, t):.4f})")
        ax.plot([0, 1], [0, q[-1]], ls=":", color="black", lw=0.8, label="random")
        ax.set(title=f"Qini: {arm}", xlabel="share of customers targeted", xlim=(0, 1))
        if i == 0:
            ax.set_ylabel("incremental responses per customer")
        ax.legend(loc="lower right", fontsize=8)
    return to_data_uri(fig)


def decile_plot(arms: list[Arm]) -> str:
    """Observed uplift (treated − control rate) per decile of predicted effect, per arm: a good model descends."""
    fig = _figure(4.2 * len(arms), 3.6)
    for i, (arm, y, score, _, t) in enumerate(arms):
        ax = fig.add_subplot(1, len(arms), i + 1)
        table = uplift_by_decile(y, score, t)
        ax.bar(table["bin"], table["observed_uplift"], color=MODEL_COLOR, label="observed")
        ax.plot(table["bin"], table["mean_predicted_uplift"], "o-", color="black", ms=3, label="predicted (mean)")
        ax.axhline(0, color=BASELINE_COLOR, lw=0.8)
        ax.set(title=f"Uplift by decile: {arm}", xlabel="decile of predicted effect (1 = highest)")
        ax.set_xticks(table["bin"])
        if i == 0:
            ax.set_ylabel("treated − control response rate")
        ax.legend(loc="upper right", fontsize=8)
    return to_data_uri(fig)
