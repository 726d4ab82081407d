"""Identity stitching counts: how many journeys and events identity resolution joined to a customer.

The journey table (``journey.stages``) keeps per journey its events, anonymous events and whether it starts on a
stitched one; this module sums them into the measures the page and ``cxml journey`` report.
"""

from __future__ import annotations

import pandas as pd


def stitching(journeys: pd.DataFrame) -> pd.DataFrame:
    """How identity resolution joined anonymous events to customers: one row per measure, with its meaning."""
    anon = journeys["anonymous"].to_numpy()
    known = ~anon
    anonymous_events = int(journeys["anonymous_events"].sum())
    stitched_events = int(journeys["anonymous_events"][known].sum())
    rows = [
        ("journeys", len(journeys), "customers signed up before as_of plus anonymous identifiers"),
        ("customer_journeys", int(known.sum()), "journeys of customers signed up before as_of"),
        ("journeys_stitched", int((journeys["anonymous_events"][known] > 0).sum()), "customers with a stitched event"),
        (
            "journeys_starting_stitched",
            int(journeys["first_visit_stitched"][known].sum()),
            "customers whose first visit is a stitched anonymous event",
        ),
        ("journeys_left_anonymous", int(anon.sum()), "identifiers that link to no customer signed up before as_of"),
        ("events", int(journeys["events"].sum()), "events before as_of"),
        ("anonymous_events", anonymous_events, "events without a customer_id"),
        ("stitched_events", stitched_events, "anonymous events joined to a customer through identities"),
        ("events_left_anonymous", int(journeys["events"][anon].sum()), "events of journeys left anonymous"),
        (
            "stitched_share",
            stitched_events / anonymous_events if anonymous_events else float("nan"),
            "share of anonymous events that were stitched",
        ),
    ]
    return pd.DataFrame(rows, columns=["measure", "value", "description"]).astype({"value": "float64"})
