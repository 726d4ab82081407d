"""Evaluation and explanation figures as PNG ``data:`` URIs, so a report embeds them and opens offline.

Figures are drawn on matplotlib's Agg canvas directly (no pyplot state, no display, no fonts fetched).
Each function takes arrays or frames and returns a string; nothing is written to disk.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

MODEL_COLOR, BASELINE_COLOR = "#1f6fb2", "#9a9a9a"


def _figure(width: float = 5.0, height: float = 4.0) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def to_data_uri(fig: Figure) -> str:
    """The figure as a base64 PNG ``data:`` URI."""
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def roc_plot(y: np.ndarray, score: np.ndarray, baseline: np.ndarray | None = None) -> str:
    """ROC curves of the model (and the baseline), with the diagonal of a random ranking."""
    fig = _figure()
    ax = fig.add_subplot()
    for s, label, color in ((score, "model", MODEL_COLOR), (baseline, "baseline", BASELINE_COLOR)):
        if s is None:
            continue
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, color=color, label=f"{label} (AUC {roc_auc_score(y, s):.3f})")
    ax.plot([0, 1], [0, 1], ls=":", color="black", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve", xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="lower right")
    return to_data_uri(fig)


def pr_plot(y: np.ndarray, score: np.ndarray, baseline: np.ndarray | None = None) -> str:
    """Precision-recall curves of the model (and the baseline), with the base rate of a random ranking."""
    fig = _figure()
    ax = fig.add_subplot()
    for s, label, color in ((score, "model", MODEL_COLOR), (baseline, "baseline", BASELINE_COLOR)):
        if s is None:
            continue
        precision, recall, _ = precision_recall_curve(y, s)
        ax.step(recall, precision, where="post", color=color, label=f"{label} (AP {average_precision_score(y, s):.3f})")
    ax.axhline(float(np.mean(y)), ls=":", color="black", lw=0.8, label="base rate")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall curve", xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(loc="upper right")
    return to_data_uri(fig)


def reliability_table(y: np.ndarray, score: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Mean predicted vs observed rate in score-quantile bins (equal counts, so every point has support)."""
    frame = pd.DataFrame({"y": np.asarray(y, dtype=float), "s": np.asarray(score, dtype=float)})
    bins = pd.qcut(frame["s"].rank(method="first"), min(n_bins, len(frame)), labels=False)
    return frame.groupby(bins).agg(predicted=("s", "mean"), observed=("y", "mean"), n=("y", "size"))


def reliability_plot(y: np.ndarray, score: np.ndarray, n_bins: int = 10) -> str:
    """Calibration: observed churn rate against mean predicted probability per decile, and the diagonal."""
    table = reliability_table(y, score, n_bins)
    fig = _figure()
    ax = fig.add_subplot()
    top = float(max(table["predicted"].max(), table["observed"].max(), 0.05)) * 1.05
    ax.plot([0, top], [0, top], ls=":", color="black", lw=0.8, label="perfect calibration")
    ax.plot(table["predicted"], table["observed"], marker="o", color=MODEL_COLOR, label="model (deciles)")
    ax.set(xlabel="mean predicted probability", ylabel="observed rate", title="Reliability", xlim=(0, top))
    ax.set_ylim(0, top)
    ax.legend(loc="upper left")
    return to_data_uri(fig)


def kaplan_meier_plot(table: pd.DataFrame, unit: str = "months", title: str = "Customer lifetime by segment") -> str:
    """Kaplan–Meier step curves, one per group of a ``kaplan_meier(..., group=...)`` table, with the 50 % line."""
    fig = _figure(6.5, 4.2)
    ax = fig.add_subplot()
    for label, curve in table.groupby("group", sort=True):
        times = np.concatenate([[0.0], curve["time"].to_numpy(dtype=float)])
        surv = np.concatenate([[1.0], curve["survival"].to_numpy(dtype=float)])
        ax.step(times, surv, where="post", lw=1.4, label=f"{label} ({int(curve['at_risk'].iloc[0]):,})")
    ax.axhline(0.5, ls=":", color="black", lw=0.8)
    ax.set(xlabel=unit, ylabel="still a customer", title=title, ylim=(0, 1.02))
    ax.legend(loc="lower left", fontsize=7)
    return to_data_uri(fig)


def survival_calibration_plot(table: pd.DataFrame, unit: str = "months") -> str:
    """Predicted S(h) against Kaplan–Meier observed survival per risk decile, one series per horizon
    (a ``calibration_at_horizons`` table), with the observed interval as error bars and the diagonal."""
    fig = _figure()
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], ls=":", color="black", lw=0.8, label="perfect calibration")
    for horizon, part in table.groupby("horizon", sort=True):
        err = np.vstack([part["observed"] - part["lower"], part["upper"] - part["observed"]]).clip(min=0)
        ax.errorbar(part["predicted"], part["observed"], yerr=err, marker="o", ms=3, lw=1, capsize=2,
                    label=f"S({horizon:g} {unit})")  # fmt: skip
    ax.set(xlabel="mean predicted survival (risk deciles)", ylabel="observed (Kaplan–Meier)", title="Calibration")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="upper left", fontsize=8)
    return to_data_uri(fig)


def decile_plot(actual: np.ndarray, predicted: np.ndarray, baseline: np.ndarray | None, what: str) -> str:
    """Mean actual against mean predicted (and baseline) per decile of the prediction: a lift/calibration view
    for a continuous target such as value over a horizon."""
    frame = pd.DataFrame({"actual": np.asarray(actual, float), "predicted": np.asarray(predicted, float)})
    if baseline is not None:
        frame["baseline"] = np.asarray(baseline, float)
    frame["decile"] = pd.qcut(frame["predicted"].rank(method="first"), min(10, len(frame)), labels=False) + 1
    means = frame.groupby("decile").mean()
    fig = _figure(5.5, 4.0)
    ax = fig.add_subplot()
    ax.bar(means.index, means["actual"], color="#c9d7e8", label="actual (mean)")
    ax.plot(means.index, means["predicted"], marker="o", color=MODEL_COLOR, label="model (mean)")
    if "baseline" in means:
        ax.plot(means.index, means["baseline"], marker="s", ls="--", color=BASELINE_COLOR, label="baseline (mean)")
    ax.set(xlabel="decile of the model's prediction (10 = highest)", ylabel=what, title=f"{what} by decile")
    ax.legend(loc="upper left", fontsize=8)
    return to_data_uri(fig)


def holdout_decile_plot(holdout: pd.DataFrame, column: str, what: str) -> str:
    """``decile_plot`` of a logged holdout frame: ``__label__`` against ``__score__:<column>`` and the baseline's."""
    return decile_plot(
        holdout["__label__"], holdout[f"__score__:{column}"], holdout[f"__baseline_score__:{column}"], what
    )


def data_uri_bytes(uri: str) -> bytes:
    """The PNG bytes of a figure's ``data:`` URI (to write it as a file)."""
    return base64.b64decode(uri.split(",", 1)[1])


def shap_bar_plot(contributions: pd.DataFrame, k: int = 15) -> str:
    """Global drivers: mean |SHAP| per feature (probability scale), the ``k`` largest."""
    importance = contributions.abs().mean().sort_values(ascending=True).tail(k)
    fig = _figure(6.0, 0.3 * len(importance) + 1.2)
    ax = fig.add_subplot()
    ax.barh(importance.index.astype(str), importance.to_numpy(), color=MODEL_COLOR)
    ax.set(xlabel="mean |contribution| to the probability", title="Global drivers (mean |SHAP|)")
    return to_data_uri(fig)


def _value_colors(values: pd.Series) -> np.ndarray:
    """Each feature value as its rank within the column in [0, 1] (NaN and categories grey)."""
    numeric = pd.to_numeric(values, errors="coerce") if not isinstance(values.dtype, pd.CategoricalDtype) else None
    if numeric is None or numeric.isna().all():
        return np.full(len(values), np.nan)
    return np.asarray(numeric.rank(pct=True), dtype=float)


def shap_beeswarm_plot(contributions: pd.DataFrame, X: pd.DataFrame, k: int = 12, seed: int = 0) -> str:
    """One dot per customer and feature: its contribution (x), coloured by the feature value's rank (low→high)."""
    order = contributions.abs().mean().sort_values(ascending=False).index[:k][::-1]
    rng = np.random.default_rng(seed)
    fig = _figure(6.5, 0.35 * len(order) + 1.5)
    ax = fig.add_subplot()
    cmap = _colormap()
    for row, feature in enumerate(order):
        phi = contributions[feature].to_numpy(dtype=float)
        colors = _value_colors(X[feature])
        jitter = _swarm_offsets(phi, rng)
        known = ~np.isnan(colors)
        ax.scatter(phi[~known], row + jitter[~known], s=6, color="#bbbbbb", alpha=0.7, linewidths=0)
        ax.scatter(phi[known], row + jitter[known], s=6, c=colors[known], cmap=cmap, vmin=0, vmax=1, linewidths=0)
    ax.axvline(0, color="black", lw=0.6)
    ax.set_yticks(range(len(order)), [str(f) for f in order])
    ax.set(xlabel="contribution to the probability", title="SHAP values per customer")
    bar = fig.colorbar(ax.collections[-1], ax=ax, ticks=[0, 1], fraction=0.04, pad=0.02)
    bar.ax.set_yticklabels(["low", "high"])
    bar.set_label("feature value")
    return to_data_uri(fig)


def _colormap() -> LinearSegmentedColormap:
    return LinearSegmentedColormap.from_list("cxml", ["#1f6fb2", "#9b59b6", "#d62728"])


def _swarm_offsets(values: np.ndarray, rng: np.random.Generator, width: float = 0.35) -> np.ndarray:
    """Vertical spread proportional to the local density of the values, so dense regions look wide."""
    if values.size < 2 or np.ptp(values) == 0:
        return rng.uniform(-width / 4, width / 4, values.size)
    hist, edges = np.histogram(values, bins=40)
    density = hist[np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(hist) - 1)] / hist.max()
    return rng.uniform(-1, 1, values.size) * width * density
