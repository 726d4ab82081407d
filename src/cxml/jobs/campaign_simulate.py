"""``cxml campaign simulate``: every allocation policy side by side, before a campaign goes live.

Without a table, the closed loop on the simulated company (known truth: each policy's exact regret). With
``--table``, the rejection replay of a randomised test the user brings (Li, Chu, Langford & Wang 2011), warm-started
by an uplift model fit on a held-aside share of the table that is never replayed.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxml.campaigns.policies import make_policy
from cxml.campaigns.simulate import ReplayResult, closed_loop, noisy_prior, replay
from cxml.campaigns.spec import CampaignSpec
from cxml.data.sources import read_flat_table
from cxml.data.synthetic import arm_outcomes, campaign_arms, generate_company
from cxml.datasets.tables import TableError, table_features
from cxml.models.meta_learners import TLearner

log = logging.getLogger(__name__)
LOOP_POLICIES = ("uniform", "thompson", "top_two", "warm_thompson")
WRONG_PRIOR = "warm_thompson_wrong_prior"
Echo = Callable[[str], None]


def _summary(values: Sequence[float]) -> dict[str, float]:
    arr = np.asarray(values, float)
    return {"mean": float(arr.mean()), "sd": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0}


def company_truth(customers: int, company_seed: int, campaign: str) -> pd.DataFrame:
    """The simulated company's targeted customers of ``campaign`` with their true expected outcome per arm."""
    company = generate_company(customers, seed=company_seed)
    return arm_outcomes(company.truth["effects"], campaign)


def simulate_company(
    *,
    customers: int = 40_000,
    company_seed: int = 0,
    campaign: str = "CMP05",
    seeds: Sequence[int] = tuple(range(20)),
    days: int = 14,
    prior_noise: float = 0.1,
    prior_weight: float = 20.0,
    echo: Echo | None = None,
) -> dict[str, Any]:
    """Closed loop of every policy (and the warm start with a wrong prior) on the same arrivals per seed.

    The warm start's prior is the truth plus N(0, ``prior_noise``) error per customer and arm (a model of known
    quality); the wrong prior is the same predictions shuffled across customers.
    """
    truth = company_truth(customers, company_seed, campaign)
    spec = CampaignSpec(
        campaign_id=campaign, arms=campaign_arms(campaign), control="control", prior_weight=prior_weight
    )
    regret: dict[str, list[float]] = {p: [] for p in (*LOOP_POLICIES, WRONG_PRIOR)}
    value: dict[str, list[float]] = {p: [] for p in regret}
    for seed in seeds:
        priors = {
            "warm_thompson": noisy_prior(truth, spec.arms, noise_sd=prior_noise, seed=seed),
            WRONG_PRIOR: noisy_prior(truth, spec.arms, noise_sd=prior_noise, seed=seed, shuffle=True),
        }
        for name in regret:
            policy = make_policy(spec, policy="warm_thompson" if name == WRONG_PRIOR else name, seed=seed)
            result = closed_loop(truth, spec, policy, days=days, prior=priors.get(name), seed=seed)
            regret[name].append(result.regret)
            value[name].append(result.expected_value / result.daily["contacted"].sum())
        if echo:
            echo(f"seed {seed}: regret " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in regret.items()))
    warm, cold = np.asarray(regret["warm_thompson"]), np.asarray(regret["thompson"])
    return {
        "mode": "closed_loop",
        "campaign": campaign,
        "customers": customers,
        "targeted": len(truth),
        "days": days,
        "seeds": len(seeds),
        "prior_noise": prior_noise,
        "prior_weight": prior_weight,
        "regret": {k: _summary(v) | {"per_seed": [round(x, 2) for x in v]} for k, v in regret.items()},
        "value_per_contact": {k: _summary(v) for k, v in value.items()},
        "warm_beats_cold": int((warm < cold).sum()),
        "warm_over_uniform": float(warm.mean() / np.mean(regret["uniform"])),
        "wrong_prior_over_cold": float(np.mean(regret[WRONG_PRIOR]) / cold.mean()),
    }


def uplift_prior(features: pd.DataFrame, outcome: np.ndarray, arm: np.ndarray, control: str, seed: int) -> Any:
    """An uplift model (T-learner on gradient-boosted trees) of the held-aside rows, returning a function from
    features to each arm's predicted outcome: the held-aside control rate plus the predicted effect."""
    model = TLearner(n_estimators=300, control=control, random_state=seed).fit(features, outcome, treatment=arm)
    base = float(outcome[arm == control].mean())

    def predict(X: pd.DataFrame) -> pd.DataFrame:
        effects = model.effects(X)
        return pd.DataFrame({control: base, **{a: base + effects[a] for a in model.arms_}}, index=X.index)

    return predict


def _readout(spec: CampaignSpec, result: ReplayResult) -> dict[str, Any] | None:
    """The readout of a replayed campaign, when ``cxml.campaigns.readout`` is installed (another module's job)."""
    try:
        module = importlib.import_module("cxml.campaigns.readout")
    except ImportError:
        return None
    out: dict[str, Any] = module.readout(result.assignments, result.outcomes, spec).to_dict()
    return out


def simulate_table(
    table: Path,
    *,
    treatment: str,
    control: str,
    target: str,
    id_column: str | None = None,
    drop: Sequence[str] = (),
    shuffles: int = 20,
    prior_share: float = 0.3,
    batch_size: int = 1000,
    prior_weight: float = 20.0,
    seed: int = 0,
    relabel: bool = False,
    echo: Echo | None = None,
) -> dict[str, Any]:
    """Replay every policy on a randomised test, ``shuffles`` arrival orders each; ``relabel`` reassigns the arm
    labels at random first (an A/A test: no arm can truly win)."""
    if not 0 < prior_share < 1:
        raise TableError(f"--prior-share must be in (0, 1), got {prior_share}")
    frame = read_flat_table(table)
    missing = [c for c in (treatment, target, *drop, *([id_column] if id_column else [])) if c not in frame.columns]
    if missing:
        raise TableError(f"columns not in the table: {missing}; it has {list(frame.columns)}")
    arms = frame[treatment].astype(str).str.strip().to_numpy(dtype=object)
    if control not in set(arms):
        raise TableError(f"--control {control!r} is not a value of {treatment!r}: {sorted(set(arms))[:10]}")
    outcome = pd.to_numeric(frame[target], errors="coerce").to_numpy(float)
    if np.isnan(outcome).any():
        raise TableError(f"target column {target!r} must be numeric (0/1 or an amount)")
    rng = np.random.default_rng(seed)
    if relabel:
        arms = arms[rng.permutation(len(arms))]
    ids = (
        frame[id_column].astype(str).to_numpy(dtype=object)
        if id_column
        else np.array([f"row-{i}" for i in range(len(frame))], dtype=object)
    )
    X, notes = table_features(frame, [target, treatment, *drop], id_column)
    binary = bool(np.isin(outcome, (0.0, 1.0)).all())
    spec = CampaignSpec(
        campaign_id=Path(table).stem,
        arms=tuple(sorted(set(arms))),
        control=control,
        outcome="binary" if binary else "continuous",
        prior_weight=prior_weight,
    )
    aside = rng.random(len(frame)) < prior_share
    if echo:
        echo(f"uplift prior on {int(aside.sum())} held-aside rows; replaying {int((~aside).sum())} rows")
    predict = uplift_prior(X[aside], outcome[aside], arms[aside], control, seed)
    prior = predict(X[~aside]).assign(customer_id=ids[~aside])
    replayed = pd.DataFrame({"customer_id": ids[~aside], "arm": arms[~aside], "outcome": outcome[~aside]})
    arm_rates = replayed.groupby("arm")["outcome"].mean()
    rates: dict[str, list[float]] = {p: [] for p in LOOP_POLICIES}
    kept: dict[str, list[int]] = {p: [] for p in LOOP_POLICIES}
    first: dict[str, ReplayResult] = {}
    for s in range(shuffles):
        for name in LOOP_POLICIES:
            policy = make_policy(spec, policy=name, seed=seed + s)
            result = replay(
                replayed,
                spec,
                policy,
                prior=prior if name == "warm_thompson" else None,
                seed=seed + s,
                batch_size=batch_size,
            )
            rates[name].append(result.rate)
            kept[name].append(result.n_kept)
            first.setdefault(name, result)
        if echo:
            echo(f"shuffle {s}: " + ", ".join(f"{k} {v[-1]:.4f}" for k, v in rates.items()))
    best_arm = str(arm_rates.idxmax())
    return {
        "mode": "replay",
        "table": str(table),
        "arms": list(spec.arms),
        "control": control,
        "target": target,
        "relabelled": relabel,
        "rows": len(frame),
        "prior_rows": int(aside.sum()),
        "replayed_rows": int((~aside).sum()),
        "shuffles": shuffles,
        "arm_rates": {str(k): float(v) for k, v in arm_rates.items()},
        "best_arm": best_arm,
        "best_arm_rate": float(arm_rates.max()),
        "rate": {k: _summary(v) for k, v in rates.items()},
        "kept": {k: _summary(v) for k, v in kept.items()},
        "readout": {k: _readout(spec, r) for k, r in first.items()},
        "notes": notes,
    }
