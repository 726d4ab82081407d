"""Customer journey stages from the contract tables: one row per journey with the time it reached each stage.

A *journey* is a customer who signed up before ``as_of``, with every event that carries their ``customer_id``
and every anonymous event (identifier only) that the ``identities`` table links to them (*stitched*, as in
``features/sql/web.sql``). An anonymous identifier that links to no such customer is a journey of its own that
never got past the first visit (*left anonymous*). Only rows strictly before ``as_of`` are read.

Stages, in funnel order (a stage's timestamp is null when it was never reached):

- ``first_visit``: the earliest event of any type (a session starts with its visit);
- ``identified``: the earliest of sign-up, first logged-in event, first order and first service contact;
- ``first_purchase`` / ``repeat_purchase``: the first and second order with a line that was not returned;
- ``service_contact`` / ``survey_answer``: the first service contact, the first one with a survey score;
- ``churned``: last purchase + ``churn_days`` for buyers without a purchase in the ``churn_days`` before ``as_of``.

This module holds those rules, as one SQL query on DuckDB over the views ``journey.source`` attaches; what is
computed from the resulting table (funnels, stitching counts, flows) lives beside it.
"""

from __future__ import annotations

import pandas as pd

from cxml.journey.source import JourneySource, Source, open_source

STAGES: tuple[str, ...] = (
    "first_visit",
    "identified",
    "first_purchase",
    "repeat_purchase",
    "service_contact",
    "survey_answer",
    "churned",
)
STAGE_LABELS: dict[str, str] = {
    "first_visit": "first visit",
    "identified": "identified",
    "first_purchase": "first purchase",
    "repeat_purchase": "repeat purchase",
    "service_contact": "service contact",
    "survey_answer": "survey answer",
    "churned": "churned",
}

_JOURNEYS_SQL = """
WITH universe AS (
    SELECT customer_id, signup_at, region, preferred_channel FROM j_customers WHERE signup_at < $as_of
),
ev AS (  -- anonymous events take the customer their identifier links to (one join on the few anonymous rows)
    SELECT customer_id AS resolved_id, CAST(NULL AS VARCHAR) AS anon_identifier, ts, channel, FALSE AS anonymous
    FROM j_events WHERE ts < $as_of AND customer_id IS NOT NULL
    UNION ALL
    SELECT i.customer_id, CASE WHEN i.customer_id IS NULL THEN e.identifier END, e.ts, e.channel, TRUE
    FROM j_events AS e LEFT JOIN j_identities AS i ON e.identifier = i.identifier
    WHERE e.ts < $as_of AND e.customer_id IS NULL
),
ev_journey AS (
    SELECT
        resolved_id AS customer_id,
        anon_identifier,
        MIN({'ts': ts, 'anonymous': anonymous, 'channel': channel}) AS first_event,
        MIN(CASE WHEN NOT anonymous THEN ts END) AS first_identified_event_at,
        COUNT(*) AS events,
        COUNT(CASE WHEN anonymous THEN 1 END) AS anonymous_events
    FROM ev
    GROUP BY resolved_id, anon_identifier
),
ord_customer AS (
    SELECT
        customer_id,
        MIN({'ts': ts, 'channel': channel}) AS first_order,
        MIN(ts, 2) FILTER (WHERE kept) AS purchases,
        MAX(CASE WHEN kept THEN ts END) AS last_purchase_at
    FROM j_order_level GROUP BY customer_id
),
svc AS (
    SELECT customer_id, MIN({'ts': ts, 'channel': channel}) AS first_contact,
        MIN(CASE WHEN answered THEN ts END) AS first_survey_at
    FROM j_service_contacts WHERE ts < $as_of
    GROUP BY customer_id
),
known AS (
    SELECT
        u.customer_id AS journey_id,
        u.customer_id,
        u.preferred_channel,
        u.region,
        e.first_event.ts AS first_visit_at,
        LEAST(u.signup_at, e.first_identified_event_at, o.first_order.ts, s.first_contact.ts) AS identified_at,
        o.purchases[1] AS first_purchase_at,
        o.purchases[2] AS repeat_purchase_at,
        s.first_contact.ts AS service_contact_at,
        s.first_survey_at AS survey_answer_at,
        CASE WHEN o.last_purchase_at < $as_of - to_days(CAST($churn_days AS INTEGER))
            THEN o.last_purchase_at + to_days(CAST($churn_days AS INTEGER)) END AS churned_at,
        LEAST(
            CASE WHEN e.first_event IS NOT NULL THEN {'ts': e.first_event.ts, 'channel': e.first_event.channel} END,
            o.first_order,
            s.first_contact
        ).channel AS first_channel,
        FALSE AS anonymous,
        COALESCE(e.events, 0) AS events,
        COALESCE(e.anonymous_events, 0) AS anonymous_events,
        COALESCE(e.first_event.anonymous, FALSE) AS first_visit_stitched
    FROM universe AS u
    LEFT JOIN ev_journey AS e ON e.customer_id = u.customer_id
    LEFT JOIN ord_customer AS o ON o.customer_id = u.customer_id
    LEFT JOIN svc AS s ON s.customer_id = u.customer_id
),
unknown AS (  -- identifiers linked to no customer signed up before as_of
    SELECT
        COALESCE(e.anon_identifier, e.customer_id) AS journey_id,
        CAST(NULL AS VARCHAR) AS customer_id,
        CAST(NULL AS VARCHAR) AS preferred_channel,
        CAST(NULL AS VARCHAR) AS region,
        e.first_event.ts AS first_visit_at,
        CAST(NULL AS TIMESTAMP) AS identified_at,
        CAST(NULL AS TIMESTAMP) AS first_purchase_at,
        CAST(NULL AS TIMESTAMP) AS repeat_purchase_at,
        CAST(NULL AS TIMESTAMP) AS service_contact_at,
        CAST(NULL AS TIMESTAMP) AS survey_answer_at,
        CAST(NULL AS TIMESTAMP) AS churned_at,
        e.first_event.channel AS first_channel,
        TRUE AS anonymous,
        e.events,
        e.anonymous_events,
        FALSE AS first_visit_stitched
    FROM ev_journey AS e
    LEFT JOIN universe AS u ON e.customer_id = u.customer_id
    WHERE u.customer_id IS NULL
)
SELECT * FROM known
UNION ALL
SELECT * FROM unknown
ORDER BY anonymous, journey_id
"""


def journey_table(src: JourneySource, *, churn_days: int = 90) -> pd.DataFrame:
    """One row per journey: its stage timestamps (``<stage>_at``), segments, first channel and stitching counts.

    Columns: ``journey_id`` (customer id, or the identifier of an anonymous journey), ``customer_id`` (null
    when anonymous), ``preferred_channel``, ``region``, ``<stage>_at`` for every stage, ``first_channel`` (of
    the first visit, order or service contact), ``anonymous``, ``events``, ``anonymous_events`` (stitched when
    the journey is a customer's) and ``first_visit_stitched`` (the journey starts with a stitched event).
    Customers come first, each group sorted by ``journey_id``.
    """
    if churn_days < 1:
        raise ValueError(f"churn_days must be a positive number of days, got {churn_days}")
    frame = src.con.execute(_JOURNEYS_SQL, {**src.params, "churn_days": int(churn_days)}).df()
    out = {}
    for name, col in frame.items():
        if name.endswith("_at"):
            out[name] = pd.to_datetime(col)
        elif name in ("anonymous", "first_visit_stitched"):
            out[name] = col.astype(bool)
        elif name in ("events", "anonymous_events"):
            out[name] = col.astype("int64")
        else:
            out[name] = col.astype("str")
    return pd.DataFrame(out)


def customer_journeys(
    source: Source,
    *,
    as_of: str | pd.Timestamp | None = None,
    churn_days: int = 90,
    threads: int | None = None,
) -> pd.DataFrame:
    """``journey_table`` straight from a source (see ``open_source``)."""
    with open_source(source, as_of=as_of, threads=threads) as src:
        return journey_table(src, churn_days=churn_days)
