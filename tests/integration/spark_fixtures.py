"""One SparkSession per test session: ``local[2]``, a few shuffle partitions, no UI, quiet logs.

Starting Spark costs tens of seconds on a loaded machine, so every Spark test shares this one (import the
fixture into the test module). Skips with the install command when Java or PySpark is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

INSTALL = 'pip install "cxml[spark]" and apt-get install openjdk-17-jre-headless'


def _java_ok() -> bool:
    java = shutil.which("java")
    if java is None:
        return False
    return subprocess.run([java, "-version"], capture_output=True, timeout=60).returncode == 0


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """A local[2] SparkSession for the whole test run, stopped at the end."""
    pytest.importorskip("pyspark", reason=f"PySpark missing: {INSTALL}")
    pytest.importorskip("sqlglot", reason=f"SQLGlot missing: {INSTALL}")
    if not _java_ok():
        pytest.skip(f"Java missing: {INSTALL}")
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # Python workers with cxml installed, as spark_session
    session = (
        SparkSession.builder.master("local[2]")
        .appName("cxml-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()
