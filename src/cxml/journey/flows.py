"""How journeys move between channels, and how long they take to convert.

A journey's touchpoints are its web/app visits (events of type ``visit``, stitched like the stages), its
orders (one touch per order, in the order's channel) and its service contacts (in the contact's channel),
ordered by time (at equal times: visit, order, contact). Consecutive touches in the same channel collapse
into one step, so ``web, web, app, web`` is three steps. The first ``max_steps`` steps give the Sankey nodes
(step, channel, journeys) and the transitions between step s and s + 1 (step, source, target, journeys).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cxml.journey.source import JourneySource

_STEPS_SQL = """
CREATE OR REPLACE TEMP TABLE j_steps AS
WITH touch AS (
    SELECT customer_id AS journey_id, ts, 0 AS kind, channel
    FROM j_events WHERE ts < $as_of AND event_type = 'visit' AND customer_id IS NOT NULL
    UNION ALL
    SELECT COALESCE(i.customer_id, e.identifier), e.ts, 0, e.channel
    FROM j_events AS e LEFT JOIN j_identities AS i ON e.identifier = i.identifier
    WHERE e.ts < $as_of AND e.event_type = 'visit' AND e.customer_id IS NULL
    UNION ALL
    SELECT customer_id, ts, 1, channel FROM j_order_level
    UNION ALL
    SELECT s.customer_id, s.ts, 2, s.channel
    FROM j_service_contacts AS s
    SEMI JOIN (SELECT customer_id FROM j_customers WHERE signup_at < $as_of) AS u ON s.customer_id = u.customer_id
    WHERE s.ts < $as_of
),
marked AS (
    SELECT journey_id, ts, kind, channel,
        LAG(channel) OVER (PARTITION BY journey_id ORDER BY ts, kind, channel) AS previous_channel
    FROM touch
),
steps AS (
    SELECT journey_id, channel,
        ROW_NUMBER() OVER w AS step,
        LEAD(channel) OVER w AS next_channel
    FROM marked
    WHERE previous_channel IS NULL OR previous_channel <> channel
    WINDOW w AS (PARTITION BY journey_id ORDER BY ts, kind, channel)
)
SELECT journey_id, step, channel, next_channel FROM steps WHERE step <= $max_steps
"""

# Time-to-convert histogram bins, in days: [0, 1 h), [1 h, 1 d), [1, 2) … [365, ∞).
CONVERT_BINS_DAYS: tuple[float, ...] = (0, 1 / 24, 1, 2, 4, 7, 14, 30, 60, 90, 180, 365, np.inf)


@dataclass(frozen=True)
class ChannelFlows:
    """Sankey nodes (``step``, ``channel``, ``journeys``) and transitions (``step``, ``source``, ``target``,
    ``journeys``: journeys in ``source`` at ``step`` and in ``target`` at ``step + 1``)."""

    nodes: pd.DataFrame
    transitions: pd.DataFrame


def channel_flows(src: JourneySource, *, max_steps: int = 5) -> ChannelFlows:
    """Channel steps of every journey before ``src.as_of``."""
    if max_steps < 2:
        raise ValueError(f"max_steps must be at least 2 to show a transition, got {max_steps}")
    con = src.con
    con.execute(_STEPS_SQL, {**src.params, "max_steps": int(max_steps)})
    try:
        nodes = con.execute(
            "SELECT step, channel, COUNT(*) AS journeys FROM j_steps GROUP BY step, channel ORDER BY step, channel"
        ).df()
        transitions = con.execute(
            "SELECT step, channel AS source, next_channel AS target, COUNT(*) AS journeys FROM j_steps "
            "WHERE step < $max_steps AND next_channel IS NOT NULL GROUP BY ALL ORDER BY step, source, target",
            {"max_steps": int(max_steps)},
        ).df()
    finally:
        con.execute("DROP TABLE IF EXISTS j_steps")
    return ChannelFlows(_tidy(nodes, ("channel",)), _tidy(transitions, ("source", "target")))


def _tidy(frame: pd.DataFrame, text: tuple[str, ...]) -> pd.DataFrame:
    out = frame.astype({"step": "int64", "journeys": "int64"})
    return out.astype(dict.fromkeys(text, "str")).reset_index(drop=True)


def convert_days(journeys: pd.DataFrame) -> pd.Series:
    """Days from first visit to first purchase, for journeys that visited before (or when) they first bought."""
    days = (journeys["first_purchase_at"] - journeys["first_visit_at"]) / pd.Timedelta(days=1)
    return days[days >= 0].rename("days_to_convert")


def time_to_convert(journeys: pd.DataFrame) -> pd.DataFrame:
    """Histogram of ``convert_days``: ``lower_days``, ``upper_days``, ``journeys``, ``share``, ``cumulative_share``."""
    days = convert_days(journeys).to_numpy()
    edges = np.asarray(CONVERT_BINS_DAYS, dtype=float)
    counts, _ = np.histogram(days, bins=edges)
    total = max(int(counts.sum()), 1)
    return pd.DataFrame(
        {
            "lower_days": edges[:-1],
            "upper_days": edges[1:],
            "journeys": counts.astype("int64"),
            "share": counts / total,
            "cumulative_share": np.cumsum(counts) / total,
        }
    )


def convert_summary(journeys: pd.DataFrame) -> dict[str, float]:
    """Converted journeys, quantiles of the days to convert, and buyers whose first purchase came before any visit."""
    days = convert_days(journeys)
    bought = journeys["first_purchase_at"].notna()
    q = days.quantile([0.25, 0.5, 0.75, 0.9]) if len(days) else pd.Series(np.nan, index=[0.25, 0.5, 0.75, 0.9])
    return {
        "converted_after_visit": len(days),
        "bought_before_first_visit": int((bought & (journeys["first_purchase_at"] < journeys["first_visit_at"])).sum()),
        "bought_without_visit": int((bought & journeys["first_visit_at"].isna()).sum()),
        "p25_days": float(q[0.25]),
        "median_days": float(q[0.5]),
        "p75_days": float(q[0.75]),
        "p90_days": float(q[0.9]),
    }
