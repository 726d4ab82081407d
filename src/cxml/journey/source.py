"""The journey's input: the contract tables attached to DuckDB as typed views, validated, bound to ``as_of``.

A journey reads five tables (``TABLE_COLUMNS``): contract frames are registered zero-copy, a folder of Parquet
files is scanned in place (so 50 M events never become a pandas frame). Each becomes a typed, lower-cased view
``j_<table>``; missing tables or columns, time columns that are not timestamps and rows no journey can be built
from are refused here, with the offending rows, so the stage and flow queries can trust their input. Orders are
grouped once (``j_order_level``) for both of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd

from cxml.data.duck import Source, attach_table, connect

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
