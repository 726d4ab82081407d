"""The journey page's figures, drawn here as inline SVG: funnel bars, the Sankey of channel steps, the histogram.

Pure functions from the journey tables to SVG strings, with no plotting library, so the page stays one
self-contained file that opens offline and the figures can be shown on their own (the journey notebook does).
Channels keep one colour across every figure (``channel_colour``).
"""

from __future__ import annotations

from html import escape

import numpy as np
import pandas as pd

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


def _svg(width: float, height: float, inner: str, label: str) -> str:
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width:.0f} {height:.0f}' width='{width:.0f}' "
        f"height='{height:.0f}' role='img' aria-label='{escape(label)}'>{inner}</svg>"
    )


def funnel_svg(f: pd.DataFrame) -> str:
    """Horizontal bars, one per stage, length proportional to the journeys that reached it."""
    width, label_w, row_h, bar_w = 900, 130, 30, 560
    top = max(int(f["reached"].max()), 1)
    parts = []
    for i, r in enumerate(f.itertuples(index=False)):
        y = 8 + i * row_h
        w = max(bar_w * r.reached / top, 1.0)
        conv = "" if not np.isfinite(r.conversion) else f" · {r.conversion:.0%} of previous"
        parts.append(
            f"<text x='{label_w - 8}' y='{y + 17}' text-anchor='end'>{escape(STAGE_LABELS[r.stage])}</text>"
            f"<rect x='{label_w}' y='{y}' width='{w:.1f}' height='{row_h - 8}' fill='{BLUE}' rx='3'>"
            f"<title>{escape(STAGE_LABELS[r.stage])}: {r.reached:,}</title></rect>"
            f"<text x='{label_w + w + 6:.1f}' y='{y + 17}'>{r.reached:,}{conv}</text>"
        )
    return _svg(width, 16 + len(f) * row_h, "".join(parts), "funnel")


def sankey_svg(flows: ChannelFlows, *, width: float = 1000, height: float = 440) -> str:
    """Nodes per step (channel, height ∝ journeys) joined by bands ∝ the journeys moving between them."""
    nodes, trans = flows.nodes, flows.transitions
    if nodes.empty:
        return "<p>No touchpoints before as_of.</p>"
    order = list(nodes.groupby("channel")["journeys"].sum().sort_values(ascending=False, kind="stable").index)
    steps = sorted(nodes["step"].unique())
    node_w, pad, top, bottom, left, right = 14, 10, 26, 8, 10, 90
    totals = nodes.groupby("step")["journeys"].sum()
    scale = (height - top - bottom - pad * (len(order) - 1)) / max(int(totals.max()), 1)
    x_gap = (width - left - right - node_w) / max(len(steps) - 1, 1)
    pos: dict[tuple[int, str], tuple[float, float, float]] = {}  # (step, channel) -> x, y, height
    parts = []
    for k, step in enumerate(steps):
        x, y = left + k * x_gap, float(top)
        parts.append(f"<text x='{x:.1f}' y='14'>step {step}</text>")
        here = nodes[nodes["step"] == step].set_index("channel")["journeys"]
        for ch in order:
            if ch not in here.index:
                continue
            h = max(here[ch] * scale, 1.0)
            pos[(step, ch)] = (x, y, h)
            colour = channel_colour(ch, order)
            parts.append(
                f"<rect x='{x:.1f}' y='{y:.1f}' width='{node_w}' height='{h:.1f}' fill='{colour}'>"
                f"<title>step {step}: {escape(ch)} {int(here[ch]):,}</title></rect>"
                f"<text x='{x + node_w + 4:.1f}' y='{y + min(h, 20) / 2 + 4:.1f}'>{escape(ch)} {int(here[ch]):,}</text>"
            )
            y += h + pad
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
        xm = (x0 + x1) / 2
        bands.append(
            f"<path d='M{x0:.1f},{y0:.1f} C{xm:.1f},{y0:.1f} {xm:.1f},{y1:.1f} {x1:.1f},{y1:.1f} "
            f"L{x1:.1f},{y1 + t:.1f} C{xm:.1f},{y1 + t:.1f} {xm:.1f},{y0 + t:.1f} {x0:.1f},{y0 + t:.1f} Z' "
            f"fill='{channel_colour(r.source, order)}' fill-opacity='0.45'>"
            f"<title>step {r.step} → {r.step + 1}: {escape(r.source)} → {escape(r.target)} "
            f"{r.journeys:,}</title></path>"
        )
    return _svg(width, height, "".join(bands) + "".join(parts), "channel flow")


def _bin_label(lo: float, hi: float) -> str:
    def days(v: float, unit: bool = True) -> str:
        return "1 h" if abs(v - 1 / 24) < 1e-9 else f"{v:g}" + (" d" if unit else "")

    if not np.isfinite(hi):
        return f"≥ {days(lo)}"
    if lo == 0:
        return f"< {days(hi)}"
    return f"{days(lo, unit=lo < 1)}–{days(hi)}"


def histogram_svg(hist: pd.DataFrame) -> str:
    """Bars of journeys per time-to-convert bin, with each bar's share on top."""
    width, height, left, bottom, top = 900, 260, 10, 40, 20
    n = len(hist)
    bar = (width - 2 * left) / max(n, 1)
    peak = max(int(hist["journeys"].max()), 1)
    parts = []
    for i, r in enumerate(hist.itertuples(index=False)):
        h = (height - top - bottom) * r.journeys / peak
        x, y = left + i * bar, height - bottom - h
        label = _bin_label(r.lower_days, r.upper_days)
        parts.append(
            f"<rect x='{x + 3:.1f}' y='{y:.1f}' width='{bar - 6:.1f}' height='{max(h, 0.5):.1f}' fill='{BLUE}'>"
            f"<title>{escape(label)}: {r.journeys:,}</title></rect>"
            f"<text x='{x + bar / 2:.1f}' y='{y - 4:.1f}' text-anchor='middle'>{r.share:.0%}</text>"
            f"<text x='{x + bar / 2:.1f}' y='{height - bottom + 16}' text-anchor='middle'>{escape(label)}</text>"
        )
    return _svg(width, height, "".join(parts), "time to convert")
