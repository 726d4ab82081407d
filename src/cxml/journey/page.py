"""The customer journey page: the HTML around the figures, assembled from the numbers in one pure function.

CSS is inline and links are relative file names, so the page opens offline and never touches the network. The
page follows the model cards' house style (``explain/card_html.py``); its CSS is repeated rather than imported
because importing the card module loads MLflow and scikit-learn.
"""

from __future__ import annotations

from html import escape
from typing import Any

import numpy as np
import pandas as pd

from cxml.journey.figures import funnel_svg, histogram_svg, sankey_svg
from cxml.journey.flows import ChannelFlows
from cxml.journey.stages import STAGE_LABELS, STAGES

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


def _duration(days: float | None) -> str:
    if days is None or not np.isfinite(days):
        return "–"
    if days < 1 / 24:
        return f"{days * 1440:.0f} min"
    return f"{days * 24:.1f} h" if days < 1 else f"{days:.1f} days"
