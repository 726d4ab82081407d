"""The campaign store and assignment rules: sticky, no duplicates under concurrent processes, atomic allocations,
outcome files validated with errors that name file, column, rule and rows, the holdout shared with the NBA."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cxml.campaigns.assign import Assigner, assign_customer, draw_arm, uniform_draw
from cxml.campaigns.spec import ALL_SEGMENTS, Allocation, CampaignSpec
from cxml.campaigns.store import (
    AllocationConflict,
    CampaignExists,
    CampaignNotFound,
    CampaignStore,
    OutcomeFileError,
    ingest_outcomes,
)
from cxml.config import Workspace
from cxml.decision.policy import in_holdout

pytestmark = pytest.mark.unit
ARMS = ("a", "b", "ctrl")


def allocation(version: int, shares: dict[str, float], campaign: str = "c1") -> Allocation:
    return Allocation(campaign, version, "2025-01-01T00:00:00", "uniform", {ALL_SEGMENTS: shares})


def started(tmp_path: Path, **spec: object) -> CampaignStore:
    s = CampaignSpec(campaign_id="c1", arms=ARMS, control="ctrl", **spec)
    return CampaignStore.create(Workspace(tmp_path), s, allocation(1, {"a": 1 / 3, "b": 1 / 3, "ctrl": 1 / 3}))


def test_start_writes_spec_allocation_and_log(tmp_path: Path) -> None:
    store = started(tmp_path)
    assert store.spec().arms == ARMS
    assert store.current_version() == 1
    assert store.allocation().shares[ALL_SEGMENTS]["a"] == pytest.approx(1 / 3)
    assert store.log().count() == 0
    with pytest.raises(CampaignExists):
        started(tmp_path)


def test_unknown_campaign_names_the_command(tmp_path: Path) -> None:
    with pytest.raises(CampaignNotFound, match="cxml campaign start"):
        CampaignStore(Workspace(tmp_path), "nope").spec()


@pytest.mark.parametrize("bad", ["", "../etc", "a/b", ".hidden", "x" * 129])
def test_campaign_id_must_be_a_safe_folder_name(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="campaign id"):
        CampaignStore(Workspace(tmp_path), bad)


def test_allocations_are_versioned_and_never_overwritten(tmp_path: Path) -> None:
    store = started(tmp_path)
    store.write_allocation(allocation(2, {"a": 0.6, "b": 0.3, "ctrl": 0.1}))
    assert store.current_version() == 2
    assert [a.version for a in store.allocations()] == [1, 2]
    with pytest.raises(AllocationConflict, match="v2"):
        store.write_allocation(allocation(2, {"a": 0.1, "b": 0.1, "ctrl": 0.8}))
    assert store.allocation().shares[ALL_SEGMENTS]["a"] == 0.6  # the first v2 stands
    with pytest.raises(ValueError, match="sum to 1"):
        store.write_allocation(allocation(3, {"a": 0.6, "b": 0.6, "ctrl": 0.1}))
    assert not list(store.allocations_dir.glob(".*tmp"))


def test_draw_matches_the_shares_and_the_logged_propensity(tmp_path: Path) -> None:
    shares = {"a": 0.7, "b": 0.2, "ctrl": 0.1}
    draws = [draw_arm(shares, uniform_draw("c1", f"C{i}", 3)) for i in range(20_000)]
    arms = pd.Series([a for a, _ in draws])
    freq = arms.value_counts(normalize=True)
    for arm, p in shares.items():
        assert freq[arm] == pytest.approx(p, abs=0.01)
    assert all(p == pytest.approx(shares[a]) for a, p in draws)
    assert draw_arm({"a": 0.0, "b": 1.0}, 0.0) == ("b", 1.0)  # a stopped arm is never drawn


def test_assignment_is_sticky_and_the_holdout_is_the_nbas(tmp_path: Path) -> None:
    store = started(tmp_path, holdout_share=0.2)
    spec, log = store.spec(), store.log()
    first = [assign_customer(spec, store.allocation(), log, f"C{i}") for i in range(500)]
    store.write_allocation(allocation(2, {"a": 0.0, "b": 0.0, "ctrl": 1.0}))
    again = [assign_customer(spec, store.allocation(), log, f"C{i}") for i in range(500)]
    assert [a.arm for a in again] == [a.arm for a in first]
    assert all(a.new for a in first) and not any(a.new for a in again)
    expected = [in_holdout(f"C{i}", 0.2, "cxml-nba-v1") for i in range(500)]
    assert [a.holdout for a in first] == expected
    assert all(a.arm == "ctrl" and not a.contact and a.propensity == 1.0 for a in first if a.holdout)
    assert 60 <= sum(expected) <= 140
    assert log.count() == 500
    frame = log.assignments()
    assert list(frame.columns) == [
        "campaign_id", "customer_id", "arm", "sent_at", "propensity", "policy_version", "segment", "holdout"
    ]  # fmt: skip
    assert frame["policy_version"].eq(1).all() and frame["holdout"].sum() == sum(expected)


def test_a_blocked_customer_is_told_why_and_not_logged(tmp_path: Path) -> None:
    store = started(tmp_path)
    out = assign_customer(store.spec(), store.allocation(), store.log(), "C1", block="no marketing consent")
    assert (out.arm, out.contact, out.blocked) == (None, False, "no marketing consent")
    assert "no marketing consent" in out.reason
    assert store.log().count() == 0


def test_assigner_picks_up_a_new_allocation_without_restart(tmp_path: Path) -> None:
    store = started(tmp_path, holdout_share=0.0)
    assigner = Assigner(Workspace(tmp_path))
    assert assigner.assign("c1", "X0").policy_version == 1
    store.write_allocation(allocation(2, {"a": 1.0, "b": 0.0, "ctrl": 0.0}))
    out = [assigner.assign("c1", f"X{i}") for i in range(1, 50)]
    assert {a.policy_version for a in out} == {2} and {a.arm for a in out} == {"a"}
    with pytest.raises(CampaignNotFound):
        assigner.assign("other", "X1")


def _hammer(root: str, start: int, n: int) -> None:
    assigner = Assigner(Workspace(root))
    for i in range(n):  # every process asks for the same customers, in a different order
        assigner.assign("c1", f"C{(start + i) % n}")


def test_concurrent_processes_lose_nothing_and_duplicate_nothing(tmp_path: Path) -> None:
    started(tmp_path, holdout_share=0.1)
    n = 300
    # forkserver: the workers share no SQLite state with this process (SQLite forbids carrying it across fork());
    # the server imports cxml once and forks each worker from there, so none pays a second start-up
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["cxml.campaigns.assign"])
    procs = [ctx.Process(target=_hammer, args=(str(tmp_path), k * 37, n)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    frame = CampaignStore(Workspace(tmp_path), "c1").log().assignments()
    assert len(frame) == n and frame["customer_id"].is_unique


def test_bulk_append_ignores_customers_already_logged(tmp_path: Path) -> None:
    log = started(tmp_path).log()
    rows = pd.DataFrame(
        {
            "campaign_id": "c1",
            "customer_id": [f"C{i}" for i in range(10)],
            "arm": "a",
            "sent_at": pd.Timestamp("2025-01-02"),
            "propensity": 0.5,
            "policy_version": 1,
            "segment": None,
            "holdout": False,
        }
    )
    assert log.append(rows) == 10
    assert log.append(rows.assign(arm="b")) == 0
    got = log.assignments()
    assert got["arm"].eq("a").all() and got["sent_at"].eq(pd.Timestamp("2025-01-02")).all()


def _outcomes(**cols: object) -> pd.DataFrame:
    base: dict[str, object] = {
        "campaign_id": "c1",
        "customer_id": ["C1", "C2", "C3"],
        "outcome": [1, 0, 1],
        "observed_at": ["2025-01-03", "2025-01-04", "2025-01-05T10:00:00"],
    }
    return pd.DataFrame({**base, **cols})


def test_outcomes_are_ingested_once(tmp_path: Path) -> None:
    store = started(tmp_path)
    path = tmp_path / "out.csv"
    pd.concat([_outcomes(), _outcomes(campaign_id="other")]).to_csv(path, index=False)
    first = ingest_outcomes(store, path)
    assert first == {"rows": 6, "added": 3, "duplicates": 0, "other_campaigns": 3, "unassigned_customers": 3}
    assert ingest_outcomes(store, path)["duplicates"] == 3
    parquet = tmp_path / "out.parquet"
    _outcomes(customer_id=["C4", "C5", "C6"]).to_parquet(parquet)
    assert ingest_outcomes(store, parquet)["added"] == 3
    got = store.log().outcomes()
    assert len(got) == 6 and got["outcome"].sum() == 4.0
    assert got["observed_at"].max() == pd.Timestamp("2025-01-05T10:00:00")


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (_outcomes().drop(columns="observed_at"), r"missing column\(s\) \['observed_at'\]"),
        (_outcomes(outcome=[1, 2, 0]), r"column 'outcome': a binary campaign's outcome is 0 or 1 \(1 rows: 2\)"),
        (_outcomes(outcome=["1", "yes", "x"]), r"column 'outcome': must be a finite number \(2 rows: 2, 3\)"),
        (_outcomes(observed_at=["2025-01-01", "soon", None]), r"column 'observed_at'.*\(2 rows: 2, 3\)"),
        (_outcomes(customer_id=["C1", None, "C3"]), r"column 'customer_id': must not be empty \(1 rows: 2\)"),
    ],
)
def test_a_malformed_outcome_file_names_file_column_rule_and_rows(
    tmp_path: Path, frame: pd.DataFrame, message: str
) -> None:
    store = started(tmp_path)
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(OutcomeFileError, match=message) as info:
        ingest_outcomes(store, path)
    assert str(path) in str(info.value)
    assert store.log().outcomes().empty


def test_continuous_outcomes_take_any_finite_amount(tmp_path: Path) -> None:
    store = started(tmp_path, outcome="continuous")
    path = tmp_path / "spend.csv"
    _outcomes(outcome=[12.5, 0.0, -3.25]).to_csv(path, index=False)
    assert ingest_outcomes(store, path)["added"] == 3
    np.testing.assert_allclose(store.log().outcomes()["outcome"], [12.5, 0.0, -3.25])
