"""The customer-360 features on Spark ``local[2]`` equal DuckDB's, from the same SQL files.

One SparkSession for the whole run (``spark_fixtures``) and one simulated company of 20,000 customers for this
module; one Spark build per ``as_of``. Integer columns must match exactly, doubles within 1e-9, same customers
in the same order, same dtypes: the pandas frame is a drop-in for ``build_features``'.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cxml.features.build import build_features
from tests.integration import spark_fixtures
from tests.unit.test_features import AS_OF, TIME_COLUMNS, tiny_tables

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
]
spark = spark_fixtures.spark  # the one session-scoped SparkSession

CUSTOMERS = 20_000
SEED = 20


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cxml.data.synthetic import write_company

    out = tmp_path_factory.mktemp("spark-company") / "company"
    write_company(out, CUSTOMERS, seed=SEED)
    return out


def assert_same_features(spark_frame: pd.DataFrame, duck_frame: pd.DataFrame) -> None:
    """Same customers, columns and dtypes; integers exact, doubles within 1e-9 (NaN where DuckDB has NaN)."""
    pd.testing.assert_index_equal(spark_frame.index, duck_frame.index)
    assert list(spark_frame.columns) == list(duck_frame.columns)
    pd.testing.assert_series_equal(spark_frame.dtypes, duck_frame.dtypes)
    for name, expected in duck_frame.items():
        got = spark_frame[name]
        if pd.api.types.is_float_dtype(expected):
            np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-9, err_msg=name)
        else:
            assert (got.to_numpy() == expected.to_numpy()).all(), name


def truncated(data: Path, as_of: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """The company's tables with every row stamped at or after ``as_of`` dropped, as pandas frames."""
    tables = {}
    for path in sorted(data.glob("*.parquet")):
        frame = pd.read_parquet(path)
        col = TIME_COLUMNS.get(path.stem)
        tables[path.stem] = frame if col is None else frame.loc[frame[col] < as_of].reset_index(drop=True)
    return tables


def an_order_timestamp(data: Path) -> pd.Timestamp:
    """The time stamp of a real order line mid-year: an as_of that lands exactly on recorded rows."""
    ts = pd.read_parquet(data / "orders.parquet", columns=["ts"])["ts"].sort_values()
    return pd.Timestamp(ts.iloc[len(ts) // 2])


@pytest.mark.parametrize("as_of", ["2025-04-01", "2025-09-15 13:30", "exactly-on-an-order"])
def test_spark_features_equal_duckdb_on_a_company(spark: Any, company: Path, as_of: str) -> None:
    from cxml.features.spark import build_features_spark

    when = an_order_timestamp(company) if as_of == "exactly-on-an-order" else pd.Timestamp(as_of)
    got = build_features_spark(company, when, spark=spark)
    expected = build_features(company, when)
    assert len(expected) > 5_000 and expected["orders_total"].sum() > 10_000
    assert_same_features(got, expected)
    if as_of == "exactly-on-an-order":
        # rows stamped exactly at as_of are the future: Spark on everything equals DuckDB on the past alone
        past = truncated(company, when)
        assert len(past["orders"]) < len(pd.read_parquet(company / "orders.parquet", columns=["ts"]))
        assert_same_features(got, build_features(past, when))


def test_tz_aware_pandas_frames_give_duckdbs_features_on_the_boundary_cases(spark: Any) -> None:
    """The unit test's tiny company (an order at exactly as_of, a control-arm exposure, cookie-only events), as
    tz-aware pandas frames with a tz-aware as_of: the same features as DuckDB on the naive originals."""
    from cxml.features.spark import build_features_spark

    tables = tiny_tables()
    aware = {
        name: frame.assign(
            **{c: frame[c].dt.tz_localize("UTC") for c in frame if pd.api.types.is_datetime64_any_dtype(frame[c])}
        )
        for name, frame in tables.items()
    }
    got = build_features_spark(aware, AS_OF.tz_localize("UTC"), spark=spark)
    assert_same_features(got, build_features(tables, AS_OF))


def test_missing_table_and_column_are_named(spark: Any, tmp_path: Path) -> None:
    from cxml.features.spark import build_features_spark

    tables = tiny_tables()
    with pytest.raises(ValueError, match="events"):
        build_features_spark({k: v for k, v in tables.items() if k != "events"}, AS_OF, spark=spark)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['sentiment'\]"):
        broken = {**tables, "service_contacts": tables["service_contacts"].drop(columns="sentiment")}
        build_features_spark(broken, AS_OF, spark=spark)
    with pytest.raises(ValueError, match="not a directory"):
        build_features_spark(tmp_path / "nowhere", AS_OF, spark=spark)


def test_cli_writes_the_spark_features_as_a_parquet_folder(spark: Any, tmp_path: Path) -> None:
    """`cxml features --engine spark` reuses the running session and writes what DuckDB would have computed."""
    from cxml.cli import app

    data = tmp_path / "data"
    data.mkdir()
    tables = tiny_tables()
    for name, frame in tables.items():
        frame.to_parquet(data / f"{name}.parquet", index=False)
    out = tmp_path / "features.parquet"
    args = ["features", "--data", str(data), "--as-of", str(AS_OF.date()), "--out", str(out), "--engine", "spark"]
    result = CliRunner().invoke(app, [*args, "--spark-master", "local[2]"])
    assert result.exit_code == 0, result.output
    assert out.is_dir() and (out / "_SUCCESS").exists()
    written = pd.read_parquet(out).sort_values("customer_id").set_index("customer_id")
    written.index = written.index.astype("str")
    expected = build_features(tables, AS_OF)
    assert f"{len(expected):,} customers" in result.output
    assert_same_features(written, expected)


def test_translation_binds_as_of_and_scopes_each_dimensions_ctes() -> None:
    """DuckDB scopes a file's own CTEs; Spark sees one flat WITH, so two `per_customer` must not collide."""
    pytest.importorskip("sqlglot")
    import sqlglot
    from sqlglot import exp

    from cxml.features.spark import spark_feature_sql

    sql = spark_feature_sql(pd.Timestamp("2025-09-15 13:30", tz="Europe/Paris"))
    tree = sqlglot.parse_one(sql, read="spark")
    names = [cte.alias for cte in tree.find_all(exp.CTE)]
    assert len(names) == len(set(names)) and {"f_orders__per_customer", "f_web__per_customer"} <= set(names)
    assert "$" not in sql and "'2025-09-15 11:30:00" in sql  # as_of in UTC, naive
    sources = {t.name for t in tree.find_all(exp.Table)} - set(names)
    assert sources == {f"cxml_{name}" for name in ("customers", "identities", "products", "orders", "events",
                                                  "service_contacts", "exposures")}  # fmt: skip
