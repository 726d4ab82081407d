"""Where ``cxml score`` writes: a Parquet file or a database table, never half-written.

Chunks are appended to a staging place (a hidden file beside the target, a staging table in the same database)
and the target is replaced only once every chunk is in: ``os.replace`` for a file, ``DROP`` + ``RENAME`` in one
transaction for a table, so readers see the old scores or the new ones. A failure drops the staging place and
leaves the target as it was.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from types import TracebackType
from typing import Protocol

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ScoreSink(Protocol):
    """A staging place chunks are appended to, then published at once (or dropped)."""

    target: str

    def write(self, chunk: pd.DataFrame) -> None: ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...


class ParquetSink:
    """One Parquet file, written as row groups to ``.<name>.<random>.tmp`` in the same folder, then renamed."""

    def __init__(self, path: Path):
        if path.is_dir():
            raise ValueError(f"--out {path} is a folder: give a file name such as {path / 'scores.parquet'}")
        self.path = path
        self.target = str(path)
        self._tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
        self._writer: pq.ParquetWriter | None = None

    def write(self, chunk: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(chunk, preserve_index=False)
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self._tmp, table.schema, compression="zstd")
        self._writer.write_table(table.cast(self._writer.schema))

    def commit(self) -> None:
        if self._writer is None:
            raise ValueError("no rows to write")
        self._writer.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._tmp.unlink(missing_ok=True)


class TableSink:
    """A database table (any SQLAlchemy URL): rows go to a staging table, which replaces the target in one
    transaction (PostgreSQL and SQLite both run DDL inside transactions)."""

    def __init__(self, url: str, table: str):
        if not TABLE_NAME.fullmatch(table):
            raise ValueError(
                f"--out table name {table!r} must be letters, digits and underscores, not starting with a digit"
            )
        try:
            self.engine = sa.create_engine(url)
        except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
            raise ValueError(f"--out {url!r} is not a SQLAlchemy database URL ({exc})") from None
        self.table = table
        self.staging = f"{table}__staging_{uuid.uuid4().hex[:8]}"
        self.target = f"{self.engine.url.render_as_string(hide_password=True)}#{table}"
        self._started = False

    def write(self, chunk: pd.DataFrame) -> None:
        with self.engine.begin() as conn:
            chunk.to_sql(self.staging, conn, if_exists="append", index=False, chunksize=10_000)
        self._started = True

    def commit(self) -> None:
        if not self._started:
            raise ValueError("no rows to write")
        quote = self.engine.dialect.identifier_preparer.quote
        with self.engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {quote(self.table)}"))
            conn.execute(sa.text(f"ALTER TABLE {quote(self.staging)} RENAME TO {quote(self.table)}"))
        self.engine.dispose()

    def abort(self) -> None:
        quote = self.engine.dialect.identifier_preparer.quote
        with self.engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {quote(self.staging)}"))
        self.engine.dispose()


def open_sink(out: str) -> ScoreSink:
    """``PATH`` (Parquet) or ``URL#table`` (a database table); a URL without ``#table`` is refused, named."""
    if "://" not in out:
        return ParquetSink(Path(out))
    url, sep, table = out.rpartition("#")
    if not sep or not url:
        raise ValueError(f"--out {out!r} names a database but no table: add #TABLE, e.g. {out}#customer_scores")
    return TableSink(url, table)


class Publishing:
    """``with Publishing(sink) as sink:``: commit when the block ends normally, drop the staging otherwise."""

    def __init__(self, sink: ScoreSink):
        self.sink = sink

    def __enter__(self) -> ScoreSink:
        return self.sink

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is not None:
            self.sink.abort()
            return
        try:
            self.sink.commit()
        except BaseException:
            self.sink.abort()
            raise
