"""``cxml score --engine spark``: the customer-360 on Spark SQL and the champion on the executors.

The features are the very SQL DuckDB runs (``cxml.features.spark``); each executor scores its partitions with
``mapInPandas`` over the function the in-process path uses (``customer_scores``), the champion travelling in the
task's closure (PySpark broadcasts a closure over 1 MB). The executors write the scored rows to a staging Parquet
folder, which the driver then streams in record batches into the usual sink: a file or a database table is still
replaced at once, never half-written, and the driver holds one batch at a time.

Only the families read on the customer-360 features are scored here (churn, uplift, survival); the others build
their rows from whole tables and are scored on the default engine.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.dataset as pads

from cxml import progress
from cxml.features.spark import as_spark_path, spark_features, spark_session
from cxml.serving.families import served_families

SPARK_TYPES = {"object": "string", "str": "string", "string": "string", "float64": "double", "int64": "bigint"}
"""pandas dtypes of the scored columns → Spark SQL types (``mapInPandas`` needs the output schema up front)."""


def spark_scores(
    champ: Any,
    folder: Path,
    date: pd.Timestamp,
    reasons: int,
    *,
    staging: Path,
    master: str | None = None,
    chunk_rows: int,
) -> tuple[int, Iterator[pd.DataFrame]]:
    """Score every customer on Spark; the number of rows and the scored chunks, read back from ``staging``.

    ``staging`` (a folder the executors can write and the driver read) is removed once the chunks are consumed.
    The executors score with ``customer_scores``, the one scoring path the DuckDB engine uses too.
    """
    session = spark_session(master, app_name=f"cxml-score-{champ.served.name}")
    # kept, so the sample that fixes the output schema and the scoring pass aggregate the orders once, not twice
    features = spark_features(session, as_spark_path(folder), date).cache()
    try:
        return _score(champ, features, folder, date, reasons, staging=staging, chunk_rows=chunk_rows)
    finally:
        features.unpersist()


def _score(
    champ: Any, features: Any, folder: Path, date: pd.Timestamp, reasons: int, *, staging: Path, chunk_rows: int
) -> tuple[int, Iterator[pd.DataFrame]]:
    from cxml.jobs.score import as_feature_frame, customer_scores

    family, name, version = champ.served.name, champ.name, champ.version
    sample = pd.DataFrame(features.limit(2).toPandas())
    if sample.empty:
        raise ValueError(f"no customers to score in {folder} as of {date.date()} (none signed up before it)")
    model = champ.model
    schema = _spark_schema(customer_scores(champ, as_feature_frame(sample), reasons))

    def score_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from cxml.jobs.score import Champion

        local = Champion(served_families()[family], name, version, model)
        for batch in batches:
            if len(batch):
                yield customer_scores(local, as_feature_frame(batch), reasons)

    out = staging / f"spark-{family}-{uuid.uuid4().hex[:8]}"
    try:
        with progress.step(f"{family} scores on Spark ({features.sparkSession.sparkContext.master})"):
            features.mapInPandas(score_partition, schema).write.parquet(as_spark_path(out))
        scored = pads.dataset(out, format="parquet")
        total = scored.count_rows()
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise

    def chunks() -> Iterator[pd.DataFrame]:
        try:
            for batch in scored.to_batches(batch_size=chunk_rows):
                yield batch.to_pandas()
        finally:
            shutil.rmtree(out, ignore_errors=True)

    return total, chunks()


def _spark_schema(example: pd.DataFrame) -> str:
    """The DDL schema of the scored rows, from a scored sample (column order kept)."""
    fields = []
    for column, dtype in example.dtypes.items():
        kind = SPARK_TYPES.get(str(dtype))
        if kind is None:
            raise TypeError(f"scored column {column!r} has dtype {dtype}, which the Spark engine does not map")
        fields.append(f"`{column}` {kind}")
    return ", ".join(fields)
