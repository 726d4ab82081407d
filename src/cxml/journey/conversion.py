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
    """Per segment and stage: journeys that reached it, share, conversion from the previous stage, median days.

    ``conversion`` is the share of journeys at the previous stage that also reached this one; ``median_days``
    is the median of (this stage − previous stage) in days over journeys that reached both (negative when
    the order is reversed, e.g. a visit after sign-up). Without ``labels`` every journey is in segment ``all``.
    """
    at = [journeys[f"{stage}_at"] for stage in STAGES]
    cols: dict[str, Any] = {"key": "all" if labels is None else labels.to_numpy()}
    for k in range(len(STAGES)):
        cols[f"reached{k}"] = at[k].notna().to_numpy()
        if k:
            both = cols[f"reached{k}"] & cols[f"reached{k - 1}"]
            cols[f"both{k}"] = both
            cols[f"days{k}"] = ((at[k] - at[k - 1]) / pd.Timedelta(days=1)).where(both).to_numpy()
    grouped = pd.DataFrame(cols, index=journeys.index).groupby("key", sort=True)
    counts = grouped[[c for c in cols if c.startswith(("reached", "both"))]].sum()
    medians = grouped[[c for c in cols if c.startswith("days")]].median()
    size = grouped.size()
    parts = []
    for k, stage in enumerate(STAGES):
        base = counts[f"reached{k - 1}"] if k else size
        part = pd.DataFrame({"journeys": size, "reached": counts[f"reached{k}"]})
        part["stage"] = stage
        part["share"] = part["reached"] / part["journeys"]
        part["conversion"] = counts[f"both{k}"] / base.where(base > 0) if k else np.nan
        part["median_days"] = medians[f"days{k}"] if k else np.nan
        parts.append(part)
    out = pd.concat(parts).rename_axis("segment").reset_index()
    out.insert(0, "dimension", dimension)
    out["order"] = out["stage"].map({s: i for i, s in enumerate(STAGES)})
    out = out.sort_values(["segment", "order"], kind="stable").drop(columns="order")
    out = out[["dimension", "segment", "stage", "journeys", "reached", "share", "conversion", "median_days"]]
    types = {"segment": "str", "journeys": "int64", "reached": "int64", "conversion": "float64"}
    return out.astype({**types, "median_days": "float64"}).reset_index(drop=True)
