"""The model registry: register, gate against the baseline and the champion, promote or roll back by alias.

Aliases: ``champion`` (served), ``previous`` (the champion before it), ``challenger`` (latest refused candidate).
Every version carries ``validation_status`` and ``gate_reason`` tags, so the decision is auditable.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException

from cxml.config import GateConfig
from cxml.models.spec import ModelSpec
from cxml.pyfunc import model_input
from cxml.tracking import client

CHAMPION, PREVIOUS, CHALLENGER = "champion", "previous", "challenger"


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
) -> GateDecision:
    """Pass only if the candidate beats the baseline and the champion (same holdout) by the configured margins,
    and the baseline on every metric of ``cfg.also_beat_baseline`` that both sides report.

    A champion that cannot be scored on this holdout (``champion_error``) refuses the candidate: replacing a
    served model by one trained on different data must be a deliberate ``cxml promote``.
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
    """Register the logged model as a new version of ``name``; returns the version number."""
    version = mlflow.register_model(model_uri, name, tags={"run_id": run_id, **tags})
    return str(version.version)


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


def apply_decision(name: str, version: str, decision: GateDecision) -> None:
    """Tag the version with the decision; move ``champion`` (keeping ``previous``) only when it passed."""
    c = client()
    c.set_model_version_tag(name, version, "validation_status", "passed" if decision.passed else "rejected")
    c.set_model_version_tag(name, version, "gate_reason", decision.reason)
    if not decision.passed:
        c.set_registered_model_alias(name, CHALLENGER, version)
        return
    current = alias_version(name, CHAMPION)
    if current is not None and current != version:
        c.set_registered_model_alias(name, PREVIOUS, current)
    c.set_registered_model_alias(name, CHAMPION, version)


def versions(name: str) -> list[str]:
    """Every registered version of ``name``, oldest first; empty when the model is not registered."""
    try:
        found = client().search_model_versions(f"name = '{name}'")
    except MlflowException:
        return []
    return sorted((str(v.version) for v in found), key=int)


def promote(name: str, version: str, reason: str) -> None:
    """Manual promotion of a version that already passed the gate; a rejected or unknown version is refused."""
    c = client()
    try:
        status = c.get_model_version(name, version).tags.get("validation_status")
    except MlflowException:
        known = versions(name)
        have = f"its versions are {', '.join(known)}" if known else "it has no versions yet"
        raise ValueError(f"{name} has no version {version}: {have}") from None
    if status != "passed":
        raise ValueError(
            f"{name} version {version} has validation_status={status!r}; only a passed version can be promoted"
        )
    current = alias_version(name, CHAMPION)
    if current == version:
        return
    if current is not None:
        c.set_registered_model_alias(name, PREVIOUS, current)
    c.set_registered_model_alias(name, CHAMPION, version)
    c.set_model_version_tag(name, version, "promotion_reason", reason)


def rollback(name: str) -> tuple[str, str]:
    """Make ``previous`` the champion again; the demoted version is tagged ``rolled_back``. Returns (from, to)."""
    c = client()
    current, previous = alias_version(name, CHAMPION), alias_version(name, PREVIOUS)
    if previous is None or current is None:
        raise ValueError(f"{name} has no previous champion to roll back to")
    c.set_registered_model_alias(name, CHAMPION, previous)
    c.delete_registered_model_alias(name, PREVIOUS)
    c.set_model_version_tag(name, current, "validation_status", "rolled_back")
    return current, previous
