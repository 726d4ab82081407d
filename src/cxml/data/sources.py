"""Reading and writing tables: the only place in ``cxml.data`` that touches files.

Contract tables live in a folder as ``<name>.parquet`` or ``<name>.csv``; ground truth of a simulated company
lives in ``<folder>/truth/``. CSV columns are parsed by the contract schema (datetimes, bools, nullable ints,
ids as strings), so a CSV and a Parquet copy of a table read back with the same dtypes.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from cxml.data.contract import SCHEMAS, TABLE_NAMES, TableSchema, validate_tables

_TRUE = {"true", "1", "t", "yes", "y"}
_FALSE = {"false", "0", "f", "no", "n"}


def _table_path(data_dir: Path, name: str) -> Path | None:
    for suffix in (".parquet", ".csv"):
        path = data_dir / f"{name}{suffix}"
        if path.exists():
            return path
    return None


def _to_bool(s: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(s):
        return s
    text = s.astype("str").str.strip().str.lower()
    out = text.map(lambda v: True if v in _TRUE else (False if v in _FALSE else None))
    if out.isna().any():
        return out.astype("boolean")
    return out.astype(bool)


def _coerce(frame: pd.DataFrame, schema: TableSchema) -> pd.DataFrame:
    """Give each known column its contract dtype (used for CSV; a no-op for well-typed Parquet)."""
    frame = frame.copy()
    for col in schema.columns:
        if col.name not in frame.columns:
            continue
        s = frame[col.name]
        if col.kind == "string" and not pd.api.types.is_string_dtype(s):
            frame[col.name] = s.astype("str").where(s.notna())
        elif col.kind == "datetime" and not pd.api.types.is_datetime64_any_dtype(s):
            frame[col.name] = pd.to_datetime(s)
        elif col.kind == "bool" and not pd.api.types.is_bool_dtype(s):
            frame[col.name] = _to_bool(s)
        elif col.kind == "int" and not pd.api.types.is_integer_dtype(s):
            frame[col.name] = pd.to_numeric(s).astype("Int64")
        elif col.kind == "float" and not pd.api.types.is_float_dtype(s):
            frame[col.name] = pd.to_numeric(s).astype("float64")
    return frame


def _read(path: Path, schema: TableSchema | None) -> pd.DataFrame:
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    else:
        dtype = {c.name: "str" for c in schema.columns if c.kind == "string"} if schema else "str"
        frame = pd.read_csv(path, dtype=dtype, keep_default_na=True)
    return _coerce(frame, schema) if schema is not None else frame


def read_tables(data_dir: Path, tables: Iterable[str] | None = None) -> dict[str, pd.DataFrame]:
    """Contract tables found in ``data_dir``; optional tables that are absent are left out of the dict."""
    data_dir = Path(data_dir)
    names = list(TABLE_NAMES if tables is None else tables)
    out: dict[str, pd.DataFrame] = {}
    for name in names:
        if name not in SCHEMAS:
            raise KeyError(f"unknown table {name!r}; known: {', '.join(TABLE_NAMES)}")
        path = _table_path(data_dir, name)
        if path is None:
            if SCHEMAS[name].required:
                raise FileNotFoundError(f"table {name!r} not found as {name}.parquet or {name}.csv in {data_dir}")
            continue
        out[name] = _read(path, SCHEMAS[name])
    return out


def read_valid_tables(data_dir: Path) -> dict[str, pd.DataFrame]:
    """Contract tables from a folder, validated; a violation raises ValueError naming table/column/rows."""
    if not Path(data_dir).exists():
        raise ValueError(f"no data at {data_dir}; run `cxml generate --out {data_dir}` or pass --data")
    tables = read_tables(data_dir)
    validate_tables(tables)
    return tables


def read_truth(data_dir: Path) -> dict[str, pd.DataFrame]:
    """Ground truth of a simulated company (``<data_dir>/truth/*.parquet``); empty if there is none."""
    truth_dir = Path(data_dir) / "truth"
    if not truth_dir.is_dir():
        return {}
    return {p.stem: pd.read_parquet(p) for p in sorted(truth_dir.glob("*.parquet"))}


def read_flat_table(path: Path) -> pd.DataFrame:
    """A "bring your own" flat table from CSV or Parquet; text and id columns stay ``str``."""
    path = Path(path)
    if path.suffix.lower() in {".parquet", ".pq"}:
        return pd.read_parquet(path)
    if path.suffix.lower() in {".csv", ".txt", ".gz"}:
        header = pd.read_csv(path, nrows=0).columns
        ids = {c: "str" for c in header if _looks_like_id(c)}
        frame = pd.read_csv(path, dtype=ids)
        for name in frame.columns:  # text columns that pandas left as object (mixed) become str
            if pd.api.types.is_object_dtype(frame[name]):
                frame[name] = frame[name].astype("str").where(frame[name].notna())
        return frame
    raise ValueError(f"unsupported table format {path.suffix!r} (use .csv or .parquet)")


def _looks_like_id(name: str) -> bool:
    """Ids are kept as text ("00123" is not 123)."""
    lowered = str(name).lower()
    return lowered == "id" or lowered.endswith(("_id", "id_", "_key", "identifier"))


def write_table_atomic(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` as Parquet or CSV (by suffix) via a temporary file: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if path.suffix.lower() == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
