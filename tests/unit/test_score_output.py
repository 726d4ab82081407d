"""The score table is never half-written: a Parquet file or a database table shows the old rows or the new ones."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from cxml.jobs.score_output import ParquetSink, Publishing, TableSink, open_sink

pytestmark = pytest.mark.unit


def _chunk(start: int, n: int, score: float) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": [f"C{i:04d}" for i in range(start, start + n)], "score": score})


def _table(url: str, name: str) -> pd.DataFrame:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return pd.read_sql_table(name, conn)
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_parquet_appears_only_when_every_chunk_is_in(tmp_path: Path) -> None:
    out = tmp_path / "scores.parquet"
    with Publishing(ParquetSink(out)) as sink:
        sink.write(_chunk(0, 3, 0.1))
        assert not out.exists()
        sink.write(_chunk(3, 2, 0.2))
    frame = pd.read_parquet(out)
    assert frame["customer_id"].tolist() == [f"C{i:04d}" for i in range(5)]
    assert frame["score"].tolist() == [0.1, 0.1, 0.1, 0.2, 0.2]
    assert [p.name for p in tmp_path.iterdir()] == ["scores.parquet"]


def test_a_failed_parquet_run_keeps_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    out = tmp_path / "scores.parquet"
    _chunk(0, 4, 0.5).to_parquet(out)
    with pytest.raises(RuntimeError, match="scorer died"), Publishing(ParquetSink(out)) as sink:
        sink.write(_chunk(0, 2, 0.9))
        raise RuntimeError("scorer died")
    assert pd.read_parquet(out)["score"].tolist() == [0.5] * 4
    assert [p.name for p in tmp_path.iterdir()] == ["scores.parquet"]


def test_a_database_table_is_replaced_in_one_step(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'scores.db'}"
    with Publishing(open_sink(f"{url}#churn_scores")) as sink:
        sink.write(_chunk(0, 3, 0.1))
    with Publishing(open_sink(f"{url}#churn_scores")) as sink:
        sink.write(_chunk(0, 2, 0.7))
        sink.write(_chunk(2, 2, 0.8))
        # a reader in the middle of the run still sees the whole previous table
        assert _table(url, "churn_scores")["score"].tolist() == [0.1, 0.1, 0.1]
    assert _table(url, "churn_scores")["score"].tolist() == [0.7, 0.7, 0.8, 0.8]
    assert _tables(url) == {"churn_scores"}


def test_a_failed_database_run_keeps_the_old_table_and_drops_the_staging(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'scores.db'}"
    with Publishing(open_sink(f"{url}#churn_scores")) as sink:
        sink.write(_chunk(0, 3, 0.1))
    with pytest.raises(RuntimeError), Publishing(open_sink(f"{url}#churn_scores")) as sink:
        sink.write(_chunk(0, 5, 0.9))
        raise RuntimeError("killed")
    assert _table(url, "churn_scores")["score"].tolist() == [0.1, 0.1, 0.1]
    assert _tables(url) == {"churn_scores"}


def test_nothing_written_publishes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "scores.parquet"
    with pytest.raises(ValueError, match="no rows"), Publishing(ParquetSink(out)):
        pass
    assert not out.exists()


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("sqlite:////tmp/x.db", "no table: add #TABLE"),
        ("sqlite:////tmp/x.db#1scores", "letters, digits and underscores"),
        ("sqlite:////tmp/x.db#scores;drop", "letters, digits and underscores"),
        ("nosuchdb://host/db#scores", "not a SQLAlchemy database URL"),
    ],
)
def test_a_bad_out_names_what_to_fix(out: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_sink(out)


def test_a_folder_is_not_a_parquet_target(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="give a file name"):
        open_sink(str(tmp_path))


def test_a_table_sink_names_its_target_without_the_password() -> None:
    sink = TableSink("postgresql+psycopg://scorer:s3cret@127.0.0.1:5432/crm", "scores")
    assert sink.target == "postgresql+psycopg://scorer:***@127.0.0.1:5432/crm#scores"
