"""The model registry: register, gate against the baseline and the champion, promote or roll back by alias.

Aliases: ``champion`` (served), ``previous`` (the champion before it), ``challenger`` (latest refused candidate).
Every version carries ``validation_status`` and ``gate_reason`` tags, so the decision is auditable: ``pending``
from registration until the gate decides, then ``passed`` or ``rejected``; ``rolled_back`` once demoted;
``abandoned`` when its run died before the gate. Only a ``passed`` version is ever made champion.

Every read-decide-write of the aliases (the gate, ``promote``, ``rollback``) holds the store's registry lock
(:func:`registry_lock`), so concurrent commands on one workspace apply one after the other.
"""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException

from cxml.config import GateConfig
from cxml.models.price_gate import elasticity_refusals
from cxml.models.spec import ModelSpec
from cxml.pyfunc import model_input
from cxml.tracking import client
from cxml.workspace_lock import hold, pid_alive

CHAMPION, PREVIOUS, CHALLENGER = "champion", "previous", "challenger"
STATUS, PASSED, PENDING, ABANDONED = "validation_status", "passed", "pending", "abandoned"
REGISTERED_BY = "registered_by"
LOCK_TIMEOUT_S = 120.0


def registry_lock_path() -> Path:
    """The lock file of the current registry store: beside a SQLite store (the workspace root by default);
    for a server or database, one per store URI in the temporary folder (which serialises this host only)."""
    uri = mlflow.get_registry_uri()
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).parent / "registry.lock"
    digest = hashlib.sha256(uri.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"cxml-registry-{digest}.lock"


@contextmanager
def registry_lock(what: str, timeout: float | None = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the registry lock for a read-decide-write of aliases and statuses; ``WorkspaceBusy`` past ``timeout``."""
    with hold(registry_lock_path(), what=what, timeout=timeout, poll=0.01):
        yield


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    reason: str
    metric: str
    candidate: float
    baseline: float
    champion: float | None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def decide(
    spec: ModelSpec,
    cfg: GateConfig,
    candidate: dict[str, float],
    baseline: dict[str, float],
    champion: dict[str, float] | None,
    champion_error: str | None = None,
    fitted: Mapping[str, object] | None = None,
) -> GateDecision:
    """Pass only if the candidate beats the baseline and the champion (same holdout) by the configured margins,
    and the baseline on every metric of ``cfg.also_beat_baseline`` that both sides report; metrics with
    elasticities must also pass :func:`cxml.models.price_gate.elasticity_refusals`.

    A champion that cannot be scored on this holdout (``champion_error``) refuses the candidate: replacing a
    served model by one trained on different data must be a deliberate ``cxml promote``. ``fitted`` is the
    candidate's ``fitted_params()`` (price: its pooled elasticity with the interval the elasticity checks use).
    """
    m = cfg.primary_metric
    cand, base = candidate[m], baseline[m]
    champ = champion[m] if champion is not None else None
    failures = []
    if not spec.better(cand, base, cfg.min_gain_vs_baseline):
        failures.append(f"{m} {cand:.4f} does not beat the baseline {base:.4f} by {cfg.min_gain_vs_baseline}")
    if champ is not None and not spec.better(cand, champ, cfg.min_gain_vs_champion):
        failures.append(f"{m} {cand:.4f} does not beat the champion {champ:.4f} by {cfg.min_gain_vs_champion}")
    for extra in cfg.also_beat_baseline:
        a, b = candidate.get(extra, float("nan")), baseline.get(extra, float("nan"))
        if np.isfinite(a) and np.isfinite(b) and not spec.better(a, b):
            failures.append(f"{extra} {a:.4f} does not beat the baseline {b:.4f}")
    if cfg.min_value is not None and not spec.better(cand, cfg.min_value):
        failures.append(f"{m} {cand:.4f} does not beat {cfg.min_value} (the random-targeting value)")
    elif cfg.min_value is not None and cfg.min_value_by_interval:
        low, high = candidate.get(f"{m}_ci_low", np.nan), candidate.get(f"{m}_ci_high", np.nan)
        worst = low if spec.greater_is_better else high
        if not np.isfinite(worst) or not spec.better(worst, cfg.min_value):
            failures.append(
                f"{m} 95 % interval [{low:.4f}, {high:.4f}] includes {cfg.min_value} (the random-targeting value)"
            )
    if cfg.check_elasticity:  # price: a sign a manager can act on
        failures.extend(elasticity_refusals(candidate, baseline, fitted))
    if champion_error is not None:
        failures.append(f"the champion could not be scored on this holdout ({champion_error})")
    if failures:
        return GateDecision(False, "refused: " + "; ".join(failures), m, cand, base, champ)
    vs_champ = f", champion {champ:.4f}" if champ is not None else ", no champion yet"
    also = "".join(
        f"; {x} {candidate[x]:.4f} vs baseline {baseline[x]:.4f}"
        for x in cfg.also_beat_baseline
        if np.isfinite(candidate.get(x, np.nan)) and np.isfinite(baseline.get(x, np.nan))
    )
    reason = f"promoted: {m} {cand:.4f} vs baseline {base:.4f}{vs_champ}{also}"
    return GateDecision(True, reason, m, cand, base, champ)


def register(name: str, model_uri: str, run_id: str, tags: dict[str, str]) -> str:
    """Register the logged model as a new version of ``name``, ``pending`` until :func:`apply_decision` (and
    tagged with the registering process, so a later run can tell one that died); returns the version number."""
    owner = {STATUS: PENDING, REGISTERED_BY: f"{socket.gethostname()}:{os.getpid()}"}
    version = mlflow.register_model(model_uri, name, tags={"run_id": run_id, **tags, **owner})
    return str(version.version)


def abandon(name: str, version: str, reason: str) -> None:
    """Mark a version whose run never reached the gate: never promotable, with the reason why."""
    with registry_lock(f"abandon {name} v{version}"):
        c = client()
        c.set_model_version_tag(name, version, STATUS, ABANDONED)
        c.set_model_version_tag(name, version, "gate_reason", f"abandoned: {reason}")


def abandon_dead_pending(name: str) -> list[str]:
    """Mark ``abandoned`` every version of ``name`` that a dead run left ``pending`` (killed between registration
    and the gate), or that an older run left without any status; returns one line per version marked or left.

    A pending version of a live process of this host is left alone (its gate is still to come), and so is one
    of another host, whose process cannot be checked from here: both are reported, neither can be promoted.
    """
    try:
        found = client().search_model_versions(f"name = '{name}'")
    except MlflowException:
        return []
    here, notes = socket.gethostname(), []
    for v in sorted(found, key=lambda v: int(v.version)):
        status, owner = v.tags.get(STATUS), v.tags.get(REGISTERED_BY, "")
        if status not in (PENDING, None) or (status is None and "run_id" not in v.tags):
            continue
        host, _, pid = owner.rpartition(":")
        run = v.tags.get("run_id", "?")
        if status == PENDING and host and host != here:
            notes.append(f"{name} version {v.version} is pending, registered by {owner} (another host): left alone")
            continue
        if status == PENDING and pid.isdigit() and int(pid) != os.getpid() and pid_alive(int(pid)):
            notes.append(f"{name} version {v.version} is pending: its run (pid {pid}) is still at the gate")
            continue
        why = (
            f"run {run} (pid {pid or '?'}) died between registration and the gate"
            if status == PENDING
            else f"run {run} registered it without a gate decision (an older run that died before the gate)"
        )
        abandon(name, str(v.version), why)
        notes.append(f"{name} version {v.version} was left {status or 'without a status'}: {why}; marked abandoned")
    return notes


def alias_version(name: str, alias: str) -> str | None:
    try:
        return str(client().get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def score_version(name: str, version: str, X: pd.DataFrame) -> np.ndarray:
    """Scores of a registered version on rows, through its pyfunc (the same path any consumer uses).

    One score column gives a vector; several (one per arm) a matrix with the columns in the model's order.
    """

    model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
    scores = np.asarray(model.predict(model_input(X)), dtype=float)
    return scores[:, 0] if scores.shape[1] == 1 else scores


_ANY = object()


def apply_decision(name: str, version: str, decision: GateDecision, champion_seen: object = _ANY) -> bool:
    """Tag the version with the decision; move ``champion`` (keeping ``previous``) only when it passed.

    ``champion_seen`` is the champion the gate compared against (None: none). When the champion moved while the
    gate ran (a ``cxml promote`` or rollback in between), the comparison no longer holds: the version keeps its
    ``passed`` status but does not take the alias (compare-and-set). Returns whether it became champion.
    """
    with registry_lock(f"gate of {name} v{version}"):
        c = client()
        reason = decision.reason
        current = alias_version(name, CHAMPION)
        moved = decision.passed and champion_seen is not _ANY and current != champion_seen
        if moved:
            reason += (
                f"; not made champion: the champion moved from {champion_seen or 'none'} to {current or 'none'}"
                f" while the gate ran (`cxml promote --version {version}` makes it champion)"
            )
        c.set_model_version_tag(name, version, STATUS, PASSED if decision.passed else "rejected")
        c.set_model_version_tag(name, version, "gate_reason", reason)
        if not decision.passed or moved:
            c.set_registered_model_alias(name, CHALLENGER, version)
            return False
        if current is not None and current != version:
            c.set_registered_model_alias(name, PREVIOUS, current)
        c.set_registered_model_alias(name, CHAMPION, version)
        return True


def versions(name: str) -> list[str]:
    """Every registered version of ``name``, oldest first; empty when the model is not registered."""
    try:
        found = client().search_model_versions(f"name = '{name}'")
    except MlflowException:
        return []
    return sorted((str(v.version) for v in found), key=int)


def promote(name: str, version: str, reason: str) -> None:
    """Manual promotion of a version that already passed the gate; any other version, or an unknown one, is
    refused. Status check and alias moves happen under the registry lock, so a concurrent rollback cannot
    demote the version between the check and the move."""
    with registry_lock(f"promote {name} v{version}"):
        c = client()
        try:
            status = c.get_model_version(name, version).tags.get(STATUS)
        except MlflowException:
            known = versions(name)
            have = f"its versions are {', '.join(known)}" if known else "it has no versions yet"
            raise ValueError(f"{name} has no version {version}: {have}") from None
        if status != PASSED:
            hint = (
                " (its run has not reached the gate yet, or died before it: the next `cxml train` marks it abandoned)"
                if status == PENDING
                else ""
            )
            raise ValueError(
                f"{name} version {version} has validation_status={status!r}; only a passed version can be promoted"
                + hint
            )
        current = alias_version(name, CHAMPION)
        if current == version:
            return
        if current is not None:
            c.set_registered_model_alias(name, PREVIOUS, current)
        c.set_registered_model_alias(name, CHAMPION, version)
        c.set_model_version_tag(name, version, "promotion_reason", reason)


def rollback(name: str) -> tuple[str, str]:
    """Make ``previous`` the champion again; the demoted version is tagged ``rolled_back``. Returns (from, to).

    Under the registry lock, so ``champion`` and ``previous`` are read and moved as one step; a ``previous``
    that no longer has ``passed`` status is refused rather than served."""
    with registry_lock(f"roll back {name}"):
        c = client()
        current, previous = alias_version(name, CHAMPION), alias_version(name, PREVIOUS)
        if previous is None or current is None:
            raise ValueError(f"{name} has no previous champion to roll back to")
        status = c.get_model_version(name, previous).tags.get(STATUS)
        if status != PASSED:
            raise ValueError(
                f"{name}: the previous champion, version {previous}, has validation_status={status!r}; "
                "only a passed version can be champion"
            )
        c.set_registered_model_alias(name, CHAMPION, previous)
        c.delete_registered_model_alias(name, PREVIOUS)
        c.set_model_version_tag(name, current, STATUS, "rolled_back")
        return current, previous
