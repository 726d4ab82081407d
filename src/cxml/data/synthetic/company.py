"""A whole simulated company: generated in memory, or streamed chunk by chunk to Parquet files."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cxml.data.synthetic.params import DEFAULT_CHUNK
from cxml.data.synthetic.schema import CONTRACT_TABLES
from cxml.data.synthetic.tables import _chunk
from cxml.data.synthetic.world import _World, _world


@dataclass(frozen=True)
class Company:
    """The contract tables and the ground truth of one simulated company."""

    tables: dict[str, pd.DataFrame]
    truth: dict[str, pd.DataFrame]


def _chunks(
    n_customers: int, seed: int, start: str, end: str, chunk_customers: int
) -> tuple[_World, Iterator[dict[str, pa.Table]], int]:
    if n_customers < 1 or chunk_customers < 1:
        raise ValueError("n_customers and chunk_customers must be positive")
    world = _world(seed, pd.Timestamp(start), pd.Timestamp(end))
    bounds = [
        (k, off, min(chunk_customers, n_customers - off))
        for k, off in enumerate(range(0, n_customers, chunk_customers))
    ]
    return world, (_chunk(world, seed, k, off, size) for k, off, size in bounds), len(bounds)


def generate_company(
    n_customers: int = 20_000,
    seed: int = 0,
    start: str = "2025-01-01",
    end: str = "2026-01-01",
    chunk_customers: int = DEFAULT_CHUNK,
) -> Company:
    """Simulate a company in memory; the same arguments give the same tables as ``write_company``."""
    world, chunks, _ = _chunks(n_customers, seed, start, end, chunk_customers)
    parts: dict[str, list[pa.Table]] = {name: [tbl] for name, tbl in world.tables.items()}
    for chunk in chunks:
        for name, tbl in chunk.items():
            parts.setdefault(name, []).append(tbl)
    frames = {name: pa.concat_tables(tbls).to_pandas() for name, tbls in parts.items()}
    tables = {name: frames[name] for name in CONTRACT_TABLES}
    truth = {name.removeprefix("truth/"): f for name, f in frames.items() if name.startswith("truth/")}
    return Company(tables=tables, truth=truth)


def write_company(
    out_dir: Path,
    n_customers: int,
    seed: int = 0,
    start: str = "2025-01-01",
    end: str = "2026-01-01",
    chunk_customers: int = DEFAULT_CHUNK,
    progress: bool = False,
) -> dict[str, int]:
    """Stream a simulated company to ``out_dir`` (one Parquet file per table, truth under ``truth/``).

    Chunks of customers are generated and appended as row groups, so memory stays bounded; the data set is
    written to a temporary folder beside ``out_dir`` and renamed into place at the end.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    writers: dict[str, pq.ParquetWriter] = {}
    counts: dict[str, int] = {}

    def write(name: str, table: pa.Table) -> None:
        if name not in writers:
            path = tmp / f"{name}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            writers[name] = pq.ParquetWriter(path, table.schema, compression="zstd")
        writers[name].write_table(table, row_group_size=1 << 20)
        counts[name] = counts.get(name, 0) + table.num_rows

    try:
        world, chunks, n_chunks = _chunks(n_customers, seed, start, end, chunk_customers)
        for name, table in world.tables.items():
            write(name, table)
        if progress:
            from tqdm.auto import tqdm

            chunks = iter(tqdm(chunks, total=n_chunks, desc="generating", unit="chunk"))
        for chunk in chunks:
            for name, table in chunk.items():
                write(name, table)
        for w in writers.values():
            w.close()
        writers.clear()
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
            os.replace(out_dir, old / out_dir.name)
            os.replace(tmp, out_dir)
            shutil.rmtree(old)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        for w in writers.values():
            w.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return counts
