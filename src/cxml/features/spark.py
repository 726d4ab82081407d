"""Point-in-time customer-360 features on Spark SQL, from the very SQL files DuckDB runs.

One source of truth: ``build.feature_query()`` (DuckDB dialect) is translated by SQLGlot into Spark SQL, the
five engine-specific functions come from ``sql/macros.spark.sql`` (the twin of the DuckDB macros), and
``$as_of`` becomes a timestamp literal in the syntax tree. Nothing here restates a feature. The contract tables
are registered as temporary views, either read from a folder of ``<table>.parquet`` (a local path or any URI
Spark can read: ``s3a://``, ``abfss://``, ``hdfs://``, ``dbfs:/``) or handed over as pandas frames.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib.util import find_spec
from pathlib import Path

import pandas as pd

from cxml import progress
from cxml.features.build import SOURCE_COLUMNS, _as_naive_timestamp, _tidy, feature_query, read_sql

try:  # PySpark and SQLGlot are the optional `spark` extra; require_spark() says how to get them
    import sqlglot
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql import functions as F
    from pyspark.sql import types as T
    from sqlglot import exp
except ImportError:  # pragma: no cover - exercised only without the extra
    _MISSING = True
else:
    _MISSING = False

INSTALL_HINT = (
    'pip install "cxml[spark]" (PySpark 4 and SQLGlot; Spark needs Java 17: apt-get install openjdk-17-jre-headless)'
)
DEFAULT_MASTER = "local[2]"
_MACROS = "macros.spark.sql"
_VIEW_PREFIX = "cxml_"  # temporary views get a prefix so a user's own views of the same name are left alone


def require_spark() -> None:
    """Fail early, naming the install command, when PySpark or SQLGlot is not importable."""
    if _MISSING or find_spec("pyspark") is None:
        raise RuntimeError(f"the Spark engine needs PySpark and SQLGlot: {INSTALL_HINT}")


def as_spark_path(path: Path | str) -> str:
    """A path as Spark wants it: URIs (``s3a://b/k``, which ``Path`` folds into ``s3a:/b/k``) restored, local
    paths made absolute (executors do not share the driver's working directory)."""
    text = str(path)
    scheme = re.match(r"^([a-z][a-z0-9+.-]*):/+", text)
    if scheme and len(scheme.group(1)) > 1:  # not a Windows drive letter
        return f"{scheme.group(1)}://{text[len(scheme.group(0)) :]}" if scheme.group(1) != "dbfs" else text
    return str(Path(text).resolve())


def spark_session(master: str | None = None, *, app_name: str = "cxml-features") -> SparkSession:
    """A session on ``master`` with the settings the feature SQL relies on (UTC clock, Arrow transfer).

    Without ``master``, the master that spark-submit (or a Databricks job, a pyspark shell) set is used, else
    ``local[2]``; an existing session is reused as it is. For ``local[N]`` the shuffle is cut to a few partitions,
    since Spark's default of 200 makes a one-machine build mostly overhead.
    """
    require_spark()
    from pyspark import SparkConf

    submitted = SparkConf().get("spark.master", None)
    master = master or submitted or DEFAULT_MASTER
    builder = (
        SparkSession.builder.appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
    )
    if master != submitted:
        builder = builder.master(master)
    local = re.fullmatch(r"local(?:\[(\d+|\*)\])?", master)
    if local:
        # Python workers run the driver's interpreter (cxml and the models installed), not the first python3 on
        # PATH; PySpark reads only this variable when it starts the context (spark.pyspark.python is spark-submit's)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        cores = local.group(1)
        n = 2 if cores in (None, "*") else int(cores)
        builder = builder.config("spark.sql.shuffle.partitions", str(max(2, 2 * n)))
    return builder.getOrCreate()


def spark_feature_sql(as_of: str | pd.Timestamp, *, view_prefix: str = _VIEW_PREFIX) -> str:
    """The customer-360 query in Spark SQL: SQLGlot's translation of the DuckDB files, ``$as_of`` bound.

    Source tables are renamed to ``<view_prefix><table>`` so they do not shadow a session's own views.
    """
    require_spark()
    as_of_ts = _as_naive_timestamp(as_of)
    literal = as_of_ts.strftime("%Y-%m-%d %H:%M:%S.%f")
    tree = sqlglot.parse_one(feature_query(), read="duckdb")
    unknown = {p.name for p in tree.find_all(exp.Placeholder, exp.Parameter)} - {"as_of"}
    if unknown:
        raise ValueError(f"the feature SQL uses parameter(s) {sorted(unknown)}; only $as_of is bound")
    sources = set(SOURCE_COLUMNS)

    def bind(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder) and node.name == "as_of":
            # naive timestamps on both engines: DuckDB's TIMESTAMP is Spark's TIMESTAMP_NTZ
            return exp.cast(exp.Literal.string(literal), exp.DataType.build("TIMESTAMP"))
        if isinstance(node, exp.Table) and not node.args.get("db") and node.name in sources:
            renamed = exp.to_table(f"{view_prefix}{node.name}")
            renamed.set("alias", node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(node.name)))
            return renamed
        return node

    return _scope_nested_ctes(tree.transform(bind)).sql(dialect="spark", comments=False)


def _scope_nested_ctes(tree: exp.Expression) -> exp.Expression:
    """Prefix each dimension's own CTEs with its name (``f_web__per_customer``).

    DuckDB scopes a WITH inside a CTE to that CTE; SQLGlot's Spark output hoists every CTE to the top, where
    two files' ``per_customer`` would collide.
    """
    outer = tree.args.get("with_") or tree.args.get("with")
    for cte in outer.expressions if outer else []:
        body = cte.this
        inner = body.args.get("with_") or body.args.get("with")
        if not inner:
            continue
        names = {c.alias for c in inner.expressions}
        prefix = f"{cte.alias}__"
        for c in inner.expressions:
            c.set("alias", exp.TableAlias(this=exp.to_identifier(prefix + c.alias)))
        for table in body.find_all(exp.Table):
            if not table.args.get("db") and table.name in names:
                table.set("this", exp.to_identifier(prefix + table.name))
                if not table.args.get("alias"):
                    table.set("alias", exp.TableAlias(this=exp.to_identifier(table.name[len(prefix) :])))
    return tree


def spark_features(
    spark: SparkSession, source: Mapping[str, pd.DataFrame] | Path | str, as_of: str | pd.Timestamp
) -> DataFrame:
    """The customer-360 table as a lazy Spark DataFrame, typed like ``build_features``' frame.

    Columns: ``customer_id`` (string), counts as BIGINT, everything else DOUBLE (Spark's exact DECIMAL sums and
    means become DOUBLE, as DuckDB returns them). Rows sorted by ``customer_id``.
    """
    register_sources(spark, source)
    return feature_frame(spark, as_of)


def register_sources(
    spark: SparkSession, source: Mapping[str, pd.DataFrame] | Path | str, *, cache: bool = False
) -> dict[str, DataFrame]:
    """Register the contract tables the features read as temporary views (``cxml_<table>``); the frames.

    ``cache`` keeps the needed columns in executor memory, for several ``as_of`` over the same tables.
    """
    require_spark()
    frames = {}
    for table in SOURCE_COLUMNS:
        frame = _source_frame(spark, source, table)
        if cache:
            frame = frame.cache()
        frame.createOrReplaceTempView(f"{_VIEW_PREFIX}{table}")
        frames[table] = frame
    return frames


def feature_frame(spark: SparkSession, as_of: str | pd.Timestamp) -> DataFrame:
    """The customer-360 query over views ``register_sources`` made, macros defined first."""
    require_spark()
    for statement in _statements(read_sql(_MACROS)):
        spark.sql(statement)
    frame = spark.sql(spark_feature_sql(as_of))
    return frame.select(*(_numeric(field) for field in frame.schema.fields))


def build_features_spark(
    source: Mapping[str, pd.DataFrame] | Path | str,
    as_of: str | pd.Timestamp,
    *,
    spark: SparkSession | None = None,
    master: str | None = None,
) -> pd.DataFrame:
    """``build_features`` on Spark, collected into pandas: same index, columns and dtypes (small data only).

    For a customer base that does not fit the driver, use ``write_features_spark`` instead.
    """
    session = spark or spark_session(master)
    with _utc(session), progress.step(f"features as of {_as_naive_timestamp(as_of).date()} (Spark)"):
        frame = spark_features(session, source, as_of).toPandas()
    return _tidy(frame)


def write_features_spark(
    source: Mapping[str, pd.DataFrame] | Path | str,
    as_of: str | pd.Timestamp,
    out: Path | str,
    *,
    spark: SparkSession | None = None,
    master: str | None = None,
) -> int:
    """Write the customer-360 table as a Parquet folder (one file per task) at ``out``; the number of rows.

    The executors write in parallel and Spark's commit protocol marks a finished folder with ``_SUCCESS``;
    an existing ``out`` is replaced. Readers (pandas, DuckDB, Spark) take the folder as one table.
    """
    session = spark or spark_session(master)
    with _utc(session), progress.step(f"features as of {_as_naive_timestamp(as_of).date()} (Spark) → {out}"):
        frame = spark_features(session, source, as_of).cache()
        try:
            frame.write.mode("overwrite").parquet(str(out))
            rows = frame.count()
        finally:
            frame.unpersist()
    return rows


@contextmanager
def _utc(spark: SparkSession) -> Iterator[None]:
    """Run with the session clock on UTC (naive timestamps mean UTC, as on DuckDB), then restore it."""
    key = "spark.sql.session.timeZone"
    before = spark.conf.get(key) or "UTC"
    spark.conf.set(key, "UTC")
    try:
        yield
    finally:
        spark.conf.set(key, before)


def _source_frame(spark: SparkSession, source: Mapping[str, pd.DataFrame] | Path | str, table: str) -> DataFrame:
    """One contract table as a Spark DataFrame holding the columns the features read, or a clear error."""
    needed = list(SOURCE_COLUMNS[table])
    if isinstance(source, (str, Path)):
        where, frame = _read_parquet(spark, source, table)
    else:
        if table not in source:
            raise ValueError(f"build_features_spark needs table {table!r}; got {sorted(source)}")
        where = f"table {table!r}"
        pdf = source[table]
        missing = [c for c in needed if c not in pdf.columns]
        if missing:
            raise ValueError(f"{where} lacks column(s) {missing}")
        frame = spark.createDataFrame(_arrow_ready(pdf[needed]))
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"{where} lacks column(s) {missing}")
    return frame.select(*needed)


def _read_parquet(spark: SparkSession, source: Path | str, table: str) -> tuple[str, DataFrame]:
    text = str(source)
    if re.match(r"^[a-z][a-z0-9+.-]+:", text):  # a URI (s3a://, hdfs://, dbfs:/): Spark says what is missing
        path = f"{text.rstrip('/')}/{table}.parquet"
    else:
        directory = Path(source)
        if not directory.is_dir():
            raise ValueError(f"{directory} is not a directory of <table>.parquet files")
        local = directory / f"{table}.parquet"
        if not local.exists():
            raise ValueError(f"build_features_spark needs table {table!r}: {local} not found")
        path = str(local.resolve())
    # a folder of parts may nest them (as DuckDB's **/*.parquet reads them); no Hive partition columns
    return path, spark.read.option("recursiveFileLookup", "true").parquet(path)


def _arrow_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as plain objects and tz-aware times as naive UTC, which Spark's Arrow path takes as-is."""
    out = {}
    for name, col in frame.items():
        if isinstance(col.dtype, pd.DatetimeTZDtype):
            out[name] = col.dt.tz_convert("UTC").dt.tz_localize(None)
        elif pd.api.types.is_string_dtype(col.dtype) and not pd.api.types.is_object_dtype(col.dtype):
            out[name] = col.astype(object).where(col.notna(), None)
        else:
            out[name] = col
    return pd.DataFrame(out, index=frame.index)


def _numeric(field: T.StructField) -> Column:
    """Integers widened to BIGINT, DECIMAL and other numbers to DOUBLE, the key kept as text."""
    column = F.col(field.name)
    if field.name == "customer_id":
        return column.cast("string")
    if isinstance(field.dataType, (T.ByteType, T.ShortType, T.IntegerType, T.LongType)):
        return column.cast("bigint")
    return column.cast("double")


def _statements(script: str) -> list[str]:
    """The statements of a SQL script, comment lines dropped (the macros file holds no ';' inside strings)."""
    body = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]
