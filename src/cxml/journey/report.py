"""The customer journey report: compute every table, write it as Parquet and CSV beside ``summary.json`` and the page.

``write_journey`` is the one entry point (``cxml journey`` calls it through ``journey.job``): it stages the
journeys, builds the funnels per segment, the channel flow, time to convert and stitching counts, and writes each
table atomically, the HTML page (``journey.page``) last, so a page on disk always has its numbers beside it.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxml.data.sources import read_flat_table, write_table_atomic
from cxml.journey.conversion import CHANNEL_DIMENSION, SEGMENT_COLUMNS, funnel, segment_labels
from cxml.journey.flows import channel_flows, convert_summary, time_to_convert
from cxml.journey.identity import stitching
from cxml.journey.page import HTML_NAME, render_journey
from cxml.journey.source import Source, open_source
from cxml.journey.stages import STAGES, journey_table


@dataclass(frozen=True)
class JourneyResult:
    """Where the page and its numbers went, the headline figures, and the tables themselves."""

    out_dir: Path
    html: Path
    files: dict[str, Path]
    summary: dict[str, Any]
    tables: dict[str, pd.DataFrame] = field(repr=False, compare=False)


def write_journey(
    source: Source,
    out_dir: Path | str,
    *,
    as_of: str | pd.Timestamp | None = None,
    segment: str | Path | pd.Series | None = None,
    churn_days: int = 90,
    max_steps: int = 5,
    threads: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> JourneyResult:
    """Compute the journey picture of ``source`` before ``as_of`` and write it to ``out_dir``.

    ``segment``: a journey column (``preferred_channel`` or ``region``), a behavioural segment as a Series
    indexed by customer id, or a CSV/Parquet file read by :func:`read_segment`; by default both
    ``preferred_channel`` and ``region``. The first channel of each journey is always a dimension too.
    Each file is written to a temporary name and renamed into place, the page last. ``progress`` is told
    each step as it ends (``cxml journey`` prints them).
    """
    t0 = time.perf_counter()

    def step(message: str) -> None:
        if progress is not None:
            progress(f"  {message} ({time.perf_counter() - t0:.1f}s)")

    with open_source(source, as_of=as_of, threads=threads) as src:
        step(f"tables attached and checked; as of {src.as_of}")
        journeys = journey_table(src, churn_days=churn_days)
        step(f"{len(journeys):,} journeys staged")
        flows = channel_flows(src, max_steps=max_steps)
        step(f"channel flow over the first {max_steps} steps")
        cutoff = src.as_of
    dims = _dimensions(journeys, segment)
    tables = {
        "funnel": funnel(journeys),
        "segments": pd.concat([funnel(journeys, labels, dimension=name) for name, labels in dims.items()]),
        "flow_nodes": flows.nodes,
        "flow_transitions": flows.transitions,
        "time_to_convert": time_to_convert(journeys),
        "stitching": stitching(journeys),
    }
    tables["segments"] = tables["segments"].reset_index(drop=True)
    step(f"funnels per {', '.join(dims)}")
    summary = _summary(journeys, tables, cutoff, churn_days, max_steps)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"journeys.parquet": write_table_atomic(journeys, out / "journeys.parquet")}
    for name, frame in tables.items():
        for ext in ("parquet", "csv"):
            files[f"{name}.{ext}"] = write_table_atomic(frame, out / f"{name}.{ext}")
    for path in files.values():
        path.chmod(0o644)
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    files["summary.json"] = _write_text(out / "summary.json", json.dumps(summary, indent=2, default=str))
    html = _write_text(out / HTML_NAME, render_journey(tables, flows, summary, sorted(files)))
    return JourneyResult(out, html, files, summary, {"journeys": journeys, **tables})


def _dimensions(journeys: pd.DataFrame, segment: str | Path | pd.Series | None) -> dict[str, pd.Series]:
    if segment is None:
        names: list[str | pd.Series] = list(SEGMENT_COLUMNS)
    elif isinstance(segment, Path):
        names = [read_segment(segment)]
    else:
        names = [segment]
    dims = {}
    for s in names:
        name = s if isinstance(s, str) else str(s.name or "segment")
        dims[name] = segment_labels(journeys, s)
    dims[CHANNEL_DIMENSION] = journeys[CHANNEL_DIMENSION].where(journeys[CHANNEL_DIMENSION].notna(), "(none)")
    return dims


def read_segment(path: Path, column: str | None = None) -> pd.Series:
    """A label per customer id from a CSV/Parquet file: ``customer_id`` (a column or the index, as in the
    ``assignments.parquet`` that ``cxml segments`` writes) and ``column``, by default ``segment_name``, else
    ``segment``, else the file's only other column."""
    frame = read_flat_table(path)
    if "customer_id" not in frame.columns and frame.index.name == "customer_id":
        frame = frame.reset_index()
    labels = [c for c in frame.columns if c != "customer_id"]
    if column is None:
        column = next((c for c in ("segment_name", "segment") if c in labels), labels[0] if len(labels) == 1 else None)
    if "customer_id" not in frame.columns or column not in labels:
        wanted = f"column {column!r}" if column is not None else "one label column (or 'segment')"
        raise ValueError(
            f"segment file {path} needs column 'customer_id' and {wanted}; "
            f"it has {list(frame.columns)}; first rows:\n{frame.head(3).to_string()}"
        )
    return pd.Series(frame[column].to_numpy(), index=frame["customer_id"].astype("str"), name=column)


def _write_text(path: Path, text: str) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the page is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _summary(
    journeys: pd.DataFrame, tables: dict[str, pd.DataFrame], as_of: pd.Timestamp, churn_days: int, max_steps: int
) -> dict[str, Any]:
    f = tables["funnel"].set_index("stage")
    stitched = tables["stitching"].set_index("measure")["value"]
    return {
        "as_of": str(as_of),
        "churn_days": churn_days,
        "max_steps": max_steps,
        "journeys": len(journeys),
        "stages": {s: int(f.loc[s, "reached"]) for s in STAGES},
        "out_of_order": {s: int(f.loc[s, "out_of_order"]) for s in STAGES[1:]},
        "before_previous": {s: int(f.loc[s, "before_previous"]) for s in STAGES[1:]},
        "conversion": {s: _float(f.loc[s, "conversion"]) for s in STAGES[1:]},
        "median_days": {s: _float(f.loc[s, "median_days"]) for s in STAGES[1:]},
        "stitching": {k: (_float(v) if k.endswith("share") else int(v)) for k, v in stitched.items()},
        "time_to_convert": convert_summary(journeys),
    }


def _float(value: Any) -> float | None:
    v = float(value)
    return v if np.isfinite(v) else None
