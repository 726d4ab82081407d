"""The readout page of one campaign: one self-contained HTML string (inline CSS and SVG, no script, no URL), so it
opens offline and a browser showing it asks nothing of the network.

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
from html import escape

import numpy as np
import pandas as pd

from cxml.campaigns.readout import Readout, readout_history
from cxml.campaigns.spec import Allocation, CampaignSpec

PALETTE = ("#1f6fb2", "#d9912b", "#2e8b57", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d", "#34495e")
CONTROL_GREY = "#6b7385"
CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;background:#f5f6f8;color:#1d2330}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{margin:0 0 4px}h2{border-bottom:2px solid #dde2ea;padding-bottom:4px;margin-top:32px}
section{background:#fff;border-radius:8px;padding:8px 20px 16px;margin:16px 0;box-shadow:0 1px 2px #0001}
table{border-collapse:collapse;margin:8px 0}td,th{padding:4px 10px;border-bottom:1px solid #e6e9ef;text-align:left}
th{background:#f0f2f6}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.winner{color:#2e8b57;font-weight:600}.drop{color:#c0392b;font-weight:600}.muted{color:#6b7385;font-size:90%}
svg text{font-size:12px;fill:#1d2330}.legend span{display:inline-block;margin-right:16px}
.swatch{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:4px;vertical-align:middle}
"""


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


def line_chart(
    times: Sequence[pd.Timestamp], series: list[Series], *, label: str, y_label: str, rules: Sequence[float] = ()
) -> str:
    """Lines (with shaded bands where given) over ``times``, horizontal ``rules``, axes and ticks, as SVG."""
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

    parts = [
        f"<rect x='{left}' y='{top}' width='{width - left - right}' height='{height - top - bottom}' fill='#fafbfc'/>"
    ]
    for tick in np.linspace(lo, hi, 5):
        y = float(py(np.array(tick)))
        parts.append(f"<line x1='{left}' x2='{width - right}' y1='{y:.1f}' y2='{y:.1f}' stroke='#e6e9ef'/>")
        parts.append(f"<text x='{left - 6}' y='{y + 4:.1f}' text-anchor='end'>{tick:.3g}</text>")
    step = max(1, len(times) // 8)
    for i in range(0, len(times), step):
        parts.append(
            f"<text x='{float(px(np.array(i))):.1f}' y='{height - bottom + 16}' text-anchor='middle'>"
            f"{pd.Timestamp(times[i]).strftime('%m-%d')}</text>"
        )
    for rule in rules:
        y = float(py(np.array(rule)))
        parts.append(
            f"<line x1='{left}' x2='{width - right}' y1='{y:.1f}' y2='{y:.1f}' stroke='#1d2330' "
            "stroke-dasharray='4 3'/>"
        )
    for s in series:
        if s.lower is not None and s.upper is not None:
            ok = np.isfinite(s.lower) & np.isfinite(s.upper)
            if ok.any():
                xs = px(x[ok])
                upper = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xs, py(s.upper[ok]), strict=True))
                lower = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xs[::-1], py(s.lower[ok][::-1]), strict=True))
                parts.append(f"<polygon points='{upper} {lower}' fill='{s.colour}' fill-opacity='0.18' stroke='none'/>")
        ok = np.isfinite(s.y)
        if ok.any():
            points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px(x[ok]), py(s.y[ok]), strict=True))
            dash = " stroke-dasharray='6 4'" if s.dashed else ""
            parts.append(
                f"<polyline points='{points}' fill='none' stroke='{s.colour}' stroke-width='2.5'{dash}>"
                f"<title>{escape(s.name)}</title></polyline>"
            )
    parts.append(
        f"<text x='14' y='{(height - bottom) / 2:.0f}' transform='rotate(-90 14 {(height - bottom) / 2:.0f})' "
        f"text-anchor='middle'>{escape(y_label)}</text>"
    )
    svg = (
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' width='{width}' height='{height}' "
        f"role='img' aria-label='{escape(label)}'>{''.join(parts)}</svg>"
    )
    legend = "".join(
        f"<span><i class='swatch' style='background:{s.colour}'></i>{escape(s.name)}</span>" for s in series
    )
    return f"<figure>{svg}<figcaption class='legend'>{legend}</figcaption></figure>"


def _num(value: float | None, fmt: str = ".4f") -> str:
    return "–" if value is None or not np.isfinite(value) else format(value, fmt)


def _arm_table(result: Readout) -> str:
    rows = []
    for a in result.arms:
        decision = f"<span class='{escape(a.decision)}'>{escape(a.decision)}</span>"
        rows.append(
            f"<tr><td>{escape(a.arm)}</td><td class='num'>{a.n:,}</td><td class='num'>{_num(a.mean)}</td>"
            f"<td class='num'>{_num(a.lift)} <span class='muted'>[{_num(a.lower)}, {_num(a.upper)}]</span></td>"
            f"<td>{decision}</td></tr>"
        )
    names = ("arm", "customers", "mean outcome", "lift over control [sequence]", "decision")
    head = "<tr>" + "".join(f"<th>{n}</th>" for n in names) + "</tr>"
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def _holdout_table(result: Readout) -> str:
    h = result.holdout
    if h is None:
        return "<p class='muted'>No holdout customers logged yet.</p>"
    rows = [
        ("customers in the campaign / holdout", f"{h.n_campaign:,} / {h.n_holdout:,}"),
        ("mean outcome, campaign / holdout", f"{_num(h.mean_campaign)} / {_num(h.mean_holdout)}"),
        ("incremental outcome per customer", f"{_num(h.incremental_per_customer)} [{_num(h.lower)}, {_num(h.upper)}]"),
        (
            "incremental outcome, total",
            f"{_num(h.incremental_outcome, ',.1f')} [{_num(h.incremental_outcome_lower, ',.1f')}, "
            f"{_num(h.incremental_outcome_upper, ',.1f')}]",
        ),
        (
            "incremental revenue",
            f"{_num(h.revenue, ',.2f')} [{_num(h.revenue_lower, ',.2f')}, {_num(h.revenue_upper, ',.2f')}]",
        ),
    ]
    body = "".join(f"<tr><th>{escape(k)}</th><td class='num'>{escape(v)}</td></tr>" for k, v in rows)
    return f"<table><tbody>{body}</tbody></table>"


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
    """The whole page as one HTML string."""
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
    winner = f"<span class='winner'>{escape(result.winner)}</span>" if result.winner else "none yet"
    facts = (
        f"<p>{len(spec.arms)} arms ({', '.join(escape(a) for a in spec.arms)}; control <b>{escape(spec.control)}</b>), "
        f"policy <b>{escape(spec.policy)}</b>, allocation v{current.version if current else '–'} of "
        f"{len(allocations)}, {result.n:,} customers logged, outcome {escape(spec.outcome)}, α = {spec.alpha}. "
        f"Winner: {winner}.</p>"
    )
    body = (
        f"<h1>Campaign {escape(spec.campaign_id)}</h1>{facts}"
        f"<section><h2>Readout</h2>{_arm_table(result)}<p class='muted'>Intervals are confidence sequences: valid "
        "at every look, so reading this page every day does not inflate the error rate.</p></section>"
        f"<section><h2>Against the holdout</h2>{_holdout_table(result)}</section>"
        f"<section><h2>Allocation per arm over time</h2>{shares}</section>"
        f"<section><h2>Confidence sequences over time</h2>{sequences}</section>"
        f"<section><h2>Cumulative outcome</h2>{outcome_chart}</section>"
    )
    return (
        f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>Campaign {escape(spec.campaign_id)}"
        f"</title><style>{CSS}</style></head><body><main>{body}</main></body></html>\n"
    )
