"""Reading and writing tables: the only place in ``cxml.data`` that touches files.

Contract tables live in a folder as ``<name>.parquet`` or ``<name>.csv``; ground truth of a simulated company
lives in ``<folder>/truth/``. CSV columns are parsed by the contract schema (datetimes, bools, nullable ints,
ids as strings), so a CSV and a Parquet copy of a table read back with the same dtypes.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa

from cxml.data.contract import (
    MISSING_TABLE,
    SCHEMAS,
    TABLE_NAMES,
    ContractError,
    MissingTableError,
    TableSchema,
    Violation,
    row_violation,
    table_violation,
    validate_tables,
)

log = logging.getLogger(__name__)

_TRUE = {"true", "1", "t", "yes", "y"}
_FALSE = {"false", "0", "f", "no", "n"}
_DECIMAL_COMMA = re.compile(r"^\s*-?\d+,\d+\s*$")


def _table_path(data_dir: Path, name: str) -> Path | None:
    for suffix in (".parquet", ".csv"):
        path = data_dir / f"{name}{suffix}"
        if path.exists():
            return path
    return None


def _bool_or_none(value: object) -> bool | None:
    text = str(value).strip().lower()
    return True if text in _TRUE else (False if text in _FALSE else None)


def _parse(s: pd.Series, kind: str) -> tuple[pd.Series, pd.Series, str]:
    """``s`` parsed as ``kind``: the parsed column, the rows that did not parse, and the rule they break."""
    given = s.notna()
    if kind == "datetime":
        try:
            parsed = pd.to_datetime(s, errors="coerce")
            if (given & parsed.isna()).any():  # the format is inferred from the first value; ISO 8601 may vary
                iso = pd.to_datetime(s, errors="coerce", format="ISO8601")
                parsed = iso if iso.isna().sum() < parsed.isna().sum() else parsed
        except (ValueError, TypeError) as exc:  # mixed time zones, for one
            return s, given, f"not a date or time ({str(exc).splitlines()[0]})"
        return parsed, given & parsed.isna(), "not a date or time"
    if kind == "bool":
        mapped = s.map(_bool_or_none, na_action="ignore")
        bad = given & mapped.isna()
        return mapped.astype("boolean"), bad, "not true/false (accepted: true/false, 1/0, yes/no, t/f, y/n)"
    number = pd.to_numeric(s, errors="coerce")
    bad = given & number.isna()
    rule = "not a number"
    if bad.any() and s[bad].astype("str").str.match(_DECIMAL_COMMA).any():
        rule = "not a number (decimals are written with '.', as in 12.50)"
    if kind == "int" and not bad.any():
        fraction = number.notna() & (number % 1 != 0)
        if fraction.any():
            return number, fraction, "not a whole number"
    return number, bad, rule


def _coerce(
    frame: pd.DataFrame, schema: TableSchema, *, text_file: bool = True
) -> tuple[pd.DataFrame, list[Violation]]:
    """Give each known column its contract dtype (used for CSV; a no-op for well-typed Parquet).

    A value that does not parse is a violation naming the table, column and rows (the rows as read). Text in a
    typed Parquet column is parsed too, with a warning naming the table, column and number of values.
    """
    raw, frame = frame, frame.copy()
    violations: list[Violation] = []
    api = pd.api.types
    for col in schema.columns:
        if col.name not in frame.columns:
            continue
        s = frame[col.name]
        if col.kind == "string":
            if api.is_string_dtype(s) or not (api.is_object_dtype(s) or api.is_integer_dtype(s) or s.isna().all()):
                continue  # text already, or a kind the contract reports (an id stored as float: "1001.0")
            frame[col.name] = s.astype("str").where(s.notna())
            continue
        done = {
            "datetime": api.is_datetime64_any_dtype,
            "bool": api.is_bool_dtype,
            "int": api.is_integer_dtype,
            "float": api.is_float_dtype,
        }[col.kind](s)
        if done:
            continue
        parsed, bad, rule = _parse(s, col.kind)
        if bad.any():
            violations.append(row_violation(schema.name, col.name, rule, raw, bad))
            continue
        if col.kind == "bool":
            frame[col.name] = parsed if parsed.isna().any() else parsed.astype(bool)
        elif col.kind == "int":
            frame[col.name] = parsed.astype("Int64")
        elif col.kind == "float":
            frame[col.name] = parsed.astype("float64")
        else:
            frame[col.name] = parsed
        if not text_file and (api.is_string_dtype(s) or api.is_object_dtype(s)) and s.notna().any():
            log.warning(
                "%s.%s: %s text values read as %s (the Parquet column is stored as text)",
                schema.name,
                col.name,
                f"{int(s.notna().sum()):,}",
                col.kind,
            )
    return frame, violations


def _load(path: Path, schema: TableSchema) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    dtype = {c.name: "str" for c in schema.columns if c.kind == "string"}
    return pd.read_csv(path, dtype=dtype, keep_default_na=True)


def _unreadable(path: Path) -> str | None:
    """Why the file of a table cannot be read as one, before reading it; None when it looks like a file."""
    kind = "Parquet" if path.suffix == ".parquet" else "CSV"
    if path.is_dir():
        if kind == "Parquet" and any(path.rglob("*.parquet")):
            return None  # a partitioned Parquet dataset
        return f"{path} is a folder, not a {kind} file"
    if path.stat().st_size == 0:
        return f"{path} is an empty file (0 bytes), not a {kind} file"
    return None


def _read(path: Path, schema: TableSchema) -> tuple[pd.DataFrame | None, list[Violation]]:
    """A contract table from its file, in contract dtypes; or the violations that stop it from being read."""
    kind = "Parquet" if path.suffix == ".parquet" else "CSV"
    why = _unreadable(path)
    if why is not None:
        return None, [table_violation(schema.name, f"unreadable: {why}")]
    try:
        frame = _load(path, schema)
    except (OSError, ValueError, pa.ArrowException) as exc:  # pandas' parser errors are ValueErrors
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, UnicodeDecodeError):
            reason = f"not UTF-8 text ({exc.reason}; save it as UTF-8)"
        return None, [table_violation(schema.name, f"unreadable: {path} is not a readable {kind} file: {reason}")]
    if kind == "CSV" and len(frame.columns) == 1 and len(schema.columns) > 1:
        header = str(frame.columns[0])
        sep = next((c for c in (";", "\t", "|") if c in header), None)
        if sep is not None:
            shown = header if len(header) <= 60 else header[:57] + "…"
            rule = f"unreadable: {path} is separated by {sep!r}, not ',' (its header reads as one column {shown!r})"
            return None, [table_violation(schema.name, rule)]
    frame, violations = _coerce(frame, schema, text_file=kind == "CSV")
    return (None if violations else frame), violations


def read_tables(data_dir: Path, tables: Iterable[str] | None = None) -> dict[str, pd.DataFrame]:
    """Contract tables found in ``data_dir``; optional tables that are absent are left out of the dict.

    Raises ContractError naming each table that cannot be read (and the rows of values that do not parse), or
    MissingTableError (a ContractError and a FileNotFoundError) when required tables are absent.
    """
    data_dir = Path(data_dir)
    names = list(TABLE_NAMES if tables is None else tables)
    out: dict[str, pd.DataFrame] = {}
    violations: list[Violation] = []
    for name in names:
        if name not in SCHEMAS:
            raise KeyError(f"unknown table {name!r}; known: {', '.join(TABLE_NAMES)}")
        path = _table_path(data_dir, name)
        if path is None:
            if SCHEMAS[name].required:
                rule = f"{MISSING_TABLE}: no {name}.parquet or {name}.csv in {data_dir}"
                violations.append(table_violation(name, rule))
            continue
        frame, table_violations = _read(path, SCHEMAS[name])
        violations.extend(table_violations)
        if frame is not None:
            out[name] = frame
    if violations and all(v.rule.startswith(MISSING_TABLE) for v in violations):
        raise MissingTableError(violations)
    if violations:
        raise ContractError(violations)
    return out


def read_valid_tables(data_dir: Path) -> dict[str, pd.DataFrame]:
    """Contract tables from a folder, validated; a violation raises ContractError (a ValueError) naming the table,
    column, rule and rows."""
    if not Path(data_dir).is_dir():
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
