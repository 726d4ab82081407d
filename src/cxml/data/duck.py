"""The in-process DuckDB connection the SQL modules run on, and contract tables attached to it: pandas frames
registered zero-copy, or a folder of ``<table>.parquet`` files (or folders of Parquet files) scanned in place."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path

import duckdb
import pandas as pd

Source = Mapping[str, pd.DataFrame] | Path | str
"""Contract tables by name, or the folder that holds them as ``<table>.parquet``."""


def connect(threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory connection with the settings every query here relies on (``threads`` caps DuckDB's)."""
    con = duckdb.connect(database=":memory:")
    try:
        if threads is not None:
            con.execute(f"SET threads = {int(threads)}")
        # In Jupyter without ipywidgets DuckDB has the bar off already and refuses the SET
        with contextlib.suppress(duckdb.InvalidInputException):
            con.execute("SET enable_progress_bar = false")
        con.execute("SET preserve_insertion_order = false")
        # tz-aware inputs compare with as_of (naive = UTC) in UTC, and come back as naive UTC
        con.execute("SET TimeZone = 'UTC'")
        # Parquet min/max statistics leave NaN out, and DuckDB's statistics propagation then folds
        # isnan(x) to false, so a score stored as NaN (not null) would poison the means. No measurable cost.
        con.execute("SET disabled_optimizers = 'statistics_propagation'")
    except BaseException:
        con.close()
        raise
    return con


def attach_table(
    con: duckdb.DuckDBPyConnection, source: Source, table: str, *, view: str | None = None, needed_by: str
) -> None:
    """Make ``table`` of ``source`` queryable as ``view`` (default: the table's own name).

    A missing table or Parquet path raises ``ValueError`` saying that ``needed_by`` needs it.
    """
    view = view or table
    if isinstance(source, (str, Path)):
        directory = Path(source)
        if not directory.is_dir():
            raise ValueError(f"{directory} is not a directory of <table>.parquet files")
        path = directory / f"{table}.parquet"
        if path.is_dir():
            pattern = str(path / "**" / "*.parquet")
        elif path.is_file():
            pattern = str(path)
        else:
            raise ValueError(f"{needed_by} needs table {table!r}: {path} not found")
        literal = pattern.replace("'", "''")
        con.execute(f"CREATE VIEW {view} AS SELECT * FROM read_parquet('{literal}')")
        return
    if table not in source:
        raise ValueError(f"{needed_by} needs table {table!r}; got {sorted(source)}")
    con.register(view, source[table])
