"""``cxml score``: every served family's champion scores every customer of a small simulated company into one
table (Parquet or a SQLite table through SQLAlchemy), equal to the estimator in process, with its version."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

from cxml import registry, tracking
from cxml.cli import app
from cxml.config import TrainRequest, Workspace
from cxml.data.synthetic import write_company
from cxml.datasets import get_family
from cxml.features.build import build_features
from cxml.jobs.score import default_as_of, score_customers
from cxml.jobs.segments import run_segments
from cxml.jobs.train import run_train
from cxml.pyfunc import load_estimator
from cxml.serving.families import served_families
from tests.conftest import NO_MLFLOW_ENV
from tests.integration import spark_fixtures

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
]
spark = spark_fixtures.spark  # the one session-scoped SparkSession, for --engine spark
ROOT = Path(__file__).resolve().parents[2]
AS_OF = "2025-12-01"
STAMP = ["model_name", "model_version", "as_of"]


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, Path]:
    """A 1,500-customer company with a champion for every served family (the gates opened but churn's: scoring,
    not the estimates, is under test here, and one trial on 1,500 customers may not beat a baseline)."""
    ws = Workspace(tmp_path_factory.mktemp("score-ws"))
    tracking.configure(ws)
    data = ws.root / "company"
    write_company(data, n_customers=1500, seed=3)
    result = run_train(TrainRequest(family="churn", data=data, trials=1), ws)
    assert result.gate.passed, f"churn: {result.gate.reason}"
    for family in ("survival", "clv", "cross_sell", "price", "uplift"):
        config = yaml.safe_load((ROOT / "src" / "cxml" / "pipelines" / f"{family}.yaml").read_text())
        config["gate"].update(min_gain_vs_baseline=-10.0, also_beat_baseline=[], min_value=None, check_elasticity=False)
        path = ws.root / f"{family}.yaml"
        path.write_text(yaml.safe_dump(config))
        result = run_train(TrainRequest(family=family, data=data, trials=1, pipeline=path), ws)
        assert result.gate.passed, f"{family}: {result.gate.reason}"
    tables = {p.stem: pd.read_parquet(p) for p in data.glob("*.parquet")}
    segments = run_segments(ws, tables, AS_OF, out_dir=ws.root / "segments", min_ari=0.0, min_size=0.0)
    assert segments.gate.passed, segments.gate.reason
    return ws, data


@pytest.fixture(autouse=True)
def _tracking_at_the_workspace(company: tuple[Workspace, Path]) -> None:
    tracking.configure(company[0])


def _champion(name: str) -> tuple[str, object]:
    version = registry.alias_version(name, registry.CHAMPION)
    assert version is not None
    return version, load_estimator(f"models:/{name}/{version}")


def test_churn_scores_equal_the_estimator_for_every_customer(company: tuple[Workspace, Path], tmp_path: Path) -> None:
    ws, data = company
    out = tmp_path / "churn.parquet"
    result = score_customers(ws, "churn", str(out), data_dir=data, as_of=AS_OF, chunk_rows=400)
    scores = pd.read_parquet(out)
    version, estimator = _champion("cxml.churn")
    features = build_features(data, AS_OF)
    expected = np.asarray(estimator.predict_proba(features[list(estimator.feature_names_in_)]))[:, 1]
    assert list(scores.columns) == ["customer_id", "score", *STAMP]  # nothing personal beyond the id
    assert result.rows == len(scores) == len(features) and scores["customer_id"].is_unique
    got = scores.set_index("customer_id")["score"].reindex(features.index)
    np.testing.assert_allclose(got.to_numpy(), expected, rtol=0, atol=1e-12)
    assert set(scores["model_version"]) == {version} and set(scores["model_name"]) == {"cxml.churn"}
    assert set(scores["as_of"]) == {AS_OF} and result.as_of == AS_OF


def test_the_chunk_size_never_changes_a_score(company: tuple[Workspace, Path], tmp_path: Path) -> None:
    ws, data = company
    small, whole = tmp_path / "small.parquet", tmp_path / "whole.parquet"
    score_customers(ws, "churn", str(small), data_dir=data, as_of=AS_OF, chunk_rows=97)
    score_customers(ws, "churn", str(whole), data_dir=data, as_of=AS_OF)
    pd.testing.assert_frame_equal(pd.read_parquet(small), pd.read_parquet(whole))


def test_reasons_are_the_ones_explain_gives_in_words(company: tuple[Workspace, Path], tmp_path: Path) -> None:
    ws, data = company
    out = tmp_path / "reasons.parquet"
    score_customers(ws, "churn", str(out), data_dir=data, as_of=AS_OF, reasons=2)
    scores = pd.read_parquet(out).set_index("customer_id")
    _, estimator = _champion("cxml.churn")
    features = build_features(data, AS_OF)[list(estimator.feature_names_in_)]
    for customer in features.index[:5]:
        explained = get_family("churn").spec.explain_row(estimator, features.loc[[customer]], 2)
        assert json.loads(scores.at[customer, "reasons"]) == [r["text"] for r in explained["reasons"]]
        assert scores.at[customer, "score"] == pytest.approx(explained["score"], abs=1e-9)


def test_the_default_date_is_the_day_after_the_last_order(company: tuple[Workspace, Path]) -> None:
    _, data = company
    last = pd.read_parquet(data / "orders.parquet", columns=["ts"])["ts"].max()
    assert default_as_of(data) == pd.Timestamp(last).tz_localize(None).normalize() + pd.Timedelta(days=1)


@pytest.mark.parametrize("family", sorted(served_families()))
def test_every_served_family_can_be_scored(family: str, company: tuple[Workspace, Path], tmp_path: Path) -> None:
    ws, data = company
    out = tmp_path / f"{family}.parquet"
    result = score_customers(ws, family, str(out), data_dir=data, as_of=AS_OF, chunk_rows=300)
    scores = pd.read_parquet(out)
    name = served_families()[family].registered_name
    assert result.rows == len(scores) > 0
    assert set(scores["model_version"]) == {registry.alias_version(name, registry.CHAMPION)}
    customers = set(build_features(data, AS_OF).index)
    if family == "price":  # priced per cell, not per customer
        assert {"product_id", "channel"} <= set(scores.columns)
        return
    assert scores["customer_id"].is_unique and set(scores["customer_id"]) <= customers
    numeric = scores.select_dtypes("number")
    assert np.isfinite(numeric.to_numpy(dtype=float)).all() or family == "segments"
    if family == "uplift":
        arms = list(_champion(name)[1].arms_)  # type: ignore[attr-defined]
        assert [c for c in scores.columns if c.startswith("effect_")] == [f"effect_{a}" for a in arms]
    if family == "cross_sell":
        first = json.loads(scores["items"].iloc[0])
        assert first[0]["item"] == scores["item"].iloc[0] and len(first) <= 3
        assert first[0]["probability"] == pytest.approx(scores["probability"].iloc[0])


def test_the_command_writes_a_database_table_and_a_json_summary(
    company: tuple[Workspace, Path], tmp_path: Path
) -> None:
    ws, data = company
    db = tmp_path / "warehouse.db"
    out = f"sqlite:///{db}#churn_scores"
    args = ["score", "churn", "--data", str(data), "--as-of", AS_OF, "--out", out, "--json", "--home", str(ws.root)]
    run = CliRunner().invoke(app, args, env=NO_MLFLOW_ENV)
    assert run.exit_code == 0, run.output
    summary = json.loads(run.output.strip().splitlines()[-1])
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        table = pd.read_sql_table("churn_scores", conn)
    engine.dispose()
    parquet = tmp_path / "same.parquet"
    score_customers(ws, "churn", str(parquet), data_dir=data, as_of=AS_OF)
    expected = pd.read_parquet(parquet)
    assert summary["rows"] == len(table) == len(expected) and summary["out"] == out
    assert summary["model_version"] == registry.alias_version("cxml.churn", registry.CHAMPION)
    assert summary["rows_per_s"] == pytest.approx(summary["rows"] / summary["seconds"], rel=0.01)
    np.testing.assert_allclose(table["score"].to_numpy(), expected["score"].to_numpy(), atol=1e-12)
    assert table["customer_id"].tolist() == expected["customer_id"].tolist()


def test_a_family_without_a_champion_names_the_command_that_trains_one(
    company: tuple[Workspace, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, data = company
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # MLflow set it to the module's store: not this one
    empty = tmp_path / "new-ws"
    out = tmp_path / "never.parquet"
    run = CliRunner().invoke(
        app, ["score", "churn", "--data", str(data), "--out", str(out), "--home", str(empty)], env=NO_MLFLOW_ENV
    )
    assert run.exit_code == 1
    assert "cxml.churn has no champion" in run.output and "cxml train churn" in run.output
    assert not out.exists()


def test_an_unknown_family_lists_the_served_ones(company: tuple[Workspace, Path], tmp_path: Path) -> None:
    ws, data = company
    with pytest.raises(ValueError, match="'nope' is not a served family; score one of: churn, uplift"):
        score_customers(ws, "nope", str(tmp_path / "x.parquet"), data_dir=data)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"as_of": "last tuesday"}, "is not a date"),
        ({"reasons": -1}, "--reasons must be 0 or more"),
        ({"out": "sqlite:////tmp/no-table.db"}, "add #TABLE"),
        ({"data_dir": Path("/nonexistent/company")}, "no contract tables at /nonexistent/company"),
    ],
)
def test_bad_options_name_the_fix_and_write_nothing(
    kwargs: dict[str, object], message: str, company: tuple[Workspace, Path], tmp_path: Path
) -> None:
    ws, data = company
    options: dict[str, object] = {"out": str(tmp_path / "x.parquet"), "data_dir": data, **kwargs}
    with pytest.raises(ValueError, match=message):
        score_customers(ws, "churn", **options)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("family", "reasons"), [("churn", 2), ("uplift", 0), ("survival", 0)])
def test_spark_scores_equal_duckdb_and_the_estimator_row_by_row(
    family: str, reasons: int, spark: object, company: tuple[Workspace, Path], tmp_path: Path
) -> None:
    ws, data = company
    duck, on_spark = tmp_path / "duck.parquet", tmp_path / "spark.parquet"
    score_customers(ws, family, str(duck), data_dir=data, as_of=AS_OF, reasons=reasons)
    result = score_customers(
        ws, family, str(on_spark), data_dir=data, as_of=AS_OF, reasons=reasons, engine="spark", chunk_rows=500
    )
    expected = pd.read_parquet(duck).set_index("customer_id").sort_index()
    got = pd.read_parquet(on_spark).set_index("customer_id").sort_index()
    assert result.rows == len(got) == len(expected) and got.index.equals(expected.index)
    assert list(got.columns) == list(expected.columns) and (got.dtypes == expected.dtypes).all()
    numeric = expected.select_dtypes("number").columns
    assert len(numeric) > 0
    np.testing.assert_allclose(got[numeric].to_numpy(), expected[numeric].to_numpy(), rtol=0, atol=1e-9)
    text = [c for c in expected.columns if c not in numeric]
    pd.testing.assert_frame_equal(got[text], expected[text])  # the stamp and, for churn, the reasons in words
    if family == "churn":
        _, estimator = _champion("cxml.churn")
        features = build_features(data, AS_OF)[list(estimator.feature_names_in_)]
        direct = np.asarray(estimator.predict_proba(features))[:, 1]
        np.testing.assert_allclose(got["score"].reindex(features.index).to_numpy(), direct, rtol=0, atol=1e-9)
    assert not any((ws.root / "staging").iterdir())  # the executors' staging folder is gone


def test_spark_engine_from_the_command_line_and_its_refusals(
    spark: object, company: tuple[Workspace, Path], tmp_path: Path
) -> None:
    ws, data = company
    out = tmp_path / "scores.parquet"
    base = ["--data", str(data), "--as-of", AS_OF, "--home", str(ws.root), "--engine", "spark"]
    run = CliRunner().invoke(app, ["score", "churn", "--out", str(out), "--json", *base], env=NO_MLFLOW_ENV)
    assert run.exit_code == 0, run.output
    summary = json.loads(run.output.strip().splitlines()[-1])
    assert summary["rows"] == len(pd.read_parquet(out)) == len(build_features(data, AS_OF))
    refused = tmp_path / "never.parquet"
    run = CliRunner().invoke(app, ["score", "cross_sell", "--out", str(refused), *base], env=NO_MLFLOW_ENV)
    assert run.exit_code == 1
    assert "--engine spark scores the families read on the customer-360 features (churn, uplift, survival)" in (
        run.output
    )
    assert "score cross_sell with the default engine" in run.output and not refused.exists()
    bad = CliRunner().invoke(app, ["score", "churn", "--out", str(refused), *base[:-1], "flink"], env=NO_MLFLOW_ENV)
    assert bad.exit_code == 1 and "--engine must be one of duckdb, spark, not 'flink'" in bad.output
