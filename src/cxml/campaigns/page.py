"""The readout page of one campaign: one self-contained HTML string from the template ``campaign.html`` on the
shared ``base.html`` (the one stylesheet inlined, SVG drawn inline, no script, no URL), so it opens offline and a
browser showing it asks nothing of the network. This module computes the rows and the charts' geometry; the
template holds the markup.

Three figures, each over the days the campaign has run:

- **Allocation**: the share of each day's contacted customers that got each arm (what the policy did).
- **Confidence sequences**: each arm's lift over control with its anytime-valid interval at every look, the zero
  line and the campaign's ``min_lift`` (an arm is dropped once its band is below that line).
- **Cumulative outcome**: what the campaign's customers did, against what the same customers would have done under
  uniform allocation (each arm's mean outcome, averaged over the active arms) and under the holdout (never
  contacted): the gap is what adapting, and what contacting, earned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cxml.campaigns.readout import Readout, readout_history
from cxml.campaigns.spec import Allocation, CampaignSpec
from cxml.html import num, render

PALETTE = ("#1f6fb2", "#d9912b", "#2e8b57", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d", "#34495e")
CONTROL_GREY = "#6b7385"
TEMPLATE = "campaign.html"


def arm_colours(spec: CampaignSpec) -> dict[str, str]:
    """One colour per arm, kept across the figures; the control is grey."""
    others = [a for a in spec.arms if a != spec.control]
    return {**{a: PALETTE[i % len(PALETTE)] for i, a in enumerate(others)}, spec.control: CONTROL_GREY}


@dataclass(frozen=True)
class Series:
    name: str
    y: np.ndarray
    colour: str
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    dashed: bool = False


def _points(xs: np.ndarray, ys: np.ndarray) -> str:
    return " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xs, ys, strict=True))


def line_chart(
    times: Sequence[pd.Timestamp], series: list[Series], *, label: str, y_label: str, rules: Sequence[float] = ()
) -> dict[str, Any]:
    """The geometry of lines (with shaded bands where given) over ``times``, horizontal ``rules``, axes and ticks:
    pixel positions and point lists that the template's ``line_chart`` macro draws as SVG."""
    width, height, left, right, top, bottom = 900, 300, 70, 20, 16, 40
    x = np.arange(len(times), dtype=float)
    values = [v for s in series for v in (s.y, s.lower, s.upper) if v is not None]
    finite = np.concatenate([v[np.isfinite(v)] for v in values] + [np.asarray(rules, float)])
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    pad = (hi - lo) * 0.05
    lo, hi = lo - pad, hi + pad

    def px(i: np.ndarray) -> np.ndarray:
        return left + (width - left - right) * (i / max(len(times) - 1, 1))

    def py(v: np.ndarray) -> np.ndarray:
        return top + (height - top - bottom) * (1 - (v - lo) / (hi - lo))

    bands, lines = [], []
    for s in series:
        if s.lower is not None and s.upper is not None:
            ok = np.isfinite(s.lower) & np.isfinite(s.upper)
            if ok.any():
                xs = px(x[ok])
                outline = f"{_points(xs, py(s.upper[ok]))} {_points(xs[::-1], py(s.lower[ok][::-1]))}"
                bands.append({"points": outline, "colour": s.colour})
        ok = np.isfinite(s.y)
        if ok.any():
            points = _points(px(x[ok]), py(s.y[ok]))
            lines.append({"name": s.name, "points": points, "colour": s.colour, "dashed": s.dashed})
    step = max(1, len(times) // 8)
    return {
        "width": width,
        "height": height,
        "label": label,
        "plot": {"x": left, "y": top, "w": width - left - right, "h": height - top - bottom},
        "y_ticks": [{"y": float(py(np.array(t))), "text": f"{t:.3g}"} for t in np.linspace(lo, hi, 5)],
        "x_ticks": [
            {"x": float(px(np.array(i))), "text": pd.Timestamp(times[i]).strftime("%m-%d")}
            for i in range(0, len(times), step)
        ],
        "x_label_y": height - bottom + 16,
        "rules": [float(py(np.array(r))) for r in rules],
        "bands": bands,
        "lines": lines,
        "y_label": y_label,
        "y_label_y": (height - bottom) / 2,
        "legend": [{"name": s.name, "colour": s.colour} for s in series],
    }


def _arm_rows(result: Readout) -> list[dict[str, str]]:
    return [
        {
            "arm": a.arm,
            "n": num(a.n, ","),
            "mean": num(a.mean),
            "lift": num(a.lift),
            "lower": num(a.lower),
            "upper": num(a.upper),
            "decision": a.decision,
        }
        for a in result.arms
    ]


def _holdout_rows(result: Readout) -> list[list[str]]:
    """Key/value rows of what the campaign earned against the holdout; empty before any holdout customer."""
    h = result.holdout
    if h is None:
        return []
    return [
        ["customers in the campaign / holdout", f"{num(h.n_campaign, ',')} / {num(h.n_holdout, ',')}"],
        ["mean outcome, campaign / holdout", f"{num(h.mean_campaign)} / {num(h.mean_holdout)}"],
        ["incremental outcome per customer", f"{num(h.incremental_per_customer)} [{num(h.lower)}, {num(h.upper)}]"],
        [
            "incremental outcome, total",
            f"{num(h.incremental_outcome, ',.1f')} [{num(h.incremental_outcome_lower, ',.1f')}, "
            f"{num(h.incremental_outcome_upper, ',.1f')}]",
        ],
        [
            "incremental revenue",
            f"{num(h.revenue, ',.2f')} [{num(h.revenue_lower, ',.2f')}, {num(h.revenue_upper, ',.2f')}]",
        ],
    ]


def cumulative_outcomes(
    assignments: pd.DataFrame, outcomes: pd.DataFrame, spec: CampaignSpec, result: Readout, freq: str = "D"
) -> pd.DataFrame:
    """Per period: the campaign's cumulative outcome, and what the same contacted customers would have had under
    uniform allocation (mean of the active arms' means) and under the holdout (the holdout's mean)."""
    contacted = assignments.loc[~assignments["holdout"].astype(bool)]
    total = outcomes.groupby("customer_id")["outcome"].sum()
    y = total.reindex(contacted["customer_id"]).fillna(0.0).to_numpy()
    if spec.outcome == "binary":
        y = np.minimum(y, 1.0)
    period = pd.DatetimeIndex(contacted["sent_at"]).floor(freq)
    daily = pd.DataFrame({"period": period, "y": y}).groupby("period")["y"].agg(["sum", "size"])
    means = [a.mean for a in result.arms if a.decision != "drop" and np.isfinite(a.mean)]
    uniform_mean = float(np.mean(means)) if means else float("nan")
    holdout_mean = result.holdout.mean_holdout if result.holdout is not None else float("nan")
    return pd.DataFrame(
        {
            "time": daily.index,
            "campaign": daily["sum"].cumsum().to_numpy(),
            "uniform": (daily["size"].cumsum() * uniform_mean).to_numpy(),
            "holdout": (daily["size"].cumsum() * holdout_mean).to_numpy(),
        }
    )


def campaign_page(
    spec: CampaignSpec,
    assignments: pd.DataFrame,
    outcomes: pd.DataFrame,
    allocations: Sequence[Allocation],
    result: Readout,
    *,
    freq: str = "D",
) -> str:
    """The whole page as one HTML string (the template ``campaign.html`` on the shared ``base.html``)."""
    colours = arm_colours(spec)
    history = readout_history(assignments, outcomes, spec, freq)
    times = sorted(history["time"].unique())
    by_arm = {arm: g.set_index("time").reindex(times) for arm, g in history.groupby("arm")}
    shares = line_chart(
        times,
        [Series(a, by_arm[a]["period_share"].to_numpy(float), colours[a]) for a in spec.arms if a in by_arm],
        label="allocation per arm over time",
        y_label="share of the day's customers",
    )
    sequences = line_chart(
        times,
        [
            Series(
                a,
                by_arm[a]["lift"].to_numpy(float),
                colours[a],
                by_arm[a]["lower"].to_numpy(float),
                by_arm[a]["upper"].to_numpy(float),
            )
            for a in spec.arms
            if a != spec.control and a in by_arm
        ],
        label="confidence sequences of each arm's lift over control",
        y_label="lift over control",
        rules=sorted({0.0, spec.min_lift}),
    )
    cumulative = cumulative_outcomes(assignments, outcomes, spec, result, freq)
    outcome_chart = line_chart(
        list(cumulative["time"]),
        [
            Series("this campaign", cumulative["campaign"].to_numpy(float), PALETTE[0]),
            Series("uniform allocation", cumulative["uniform"].to_numpy(float), PALETTE[1], dashed=True),
            Series("holdout (no contact)", cumulative["holdout"].to_numpy(float), CONTROL_GREY, dashed=True),
        ],
        label="cumulative outcome against uniform allocation and the holdout",
        y_label="cumulative outcome",
    )
    current = allocations[-1] if allocations else None
    return render(
        TEMPLATE,
        campaign={
            "id": spec.campaign_id,
            "arms": list(spec.arms),
            "control": spec.control,
            "policy": spec.policy,
            "allocation_version": current.version if current else "–",
            "allocations": len(allocations),
            "customers": result.n,
            "outcome": spec.outcome,
            "alpha": spec.alpha,
            "winner": result.winner,
        },
        arms=_arm_rows(result),
        holdout=_holdout_rows(result),
        charts={"allocation": shares, "sequences": sequences, "outcome": outcome_chart},
    )
