"""A workspace shared by concurrent commands (issue 17, "Sharing a workspace"): promotion and rollback are
serialised, a second training waits or refuses with a message, a version whose run died before the gate is
never promotable and the next run marks it abandoned."""

from __future__ import annotations

import random
import threading
import time

import pytest

from cxml import registry, tracking
from cxml.config import Workspace

pytestmark = pytest.mark.integration
NAME = "cxml.churn.shared"
PASSED = ["1", "2", "3", "4", "5", "6"]


def _status(name: str, version: str) -> str | None:
    return tracking.client().get_model_version(name, version).tags.get("validation_status")


@pytest.fixture
def store(tmp_path, monkeypatch):
    """Six passed versions, a rejected one (7) and one left pending by a run (8), in a fresh SQLite workspace."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    ws = Workspace(tmp_path / "ws")
    with tracking.using(ws):
        c = tracking.client()
        c.create_registered_model(NAME)
        for status in [*["passed"] * 6, "rejected", "pending"]:
            c.create_model_version(NAME, source=str(tmp_path / "model"), tags={"validation_status": status})
        yield ws


def test_concurrent_promote_and_rollback_only_ever_serve_a_passed_version(store):
    """100 rounds of promote 1 ∥ rollback ∥ promote 6 (plus promote of the rejected and the pending version),
    each from a state drawn at random: champion and previous always name versions that passed."""
    c, rng = tracking.client(), random.Random(17)
    outcomes: dict[str, int] = {}
    bad: list[str] = []
    demoted: list[str] = []
    started = time.monotonic()
    for round_ in range(100):
        while demoted:  # undo the last round's rollback tag: every round starts from six passed versions
            c.set_model_version_tag(NAME, demoted.pop(), "validation_status", "passed")
        champion, previous = rng.sample(PASSED, 2)
        c.set_registered_model_alias(NAME, "champion", champion)
        c.set_registered_model_alias(NAME, "previous", previous)
        ops = [
            lambda: registry.promote(NAME, "1", "race"),
            lambda: demoted.append(registry.rollback(NAME)[0]),
            lambda: registry.promote(NAME, "6", "race"),
            lambda: registry.promote(NAME, rng.choice(["7", "8"]), "race"),
        ]
        barrier = threading.Barrier(len(ops))

        def run(op, barrier=barrier, round_=round_):
            barrier.wait()
            try:
                op()
                key = "applied"
            except ValueError as exc:
                key = "refused: " + str(exc).split(";")[0].split(":")[0][:40]
            except Exception as exc:  # a store error from a lost race (StaleDataError before the lock)
                key = "crashed"
                bad.append(f"round {round_}: {type(exc).__name__}: {str(exc)[:100]}")
            outcomes[key] = outcomes.get(key, 0) + 1

        threads = [threading.Thread(target=run, args=(op,)) for op in ops]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        champ = registry.alias_version(NAME, "champion")
        prev = registry.alias_version(NAME, "previous")
        if champ is None or _status(NAME, champ) != "passed":
            bad.append(f"round {round_}: champion {champ} is {champ and _status(NAME, champ)}")
        if prev is not None and (prev == champ or _status(NAME, prev) != "passed"):
            bad.append(f"round {round_}: previous {prev} is {_status(NAME, prev)} (champion {champ})")
    elapsed = time.monotonic() - started
    print(f"100 rounds in {elapsed:.1f} s: {outcomes}; {len(bad)} violations")
    assert not bad, bad
    assert outcomes["applied"] >= 100  # the rounds did race real changes, not only refusals
    assert elapsed < 60


def test_a_lost_race_at_the_gate_keeps_the_status_but_not_the_alias(store):
    """Compare-and-set: a candidate gated against champion 2 does not take the alias once someone moved it."""
    c = tracking.client()
    c.set_registered_model_alias(NAME, "champion", "3")
    decision = registry.GateDecision(True, "promoted: test", "roc_auc", 0.9, 0.5, 0.8)
    assert not registry.apply_decision(NAME, "8", decision, champion_seen="2")
    assert registry.alias_version(NAME, "champion") == "3"
    assert _status(NAME, "8") == "passed"
    assert "the champion moved from 2 to 3" in c.get_model_version(NAME, "8").tags["gate_reason"]
    assert registry.apply_decision(NAME, "8", decision, champion_seen="3")
    assert registry.alias_version(NAME, "champion") == "8"
    assert registry.alias_version(NAME, "previous") == "3"


def test_a_pending_version_cannot_be_promoted(store):
    with pytest.raises(ValueError, match=r"validation_status='pending'.*died before it"):
        registry.promote(NAME, "8", "try")
