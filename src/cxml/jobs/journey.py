"""What ``cxml journey`` runs: pick how to read the company, resolve ``--segment``, write the page.

A folder with every table as ``<table>.parquet`` is scanned in place by DuckDB (1 M customers never become pandas
frames); a folder of CSV files is read and typed through the data contract first. ``--segment`` names a journey
column (``preferred_channel``, ``region``) or a CSV/Parquet file of labels per customer, optionally
``FILE:COLUMN`` (``assignments.parquet:stage`` for the lifecycle stage that ``cxml segments`` writes).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from cxml.data.sources import read_tables
from cxml.datasets.family import parse_as_of
from cxml.journey.conversion import SEGMENT_COLUMNS
from cxml.journey.report import JourneyResult, read_segment, write_journey
from cxml.journey.source import TABLE_COLUMNS, Source

_TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def journey_source(data: Path) -> Source:
    """The folder itself when every journey table is Parquet there, else its tables read through the contract."""
    data = Path(data)
    if not data.is_dir():
        raise ValueError(f"no data at {data}; run `cxml generate --out {data}` or pass --data DIR")
    if all((data / f"{table}.parquet").exists() for table in TABLE_COLUMNS):
        return data

    try:
        return read_tables(data, tables=list(TABLE_COLUMNS))
    except FileNotFoundError as exc:
        raise ValueError(f"{exc}; the journey reads {', '.join(TABLE_COLUMNS)}") from None


def segment_option(segment: str | None) -> str | pd.Series | None:
    """``--segment`` as ``write_journey`` takes it: a journey column name or the labels read from a file."""
    if segment is None or segment in SEGMENT_COLUMNS:
        return segment
    path, column = Path(segment), None
    if not path.is_file() and ":" in segment:
        head, _, tail = segment.rpartition(":")
        path, column = Path(head), tail
    if path.suffix.lower() not in _TABLE_SUFFIXES:
        raise ValueError(
            f"--segment {segment!r}: use {' or '.join(SEGMENT_COLUMNS)}, or a CSV/Parquet file with customer_id "
            "and a label column (FILE or FILE:COLUMN, e.g. the assignments.parquet of `cxml segments`)"
        )
    if not path.is_file():
        raise ValueError(f"--segment: segment file {path} not found")
    return read_segment(path, column)


def run_journey(
    data: Path,
    out_dir: Path,
    *,
    as_of: str | None = None,
    segment: str | None = None,
    churn_days: int = 90,
    threads: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> JourneyResult:
    """The journey page of the company in ``data`` and its numbers, in ``out_dir``; bad input raises ValueError."""
    if churn_days < 1:
        raise ValueError(f"--churn-days must be at least 1, got {churn_days}")
    if as_of is not None:
        parse_as_of(as_of)
    labels = segment_option(segment)
    return write_journey(
        journey_source(data),
        out_dir,
        as_of=as_of,
        segment=labels,
        churn_days=churn_days,
        threads=threads,
        progress=progress,
    )
