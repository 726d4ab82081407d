"""Reading and writing tables keeps contract dtypes; writes are atomic."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cxml.data.contract import validate_tables
from cxml.data.sources import read_flat_table, read_tables, read_truth, write_table_atomic
from cxml.data.synthetic import Company, generate_company

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def company() -> Company:
    return generate_company(n_customers=300, seed=11)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_round_trip_keeps_dtypes(tmp_path: Path, company: Company, suffix: str) -> None:
    for name, frame in company.tables.items():
        write_table_atomic(frame, tmp_path / f"{name}{suffix}")
    tables = read_tables(tmp_path)
    assert set(tables) == set(company.tables)
    for name, frame in company.tables.items():
        pd.testing.assert_series_equal(tables[name].dtypes, frame.dtypes, obj=name)
    validate_tables(tables, now=pd.Timestamp("2026-01-01"))


def test_csv_round_trip_keeps_values(tmp_path: Path, company: Company) -> None:
    customers = company.tables["customers"]
    write_table_atomic(customers, tmp_path / "customers.csv")
    back = read_tables(tmp_path, ["customers"])["customers"]
    pd.testing.assert_frame_equal(back, customers)


def test_missing_optional_table_is_absent(tmp_path: Path, company: Company) -> None:
    for name, frame in company.tables.items():
        if name != "prices":
            write_table_atomic(frame, tmp_path / f"{name}.parquet")
    assert "prices" not in read_tables(tmp_path)


def test_missing_required_table_fails_with_its_name(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="customers"):
        read_tables(tmp_path, ["customers"])


def test_read_truth(tmp_path: Path, company: Company) -> None:
    for name, frame in company.truth.items():
        write_table_atomic(frame, tmp_path / "truth" / f"{name}.parquet")
    truth = read_truth(tmp_path)
    assert set(truth) == set(company.truth)
    assert read_truth(tmp_path / "nowhere") == {}


def test_flat_table_keeps_ids_as_text(tmp_path: Path) -> None:
    path = tmp_path / "flat.csv"
    path.write_text("customer_id,tenure,plan\n00123,5,gold\n00456,7,\n")
    frame = read_flat_table(path)
    assert frame["customer_id"].tolist() == ["00123", "00456"]
    assert pd.api.types.is_string_dtype(frame["plan"])
    assert pd.api.types.is_integer_dtype(frame["tenure"])


def test_atomic_write_leaves_no_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "t.parquet"
    write_table_atomic(pd.DataFrame({"a": [1, 2]}), target)

    class Boom:
        def __array__(self, *args, **kwargs):
            raise RuntimeError("boom")

    bad = pd.DataFrame({"a": [Boom(), Boom()]})
    with pytest.raises(Exception):  # noqa: B017 - any failure must leave the old file intact
        write_table_atomic(bad, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.parquet"]
    assert pd.read_parquet(target)["a"].tolist() == [1, 2]
