"""Point-in-time customer-360 features on DuckDB.

The feature definitions live in ``sql/*.sql`` (portable SQL, one file per dimension); this module only wires
the source tables into an in-process DuckDB connection, binds ``as_of`` and runs one query. Every source row
at or after ``as_of`` is filtered out inside the SQL, so the result depends on the past alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path

import duckdb
import pandas as pd

from cxml import progress
from cxml.data.duck import Source, attach_table, connect

FEATURE_SET = "customer360_v1"

# The tables the features read, and the columns each needs (a subset of the data contract).
SOURCE_COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": ("customer_id", "signup_at", "consent_marketing", "consent_profiling"),
    "identities": ("identifier", "customer_id"),
    "products": ("product_id", "category", "list_price"),
    "orders": (
        "order_id",
        "customer_id",
        "ts",
        "product_id",
        "quantity",
        "unit_price",
        "discount",
        "channel",
        "campaign_id",
        "returned",
    ),
    "events": ("identifier", "customer_id", "ts", "event_type", "device", "os", "referrer_type"),
    "service_contacts": ("customer_id", "ts", "resolved", "survey_score", "sentiment"),
    "exposures": ("campaign_id", "customer_id", "arm", "sent_at"),
}

# Dimension queries, in the order they are joined; each becomes a CTE named f_<dimension>.
DIMENSIONS: tuple[str, ...] = ("customers", "orders", "web", "service", "campaigns")
_MACROS = "macros.duckdb.sql"
_FINAL = "customer360.sql"


def read_sql(name: str) -> str:
    """The text of one feature definition file from the package."""
    return resources.files("cxml.features").joinpath("sql", name).read_text(encoding="utf-8")


def feature_query() -> str:
    """The whole customer-360 query: dimension CTEs followed by the final join (parameter ``$as_of``)."""
    ctes = ",\n".join(f"f_{dim} AS (\n{read_sql(dim + '.sql').strip()}\n)" for dim in DIMENSIONS)
    return f"WITH {ctes}\n{read_sql(_FINAL).strip()}"


def build_features(
    source: Mapping[str, pd.DataFrame] | Path | str,
    as_of: str | pd.Timestamp,
    *,
    threads: int | None = None,
) -> pd.DataFrame:
    """One row per customer who signed up before ``as_of``: numeric features indexed by ``customer_id``.

    ``source`` is a mapping of contract tables (registered zero-copy) or a directory holding
    ``<table>.parquet`` (a file or a folder of parts), scanned in place so large tables never become pandas
    frames. Rows are sorted by ``customer_id``; counts are int64, everything else float64 with NaN where
    undefined. Inputs are never modified.
    """
    return _run(source, as_of, feature_query(), threads)


def build_dimension(
    source: Mapping[str, pd.DataFrame] | Path | str,
    as_of: str | pd.Timestamp,
    dimension: str,
    *,
    threads: int | None = None,
) -> pd.DataFrame:
    """The raw output of one dimension query (customers with activity in it only; no zero-filling)."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}; known: {DIMENSIONS}")
    return _run(source, as_of, read_sql(f"{dimension}.sql").strip(), threads, order_by_customer=True)


def _run(
    source: Mapping[str, pd.DataFrame] | Path | str,
    as_of: str | pd.Timestamp,
    query: str,
    threads: int | None,
    *,
    order_by_customer: bool = False,
) -> pd.DataFrame:
    as_of_ts = _as_naive_timestamp(as_of)
    con = connect(threads)
    try:
        _attach_sources(con, source)
        con.execute(read_sql(_MACROS))
        with progress.step(f"features as of {as_of_ts.date()} (DuckDB)"):
            relation = _decimals_as_double(con.sql(query, params={"as_of": as_of_ts.to_pydatetime()}))
            if order_by_customer:
                relation = relation.order("customer_id")
            # Through Arrow: DuckDB's own .df() converts column by column on one thread and took longer than the
            # order query's last group-by at 1 M customers; Arrow hands over the buffers and pandas wraps them.
            frame = relation.to_arrow_table().to_pandas()
    finally:
        con.close()
    return _tidy(frame)


def _decimals_as_double(relation: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    """DECIMAL columns (a dimension's raw sums) cast to DOUBLE by DuckDB, as ``.df()`` rounded them: Arrow would
    hand them over as Python ``Decimal`` objects, slow to build and rounded differently by Arrow's own cast."""
    decimals = {name for name, kind in zip(relation.columns, relation.types, strict=True) if kind.id == "decimal"}
    if not decimals:
        return relation
    quoted = {name: '"' + name.replace('"', '""') + '"' for name in relation.columns}
    columns = [f"CAST({quoted[n]} AS DOUBLE) AS {quoted[n]}" if n in decimals else quoted[n] for n in relation.columns]
    return relation.project(", ".join(columns))


def _as_naive_timestamp(as_of: str | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(as_of)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


def _attach_sources(con: duckdb.DuckDBPyConnection, source: Source) -> None:
    for table, columns in SOURCE_COLUMNS.items():
        attach_table(con, source, table, needed_by="build_features")
        if isinstance(source, (str, Path)):
            where = str(Path(source) / f"{table}.parquet")
            present = {row[0] for row in con.execute(f"DESCRIBE {table}").fetchall()}
        else:
            where, present = f"table {table!r}", set(source[table].columns)
        missing = [c for c in columns if c not in present]
        if missing:
            raise ValueError(f"{where} lacks column(s) {missing}")


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """customer_id (str) as the index; integer columns as int64, every other column as float64."""
    frame = frame.set_index("customer_id")
    frame.index = frame.index.astype("str")
    out = {}
    for name, col in frame.items():
        if pd.api.types.is_integer_dtype(col) and not col.isna().any():
            out[name] = col.astype("int64")
        else:
            out[name] = pd.to_numeric(col).astype("float64")
    return pd.DataFrame(out, index=frame.index)
