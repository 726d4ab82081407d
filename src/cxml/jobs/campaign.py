"""The ``cxml campaign`` jobs: start a campaign, update its allocation from the log, read it out, evaluate a rule.

Each update reads every assignment and outcome logged so far, reads the campaign out (anytime-valid, so a look
every day is allowed), stops the arms the readout drops, fits the campaign's policy (warm-started from the
workspace's uplift champion for ``warm_thompson``), writes the next allocation (the service picks it up without a
restart) and records all of it as one MLflow run under ``cxml/campaigns``: the allocation JSON as a versioned
artefact, the posteriors and the readout.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from cxml import registry, tracking
from cxml.campaigns.assign import assign_customer
from cxml.campaigns.ope import evaluate, targeting_rule
from cxml.campaigns.page import campaign_page
from cxml.campaigns.policies import make_policy
from cxml.campaigns.readout import Readout, readout
from cxml.campaigns.spec import ASSIGNMENT_COLUMNS, Allocation, CampaignSpec
from cxml.campaigns.store import CampaignStore, ingest_outcomes
from cxml.config import Workspace
from cxml.data.synthetic import arm_outcomes, campaign_arms
from cxml.jobs.snapshot import read_snapshot
from cxml.pyfunc import load_estimator

EXPERIMENT = "cxml/campaigns"
UPLIFT_MODEL = "cxml.uplift"


def start_campaign(ws: Workspace, spec: CampaignSpec, *, seed: int = 0) -> dict[str, Any]:
    """Write the spec and allocation v1 (the policy fitted on no data: its prior, or uniform)."""
    prior = uplift_prior(ws, spec) if spec.policy == "warm_thompson" else None
    policy = make_policy(spec, seed=seed).fit(_empty_assignments(), _empty_outcomes(), prior)
    first = policy.allocate(1)
    store = CampaignStore.create(ws, spec, first)
    return {"campaign_id": spec.campaign_id, "path": str(store.path), "version": 1, "shares": first.shares["*"]}


@dataclass
class UpdateResult:
    campaign_id: str
    version: int
    policy: str
    n_assignments: int
    n_outcomes: int
    shares: dict[str, float]
    stopped: list[str]
    readout: dict[str, Any] | None
    run_id: str
    ingested: dict[str, int] | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return self.__dict__.copy()


def update_campaign(
    ws: Workspace, campaign_id: str, *, outcomes_file: Path | None = None, seed: int = 0
) -> UpdateResult:
    """Ingest new outcomes, read out, stop dropped arms, refit the policy, write the next allocation, log the run."""
    clock: dict[str, float] = {}
    t = time.perf_counter()
    store = CampaignStore(ws, campaign_id).require()
    spec = store.spec()
    log = store.log()
    assignments = log.assignments()
    ingested = ingest_outcomes(store, outcomes_file, assignments["customer_id"]) if outcomes_file is not None else None
    outcomes = log.outcomes()
    clock["read_log"] = time.perf_counter() - t
    t = time.perf_counter()
    current = store.allocation()
    result = readout(assignments, outcomes, spec) if len(assignments) else None
    dropped = [a.arm for a in result.arms if a.decision == "drop"] if result is not None else []
    stopped = sorted({*current.stopped, *dropped} - {spec.control})
    clock["readout"] = time.perf_counter() - t
    t = time.perf_counter()
    prior = uplift_prior(ws, spec) if spec.policy == "warm_thompson" else None
    policy = make_policy(spec, stopped=stopped, seed=seed + current.version).fit(assignments, outcomes, prior)
    allocation = policy.allocate(current.version + 1)
    clock["fit"] = time.perf_counter() - t
    t = time.perf_counter()
    store.write_allocation(allocation)
    run_id = _log_run(ws, spec, allocation, policy.posteriors(), result, len(assignments), len(outcomes))
    clock["write_and_log"] = time.perf_counter() - t
    return UpdateResult(
        campaign_id=campaign_id,
        version=allocation.version,
        policy=allocation.policy,
        n_assignments=len(assignments),
        n_outcomes=len(outcomes),
        shares=allocation.shares["*"],
        stopped=list(allocation.stopped),
        readout=result.to_dict() if result is not None else None,
        run_id=run_id,
        ingested=ingested,
        seconds={k: round(v, 3) for k, v in clock.items()},
    )


def _log_run(
    ws: Workspace,
    spec: CampaignSpec,
    allocation: Allocation,
    posteriors: pd.DataFrame,
    result: Readout | None,
    n_assignments: int,
    n_outcomes: int,
) -> str:
    with tracking.using(ws):
        experiment = tracking.ensure_experiment(EXPERIMENT, ws)
        tags = {
            "cxml.campaign": spec.campaign_id,
            "cxml.policy": allocation.policy,
            "cxml.allocation_version": str(allocation.version),
        }
        with mlflow.start_run(
            experiment_id=experiment, run_name=f"{spec.campaign_id} v{allocation.version}", tags=tags
        ) as run:
            mlflow.log_params({k: str(v) for k, v in spec.model_dump().items()})
            metrics: dict[str, float] = {"n_assignments": n_assignments, "n_outcomes": n_outcomes}
            for segment_arm, share in allocation.shares["*"].items():
                metrics[f"share_{segment_arm}"] = share
            if result is not None:
                for arm in result.arms:
                    for name in ("n", "mean", "lift", "lower", "upper"):
                        value = getattr(arm, name)
                        if value is not None and np.isfinite(value):
                            metrics[f"{name}_{arm.arm}"] = float(value)
                if result.holdout is not None:
                    h = result.holdout
                    metrics |= {
                        "holdout_incremental_per_customer": h.incremental_per_customer,
                        "holdout_incremental_lower": h.lower,
                        "holdout_incremental_upper": h.upper,
                        "holdout_revenue": h.revenue,
                    }
            mlflow.log_metrics({k: float(v) for k, v in metrics.items() if np.isfinite(v)})
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                (folder / f"v{allocation.version}.json").write_text(allocation.to_json())
                mlflow.log_artifact(str(folder / f"v{allocation.version}.json"), artifact_path="allocations")
                posteriors.to_csv(folder / "posteriors.csv", index=False)
                mlflow.log_artifact(str(folder / "posteriors.csv"))
                if result is not None:
                    (folder / "readout.json").write_text(json.dumps(result.to_dict(), indent=2))
                    mlflow.log_artifact(str(folder / "readout.json"))
            return str(run.info.run_id)


def readout_campaign(ws: Workspace, campaign_id: str, *, html: Path | None = None) -> dict[str, Any]:
    """The readout of everything logged so far, and the page (``html``, default under the workspace reports)."""
    store = CampaignStore(ws, campaign_id).require()
    spec = store.spec()
    log = store.log()
    assignments, outcomes = log.assignments(), log.outcomes()
    if assignments.empty:
        raise ValueError(f"campaign {campaign_id!r} has no assignments yet: nothing to read out")
    result = readout(assignments, outcomes, spec)
    path = html or ws.reports / f"campaign-{campaign_id}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(campaign_page(spec, assignments, outcomes, store.allocations(), result))
    return {**result.to_dict(), "page": str(path)}


RULE_KEYS = ("arm", "top", "score")


def parse_rule(rule: str) -> dict[str, str]:
    """``"arm=A top=0.3 score=uplift"`` → its three parts, or a ValueError naming what is wrong."""
    parts: dict[str, str] = {}
    for token in rule.split():
        key, sep, value = token.partition("=")
        if not sep or key not in RULE_KEYS or not value:
            raise ValueError(f"rule {rule!r}: {token!r} is not one of {', '.join(k + '=...' for k in RULE_KEYS)}")
        parts[key] = value
    missing = [k for k in RULE_KEYS if k not in parts]
    if missing:
        raise ValueError(f'rule {rule!r} lacks {missing}; e.g. "arm=email top=0.3 score=uplift"')
    return parts


def evaluate_campaign(ws: Workspace, campaign_id: str, rule: str, *, seed: int = 0) -> dict[str, Any]:
    """Off-policy value of "send ``arm`` to the ``top`` share by ``score``, else control" from the logs.

    ``score=uplift``: the uplift champion's predicted effect of the arm; any other name: a numeric column of the
    feature snapshot. The reward model of DM and DR reads the snapshot's numeric features."""
    parts = parse_rule(rule)
    top = float(parts["top"])
    store = CampaignStore(ws, campaign_id).require()
    spec = store.spec()
    log = store.log()
    assignments, outcomes = log.assignments(), log.outcomes()
    logs = _logged_rewards(assignments, outcomes, spec)
    features, _ = read_snapshot(ws)
    numeric = [c for c in features.columns if pd.api.types.is_numeric_dtype(features[c])]
    frame = logs.join(features[numeric].astype(float).fillna(0.0), on="customer_id", how="inner")
    if frame.empty:
        raise ValueError(f"no logged customer of {campaign_id!r} is in the feature snapshot: rebuild the snapshot")
    score = "__score__"
    if parts["score"] == "uplift":
        effects = uplift_effects(ws, features)
        if parts["arm"] not in effects.columns:
            raise ValueError(f"the uplift champion has no arm {parts['arm']!r}; it predicts {list(effects.columns)}")
        frame[score] = effects[parts["arm"]].reindex(frame["customer_id"]).fillna(0.0).to_numpy()
    elif parts["score"] in numeric:
        frame[score] = frame[parts["score"]]
    else:
        raise ValueError(f"score {parts['score']!r} is neither 'uplift' nor a numeric snapshot column")
    arms = list(spec.arms)
    target = targeting_rule(frame, arms, score=score, arm=parts["arm"], control=spec.control, top=top)
    estimates = evaluate(frame, target, arms, features=numeric, seed=seed)
    return {
        "campaign_id": campaign_id,
        "rule": parts,
        "n_logged": len(frame),
        "logged_value": float(frame["outcome"].mean()),
        "estimates": {k: {"value": e.value, "lower": e.lower, "upper": e.upper} for k, e in estimates.items()},
    }


def _logged_rewards(assignments: pd.DataFrame, outcomes: pd.DataFrame, spec: CampaignSpec) -> pd.DataFrame:
    """Contacted customers (not the holdout) with arm, propensity and outcome (0 when none; binary capped at 1)."""
    contacted = assignments.loc[~assignments["holdout"], ["customer_id", "arm", "propensity"]]
    total = outcomes.groupby("customer_id")["outcome"].sum()
    y = total.reindex(contacted["customer_id"]).fillna(0.0).to_numpy()
    if spec.outcome == "binary":
        y = np.minimum(y, 1.0)
    return contacted.assign(outcome=y).reset_index(drop=True)


def uplift_effects(ws: Workspace, features: pd.DataFrame) -> pd.DataFrame:
    """The uplift champion's predicted effect per arm (vs its control) for every snapshot customer."""
    with tracking.using(ws):
        version = registry.alias_version(UPLIFT_MODEL, registry.CHAMPION)
        if version is None:
            raise ValueError(f"{UPLIFT_MODEL} has no champion: train one first (`cxml train uplift`)")
        estimator = load_estimator(f"models:/{UPLIFT_MODEL}/{version}")
    names = list(getattr(estimator, "feature_names_in_", features.columns))
    effects = estimator.effects(features[names])
    effects.index = features.index.astype(str)
    return effects


def uplift_prior(ws: Workspace, spec: CampaignSpec) -> pd.DataFrame:
    """Each snapshot customer's predicted outcome per arm for the warm start: the control rate of the champion's
    training data for the control arm, that rate plus the predicted effect for every other arm."""
    features, _ = read_snapshot(ws)
    effects = uplift_effects(ws, features)
    with tracking.using(ws):
        client = tracking.client()
        version = registry.alias_version(UPLIFT_MODEL, registry.CHAMPION)
        run = client.get_run(str(client.get_model_version(UPLIFT_MODEL, str(version)).run_id))
    base = float(run.data.tags.get("cxml.control_rate", "0"))
    others = [a for a in spec.arms if a != spec.control]
    missing = [a for a in others if a not in effects.columns]
    if missing:
        raise ValueError(
            f"warm_thompson: the uplift champion predicts arms {list(effects.columns)}, not {missing}; name the "
            "campaign's arms after the champion's, or start it with another policy"
        )
    prior = pd.DataFrame({"customer_id": effects.index.astype(str), spec.control: base})
    for arm in others:
        prior[arm] = base + effects[arm].to_numpy()
    return prior


def _empty_assignments() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in ASSIGNMENT_COLUMNS}).assign(
        holdout=pd.Series(dtype=bool), propensity=pd.Series(dtype=float)
    )


def _empty_outcomes() -> pd.DataFrame:
    return pd.DataFrame({"customer_id": pd.Series(dtype=object), "outcome": pd.Series(dtype=float)})


@dataclass(frozen=True)
class DemoCampaign:
    campaign_id: str
    policy: str
    days: int
    version: int
    assigned: int
    winner: str | None
    page: str

    def summary(self) -> dict[str, Any]:
        return self.__dict__.copy()


def run_demo_campaign(
    ws: Workspace, *, days: int = 5, seed: int = 0, data: Path | None = None, start: str | None = None
) -> DemoCampaign:
    """One campaign of the simulated company run in closed loop through the real store, day by day: the customers
    who arrive are assigned by the current allocation (the service's rules and log), their outcomes drawn from the
    company's truth are ingested the next morning, and ``update`` writes the next allocation. Warm-started from the
    uplift champion when it was trained on this campaign's arms; the allocation left is what ``/campaign/assign``
    serves. ``data``: the simulated company (default: the workspace's); ``start``: the first day (default: the
    snapshot's date)."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    effects = pd.read_parquet((data or ws.data) / "truth" / "effects.parquet")
    with tracking.using(ws):
        version = registry.alias_version(UPLIFT_MODEL, registry.CHAMPION)
        tags = (
            tracking.client().get_run(str(tracking.client().get_model_version(UPLIFT_MODEL, version).run_id)).data.tags
            if version is not None
            else {}
        )
    simulated = tags.get("cxml.campaign") or str(effects["campaign_id"].max())
    truth = arm_outcomes(effects, simulated)
    arms = campaign_arms(simulated)
    spec = CampaignSpec(
        campaign_id=f"demo-{simulated.lower()}",
        arms=arms,
        control=arms[0],
        policy="warm_thompson" if "cxml.campaign" in tags else "thompson",
    )
    store = CampaignStore(ws, spec.campaign_id)
    if store.exists():  # the demo's own campaign: a rerun starts it afresh
        shutil.rmtree(store.path)
    start_campaign(ws, spec, seed=seed)
    rng = np.random.default_rng(seed)
    ids = truth["customer_id"].astype(str).to_numpy()
    mu = truth.set_index("customer_id")[list(arms)]
    as_of = start or read_snapshot(ws)[1]
    log = store.log()
    for day, rows in enumerate(np.array_split(rng.permutation(len(ids)), days)):
        now = pd.Timestamp(as_of) + pd.Timedelta(days=day)
        spec_now, allocation = store.spec(), store.allocation()
        sent = int(now.value)
        done = [assign_customer(spec_now, allocation, log, ids[i], sent_at_ns=sent) for i in rows]
        arm = [d.arm for d in done if d.arm is not None]
        who = [d.customer_id for d in done if d.arm is not None]
        p = mu.loc[who].to_numpy()[np.arange(len(who)), pd.Index(arms).get_indexer(arm)]
        outcomes = pd.DataFrame(
            {
                "campaign_id": spec.campaign_id,
                "customer_id": who,
                "outcome": (rng.random(len(who)) < p).astype(int),
                "observed_at": now + pd.Timedelta(days=1),
            }
        )
        path = store.path / f"outcomes-day{day + 1}.parquet"
        outcomes.to_parquet(path)
        updated = update_campaign(ws, spec.campaign_id, outcomes_file=path, seed=seed)
    page = readout_campaign(ws, spec.campaign_id)
    return DemoCampaign(
        spec.campaign_id,
        spec.policy,
        days,
        updated.version,
        log.count(),
        page.get("winner"),
        page["page"],
    )
