"""The customer journey page: one self-contained HTML file plus the numbers behind it as Parquet and CSV.

Every plot is inline SVG drawn here (funnel bars, a Sankey of channel steps, the time-to-convert histogram), CSS
is inline and links are relative file names, so the page opens offline and never touches the network. The page
follows the model cards' house style (``explain/card_html.py``); its CSS is repeated rather than imported
because importing the card module loads MLflow and scikit-learn.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxml.data.sources import read_flat_table, write_table_atomic
from cxml.journey.flows import ChannelFlows, channel_flows, convert_summary, time_to_convert
from cxml.journey.funnel import CHANNEL_DIMENSION, SEGMENT_COLUMNS, funnel, segment_labels
from cxml.journey.source import Source, open_source
from cxml.journey.stages import STAGE_LABELS, STAGES, journey_table
from cxml.journey.stitching import stitching

HTML_NAME = "journey.html"
CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;background:#f5f6f8;color:#1d2330}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{margin:0 0 4px}h2{border-bottom:2px solid #dde2ea;padding-bottom:4px;margin-top:32px}
section{background:#fff;border-radius:8px;padding:8px 20px 16px;margin:16px 0;box-shadow:0 1px 2px #0001}
table{border-collapse:collapse;margin:8px 0}td,th{padding:4px 10px;border-bottom:1px solid #e6e9ef;text-align:left}
th{background:#f0f2f6}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.muted{color:#6b7385;font-size:90%}svg{max-width:100%;height:auto;display:block;margin:8px 0}
svg text{font-family:system-ui,sans-serif;font-size:12px;fill:#1d2330}
"""
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


@dataclass(frozen=True)
class JourneyResult:
    """Where the page and its numbers went, the headline figures, and the tables themselves."""

    out_dir: Path
    html: Path
    files: dict[str, Path]
    summary: dict[str, Any]
    tables: dict[str, pd.DataFrame] = field(repr=False, compare=False)


def write_journey(
    source: Source,
    out_dir: Path | str,
    *,
    as_of: str | pd.Timestamp | None = None,
    segment: str | Path | pd.Series | None = None,
    churn_days: int = 90,
    max_steps: int = 5,
    threads: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> JourneyResult:
    """Compute the journey picture of ``source`` before ``as_of`` and write it to ``out_dir``.

    ``segment``: a journey column (``preferred_channel`` or ``region``), a behavioural segment as a Series
    indexed by customer id, or a CSV/Parquet file read by :func:`read_segment`; by default both
    ``preferred_channel`` and ``region``. The first channel of each journey is always a dimension too.
    Each file is written to a temporary name and renamed into place, the page last. ``progress`` is told
    each step as it ends (``cxml journey`` prints them).
    """
    t0 = time.perf_counter()

    def step(message: str) -> None:
        if progress is not None:
            progress(f"  {message} ({time.perf_counter() - t0:.1f}s)")

    with open_source(source, as_of=as_of, threads=threads) as src:
        step(f"tables attached and checked; as of {src.as_of}")
        journeys = journey_table(src, churn_days=churn_days)
        step(f"{len(journeys):,} journeys staged")
        flows = channel_flows(src, max_steps=max_steps)
        step(f"channel flow over the first {max_steps} steps")
        cutoff = src.as_of
    dims = _dimensions(journeys, segment)
    tables = {
        "funnel": funnel(journeys),
        "segments": pd.concat([funnel(journeys, labels, dimension=name) for name, labels in dims.items()]),
        "flow_nodes": flows.nodes,
        "flow_transitions": flows.transitions,
        "time_to_convert": time_to_convert(journeys),
        "stitching": stitching(journeys),
    }
    tables["segments"] = tables["segments"].reset_index(drop=True)
    step(f"funnels per {', '.join(dims)}")
    summary = _summary(journeys, tables, cutoff, churn_days, max_steps)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"journeys.parquet": write_table_atomic(journeys, out / "journeys.parquet")}
    for name, frame in tables.items():
        for ext in ("parquet", "csv"):
            files[f"{name}.{ext}"] = write_table_atomic(frame, out / f"{name}.{ext}")
    for path in files.values():
        path.chmod(0o644)
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    files["summary.json"] = _write_text(out / "summary.json", json.dumps(summary, indent=2, default=str))
    html = _write_text(out / HTML_NAME, render_journey(tables, flows, summary, sorted(files)))
    return JourneyResult(out, html, files, summary, {"journeys": journeys, **tables})


def _dimensions(journeys: pd.DataFrame, segment: str | Path | pd.Series | None) -> dict[str, pd.Series]:
    if segment is None:
        names: list[str | pd.Series] = list(SEGMENT_COLUMNS)
    elif isinstance(segment, Path):
        names = [read_segment(segment)]
    else:
        names = [segment]
    dims = {}
    for s in names:
        name = s if isinstance(s, str) else str(s.name or "segment")
        dims[name] = segment_labels(journeys, s)
    dims[CHANNEL_DIMENSION] = journeys[CHANNEL_DIMENSION].where(journeys[CHANNEL_DIMENSION].notna(), "(none)")
    return dims


def read_segment(path: Path, column: str | None = None) -> pd.Series:
    """A label per customer id from a CSV/Parquet file: ``customer_id`` (a column or the index, as in the
    ``assignments.parquet`` that ``cxml segments`` writes) and ``column``, by default ``segment_name``, else
    ``segment``, else the file's only other column."""
    frame = read_flat_table(path)
    if "customer_id" not in frame.columns and frame.index.name == "customer_id":
        frame = frame.reset_index()
    labels = [c for c in frame.columns if c != "customer_id"]
    if column is None:
        column = next((c for c in ("segment_name", "segment") if c in labels), labels[0] if len(labels) == 1 else None)
    if "customer_id" not in frame.columns or column not in labels:
        wanted = f"column {column!r}" if column is not None else "one label column (or 'segment')"
        raise ValueError(
            f"segment file {path} needs column 'customer_id' and {wanted}; "
            f"it has {list(frame.columns)}; first rows:\n{frame.head(3).to_string()}"
        )
    return pd.Series(frame[column].to_numpy(), index=frame["customer_id"].astype("str"), name=column)


def _write_text(path: Path, text: str) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the page is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _summary(
    journeys: pd.DataFrame, tables: dict[str, pd.DataFrame], as_of: pd.Timestamp, churn_days: int, max_steps: int
) -> dict[str, Any]:
    f = tables["funnel"].set_index("stage")
    stitched = tables["stitching"].set_index("measure")["value"]
    return {
        "as_of": str(as_of),
        "churn_days": churn_days,
        "max_steps": max_steps,
        "journeys": len(journeys),
        "stages": {s: int(f.loc[s, "reached"]) for s in STAGES},
        "conversion": {s: _float(f.loc[s, "conversion"]) for s in STAGES[1:]},
        "median_days": {s: _float(f.loc[s, "median_days"]) for s in STAGES[1:]},
        "stitching": {k: (_float(v) if k.endswith("share") else int(v)) for k, v in stitched.items()},
        "time_to_convert": convert_summary(journeys),
    }


def _float(value: Any) -> float | None:
    v = float(value)
    return v if np.isfinite(v) else None


# ---- HTML -----------------------------------------------------------------------------------------------------


def _fmt(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    return format(value, fmt)


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_journey(
    tables: dict[str, pd.DataFrame], flows: ChannelFlows, summary: dict[str, Any], files: list[str]
) -> str:
    """The whole page as one string (pure: numbers in, HTML out)."""
    header = (
        "<h1>Customer journey</h1><p class='muted'>"
        f"{summary['journeys']:,} journeys before {escape(summary['as_of'])} · churned = no purchase in "
        f"{summary['churn_days']} days · channel flow over the first {summary['max_steps']} steps</p>"
    )
    body = (
        header
        + _funnel_section(tables["funnel"])
        + _stitching_section(tables["stitching"])
        + _segments_section(tables["segments"])
        + _flow_section(flows)
        + _convert_section(tables["time_to_convert"], summary["time_to_convert"])
        + _files_section(files)
    )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>Customer journey</title>"
        f"<style>{CSS}</style></head><body><main>{body}</main></body></html>\n"
    )


def _funnel_section(f: pd.DataFrame) -> str:
    rows = [
        [
            f"<td>{escape(STAGE_LABELS[r.stage])}</td>",
            f"<td class='num'>{r.reached:,}</td>",
            f"<td class='num'>{_fmt(r.share, '.1%')}</td>",
            f"<td class='num'>{_fmt(r.conversion, '.1%')}</td>",
            f"<td class='num'>{_fmt(r.median_days, '.1f')}</td>",
        ]
        for r in f.itertuples(index=False)
    ]
    header = ["stage", "journeys", "share of journeys", "conversion from previous", "median days from previous"]
    note = (
        "<p class='muted'>Conversion: share of the journeys at the previous stage that reached this one. Median days "
        "from the previous stage over journeys that reached both; negative when it came first (most customers "
        "signed up before their first recorded visit). Anonymous identifiers that never linked to a customer are "
        "journeys that stopped at the first visit.</p>"
    )
    return "<section><h2>Funnel</h2>" + funnel_svg(f) + _table(header, rows) + note + "</section>"


def _stitching_section(s: pd.DataFrame) -> str:
    rows = [
        [
            f"<td>{escape(r.measure.replace('_', ' '))}</td>",
            f"<td class='num'>{_fmt(r.value, '.1%') if r.measure.endswith('share') else _fmt(int(r.value), ',')}</td>",
            f"<td class='muted'>{escape(r.description)}</td>",
        ]
        for r in s.itertuples(index=False)
    ]
    note = (
        "<p>Identity resolution joins anonymous events (a cookie or device without a login) to the customer their "
        "identifier belongs to; without it those early visits would be lost from the journey.</p>"
    )
    return "<section><h2>Stitched journeys</h2>" + note + _table(["measure", "value", ""], rows) + "</section>"


def _segments_section(seg: pd.DataFrame) -> str:
    parts = []
    for dim, block in seg.groupby("dimension", sort=False):
        rows = []
        for segment, g in block.groupby("segment", sort=True):
            g = g.set_index("stage")
            cells = [f"<td>{escape(str(segment))}</td>", f"<td class='num'>{int(g['journeys'].iloc[0]):,}</td>"]
            cells.append(f"<td class='num'>{_fmt(g.loc[STAGES[0], 'share'], '.1%')}</td>")
            for stage in STAGES[1:]:
                conv, days = g.loc[stage, "conversion"], g.loc[stage, "median_days"]
                cells.append(
                    f"<td class='num'>{_fmt(conv, '.1%')} <span class='muted'>{_fmt(days, '.0f')} d</span></td>"
                )
            rows.append(cells)
        header = [str(dim), "journeys", "visited", *(STAGE_LABELS[s] for s in STAGES[1:])]
        parts.append(f"<h3>by {escape(str(dim).replace('_', ' '))}</h3>" + _table(header, rows))
    note = (
        "<p class='muted'>Per stage: conversion from the previous stage and the median days it took. "
        "first channel = channel of the journey's first visit, order or service contact.</p>"
    )
    return "<section><h2>Conversion per segment and channel</h2>" + note + "".join(parts) + "</section>"


def _flow_section(flows: ChannelFlows) -> str:
    note = (
        "<p class='muted'>Each column is a step of the journey: web/app visits, orders (by order channel) and "
        "service contacts (by contact channel) in time order, repeats of the same channel collapsed. Bands join "
        "the channel at one step to the channel at the next, sized by journeys.</p>"
    )
    return "<section><h2>Channel flow</h2>" + sankey_svg(flows) + note + "</section>"


def _convert_section(hist: pd.DataFrame, s: dict[str, Any]) -> str:
    text = (
        f"<p>{s['converted_after_visit']:,} journeys bought after (or during) their first visit: median "
        f"{_duration(s['median_days'])}, quartiles {_duration(s['p25_days'])} and {_duration(s['p75_days'])}, "
        f"90 % within {_duration(s['p90_days'])}. {s['bought_before_first_visit']:,} bought before their "
        f"first recorded visit and {s['bought_without_visit']:,} without any visit.</p>"
    )
    return "<section><h2>Time to convert</h2>" + text + histogram_svg(hist) + "</section>"


def _files_section(files: list[str]) -> str:
    links = "".join(f"<li><a href='{escape(name)}'>{escape(name)}</a></li>" for name in files)
    return f"<section><h2>Numbers</h2><p>The figures on this page, beside it:</p><ul>{links}</ul></section>"


# ---- SVG ------------------------------------------------------------------------------------------------------


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


def _duration(days: float | None) -> str:
    if days is None or not np.isfinite(days):
        return "–"
    if days < 1 / 24:
        return f"{days * 1440:.0f} min"
    return f"{days * 24:.1f} h" if days < 1 else f"{days:.1f} days"


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
