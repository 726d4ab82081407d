"""Tables that break the contract's promise: each corrupt input fails with the contract message (table, column,
rule and the first offending rows), never a traceback, and `cxml validate`/`cxml train` write nothing.

Every case starts from a small simulated company written as Parquet by the package's own writer and breaks one
thing. The API cases call ``cxml.data`` directly; the CLI cases run ``cxml validate`` in process (every case) and
``cxml train churn --data`` in a subprocess (a few cases, in tests/integration/test_corrupt_tables_train.py)."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cxml.cli import app
from cxml.data.contract import ContractError, Violation
from cxml.data.sources import read_valid_tables, write_table_atomic
from cxml.data.synthetic import Company, generate_company

pytestmark = pytest.mark.unit
Tables = dict[str, pd.DataFrame]


@pytest.fixture(scope="module")
def company() -> Company:
    return generate_company(n_customers=300, seed=0)


@pytest.fixture(scope="module")
def clean_dir(tmp_path_factory: pytest.TempPathFactory, company: Company) -> Path:
    folder = tmp_path_factory.mktemp("company")
    for name, frame in company.tables.items():
        write_table_atomic(frame, folder / f"{name}.parquet")
    return folder


def _as_csv(folder: Path, name: str, frame: pd.DataFrame) -> None:
    (folder / f"{name}.parquet").unlink()
    write_table_atomic(frame, folder / f"{name}.csv")


def _csv_cell(folder: Path, tables: Tables, name: str, column: str, row: int, text: str) -> None:
    """The table as CSV with one cell replaced by ``text``."""
    frame = tables[name].astype({column: "object"})
    frame.loc[frame.index[row], column] = text
    _as_csv(folder, name, frame)


def _parquet(folder: Path, name: str, frame: pd.DataFrame) -> None:
    write_table_atomic(frame, folder / f"{name}.parquet")


def _set(frame: pd.DataFrame, column: str, row: int, value: object) -> pd.DataFrame:
    """A copy of ``frame`` with one cell set (the column becomes text for a text value or a null)."""
    frame = frame.copy()
    if value is None or isinstance(value, str):
        frame[column] = frame[column].astype("str" if isinstance(value, str) else "object")
    frame.loc[frame.index[row], column] = value
    return frame


def _truncate(folder: Path, tables: Tables) -> None:
    path = folder / "orders.parquet"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _semicolons(folder: Path, tables: Tables) -> None:
    (folder / "products.parquet").unlink()
    tables["products"].to_csv(folder / "products.csv", sep=";", index=False, encoding="utf-8-sig")


def _zero_bytes(folder: Path, name: str, suffix: str) -> None:
    (folder / f"{name}.parquet").unlink()
    (folder / f"{name}{suffix}").write_bytes(b"")


def _folder_instead_of_file(folder: Path, name: str, suffix: str) -> None:
    (folder / f"{name}.parquet").unlink()
    (folder / f"{name}{suffix}").mkdir()


def _ragged_csv(folder: Path, tables: Tables) -> None:
    _as_csv(folder, "products", tables["products"])
    with (folder / "products.csv").open("a") as f:
        f.write("P9999,tea,1.0,0.5,surplus,fields\n")


def _latin1_csv(folder: Path, tables: Tables) -> None:
    (folder / "customers.parquet").unlink()
    frame = _set(tables["customers"], "region", 0, "Zürich")
    frame.to_csv(folder / "customers.csv", index=False, encoding="latin-1")


@dataclass(frozen=True)
class Case:
    """One corruption: what to break, and the table, column, rule and a value of the offending rows it gets."""

    id: str
    corrupt: Callable[[Path, Tables], None]
    table: str
    column: str
    rule: str
    shows: str | None = None  # a value the message shows from the offending rows (None: a rule of the whole file)


CASES = [
    # the eight that printed a traceback
    Case("truncated parquet", _truncate, "orders", "*", "is not a readable Parquet file"),
    Case(
        "not parquet",
        lambda d, t: (d / "customers.parquet").write_text("customer_id,region\nC1,north\n"),
        "customers",
        "*",
        "is not a readable Parquet file",
    ),
    Case("csv with a BOM and ';'", _semicolons, "products", "*", "is separated by ';', not ','"),
    Case("missing exposures", lambda d, t: (d / "exposures.parquet").unlink(), "exposures", "*", "missing table"),
    Case(
        "abc in a float column",
        lambda d, t: _csv_cell(d, t, "orders", "unit_price", 1, "abc"),
        "orders",
        "unit_price",
        "not a number",
        "abc",
    ),
    Case(
        "not a date",
        lambda d, t: _csv_cell(d, t, "orders", "ts", 1, "not a date"),
        "orders",
        "ts",
        "not a date or time",
        "not a date",
    ),
    Case(
        "maybe in a boolean column",
        lambda d, t: _csv_cell(d, t, "orders", "returned", 1, "maybe"),
        "orders",
        "returned",
        "not true/false",
        "maybe",
    ),
    Case(
        "1.5 in an integer column",
        lambda d, t: _csv_cell(d, t, "orders", "quantity", 1, "1.5"),
        "orders",
        "quantity",
        "not a whole number",
        "1.5",
    ),
    # an empty orders table passed
    Case(
        "empty orders",
        lambda d, t: _parquet(d, "orders", t["orders"].head(0)),
        "orders",
        "*",
        "empty table: a company without orders cannot be modelled",
    ),
    # the obvious others
    Case(
        "missing column",
        lambda d, t: _parquet(d, "orders", t["orders"].drop(columns="discount")),
        "orders",
        "discount",
        "missing column",
    ),
    Case(
        "duplicate primary key",
        lambda d, t: _parquet(d, "customers", pd.concat([t["customers"], t["customers"].head(1)])),
        "customers",
        "customer_id",
        "duplicate key",
        "C0000001",
    ),
    Case(
        "null in a required column",
        lambda d, t: _parquet(d, "orders", _set(t["orders"], "product_id", 2, None)),
        "orders",
        "product_id",
        "null in a non-nullable column",
        "C0000053",
    ),
    Case(
        "negative quantity on a sale",
        lambda d, t: _parquet(d, "orders", _set(_set(t["orders"], "returned", 3, False), "quantity", 3, -2)),
        "orders",
        "quantity",
        "negative quantity on a line that is not a return",
        "-2",
    ),
    Case(
        "value outside the domain",
        lambda d, t: _parquet(d, "events", _set(t["events"], "referrer_type", 0, "carrier_pigeon")),
        "events",
        "referrer_type",
        "value not in",
        "carrier_pigeon",
    ),
    Case(
        "timestamp in the future",
        lambda d, t: _parquet(d, "orders", _set(t["orders"], "ts", 4, pd.Timestamp("2099-01-01"))),
        "orders",
        "ts",
        "timestamp in the future",
        "2099-01-01",
    ),
    Case(
        "id stored as a float",
        lambda d, t: _parquet(d, "orders", t["orders"].assign(customer_id=np.arange(len(t["orders"]), dtype=float))),
        "orders",
        "customer_id",
        "expected string, found dtype float64",
        "0.0",
    ),
    Case(
        "csv with a header only",
        lambda d, t: _as_csv(d, "orders", t["orders"].head(0)),
        "orders",
        "*",
        "empty table",
    ),
    Case("empty csv file", lambda d, t: _zero_bytes(d, "orders", ".csv"), "orders", "*", "is an empty file (0 bytes)"),
    Case(
        "empty parquet file",
        lambda d, t: _zero_bytes(d, "customers", ".parquet"),
        "customers",
        "*",
        "is an empty file (0 bytes)",
    ),
    Case(
        "folder instead of a parquet file",
        lambda d, t: _folder_instead_of_file(d, "orders", ".parquet"),
        "orders",
        "*",
        "is a folder, not a Parquet file",
    ),
    Case(
        "folder instead of a csv file",
        lambda d, t: _folder_instead_of_file(d, "campaigns", ".csv"),
        "campaigns",
        "*",
        "is a folder, not a CSV file",
    ),
    Case(
        "decimal comma in a price",
        lambda d, t: _csv_cell(d, t, "orders", "unit_price", 5, "12,50"),
        "orders",
        "unit_price",
        "decimals are written with '.'",
        "12,50",
    ),
    Case(
        "abc in a price stored as text in parquet",
        lambda d, t: _parquet(d, "orders", _set(t["orders"], "unit_price", 6, "abc")),
        "orders",
        "unit_price",
        "not a number",
        "abc",
    ),
    Case(
        "infinite price",
        lambda d, t: _parquet(d, "orders", _set(t["orders"], "unit_price", 7, np.inf)),
        "orders",
        "unit_price",
        "infinite value",
        "inf",
    ),
    Case(
        "missing key column of a referenced table",
        lambda d, t: _parquet(d, "customers", t["customers"].drop(columns="customer_id")),
        "customers",
        "customer_id",
        "missing column",
    ),
    Case("csv with a ragged line", _ragged_csv, "products", "*", "is not a readable CSV file"),
    Case("csv not in utf-8", _latin1_csv, "customers", "*", "not UTF-8 text"),
]


def _broken(clean_dir: Path, company: Company, tmp_path: Path, case: Case) -> Path:
    folder = tmp_path / "company"
    shutil.copytree(clean_dir, folder)
    case.corrupt(folder, dict(company.tables))
    return folder


def _named(violations: list[Violation], case: Case) -> Violation:
    found = [v for v in violations if v.table == case.table and v.column == case.column and case.rule in v.rule]
    assert found, f"no {case.table}.{case.column} '{case.rule}' among: {[str(v)[:200] for v in violations]}"
    return found[0]


def _assert_message(text: str, case: Case) -> None:
    assert f"{case.table}.{case.column}: " in text and case.rule in text, text
    if case.shows is not None:
        assert "first offending rows:" in text and case.shows in text, text
    assert "Traceback" not in text


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_api_names_table_column_rule_and_rows(clean_dir: Path, company: Company, tmp_path: Path, case: Case) -> None:
    folder = _broken(clean_dir, company, tmp_path, case)
    with pytest.raises(ContractError) as info:
        read_valid_tables(folder)
    assert isinstance(info.value, ValueError)
    violation = _named(info.value.violations, case)
    _assert_message(str(violation), case)
    _assert_message(str(info.value), case)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_validate_exits_1_with_the_message_and_writes_nothing(
    clean_dir: Path, company: Company, tmp_path: Path, case: Case
) -> None:
    folder = _broken(clean_dir, company, tmp_path, case)
    before = sorted(_files(folder))
    home = tmp_path / "home"
    result = CliRunner().invoke(app, ["validate", "--data", str(folder)], env={"CXML_HOME": str(home)})
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert result.stdout == ""
    _assert_message(result.stderr, case)
    assert _files(home) == [] and sorted(_files(folder)) == before


def test_validate_a_file_instead_of_a_folder(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "orders.parquet"
    not_a_folder.write_bytes(b"PAR1")
    result = CliRunner().invoke(app, ["validate", "--data", str(not_a_folder)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert f"no folder of contract tables at {not_a_folder}" in result.stderr
    with pytest.raises(ValueError, match="no data at"):
        read_valid_tables(not_a_folder)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads any file")
def test_unreadable_permissions(clean_dir: Path, company: Company, tmp_path: Path) -> None:
    folder = tmp_path / "company"
    shutil.copytree(clean_dir, folder)
    (folder / "orders.parquet").chmod(0)
    with pytest.raises(ContractError, match=r"orders\.\*: unreadable: .* is not a readable Parquet file"):
        read_valid_tables(folder)


# What stays valid


def test_an_extra_unknown_table_is_fine(clean_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "company"
    shutil.copytree(clean_dir, folder)
    write_table_atomic(pd.DataFrame({"card": ["L1"], "points": [3]}), folder / "loyalty.parquet")
    assert "loyalty" not in read_valid_tables(folder)
    result = CliRunner().invoke(app, ["validate", "--data", str(folder)])
    assert result.exit_code == 0 and result.stdout.startswith("ok: 9 tables valid"), result.output


def test_csv_prices_with_a_decimal_point_are_numbers(clean_dir: Path, company: Company, tmp_path: Path) -> None:
    folder = tmp_path / "company"
    shutil.copytree(clean_dir, folder)
    _csv_cell(folder, dict(company.tables), "orders", "unit_price", 5, "12.50")
    orders = read_valid_tables(folder)["orders"]
    assert orders["unit_price"].dtype == "float64" and orders["unit_price"].iloc[5] == 12.5


def test_csv_timestamps_in_mixed_iso_forms_are_read(clean_dir: Path, company: Company, tmp_path: Path) -> None:
    folder = tmp_path / "company"
    shutil.copytree(clean_dir, folder)
    _csv_cell(folder, dict(company.tables), "orders", "ts", 1, "2025-03-01")
    assert read_valid_tables(folder)["orders"]["ts"].iloc[1] == pd.Timestamp("2025-03-01")


def test_numbers_stored_as_text_in_parquet_are_read_with_a_warning(
    clean_dir: Path, company: Company, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "company"
    shutil.copytree(clean_dir, folder)
    orders = company.tables["orders"]
    _parquet(folder, "orders", orders.astype({"unit_price": "str"}))
    with caplog.at_level(logging.WARNING, logger="cxml.data.sources"):
        back = read_valid_tables(folder)["orders"]
    pd.testing.assert_series_equal(back["unit_price"], orders["unit_price"])
    assert f"orders.unit_price: {len(orders):,} text values read as float" in caplog.text
