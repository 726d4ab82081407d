"""Customer journey speed (issue 9): ``write_journey`` on a simulated company, end to end and by phase.

    python bench/journey.py --data DIR                   # a folder written by `cxml generate`
    python bench/journey.py --customers 1000000          # generates one (seed 0) in a temp folder first
    python bench/journey.py --data DIR --threads 2 --repeat 2

End to end is what `cxml journey` does: attach and validate the Parquet files, the stage per journey, the channel
steps, the funnels per segment and channel, and writing the page with its Parquet/CSV numbers. The phases are
then timed one by one in a second pass over the same files. Target: 1 M customers' events in ≤ 120 s on 2 cores.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import duckdb

from cxml.journey import channel_flows, funnel, journey_table, open_source, segment_labels, write_journey


def _rows(data: Path) -> dict[str, int]:
    out = {}
    for table in ("customers", "identities", "orders", "events", "service_contacts"):
        path = str(data / f"{table}.parquet").replace("'", "''")
        out[table] = int(duckdb.sql(f"SELECT COUNT(*) FROM read_parquet('{path}')").fetchall()[0][0])
    return out


def _phases(data: Path, threads: int | None) -> dict[str, float]:
    times: dict[str, float] = {}
    t = time.perf_counter()
    with open_source(data, threads=threads) as src:
        times["attach, validate, group orders"] = time.perf_counter() - t
        t = time.perf_counter()
        journeys = journey_table(src)
        times["stages per journey (SQL)"] = time.perf_counter() - t
        t = time.perf_counter()
        channel_flows(src)
        times["channel steps (SQL windows)"] = time.perf_counter() - t
    t = time.perf_counter()
    funnel(journeys)
    for dim in ("preferred_channel", "region"):
        funnel(journeys, segment_labels(journeys, dim), dimension=dim)
    times["funnels (pandas)"] = time.perf_counter() - t
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="folder of <table>.parquet (cxml generate --out)")
    parser.add_argument("--customers", type=int, default=1_000_000, help="customers to generate without --data")
    parser.add_argument("--as-of", default=None, help="cut-off [default: midnight after the last row]")
    parser.add_argument("--threads", type=int, default=None, help="DuckDB threads [default: all cores]")
    parser.add_argument("--repeat", type=int, default=1, help="end-to-end runs")
    parser.add_argument("--no-phases", action="store_true", help="skip the per-phase pass")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="cxml-journey-bench-"))
    try:
        data = args.data
        if data is None:
            from cxml.data.synthetic import write_company

            data = tmp / "company"
            t = time.perf_counter()
            write_company(data, n_customers=args.customers, seed=0)
            print(f"generated {args.customers:,} customers in {time.perf_counter() - t:.1f}s")
        for table, n in _rows(data).items():
            print(f"{table:>18}: {n:>12,} rows")
        runs = []
        for k in range(args.repeat):
            t = time.perf_counter()
            result = write_journey(data, tmp / f"out{k}", as_of=args.as_of, threads=args.threads)
            runs.append(time.perf_counter() - t)
            print(f"write_journey run {k + 1}: {runs[-1]:.1f}s ({result.summary['journeys']:,} journeys)")
        s = result.summary
        print(f"as_of {s['as_of']}; stages {s['stages']}")
        print(f"stitching {s['stitching']}")
        if not args.no_phases:
            for name, secs in _phases(data, args.threads).items():
                print(f"  {name:<32} {secs:6.1f}s")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        best = min(runs)
        print(f"write_journey end to end: best {best:.1f}s of {len(runs)} (target ≤ 120 s); peak RSS {peak:,.0f} MB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
