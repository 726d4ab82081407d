"""Segment rows: every customer's behavioural segment, value × engagement cell and lifecycle stage at a date."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from cxml.features.build import build_features
from cxml.models.lifecycle_stage import stage_at
from cxml.models.segmentation import value_engagement_grid


def segment_lookup(segmenter: Any, tables: Mapping[str, pd.DataFrame], as_of: pd.Timestamp) -> pd.DataFrame:
    """Every customer at ``as_of``: segment (number, name, traits in words), value × engagement cell and
    lifecycle stage with its reason: the rows the ``/segment`` endpoint serves."""

    features = build_features(tables, as_of)
    traits = segmenter.describe()["summary"]  # indexed by segment number
    assigned = segmenter.segment(features)
    stages = stage_at(tables, as_of)[["stage", "reason"]].rename(columns={"reason": "stage_reason"})
    frame = assigned.assign(segment_traits=traits.reindex(assigned["segment"]).to_numpy())
    frame = frame.join(value_engagement_grid(features)[["high_value", "engaged", "cell"]]).join(stages)
    frame["stage"] = frame["stage"].astype("str")
    return frame.rename_axis("customer_id")
