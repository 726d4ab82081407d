"""Customer journey stages from the contract tables: one row per journey, then funnels per segment.

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

The heavy part runs as SQL on DuckDB over pandas frames (zero-copy) or a folder of Parquet files (scanned in
place, so 50 M events never become a pandas frame); the funnels are small pandas computations on the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from cxml.data.duck import Source, attach_table, connect

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
SEGMENT_COLUMNS: tuple[str, ...] = ("preferred_channel", "region")
CHANNEL_DIMENSION = "first_channel"
ANONYMOUS = "(anonymous)"
UNKNOWN = "(unknown)"

# The tables a journey reads and the columns each needs (a subset of the data contract).
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": ("customer_id", "signup_at", "region", "preferred_channel"),
    "identities": ("identifier", "customer_id"),
    "orders": ("order_id", "customer_id", "ts", "channel", "returned"),
    "events": ("identifier", "customer_id", "ts", "event_type"),
    "service_contacts": ("customer_id", "ts", "channel", "survey_score"),
}
TIME_COLUMNS: dict[str, str] = {"customers": "signup_at", "orders": "ts", "events": "ts", "service_contacts": "ts"}
_TIME_TYPES = ("TIMESTAMP", "DATE")

# Typed, lower-cased views the journey queries read (j_<table>). An event's channel is its own ``channel``
# column when the company has one, else ``app`` for app sessions (browser "app") and ``web`` otherwise.
_VIEWS: dict[str, str] = {
    "customers": """SELECT CAST(customer_id AS VARCHAR) AS customer_id, CAST(signup_at AS TIMESTAMP) AS signup_at,
        CAST(region AS VARCHAR) AS region, CAST(preferred_channel AS VARCHAR) AS preferred_channel
        FROM raw_customers""",
    "identities": """SELECT CAST(identifier AS VARCHAR) AS identifier, CAST(customer_id AS VARCHAR) AS customer_id
        FROM raw_identities WHERE customer_id IS NOT NULL""",
    "orders": """SELECT CAST(order_id AS VARCHAR) AS order_id, CAST(customer_id AS VARCHAR) AS customer_id,
        CAST(ts AS TIMESTAMP) AS ts, LOWER(CAST(channel AS VARCHAR)) AS channel, CAST(returned AS BOOLEAN) AS returned
        FROM raw_orders""",
    "events": """SELECT CAST(identifier AS VARCHAR) AS identifier, CAST(customer_id AS VARCHAR) AS customer_id,
        CAST(ts AS TIMESTAMP) AS ts, LOWER(CAST(event_type AS VARCHAR)) AS event_type, {channel} AS channel
        FROM raw_events""",
    "service_contacts": """SELECT CAST(customer_id AS VARCHAR) AS customer_id, CAST(ts AS TIMESTAMP) AS ts,
        LOWER(CAST(channel AS VARCHAR)) AS channel,
        survey_score IS NOT NULL AND NOT isnan(CAST(survey_score AS DOUBLE)) AS answered FROM raw_service_contacts""",
}

# Rows no journey can be built from: (table, column, SQL condition, rule in words).
_ROW_RULES: tuple[tuple[str, str, str, str], ...] = (
    ("customers", "customer_id", "customer_id IS NULL", "null customer_id"),
    ("customers", "signup_at", "signup_at IS NULL", "null signup_at"),
    ("orders", "customer_id", "customer_id IS NULL", "null customer_id"),
    ("orders", "ts", "ts IS NULL", "null ts"),
    ("events", "identifier,customer_id", "identifier IS NULL AND customer_id IS NULL", "no identifier, no customer"),
    ("events", "ts", "ts IS NULL", "null ts"),
    ("service_contacts", "customer_id", "customer_id IS NULL", "null customer_id"),
    ("service_contacts", "ts", "ts IS NULL", "null ts"),
)

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


_ORDER_LEVEL_SQL = """
CREATE TEMP TABLE j_order_level AS
SELECT o.customer_id, MIN(o.ts) AS ts, MIN(o.channel) AS channel, BOOL_OR(NOT o.returned) AS kept
FROM j_orders AS o
SEMI JOIN (SELECT customer_id FROM j_customers WHERE signup_at < $as_of) AS u ON o.customer_id = u.customer_id
WHERE o.ts < $as_of
GROUP BY o.customer_id, hash(o.order_id)
"""


@dataclass
class JourneySource:
    """A DuckDB connection with the journey tables attached as typed views ``j_<table>``, bound to ``as_of``.

    Orders are grouped once (``j_order_level``: customer, time, channel, whether a line was kept) for the
    stages and the flows. Use as a context manager, or ``close`` it.
    """

    con: duckdb.DuckDBPyConnection
    as_of: pd.Timestamp

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> JourneySource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def params(self) -> dict[str, Any]:
        return {"as_of": self.as_of.to_pydatetime()}


def open_source(
    source: Source, *, as_of: str | pd.Timestamp | None = None, threads: int | None = None
) -> JourneySource:
    """Attach ``source`` (contract frames, registered zero-copy, or a folder of ``<table>.parquet`` files or
    folders, scanned in place) and validate it.

    Missing tables or columns, time columns that are not timestamps and rows no journey can be built from raise
    ``ValueError`` naming the table, column and first offending rows. ``as_of`` defaults to midnight after the
    latest order, event or service contact.
    """
    con = connect(threads)
    try:
        for table in TABLE_COLUMNS:
            attach_table(con, source, table, view=f"raw_{table}", needed_by="the journey")
            present = _describe(con, f"raw_{table}")
            _check_columns(con, table, present)
            channel = "LOWER(CAST(channel AS VARCHAR))" if "channel" in present else _EVENT_CHANNEL
            con.execute(f"CREATE VIEW j_{table} AS {_VIEWS[table].format(channel=channel)}")
        _check_rows(con)
        src = JourneySource(con, _resolve_as_of(con, as_of))
        con.execute(_ORDER_LEVEL_SQL, src.params)
    except BaseException:
        con.close()
        raise
    return src


_EVENT_CHANNEL = "CASE WHEN LOWER(CAST(browser AS VARCHAR)) = 'app' THEN 'app' ELSE 'web' END"


def _describe(con: duckdb.DuckDBPyConnection, view: str) -> dict[str, str]:
    return {row[0]: str(row[1]) for row in con.execute(f"DESCRIBE {view}").fetchall()}


def _check_columns(con: duckdb.DuckDBPyConnection, table: str, present: dict[str, str]) -> None:
    needed = list(TABLE_COLUMNS[table])
    if table == "events" and "channel" not in present:
        needed.append("browser")
    missing = [c for c in needed if c not in present]
    if missing:
        raise ValueError(f"table {table!r} lacks column(s) {missing}; it has {sorted(present)}")
    column = TIME_COLUMNS.get(table)
    if column is not None and not present[column].startswith(_TIME_TYPES):
        rows = con.execute(f"SELECT * FROM raw_{table} LIMIT 3").df()
        raise ValueError(
            f"table {table!r} column {column!r} must hold timestamps, found {present[column]}; "
            f"first rows:\n{rows.to_string(max_colwidth=40)}"
        )


def _check_rows(con: duckdb.DuckDBPyConnection) -> None:
    """One scan per table for all of its row rules; the first broken rule is reported with its rows."""
    for table in TABLE_COLUMNS:
        rules = [(column, cond, rule) for t, column, cond, rule in _ROW_RULES if t == table]
        if not rules:
            continue
        which = " ".join(f"WHEN {cond} THEN {i}" for i, (_, cond, _) in enumerate(rules))
        where = " OR ".join(f"({cond})" for _, cond, _ in rules)
        rows = con.execute(f"SELECT CASE {which} END AS _rule, * FROM raw_{table} WHERE {where} LIMIT 3").df()
        if len(rows):
            first = int(rows["_rule"].min())
            column, _, rule = rules[first]
            shown = rows[rows["_rule"] == first].drop(columns="_rule").to_string(max_colwidth=40)
            raise ValueError(f"table {table!r} column {column!r}: {rule}; first offending rows:\n{shown}")


def _resolve_as_of(con: duckdb.DuckDBPyConnection, as_of: str | pd.Timestamp | None) -> pd.Timestamp:
    if as_of is not None:
        ts = pd.Timestamp(as_of)
        return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts
    latest = con.execute(
        "SELECT MAX(t) FROM (SELECT MAX(ts) AS t FROM j_events UNION ALL SELECT MAX(ts) FROM j_orders "
        "UNION ALL SELECT MAX(ts) FROM j_service_contacts)"
    ).fetchall()[0][0]
    if latest is None:
        raise ValueError("no order, event or service contact has a timestamp: give as_of")
    return pd.Timestamp(latest).normalize() + pd.Timedelta(days=1)


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
