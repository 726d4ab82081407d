"""The customer journey page, from the template ``journey.html`` and the numbers, in one pure function.

The shared stylesheet is inlined and links are relative file names, so the page opens offline and never touches
the network. This module turns the journey tables into the rows and sentences the template lays out; the
figures come from :mod:`cxml.journey.figures`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cxml.html import num, render
from cxml.journey.figures import funnel_svg, histogram_svg, sankey_svg
from cxml.journey.flows import ChannelFlows
from cxml.journey.stages import STAGE_LABELS, STAGES

HTML_NAME = "journey.html"


def render_journey(
    tables: dict[str, pd.DataFrame], flows: ChannelFlows, summary: dict[str, Any], files: list[str]
) -> str:
    """The whole page as one string (pure: numbers in, HTML out)."""
    return render(
        "journey.html",
        summary=summary,
        figures={
            "funnel": funnel_svg(tables["funnel"]),
            "sankey": sankey_svg(flows),
            "histogram": histogram_svg(tables["time_to_convert"]),
        },
        funnel=_funnel(tables["funnel"]),
        stitching=_stitching(tables["stitching"]),
        segments=_segments(tables["segments"]),
        convert=_convert(summary["time_to_convert"]),
        files=files,
    )


def _funnel(f: pd.DataFrame) -> dict[str, Any]:
    header = ["stage", "journeys", "share of journeys", "conversion from previous", "median days from previous"]
    rows = [
        [
            *(STAGE_LABELS[r.stage], num(r.reached, ","), num(r.share, ".1%"), num(r.conversion, ".1%")),
            num(r.median_days, ".1f"),
            *((num(r.before_previous, ","), num(r.out_of_order, ",")) if k else ("–", "–")),
        ]
        for k, r in enumerate(f.itertuples(index=False))
    ]
    return {"header": [*header, "of them before the previous stage", "skipped a stage (apart)"], "rows": rows}


def _stitching(s: pd.DataFrame) -> list[dict[str, str]]:
    return [
        {
            "measure": r.measure.replace("_", " "),
            "value": num(r.value, ".1%") if r.measure.endswith("share") else num(int(r.value), ","),
            "description": r.description,
        }
        for r in s.itertuples(index=False)
    ]


def _segments(seg: pd.DataFrame) -> list[dict[str, Any]]:
    """One table per dimension: per segment, journeys, the share that visited, and per later stage the
    conversion from the previous stage with its median days."""
    blocks = []
    for dim, block in seg.groupby("dimension", sort=False):
        rows = []
        for segment, g in block.groupby("segment", sort=True):
            g = g.set_index("stage")
            stages = [
                {"conversion": num(g.loc[s, "conversion"], ".1%"), "days": num(g.loc[s, "median_days"], ".0f")}
                for s in STAGES[1:]
            ]
            rows.append(
                {
                    "segment": str(segment),
                    "journeys": num(int(g["journeys"].iloc[0]), ","),
                    "visited": num(g.loc[STAGES[0], "share"], ".1%"),
                    "stages": stages,
                }
            )
        header = [str(dim), "journeys", "visited", *(STAGE_LABELS[s] for s in STAGES[1:])]
        blocks.append({"title": str(dim).replace("_", " "), "header": header, "rows": rows})
    return blocks


def _convert(s: dict[str, Any]) -> dict[str, Any]:
    return {
        "after": s["converted_after_visit"],
        "median": _duration(s["median_days"]),
        "p25": _duration(s["p25_days"]),
        "p75": _duration(s["p75_days"]),
        "p90": _duration(s["p90_days"]),
        "before": s["bought_before_first_visit"],
        "without": s["bought_without_visit"],
    }


def _duration(days: float | None) -> str:
    if days is None or not np.isfinite(days):
        return "–"
    if days < 1 / 24:
        return f"{days * 1440:.0f} min"
    return f"{days * 24:.1f} h" if days < 1 else f"{days:.1f} days"
