"""Nightly scoring speed (issue #20): ``cxml score churn`` for every customer, from the contract tables to the
written Parquet table, beside the in-process ``predict_proba`` rate of the same champion.

    python bench/scale.py                          # 1,000,000 customers, cached under /tmp/cxml-bench-scale
    python bench/scale.py --customers 100000 --repeat 3

The company is generated once with ``cxml generate`` (seed 0) and kept in the cache folder; a churn champion is
trained once on a small company of its own (``--train-customers``, one trial) in a workspace there too. The
command is timed as a user runs it (a subprocess, imports and model loading included); ``predict_proba`` is
timed on the customer-360 frame already in memory, so the ratio says what the rest of the command costs.
Target: ≤ 60 s for 1 M customers without reasons on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 60.0


def cxml(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "cxml.cli", *args], env=env, check=True, capture_output=True, text=True, cwd=ROOT
    )


def company(folder: Path, customers: int, seed: int) -> Path:
    """A generated company, reused when the folder holds one already (generation of 1 M takes minutes)."""
    if not (folder / "orders.parquet").exists():
        t0 = time.perf_counter()
        cxml("generate", "--out", str(folder), "--customers", str(customers), "--seed", str(seed))
        print(f"generated {customers:,} customers in {time.perf_counter() - t0:.0f} s → {folder}")
    return folder


def champion(cache: Path, train_customers: int) -> Path:
    """A workspace with a churn champion (trained once, one trial, on a small company of its own)."""
    home = cache / "ws"
    if not (home / "mlflow.db").exists():
        small = company(cache / f"company-{train_customers}", train_customers, seed=1)
        cxml("train", "churn", "--data", str(small), "--trials", "1", "--home", str(home))
    return home


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def score_command(home: Path, data: Path, out: Path) -> tuple[float, float, dict[str, object]]:
    """Wall and CPU seconds (user + system, every thread) of ``cxml score churn`` in a fresh process, and its
    ``--json`` summary. CPU seconds hardly move with other load on the box; on 2 idle cores the wall time lies
    near [CPU / 2, CPU] (files read from the page cache)."""
    t0, cpu0 = time.perf_counter(), _children_cpu()
    run = cxml("score", "churn", "--data", str(data), "--out", str(out), "--home", str(home), "--json")
    wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    return wall, cpu, json.loads(run.stdout.strip().splitlines()[-1])


def predict_rate(home: Path, data: Path, as_of: str, version: str) -> tuple[float, float, float, int]:
    """Seconds of the customer-360 build and of ``predict_proba`` on it (wall, and CPU of this process), in
    process with the same champion, and the rows."""
    from cxml import tracking
    from cxml.config import Workspace
    from cxml.features.build import build_features
    from cxml.pyfunc import load_estimator

    tracking.configure(Workspace(home))
    estimator = load_estimator(f"models:/cxml.churn/{version}")
    t0 = time.perf_counter()
    features = build_features(data, as_of)[list(estimator.feature_names_in_)]
    t_features = time.perf_counter() - t0
    t0, cpu0 = time.perf_counter(), time.process_time()
    proba = np.asarray(estimator.predict_proba(features))[:, 1]
    t_predict, cpu_predict = time.perf_counter() - t0, time.process_time() - cpu0
    assert len(proba) == len(features)
    return t_features, t_predict, cpu_predict, len(features)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--train-customers", type=int, default=5_000)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/cxml-bench-scale"), help="generated data + ws")
    parser.add_argument("--data", type=Path, help="an existing company folder instead of the generated one")
    parser.add_argument("--repeat", type=int, default=1, help="runs of the command; each is printed")
    args = parser.parse_args()

    data = args.data or company(args.cache / f"company-{args.customers}", args.customers, seed=0)
    home = champion(args.cache, args.train_customers)
    lines = pq.ParquetFile(data / "orders.parquet").metadata.num_rows
    print(f"data {data}: {lines:,} order lines; workspace {home}; {os.cpu_count()} cores; load {os.getloadavg()}")
    out = args.cache / "scores.parquet"
    walls, cpus = [], []
    for _ in range(args.repeat):
        wall, cpu, summary = score_command(home, data, out)
        walls.append(wall)
        cpus.append(cpu)
        rows = int(summary["rows"])  # type: ignore[call-overload]
        print(
            f"cxml score churn: {rows:,} rows in {wall:.1f} s wall, {cpu:.1f} s CPU ({rows / wall:,.0f} rows/s; "
            f"the job itself {summary['seconds']} s, {summary['rows_per_s']:,} rows/s), load {os.getloadavg()[0]:.1f}"
        )
    assert pq.ParquetFile(out).metadata.num_rows == rows
    t_features, t_predict, cpu_predict, n = predict_rate(
        home, data, str(summary["as_of"]), str(summary["model_version"])
    )
    print(
        f"in process: customer-360 build {t_features:.1f} s; "
        f"predict_proba {t_predict:.2f} s wall, {cpu_predict:.2f} s CPU ({n / t_predict:,.0f} rows/s)"
    )
    best = min(walls)
    print(
        f"score command CPU {min(cpus):.1f} s: on 2 idle cores its wall time would lie near "
        f"[{min(cpus) / 2:.1f}, {min(cpus):.1f}] s (all on both cores, all on one; file reads aside)"
    )
    print(
        f"score command {rows / best:,.0f} rows/s vs predict_proba {n / t_predict:,.0f} rows/s "
        f"(ratio {(n / t_predict) / (rows / best):.1f}×); best {best:.1f} s "
        f"{'≤' if best <= TARGET_S else '>'} {TARGET_S:.0f} s target"
    )


if __name__ == "__main__":
    main()
