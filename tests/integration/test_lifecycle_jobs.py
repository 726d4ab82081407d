"""`cxml segments` and `cxml lookalike` as a user runs them: a real MLflow store, files written, gate applied."""

from __future__ import annotations

import re
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from cxml import tracking
from cxml.config import Workspace
from cxml.data.synthetic import write_company
from cxml.jobs.segments import SEGMENTS_MODEL, segment_gate
from tests.conftest import run_cli

pytestmark = pytest.mark.integration
AS_OF, EARLIER = "2025-12-01", "2025-09-01"


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lifecycle") / "company"
    write_company(out, n_customers=2500, seed=7)
    return out


def test_segments_are_described_staged_tracked_and_gated(company: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    proc, payload = run_cli(
        "segments", "--data", str(company), "--as-of", AS_OF, "--compare-to", EARLIER, "--json", home=home
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert payload is not None and payload["model_name"] == SEGMENTS_MODEL
    assert payload["gate"]["decision"] == "promoted" and payload["mean_ari"] >= 0.8 and payload["min_share"] >= 0.03
    assert "lifecycle migration" in proc.stdout and "customers (" in proc.stdout

    out = Path(payload["out_dir"])
    assignments = pd.read_parquet(out / "assignments.parquet")
    assert {"segment", "stage", "cell", "reason"} <= set(assignments.columns)
    assert assignments["segment"].nunique() == payload["k"]
    assert set(assignments["stage"].astype(str)) <= {"new", "active", "won back", "at risk", "sleeping", "churned"}
    migration = pd.read_csv(out / "migration.csv", index_col=0)
    assert migration.to_numpy().sum() == len(assignments)  # everyone at as_of came from some row
    lifetimes = pd.read_csv(out / "lifetime_by_segment.csv", index_col=0)
    # one Kaplan–Meier curve per segment whose customers have bought (a lifetime starts at the first purchase)
    assert set(lifetimes.index) <= set(assignments["segment_name"]) and len(lifetimes) >= 2
    assert lifetimes["customers"].sum() <= len(assignments) and (lifetimes["events"] > 0).all()
    assert lifetimes[["survival_6", "survival_12", "survival_24"]].apply(lambda r: r.is_monotonic_decreasing, 1).all()
    assert (out / "lifetime_by_segment.png").read_bytes()[:4] == b"\x89PNG"
    assert set(payload["median_lifetime_months"]) == set(lifetimes.index)
    assert "Infinity" not in proc.stdout.splitlines()[-1] and "NaN" not in proc.stdout.splitlines()[-1]
    assert "median lifetime" in proc.stdout or "half still customers" in proc.stdout
    # each segment's outcomes are printed under it, with the intervals the card shows
    assert sum("churn " in line and "spend last 365 days" in line for line in proc.stdout.splitlines()) == payload["k"]

    tracking.configure(Workspace(home))  # tracking and registry: an earlier test may have set another registry
    client = mlflow.MlflowClient()
    champion = client.get_model_version_by_alias(SEGMENTS_MODEL, "champion")
    assert str(champion.version) == payload["model_version"]
    model = mlflow.pyfunc.load_model(f"models:/{SEGMENTS_MODEL}@champion")
    from cxml.data.sources import read_tables
    from cxml.datasets.segments import segment_features

    features = segment_features(read_tables(company), AS_OF).head(50)
    assert (model.predict(features) == assignments.loc[features.index, "segment"].to_numpy()).all()


def test_segment_card_shows_churn_value_and_campaign_response_with_intervals(company: Path, tmp_path: Path) -> None:
    """Every segment on the card and in --json: churn rate, value and campaign response, each inside its interval."""
    proc, payload = run_cli("segments", "--data", str(company), "--as-of", AS_OF, "--json", home=tmp_path / "home")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert payload is not None and len(payload["segments"]) == payload["k"]
    assignments = pd.read_parquet(Path(payload["out_dir"]) / "assignments.parquet")
    assert sum(card["customers"] for card in payload["segments"]) == len(assignments)  # signed up before as_of
    measured = 0
    for card in payload["segments"]:
        figures = [card["churn_rate"], card["value_365d"], *card["campaign"].values()]
        for figure in figures:
            if figure["value"] is not None:
                assert figure["low"] <= figure["value"] <= figure["high"], (card["name"], figure)
                measured += 1
        assert card["campaign"]["control_rate"]["n"] >= 0 and card["churn_rate"]["n"] >= 0
    buying = [c for c in payload["segments"] if not c["name"].startswith("non-buying")]
    # customers who bought this year: every figure measured, the rates as shares, an interval that is not a point
    assert buying and all(
        c["churn_rate"]["value"] is not None and c["campaign"]["uplift"]["value"] is not None for c in buying
    )
    assert all(0 <= c["churn_rate"]["low"] < c["churn_rate"]["high"] <= 1 for c in buying)
    assert all(c["value_365d"]["low"] > 0 for c in buying) and measured >= 5 * len(buying)

    html = Path(payload["card"]).read_text(encoding="utf-8")
    blocks = re.findall(r"<div class='block segment' data-segment='(\d+)'>(.*?)</table>", html, re.S)
    assert [int(b[0]) for b in blocks] == [c["segment"] for c in payload["segments"]]
    for (_, block), card in zip(blocks, payload["segments"], strict=True):
        cells = dict(re.findall(r"data-metric='(\w+)'>(.*?)</td>", block, re.S))
        assert set(cells) == {"churn_rate", "value_365d", "treated_rate", "control_rate", "uplift"}
        if card["churn_rate"]["value"] is not None:
            low, high = re.search(r"\[([\d.]+)%, ([\d.]+)%\]", cells["churn_rate"]).groups()
            assert float(low) / 100 == pytest.approx(card["churn_rate"]["low"], abs=0.0006)
            assert float(high) / 100 == pytest.approx(card["churn_rate"]["high"], abs=0.0006)
        assert "[" in cells["value_365d"] or card["value_365d"]["value"] is None


def test_segment_gate_refuses_unstable_or_tiny_segments() -> None:
    assert segment_gate(0.95, 0.05, min_ari=0.8, min_size=0.03).passed
    unstable = segment_gate(0.6, 0.05, min_ari=0.8, min_size=0.03)
    assert not unstable.passed and "ARI" in unstable.reason
    tiny = segment_gate(0.95, 0.01, min_ari=0.8, min_size=0.03)
    assert not tiny.passed and "smallest segment" in tiny.reason


def test_lookalike_writes_a_ranked_list_and_beats_random(company: Path, tmp_path: Path) -> None:
    home, out = tmp_path / "home", tmp_path / "lookalike" / "churners.parquet"
    proc, payload = run_cli(
        "lookalike", "--data", str(company), "--as-of", AS_OF, "--churners", "--level", "0.2",
        "--out", str(out), "--json", home=home,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert payload is not None and payload["n_seed"] > 50
    scored = pd.read_parquet(out)
    assert scored["rank"].is_monotonic_increasing and scored["similarity"].is_monotonic_decreasing
    assert scored["selected"].sum() == payload["n_selected"] == pytest.approx(0.2 * len(scored), abs=1)
    recall = payload["recall"][f"{payload['method']}@20%"]
    assert recall >= 2 * payload["random"]["@20%"]
    assert len(payload["alike_because"]) == 5
    assert not list(out.parent.glob(".*.tmp"))  # no half-written file left


def test_lookalike_needs_exactly_one_seed_and_names_unknown_ids(company: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    proc, _ = run_cli(
        "lookalike", "--data", str(company), "--as-of", AS_OF, "--out", str(tmp_path / "x.parquet"), home=home
    )
    assert proc.returncode == 2 and "exactly one of --seed-file" in proc.stderr + proc.stdout
    seeds = tmp_path / "seed.txt"
    seeds.write_text("nobody-1\nnobody-2\n")
    proc, _ = run_cli(
        "lookalike", "--data", str(company), "--as-of", AS_OF, "--seed-file", str(seeds),
        "--out", str(tmp_path / "x.parquet"), home=home,
    )  # fmt: skip
    assert proc.returncode == 2 and "nobody-1" in proc.stderr + proc.stdout
    assert not (tmp_path / "x.parquet").exists()
