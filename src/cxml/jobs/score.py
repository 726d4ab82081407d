"""The ``cxml score`` job: every customer scored by a family's champion, written as one table, every night.

One row per customer: ``customer_id``, the family's natural output (churn ``score``; uplift one ``effect_<arm>``
per arm; survival and CLV their score columns; cross-sell the best items; segments the segment and stage),
``model_name``, ``model_version``, ``as_of`` and, when asked, the top reasons in words. Price answers per cell
(product × channel × time bucket × segment), not per customer, so its table is the served recommendations.

Families scored on the customer-360 features (churn, uplift, survival) stream them from DuckDB in record batches
and score chunk by chunk, so memory stays bounded at a million customers; the others build the rows their
endpoint serves (``Family.serving_rows`` or the served family's ``export_rows``) and are chunked after.
No personal data leaves: the customer id is the only identifying column written.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from tqdm import tqdm

from cxml import registry, tracking
from cxml.config import Workspace, load_pipeline
from cxml.data.duck import attach_table, connect
from cxml.data.sources import read_valid_tables
from cxml.datasets import get_family
from cxml.datasets.family import parse_as_of
from cxml.features.build import SOURCE_COLUMNS, feature_query, read_sql
from cxml.features.reasons import reasons_per_row
from cxml.jobs.score_output import Publishing, open_sink
from cxml.jobs.snapshot import has_snapshot, snapshot_data_dir
from cxml.models.spec import ModelSpec
from cxml.pyfunc import load_estimator, score_frame
from cxml.serving.export_inputs import ExportInputs
from cxml.serving.families import ServedFamily, served_families

CHUNK_ROWS = 100_000
TOP_ITEMS = 3
"""Cross-sell: the items listed per customer (the best first)."""
ENGINES = ("duckdb", "spark")
COLUMN_PREFIX = {"uplift": "effect_"}
"""Score columns named after something else than the score itself (uplift's are arm names)."""
_PROBABILITY_EXPLANATION = next(f.default for f in dataclasses.fields(ModelSpec) if f.name == "explain_row")


@dataclass(frozen=True)
class Champion:
    served: ServedFamily
    name: str
    version: str
    model: Any


@dataclass(frozen=True)
class ScoreResult:
    family: str
    model_name: str
    model_version: str
    as_of: str
    rows: int
    seconds: float
    out: str

    def summary(self) -> dict[str, Any]:
        return {
            **dataclasses.asdict(self),
            "seconds": round(self.seconds, 3),
            "rows_per_s": round(self.rows / self.seconds, 1) if self.seconds > 0 else None,
        }


@dataclass(frozen=True)
class Plan:
    """What to score: the input chunks (and how many customers they hold) and how a chunk becomes output rows."""

    total: int
    chunks: Iterator[pd.DataFrame]
    shape: Callable[[pd.DataFrame], pd.DataFrame]


def load_champion(family: str) -> Champion:
    """The served family's champion (exact version), or a ValueError naming the command that trains one."""
    served = served_families().get(family)
    if served is None:
        raise ValueError(f"{family!r} is not a served family; score one of: {', '.join(served_families())}")
    name = served.registered_name
    version = registry.alias_version(name, registry.CHAMPION)
    if version is None:
        raise ValueError(f"{name} has no champion to score with: train one first: {served.fix}")
    loader = served.loader or load_estimator
    return Champion(served, name, version, loader(f"models:/{name}/{version}"))


def score_customers(
    ws: Workspace,
    family: str,
    out: str,
    *,
    data_dir: Path | None = None,
    as_of: str | None = None,
    reasons: int = 0,
    chunk_rows: int = CHUNK_ROWS,
    progress: bool = False,
    engine: str = "duckdb",
    spark_master: str | None = None,
) -> ScoreResult:
    """Score every customer at ``as_of`` (default: the day after the last order) and publish the table at once.

    ``engine="spark"`` builds the features and scores on Spark (``spark_master``, default ``local[2]`` or
    spark-submit's), for the families read on the customer-360 features.
    """
    t0 = time.perf_counter()
    if reasons < 0:
        raise ValueError(f"--reasons must be 0 or more, got {reasons}")
    if engine not in ENGINES:
        raise ValueError(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    sink = open_sink(out)  # the cheap checks first: a mistyped --out or --data fails before any model loads
    folder = _data_dir(ws, data_dir)
    date = parse_as_of(as_of).normalize() if as_of is not None else default_as_of(folder)
    tracking.configure(ws)
    champ = load_champion(family)
    if engine == "spark":
        plan = _spark_plan(ws, champ, folder, date, reasons, chunk_rows, spark_master)
    else:
        plan = _plan(ws, champ, folder, date, reasons, chunk_rows)
    stamp = {"model_name": champ.name, "model_version": champ.version, "as_of": str(date.date())}
    rows = 0
    with (
        Publishing(sink),
        tqdm(total=plan.total, unit=" customers", disable=not progress, file=sys.stderr, desc=family) as bar,
    ):
        for chunk in plan.chunks:
            scored = plan.shape(chunk).assign(**stamp)
            sink.write(scored)
            rows += len(scored)
            bar.update(len(scored))
        if rows == 0:
            raise ValueError(f"no customers to score in {folder} as of {date.date()} (none signed up before it)")
    return ScoreResult(family, champ.name, champ.version, str(date.date()), rows, time.perf_counter() - t0, sink.target)


def _data_dir(ws: Workspace, data_dir: Path | None) -> Path:
    """``--data``, else the tables the latest snapshot was built from, else the workspace's company."""
    folder = data_dir or (snapshot_data_dir(ws) if has_snapshot(ws) else ws.data)
    if not folder.is_dir():
        raise ValueError(f"no contract tables at {folder}: pass --data DIR (or simulate: cxml generate --out DIR)")
    return folder


def default_as_of(data_dir: Path) -> pd.Timestamp:
    """The day after the last order (as the snapshot dates itself), read by DuckDB without loading the orders."""
    con = connect()
    try:
        attach_table(con, data_dir, "orders", needed_by="cxml score")
        last = con.execute("SELECT max(ts) FROM orders").fetchone()
    finally:
        con.close()
    if last is None or last[0] is None:
        raise ValueError(f"{data_dir}/orders has no rows: pass --as-of DATE")
    return pd.Timestamp(last[0]).tz_localize(None).normalize() + pd.Timedelta(days=1)


def _plan(ws: Workspace, champ: Champion, folder: Path, date: pd.Timestamp, reasons: int, chunk_rows: int) -> Plan:
    """How this family's customers are read and shaped (see the module docstring)."""
    served, family = champ.served, get_family_or_none(champ.served.name)
    if served.export_rows is not None:
        if reasons:
            raise ValueError(f"{served.name} gives no per-customer reasons; score it without --reasons")
        tables = cache(lambda: read_valid_tables(folder))
        inputs = ExportInputs(ws, tables, date, folder, champ.name, champ.version)
        frame = _lookup_table(served.export_rows(inputs, champ.model))
        return Plan(len(frame), _row_chunks(frame, chunk_rows), lambda chunk: chunk)
    if family is not None and family.serving_rows is not None:
        rows = family.serving_rows(read_valid_tables(folder), date, champ.model, load_pipeline(family.name))
        if "item" in rows.columns:  # pair rows: customer × item
            pairs = rows.assign(customer_id=rows["customer_id"].astype("str"))
            pairs = pairs.sort_values("customer_id", kind="stable").reset_index(drop=True)
            total = int(pairs["customer_id"].nunique())
            return Plan(total, _customer_chunks(pairs, chunk_rows), lambda c: best_items(champ.model, c, reasons))
        return Plan(len(rows), _row_chunks(rows, chunk_rows), lambda c: customer_scores(champ, c, reasons))
    total, chunks = customer360_chunks(folder, date, chunk_rows)
    return Plan(total, chunks, lambda c: customer_scores(champ, c, reasons))


def _spark_plan(
    ws: Workspace,
    champ: Champion,
    folder: Path,
    date: pd.Timestamp,
    reasons: int,
    chunk_rows: int,
    master: str | None,
) -> Plan:
    """Features and scores on Spark (``cxml.jobs.score_spark``); the chunks arrive scored already."""
    served, family = champ.served, get_family_or_none(champ.served.name)
    if served.export_rows is not None or family is None or family.serving_rows is not None:
        on_features = [
            name
            for name, s in served_families().items()
            if s.export_rows is None and (f := get_family_or_none(name)) is not None and f.serving_rows is None
        ]
        raise ValueError(
            f"--engine spark scores the families read on the customer-360 features ({', '.join(on_features)}); "
            f"score {served.name} with the default engine (drop --engine)"
        )
    from cxml.features.spark import require_spark
    from cxml.jobs.score_spark import spark_scores

    try:
        require_spark()
    except RuntimeError as exc:
        raise ValueError(str(exc)) from None
    staging = ws.root / "staging"
    staging.mkdir(parents=True, exist_ok=True)
    total, chunks = spark_scores(champ, folder, date, reasons, staging=staging, master=master, chunk_rows=chunk_rows)
    return Plan(total, chunks, lambda chunk: chunk)


def get_family_or_none(name: str) -> Any:
    """The dataset family behind a served one (segments has none: its rows come from the served record)."""
    try:
        return get_family(name)
    except ValueError:
        return None


def _lookup_table(rows: Any) -> pd.DataFrame:
    """A served family's lookup rows as one flat table (price: its recommendations, one row per cell)."""
    frame = rows["recommendations"] if isinstance(rows, dict) else rows
    if frame.index.name == "customer_id":
        frame = frame.reset_index()
    return frame


def _row_chunks(frame: pd.DataFrame, chunk_rows: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), chunk_rows):
        yield frame.iloc[start : start + chunk_rows]


def _customer_chunks(pairs: pd.DataFrame, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Pair rows sorted by customer in chunks of about ``chunk_rows``, never splitting a customer's rows."""
    ids = pairs["customer_id"].to_numpy()
    start = 0
    while start < len(pairs):
        stop = min(start + chunk_rows, len(pairs))
        stop = int(np.searchsorted(ids, ids[stop - 1], side="right"))
        yield pairs.iloc[start:stop]
        start = stop


def customer360_chunks(data_dir: Path, as_of: pd.Timestamp, chunk_rows: int) -> tuple[int, Iterator[pd.DataFrame]]:
    """The customer-360 features of ``build_features`` (same SQL), streamed in record batches of ``chunk_rows``:
    the number of customers, and the chunks indexed by ``customer_id`` (counts int64, the rest float64)."""
    con = connect()
    try:
        for table in SOURCE_COLUMNS:
            attach_table(con, data_dir, table, needed_by="cxml score")
        con.execute(read_sql("macros.duckdb.sql"))
        params = {"as_of": as_of.to_pydatetime()}
        total = con.execute("SELECT count(*) FROM customers WHERE signup_at < $as_of", params).fetchall()[0][0]
        reader = con.sql(feature_query(), params=params).to_arrow_reader(chunk_rows)
    except duckdb.BinderException as exc:
        con.close()
        raise ValueError(f"the tables in {data_dir} lack what the customer-360 features read: {exc}") from None
    except BaseException:
        con.close()
        raise

    def chunks() -> Iterator[pd.DataFrame]:
        try:
            for batch in reader:
                yield as_feature_frame(batch.to_pandas())
        finally:
            con.close()

    return int(total), chunks()


def as_feature_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """As ``build_features`` types its result: ``customer_id`` (str) index, int64 counts, float64 otherwise."""
    frame = frame.set_index("customer_id")
    frame.index = frame.index.astype("str")
    out = {
        name: col.astype("int64")
        if pd.api.types.is_integer_dtype(col) and not col.isna().any()
        else pd.to_numeric(col).astype("float64")
        for name, col in frame.items()
    }
    return pd.DataFrame(out, index=frame.index)


def customer_scores(champ: Champion, rows: pd.DataFrame, reasons: int) -> pd.DataFrame:
    """A chunk of customer rows → ``customer_id``, the family's score columns and (``reasons`` > 0) the reasons."""
    spec = get_family(champ.served.name).spec
    X = rows[[str(c) for c in champ.model.feature_names_in_]]
    scores = score_frame(spec, champ.model, X)
    prefix = COLUMN_PREFIX.get(spec.family, "")
    scores.columns = [f"{prefix}{c}" for c in scores.columns]
    if reasons:
        scores["reasons"] = reason_texts(spec, champ.model, X, reasons)
    return scores.rename_axis("customer_id").reset_index()


def reason_texts(spec: ModelSpec, estimator: Any, X: pd.DataFrame, k: int) -> list[str]:
    """Each row's top ``k`` reasons in words, as a JSON list of strings; one SHAP call per chunk for the
    probability families, the family's ``explain_row`` per row otherwise."""
    if spec.explain_row is _PROBABILITY_EXPLANATION:
        explanation = estimator.explain(X, output="probability")
        found = reasons_per_row(explanation, k=k)
        return [json.dumps([r.text for r in rs], ensure_ascii=False) for rs in found]
    explained = (spec.explain_row(estimator, X.iloc[[i]], k) for i in range(len(X)))
    return [json.dumps([str(r["text"]) for r in e.get("reasons", [])][:k], ensure_ascii=False) for e in explained]


def best_items(estimator: Any, pairs: pd.DataFrame, reasons: int) -> pd.DataFrame:
    """Cross-sell: per customer the most likely item not owned yet, its probability, and the ``TOP_ITEMS`` best
    as JSON (with ``reasons`` reasons each when asked)."""
    top = estimator.recommend(pairs, TOP_ITEMS, n_reasons=reasons)
    top = top.assign(customer_id=top["customer_id"].astype("str")).sort_values(["customer_id", "rank"])

    def listed(group: pd.DataFrame) -> str:
        items = [{"item": str(r["item"]), "probability": float(r["probability"])} for r in group.to_dict("records")]
        if reasons:
            for item, r in zip(items, group["reasons"], strict=True):
                item["reasons"] = [str(getattr(x, "text", x)) for x in r]
        return json.dumps(items, ensure_ascii=False)

    first = top.groupby("customer_id", sort=True).first()
    return pd.DataFrame(
        {
            "customer_id": first.index.astype("str"),
            "item": first["item"].astype("str").to_numpy(),
            "probability": first["probability"].astype("float64").to_numpy(),
            "items": [listed(g) for _, g in top.groupby("customer_id", sort=True)],
        }
    )
