"""The journey page's figures as inline SVG: funnel bars, the Sankey of channel steps, the histogram.

Pure functions from the journey tables to SVG strings, with no plotting library, so the page stays one
self-contained file that opens offline and the figures can be shown on their own (the journey notebook does).
Here the geometry is computed; the markup is drawn by the macros of ``cxml/templates/journey_figures.html``.
Channels keep one colour across every figure (``channel_colour``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from cxml.html import macro
from cxml.journey.flows import ChannelFlows
from cxml.journey.stages import STAGE_LABELS

BLUE = "#1f6fb2"
CHANNEL_COLOURS = {
    "web": BLUE,
    "app": "#2e8b57",
    "store": "#d9912b",
    "phone": "#c0392b",
    "email": "#8e44ad",
    "chat": "#16a085",
}
_SPARE_COLOURS = ("#7f8c8d", "#34495e", "#b7950b", "#a04000", "#1abc9c", "#5d6d7e")


def channel_colour(channel: str, order: list[str]) -> str:
    """A fixed colour per known channel, spare colours for the others (in their order of appearance)."""
    if channel in CHANNEL_COLOURS:
        return CHANNEL_COLOURS[channel]
    others = [c for c in order if c not in CHANNEL_COLOURS]
    return _SPARE_COLOURS[others.index(channel) % len(_SPARE_COLOURS)] if channel in others else "#999999"


FIGURES = "journey_figures.html"


def funnel_svg(f: pd.DataFrame) -> Markup:
    """Horizontal bars, one per stage, length proportional to the journeys that reached it."""
    width, label_w, row_h, bar_w = 900, 130, 30, 560
    top = max(int(f["reached"].max()), 1)
    bars = []
    for i, r in enumerate(f.itertuples(index=False)):
        conv = "" if not np.isfinite(r.conversion) else f" · {r.conversion:.0%} of previous"
        bars.append(
            {
                "label": STAGE_LABELS[r.stage],
                "x": label_w,
                "y": 8 + i * row_h,
                "w": max(bar_w * r.reached / top, 1.0),
                "h": row_h - 8,
                "reached": int(r.reached),
                "text": f"{r.reached:,}{conv}",
            }
        )
    return macro(
        FIGURES, "funnel", width=width, height=16 + len(f) * row_h, label_x=label_w - 8, bars=bars, colour=BLUE
    )


def sankey_svg(flows: ChannelFlows, *, width: float = 1000, height: float = 440) -> Markup:
    """Nodes per step (channel, height ∝ journeys) joined by bands ∝ the journeys moving between them."""
    nodes, trans = flows.nodes, flows.transitions
    if nodes.empty:
        return Markup("<p>No touchpoints before as_of.</p>")
    order = list(nodes.groupby("channel")["journeys"].sum().sort_values(ascending=False, kind="stable").index)
    steps = sorted(nodes["step"].unique())
    node_w, pad, top, bottom, left, right = 14, 10, 26, 8, 10, 90
    totals = nodes.groupby("step")["journeys"].sum()
    scale = (height - top - bottom - pad * (len(order) - 1)) / max(int(totals.max()), 1)
    x_gap = (width - left - right - node_w) / max(len(steps) - 1, 1)
    pos: dict[tuple[int, str], tuple[float, float, float]] = {}  # (step, channel) -> x, y, height
    step_labels, boxes = [], []
    for k, step in enumerate(steps):
        x, y = left + k * x_gap, float(top)
        step_labels.append({"x": x, "step": int(step)})
        here = nodes[nodes["step"] == step].set_index("channel")["journeys"]
        for ch in order:
            if ch not in here.index:
                continue
            h = max(here[ch] * scale, 1.0)
            pos[(step, ch)] = (x, y, h)
            boxes.append(
                {
                    "x": x,
                    "y": y,
                    "w": node_w,
                    "h": h,
                    "colour": channel_colour(ch, order),
                    "step": int(step),
                    "channel": ch,
                    "journeys": int(here[ch]),
                    "label_y": y + min(h, 20) / 2 + 4,
                }
            )
            y += h + pad
    return macro(
        FIGURES,
        "sankey",
        width=width,
        height=height,
        steps=step_labels,
        nodes=boxes,
        bands=_bands(trans, pos, order, scale, node_w),
    )


def _bands(
    trans: pd.DataFrame,
    pos: dict[tuple[int, str], tuple[float, float, float]],
    order: list[str],
    scale: float,
    node_w: float,
) -> list[dict[str, Any]]:
    """Each transition as a band from its source node's right edge to its target node's left edge, stacked."""
    out_off = {key: 0.0 for key in pos}
    in_off = {key: 0.0 for key in pos}
    rank = {ch: i for i, ch in enumerate(order)}
    ordered = trans.assign(_s=trans["source"].map(rank), _t=trans["target"].map(rank)).sort_values(["step", "_s", "_t"])
    bands = []
    for r in ordered.itertuples(index=False):
        src, dst = (r.step, r.source), (r.step + 1, r.target)
        if src not in pos or dst not in pos:
            continue
        t = r.journeys * scale
        x0, y0 = pos[src][0] + node_w, pos[src][1] + out_off[src]
        x1, y1 = pos[dst][0], pos[dst][1] + in_off[dst]
        out_off[src] += t
        in_off[dst] += t
        bands.append(
            {
                "x0": x0,
                "y0": y0,
                "x1": x1,
                "y1": y1,
                "xm": (x0 + x1) / 2,
                "t": t,
                "colour": channel_colour(r.source, order),
                "step": int(r.step),
                "source": r.source,
                "target": r.target,
                "journeys": int(r.journeys),
            }
        )
    return bands


def _bin_label(lo: float, hi: float) -> str:
    def days(v: float, unit: bool = True) -> str:
        return "1 h" if abs(v - 1 / 24) < 1e-9 else f"{v:g}" + (" d" if unit else "")

    if not np.isfinite(hi):
        return f"≥ {days(lo)}"
    if lo == 0:
        return f"< {days(hi)}"
    return f"{days(lo, unit=lo < 1)}–{days(hi)}"


def histogram_svg(hist: pd.DataFrame) -> Markup:
    """Bars of journeys per time-to-convert bin, with each bar's share on top."""
    width, height, left, bottom, top = 900, 260, 10, 40, 20
    bar = (width - 2 * left) / max(len(hist), 1)
    peak = max(int(hist["journeys"].max()), 1)
    bars = []
    for i, r in enumerate(hist.itertuples(index=False)):
        h = (height - top - bottom) * r.journeys / peak
        x, y = left + i * bar, height - bottom - h
        bars.append(
            {
                "x": x + 3,
                "y": y,
                "w": bar - 6,
                "h": max(h, 0.5),
                "mid": x + bar / 2,
                "label": _bin_label(r.lower_days, r.upper_days),
                "journeys": int(r.journeys),
                "share": r.share,
            }
        )
    return macro(FIGURES, "histogram", width=width, height=height, axis_y=height - bottom + 16, bars=bars, colour=BLUE)
