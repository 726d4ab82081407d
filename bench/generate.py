"""Time ``write_company`` at scale: rows per table, seconds and peak memory.

PYTHONPATH=src python bench/generate.py --customers 1000000 --out /tmp/cxml-bench
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import time
from pathlib import Path

from cxml.data.synthetic import DEFAULT_CHUNK, write_company


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chunk", type=int, default=DEFAULT_CHUNK)
    parser.add_argument("--keep", action="store_true", help="keep the generated data (deleted by default)")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    counts = write_company(
        args.out,
        n_customers=args.customers,
        seed=args.seed,
        chunk_customers=args.chunk,
        progress=args.progress,
    )
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_gib = usage.ru_maxrss / 1024**2  # ru_maxrss is KiB on Linux
    cpu_seconds = usage.ru_utime + usage.ru_stime
    size_mib = sum(p.stat().st_size for p in args.out.rglob("*.parquet")) / 1024**2

    print(f"customers: {args.customers:,}  seed: {args.seed}  chunk: {args.chunk:,}")
    for name, rows in counts.items():
        print(f"  {name:<22} {rows:>14,} rows")
    print(f"seconds: {seconds:.1f} wall, {cpu_seconds:.1f} CPU")
    print(f"peak RSS: {peak_gib:.2f} GiB")
    print(f"on disk: {size_mib:,.0f} MiB")
    if not args.keep:
        shutil.rmtree(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
