"""Funnels: per segment and stage, how many journeys reached it, the conversion and the median days it took.

Small pandas computations on the journey table (``journey.stages``), kept apart from the SQL that builds it.
A segment is a journey column (``preferred_channel``, ``region``, the ``first_channel``) or a behavioural
label per customer id, e.g. the ``assignments.parquet`` that ``cxml segments`` writes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cxml.journey.stages import STAGES

SEGMENT_COLUMNS: tuple[str, ...] = ("preferred_channel", "region")
CHANNEL_DIMENSION = "first_channel"
ANONYMOUS = "(anonymous)"
UNKNOWN = "(unknown)"


def segment_labels(journeys: pd.DataFrame, segment: str | pd.Series) -> pd.Series:
    """A label per journey: a journey column (``region``…) or a behavioural segment indexed by customer id.

    Anonymous journeys get ``(anonymous)``; customers the segment does not cover get ``(unknown)``.
    """
    if isinstance(segment, str):
        if segment not in journeys.columns:
            raise ValueError(f"segment {segment!r} is not a journey column; use one of {list(SEGMENT_COLUMNS)}")
        labels = journeys[segment].astype("str")
    else:
        dup = segment.index.duplicated(keep=False)
        if dup.any():
            raise ValueError(
                f"segment {segment.name!r} has duplicate customer ids, e.g. {list(segment.index[dup][:3])}"
            )
        lookup = pd.Series(segment.astype("str").to_numpy(), index=segment.index.astype("str"))
        labels = journeys["customer_id"].map(lookup)
    labels = labels.where(labels.notna(), UNKNOWN)
    return labels.where(~journeys["anonymous"].to_numpy(), ANONYMOUS).astype("str")


def funnel(journeys: pd.DataFrame, labels: pd.Series | None = None, *, dimension: str = "all") -> pd.DataFrame:
    """Per segment and stage: journeys in the funnel, share, conversion, median days, and those counted apart.

    The funnel never widens: a journey is counted at a stage (``reached``) when it reached that stage and every
    stage before it. A journey that reached the stage but skipped an earlier one (e.g. an order with no recorded
    visit) is counted apart in ``out_of_order``. Of those counted, ``before_previous`` reached the stage before
    the previous one (most often: signed up before their first recorded visit); ``median_days`` (this stage −
    previous stage) is taken over the others, so it is never negative. ``conversion`` is ``reached`` over the
    previous stage's ``reached``. Without ``labels`` every journey is in segment ``all``.
    """
    at = [journeys[f"{stage}_at"] for stage in STAGES]
    cols: dict[str, Any] = {"key": "all" if labels is None else labels.to_numpy()}
    in_funnel = at[0].notna().to_numpy()
    cols["reached0"] = in_funnel
    cols["odd0"] = cols["back0"] = np.zeros(len(journeys), dtype=bool)
    for k in range(1, len(STAGES)):
        got = at[k].notna().to_numpy()
        gap = ((at[k] - at[k - 1]) / pd.Timedelta(days=1)).to_numpy(dtype="float64", na_value=np.nan)
        cols[f"odd{k}"] = got & ~in_funnel
        in_funnel = in_funnel & got
        cols[f"reached{k}"] = in_funnel
        cols[f"back{k}"] = in_funnel & (gap < 0)
        cols[f"days{k}"] = np.where(in_funnel & (gap >= 0), gap, np.nan)
    grouped = pd.DataFrame(cols, index=journeys.index).groupby("key", sort=True)
    counts = grouped[[c for c in cols if c.startswith(("reached", "odd", "back"))]].sum()
    medians = grouped[[c for c in cols if c.startswith("days")]].median()
    size = grouped.size()
    parts = []
    for k, stage in enumerate(STAGES):
        part = pd.DataFrame({"journeys": size, "reached": counts[f"reached{k}"]})
        part["out_of_order"], part["before_previous"] = counts[f"odd{k}"], counts[f"back{k}"]
        part["stage"] = stage
        part["share"] = part["reached"] / part["journeys"]
        if k:
            base = counts[f"reached{k - 1}"]
            part["conversion"] = part["reached"] / base.where(base > 0)
            part["median_days"] = medians[f"days{k}"]
        else:
            part["conversion"] = np.nan
            part["median_days"] = np.nan
        parts.append(part)
    out = pd.concat(parts).rename_axis("segment").reset_index()
    out.insert(0, "dimension", dimension)
    out["order"] = out["stage"].map({s: i for i, s in enumerate(STAGES)})
    out = out.sort_values(["segment", "order"], kind="stable").drop(columns="order")
    columns = ["dimension", "segment", "stage", "journeys", "reached", "share", "conversion", "median_days"]
    out = out[[*columns, "out_of_order", "before_previous"]]
    counted = ("journeys", "reached", "out_of_order", "before_previous")
    types = {"segment": "str", **dict.fromkeys(counted, "int64")}
    return out.astype({**types, "conversion": "float64", "median_days": "float64"}).reset_index(drop=True)
