"""Feature build on Spark local[2] against DuckDB (DESIGN §12), from the same SQL files, same Parquet inputs.

    python bench/spark_features.py --customers 100000           # generates a synthetic company in a temp folder
    python bench/spark_features.py --data DIR --as-of 2025-10-01 [--master local[2]]

Spark's time is split into start-up (JVM and session), scan (every needed column of every contract table read
and decoded, then dropped) and aggregation (the rest of the end-to-end build as `cxml features --engine spark`
runs it: Parquet in, joins and GROUP BYs with their shuffles, Parquet folder out). DuckDB
is timed on the same files (`build_features`, in-process, into pandas). The Spark output must equal DuckDB's
(integers exactly, doubles within 1e-9) before any figure is printed. On one machine DuckDB wins: Spark pays
for a JVM, a shuffle per GROUP BY and task scheduling that only a cluster repays.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame

from cxml.data.synthetic import write_company
from cxml.features.build import build_features
from cxml.features.spark import register_sources, spark_session, write_features_spark

T = TypeVar("T")


def timed(label: str, timings: dict[str, float], fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    timings[label] = time.perf_counter() - t0
    print(f"  {label:<34} {timings[label]:8.2f} s", flush=True)
    return out


def same_features(spark_out: Path, duck: pd.DataFrame) -> None:
    """The Parquet folder Spark wrote holds DuckDB's table: same customers, integers exact, doubles 1e-9."""
    got = pd.read_parquet(spark_out).sort_values("customer_id").set_index("customer_id")
    got.index = got.index.astype("str")
    assert got.index.equals(duck.index), "different customers"
    assert list(got.columns) == list(duck.columns), "different columns"
    for name, col in duck.items():
        if pd.api.types.is_float_dtype(col):
            np.testing.assert_allclose(got[name].to_numpy(), col.to_numpy(), rtol=0, atol=1e-9, err_msg=name)
        else:
            assert (got[name].to_numpy() == col.to_numpy()).all(), name


def _drain(frames: dict[str, DataFrame]) -> None:
    for frame in frames.values():
        frame.write.format("noop").mode("overwrite").save()


def run(data: Path, as_of: str, master: str, work: Path) -> dict[str, float]:
    timings: dict[str, float] = {}
    print(f"Spark {master}", flush=True)
    spark = timed("start-up (JVM + session)", timings, spark_session, master, app_name="cxml-bench")
    spark.sparkContext.setLogLevel("ERROR")
    frames = register_sources(spark, str(data.resolve()))
    rows = sum(f.count() for f in frames.values())
    print(f"    {rows:,} source rows", flush=True)
    # every needed column of every table read and decoded, then dropped: what the build pays to scan
    timed("scan (read the needed columns)", timings, _drain, frames)
    out = work / "spark_features.parquet"
    timed("end to end, Parquet → Parquet", timings, write_features_spark, data, as_of, out, spark=spark)
    timings["aggregation (end to end − scan)"] = (
        timings["end to end, Parquet → Parquet"] - timings["scan (read the needed columns)"]
    )
    spark.stop()

    print("DuckDB (2 threads, as local[2])", flush=True)
    duck = timed("build_features → pandas", timings, build_features, data, as_of, threads=2)
    same_features(out, duck)
    print(f"  Spark output equals DuckDB's: {len(duck):,} customers × {duck.shape[1]} features", flush=True)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000, help="simulate a company of this size")
    parser.add_argument("--data", type=Path, help="an existing folder of contract tables instead")
    parser.add_argument("--as-of", default="2025-10-01")
    parser.add_argument("--master", default=os.environ.get("SPARK_MASTER", "local[2]"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cxml-spark-bench-"))
    try:
        data = args.data
        if data is None:
            data = work / "company"
            t0 = time.perf_counter()
            write_company(data, args.customers, seed=args.seed)
            print(f"simulated {args.customers:,} customers in {time.perf_counter() - t0:.1f} s", flush=True)
        t = run(data, args.as_of, args.master, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    scan, e2e = t["scan (read the needed columns)"], t["end to end, Parquet → Parquet"]
    duck = t["build_features → pandas"]
    print("\nsummary")
    print(f"  Spark start-up                 {t['start-up (JVM + session)']:8.2f} s")
    print(f"  Spark scan                     {scan:8.2f} s")
    print(f"  Spark aggregation (+ write)    {e2e - scan:8.2f} s")
    print(f"  Spark end to end, no start-up  {e2e:8.2f} s  ({e2e / duck:.1f}× DuckDB)")
    print(f"  Spark with start-up            {e2e + t['start-up (JVM + session)']:8.2f} s", end="")
    print(f"  ({(e2e + t['start-up (JVM + session)']) / duck:.1f}× DuckDB)")
    print(f"  DuckDB                         {duck:8.2f} s")
    print(f"  load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
