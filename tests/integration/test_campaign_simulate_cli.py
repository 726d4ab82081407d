"""``cxml campaign simulate`` end to end in a subprocess, small: the closed loop's JSON, a replay of a generated
randomised test written to CSV, and one clear error line (no traceback) for a table without its options."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.integration


def test_closed_loop_reports_every_policys_regret(tmp_path):
    proc, payload = run_cli(
        "campaign", "simulate", "--customers", "5000", "--seeds", "2", "--days", "3", "--json", home=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert set(payload["regret"]) == {"uniform", "thompson", "top_two", "warm_thompson", "warm_thompson_wrong_prior"}
    uniform = payload["regret"]["uniform"]["per_seed"]
    assert uniform[0] == uniform[1] > 0  # uniform's expected regret does not depend on the arrival order
    assert payload["regret"]["warm_thompson"]["mean"] < uniform[0]
    assert "seed 1: regret" in proc.stderr  # progress on stderr, the JSON last on stdout
    assert proc.stdout.strip().splitlines()[-1].startswith("{")


@pytest.fixture
def test_table(tmp_path):
    """A uniform three-arm test: women respond to ``w`` (0.30), men to ``m`` (0.30), control 0.10 for all."""
    rng = np.random.default_rng(0)
    n = 9000
    woman = rng.random(n) < 0.5
    arm = rng.choice(["none", "m", "w"], n)
    rate = np.select([arm == "none", (arm == "w") == woman], [0.10, 0.30], 0.15)
    frame = pd.DataFrame(
        {"age": rng.integers(20, 70, n), "woman": woman.astype(int), "offer": arm, "bought": rng.random(n) < rate}
    )
    path = tmp_path / "test.csv"
    frame.assign(bought=frame["bought"].astype(int)).to_csv(path, index=False)
    return path


def test_replay_reports_rates_of_every_policy_and_the_best_arm(tmp_path, test_table):
    proc, payload = run_cli(
        "campaign", "simulate", "--table", str(test_table), "--treatment", "offer", "--control", "none",
        "--target", "bought", "--shuffles", "2", "--batch-size", "300", "--json", home=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert payload["arms"] == ["m", "none", "w"] and payload["shuffles"] == 2
    assert payload["prior_rows"] + payload["replayed_rows"] == 9000
    rate = payload["rate"]
    assert rate["thompson"]["mean"] > rate["uniform"]["mean"]
    assert rate["warm_thompson"]["mean"] > rate["thompson"]["mean"]  # the model knows who prefers which offer
    assert "best single arm" in proc.stdout


def test_a_table_without_its_options_fails_with_one_clear_line(tmp_path, test_table):
    proc, _ = run_cli("campaign", "simulate", "--table", str(test_table), "--target", "bought", home=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "error: --table needs --treatment --control" in proc.stderr


def test_a_control_that_is_not_an_arm_is_named(tmp_path, test_table):
    proc, _ = run_cli(
        "campaign", "simulate", "--table", str(test_table), "--treatment", "offer", "--control", "nothing",
        "--target", "bought", home=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "--control 'nothing' is not a value of 'offer'" in proc.stderr
