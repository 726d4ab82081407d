"""``cxml campaign start|update|readout|evaluate`` on a real workspace: a campaign run for five simulated days in
closed loop (known truth: arm ``b`` is best), its log and outcome file fed to the commands, a real MLflow store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cxml import tracking
from cxml.campaigns.policies import make_policy
from cxml.campaigns.simulate import closed_loop
from cxml.campaigns.store import CampaignStore
from cxml.cli import app
from cxml.config import Workspace
from cxml.jobs.snapshot import META_FILE, SNAPSHOT_FILE
from tests.conftest import NO_MLFLOW_ENV

pytestmark = pytest.mark.integration
N = 6000
TRUTH = {"ctrl": 0.05, "a": 0.07, "b": 0.16}


@dataclass(frozen=True)
class Ran:
    ws: Workspace
    outcomes: Path
    update: dict[str, Any]


def cli(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, list(args), env=NO_MLFLOW_ENV)
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def _snapshot(ws: Workspace, ids: pd.Series) -> None:
    """A feature snapshot of the campaign's customers (what `cxml snapshot` writes), for the evaluator's features."""
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {"customer_id": ids, "spend_365d": rng.gamma(2.0, 50.0, len(ids)), "orders_90d": rng.poisson(2, len(ids))}
    )
    frame.to_parquet(ws.snapshots / SNAPSHOT_FILE, index=False)
    (ws.snapshots / META_FILE).write_text(json.dumps({"as_of": "2026-01-01"}))


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ran]:
    root = tmp_path_factory.mktemp("campaign-cli")
    ws = Workspace(root / "ws")
    home = str(ws.root)
    started = cli("campaign", "start", "--campaign", "spring", "--arms", "a,b,ctrl", "--control", "ctrl",
                  "--policy", "thompson", "--holdout-share", "0.1", "--home", home, "--json")  # fmt: skip
    assert started["version"] == 1 and started["shares"] == pytest.approx(
        dict.fromkeys("ab", 1 / 3) | {"ctrl": 1 / 3}, abs=0.03
    )  # Monte-Carlo P(best)
    store = CampaignStore(ws, "spring")
    truth = pd.DataFrame({"customer_id": [f"C{i:05d}" for i in range(N)], **TRUTH})
    loop = closed_loop(truth, store.spec(), make_policy(store.spec()), days=5, seed=0)
    assert store.log().append(loop.assignments) == N
    outcomes = root / "outcomes.csv"
    loop.outcomes.to_csv(outcomes, index=False)
    _snapshot(ws, truth["customer_id"])
    update = cli("campaign", "update", "--campaign", "spring", "--outcomes", str(outcomes), "--home", home, "--json")
    yield Ran(ws, outcomes, update)


def test_update_ingests_fits_and_moves_traffic_to_the_best_arm(ran: Ran) -> None:
    u = ran.update
    assert u["version"] == 2 and u["n_assignments"] == N and u["n_outcomes"] == N
    assert u["ingested"] == {"rows": N, "added": N, "duplicates": 0, "other_campaigns": 0, "unassigned_customers": 0}
    shares = u["shares"]
    assert max(shares, key=lambda arm: shares[arm]) == "b" and shares["b"] > 0.8
    assert min(shares.values()) >= 0.01 - 1e-9  # the floor
    assert CampaignStore(ran.ws, "spring").current_version() == 2


def test_update_is_an_mlflow_run_with_the_allocation_as_a_versioned_artefact(ran: Ran) -> None:
    with tracking.using(ran.ws):
        run = mlflow.get_run(str(ran.update["run_id"]))
        experiment = mlflow.get_experiment(run.info.experiment_id)
        files = {f.path for f in tracking.client().list_artifacts(run.info.run_id)}
        allocation = {f.path for f in tracking.client().list_artifacts(run.info.run_id, "allocations")}
    assert experiment.name == "cxml/campaigns"
    assert run.data.tags["cxml.campaign"] == "spring" and run.data.tags["cxml.allocation_version"] == "2"
    assert {"posteriors.csv", "readout.json", "allocations"} <= files and allocation == {"allocations/v2.json"}
    assert run.data.metrics["n_assignments"] == N and run.data.metrics["share_b"] > 0.8
    assert run.data.metrics["lift_b"] > run.data.metrics["lift_a"] and run.data.metrics["lower_b"] > 0


def test_a_second_update_ingests_nothing_twice_and_writes_v3(ran: Ran) -> None:
    home = str(ran.ws.root)
    again = cli("campaign", "update", "--campaign", "spring", "--outcomes", str(ran.outcomes), "--home", home, "--json")
    assert again["version"] == 3 and again["n_outcomes"] == N
    assert again["ingested"]["added"] == 0 and again["ingested"]["duplicates"] == N


def test_readout_names_the_winner_and_writes_the_page(ran: Ran, tmp_path: Path) -> None:
    page = tmp_path / "spring.html"
    out = cli("campaign", "readout", "--campaign", "spring", "--html", str(page), "--home", str(ran.ws.root), "--json")
    arms = {a["arm"]: a for a in out["arms"]}
    # b is the true best (+0.11 over control): its sequence is above 0 and above a's lift
    assert arms["b"]["lower"] > 0 and arms["b"]["lift"] > arms["a"]["lift"]
    assert out["n"] == N
    assert out["holdout"]["n_holdout"] > 0
    html = page.read_text()
    assert "Campaign spring" in html and html.count("<svg") == 3 and "http" not in html.replace("http://www.w3.org", "")


def test_evaluate_values_a_targeting_rule_from_the_logs(ran: Ran) -> None:
    out = cli("campaign", "evaluate", "--campaign", "spring", "--rule", "arm=b top=1.0 score=spend_365d",
              "--home", str(ran.ws.root), "--json")  # fmt: skip
    estimates = out["estimates"]
    assert set(estimates) == {"ips", "snips", "dm", "dr"}
    dr = estimates["dr"]
    assert dr["lower"] <= TRUTH["b"] <= dr["upper"]  # "everyone gets b" is worth b's true rate


def test_bad_input_fails_with_one_clear_line(ran: Ran, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"campaign_id": ["spring"], "customer_id": ["C00001"], "outcome": [3], "observed_at": ["x"]}).to_csv(
        bad, index=False
    )
    runner = CliRunner()
    home = str(ran.ws.root)
    cases = [
        (["campaign", "update", "--campaign", "spring", "--outcomes", str(bad)], "column 'outcome'"),
        (["campaign", "update", "--campaign", "nope"], "cxml campaign start"),
        (["campaign", "start", "--campaign", "spring", "--arms", "a,b", "--control", "a"], "already exists"),
        (["campaign", "start", "--campaign", "x2", "--arms", "a,b", "--control", "z"], "control 'z' is not one of"),
        (["campaign", "evaluate", "--campaign", "spring", "--rule", "arm=b top=0.3"], "lacks ['score']"),
    ]
    for args, message in cases:
        result = runner.invoke(app, [*args, "--home", home])
        assert result.exit_code == 1, result.output
        assert message in result.output, result.output
