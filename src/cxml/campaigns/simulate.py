"""Try allocation policies before a campaign goes live: a closed loop on known truth, and a replay of a real test.

- ``closed_loop``: day by day, the customers who arrive are allocated by the policy, each outcome is drawn from
  the customer's true expected outcome under the arm received, and the policy is refit on the logs observed so
  far. Because the truth is known, each day's *exact* expected value ``sum_i sum_a pi(a | i) mu_a(i)`` and regret
  against the per-customer best arm ``sum_i (max_a mu_a(i) - sum_a pi(a | i) mu_a(i))`` are computed from the
  assignment probabilities, not from the noisy draws. Holdout customers are never contacted and count in neither.
- ``replay``: the rejection replay of Li, Chu, Langford & Wang (2011) on a test whose arms were assigned
  uniformly at random. Rows arrive in a seeded random order; the policy picks an arm for each, and a row is kept
  only when that arm is the logged one. Kept rows are an unbiased sample of what the policy would have seen, so
  its response rate per contacted customer is an unbiased estimate of its live rate.

Both return the logs (``ASSIGNMENT_COLUMNS`` / ``OUTCOME_COLUMNS``) so the readout and off-policy evaluation can
read them as they would read a live campaign's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cxml.campaigns.policies import Policy, PolicyError, holdout_mask
from cxml.campaigns.spec import ALL_SEGMENTS, ASSIGNMENT_COLUMNS, OUTCOME_COLUMNS, CampaignSpec


@dataclass(frozen=True)
class LoopResult:
    """One policy's run of the closed loop: the logs, and per day the exact expected value and regret."""

    policy: str
    assignments: pd.DataFrame
    outcomes: pd.DataFrame
    daily: pd.DataFrame
    """day, contacted, expected_value, oracle_value, regret, cumulative_regret (sums over contacted customers)."""

    @property
    def regret(self) -> float:
        return float(self.daily["regret"].sum())

    @property
    def expected_value(self) -> float:
        return float(self.daily["expected_value"].sum())


@dataclass(frozen=True)
class ReplayResult:
    """One policy's rejection replay: the kept rows as logs, and its outcome per contacted customer."""

    policy: str
    assignments: pd.DataFrame
    outcomes: pd.DataFrame
    rate: float
    """Mean outcome over kept, contacted (non-holdout) rows: the policy's visits (or spend) per contact."""
    n_kept: int
    n_offered: int


def _truth_matrix(truth: pd.DataFrame, spec: CampaignSpec) -> tuple[np.ndarray, np.ndarray]:
    missing = sorted({"customer_id", *spec.arms} - set(truth.columns))
    if missing:
        raise PolicyError(f"the truth lacks the columns {missing}; it has {list(truth.columns)}")
    mu = truth[list(spec.arms)].to_numpy(float)
    if not np.isfinite(mu).all():
        raise PolicyError("the truth's expected outcomes contain NaN or infinity")
    return truth["customer_id"].astype(str).to_numpy(dtype=object), mu


def noisy_prior(
    truth: pd.DataFrame, arms: tuple[str, ...], *, noise_sd: float = 0.1, seed: int = 0, shuffle: bool = False
) -> pd.DataFrame:
    """A stand-in for an uplift model's per-customer predicted outcome per arm: the truth plus N(0, ``noise_sd``)
    error per customer and arm. ``shuffle=True`` gives every customer another customer's predictions: a model
    that is confidently wrong, to check that the data override it."""
    rng = np.random.default_rng(seed)
    pred = truth[list(arms)].to_numpy(float) + rng.normal(0.0, noise_sd, (len(truth), len(arms)))
    if shuffle:
        pred = pred[rng.permutation(len(pred))]
    return pd.DataFrame(np.clip(pred, 0.0, 1.0), columns=list(arms)).assign(
        customer_id=truth["customer_id"].astype(str).to_numpy()
    )[["customer_id", *arms]]


class _Log:
    """The logs so far as growing lists of arrays; the policy is refit on light object-dtype frames of them (pandas
    frames rebuilt on every refit cost more than the fit itself)."""

    def __init__(self) -> None:
        self.parts: list[dict[str, np.ndarray]] = []

    def add(self, **columns: np.ndarray) -> None:
        self.parts.append(columns)

    def column(self, name: str) -> np.ndarray:
        return np.concatenate([p[name] for p in self.parts]) if self.parts else np.array([], dtype=object)

    def for_fit(self, now: pd.Timestamp | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(assignments, outcomes) with the columns a policy reads; outcomes observed after ``now`` left out."""
        ids = self.column("customer_id")
        observed = self.column("observed_at")
        seen = np.ones(len(ids), bool) if now is None or not len(ids) else observed <= np.datetime64(now)
        obj = {"dtype": object}
        assignments = pd.DataFrame(
            {
                "customer_id": pd.Series(ids, **obj),
                "arm": pd.Series(self.column("arm"), **obj),
                "segment": pd.Series(self.column("segment"), **obj),
                "holdout": self.column("holdout").astype(bool),
            }
        )
        outcomes = pd.DataFrame(
            {"customer_id": pd.Series(ids[seen], **obj), "outcome": self.column("outcome")[seen].astype(float)}
        )
        return assignments, outcomes

    def frames(self, spec: CampaignSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The full logs, in the campaign's columns."""
        a = pd.DataFrame({c: self.column(c) for c in ASSIGNMENT_COLUMNS if c != "campaign_id"})
        a.insert(0, "campaign_id", spec.campaign_id)
        o = pd.DataFrame(
            {
                "customer_id": a["customer_id"],
                "outcome": self.column("outcome"),
                "observed_at": self.column("observed_at"),
            }
        )
        o.insert(0, "campaign_id", spec.campaign_id)
        a["holdout"] = a["holdout"].astype(bool)
        a["sent_at"] = pd.to_datetime(a["sent_at"])
        o["observed_at"] = pd.to_datetime(o["observed_at"])
        return a[list(ASSIGNMENT_COLUMNS)], o[list(OUTCOME_COLUMNS)]


def closed_loop(
    truth: pd.DataFrame,
    spec: CampaignSpec,
    policy: Policy,
    *,
    days: int = 14,
    prior: pd.DataFrame | None = None,
    seed: int = 0,
    start: str = "2026-01-05",
    delay_days: int = 1,
    noise_sd: float = 1.0,
) -> LoopResult:
    """Run ``policy`` for ``days`` days on the customers of ``truth`` (customer_id + each arm's expected outcome).

    Customers arrive in a seeded random order, an equal share a day; outcomes sent on day ``d`` are observed on day
    ``d + delay_days`` and the policy is refit every morning on what has been observed. Binary campaigns draw
    Bernoulli outcomes; continuous ones the expected outcome plus N(0, ``noise_sd``) noise.
    """
    if days < 1 or delay_days < 0:
        raise PolicyError(f"days must be ≥ 1 and delay_days ≥ 0, got {days} and {delay_days}")
    ids, mu = _truth_matrix(truth, spec)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(ids))
    hold_all = holdout_mask(ids, spec)
    segments_all = (
        truth["segment"].astype(str).to_numpy(dtype=object)
        if "segment" in truth.columns
        else np.full(len(ids), ALL_SEGMENTS, dtype=object)
    )
    t0 = pd.Timestamp(start)
    log = _Log()
    daily = []
    for day, rows in enumerate(np.array_split(order, days)):
        now = t0 + pd.Timedelta(days=day)
        policy.fit(*log.for_fit(now), prior)
        p = policy.probabilities(ids[rows], segments_all[rows])
        arms, propensity = policy.choose(ids[rows], segments_all[rows], rng)
        pick = pd.Index(spec.arms).get_indexer(arms)
        m = mu[rows]
        y = m[np.arange(len(rows)), pick]
        y = (
            (rng.random(len(rows)) < y).astype(float)
            if spec.outcome == "binary"
            else y + rng.normal(0, noise_sd, len(y))
        )
        contacted = ~hold_all[rows]
        value = (p * m).sum(axis=1)
        best = m.max(axis=1)
        daily.append(
            {
                "day": day,
                "contacted": int(contacted.sum()),
                "expected_value": float(value[contacted].sum()),
                "oracle_value": float(best[contacted].sum()),
                "regret": float((best - value)[contacted].sum()),
            }
        )
        log.add(
            customer_id=ids[rows],
            arm=arms,
            sent_at=np.full(len(rows), np.datetime64(now)),
            propensity=propensity,
            policy_version=np.full(len(rows), day + 1),
            segment=segments_all[rows],
            holdout=hold_all[rows],
            outcome=y,
            observed_at=np.full(len(rows), np.datetime64(now + pd.Timedelta(days=delay_days))),
        )
    table = pd.DataFrame(daily)
    table["cumulative_regret"] = table["regret"].cumsum()
    assignments, outcomes = log.frames(spec)
    return LoopResult(policy=policy.name, assignments=assignments, outcomes=outcomes, daily=table)


def replay(
    table: pd.DataFrame,
    spec: CampaignSpec,
    policy: Policy,
    *,
    prior: pd.DataFrame | None = None,
    seed: int = 0,
    batch_size: int = 500,
    start: str = "2026-01-05",
) -> ReplayResult:
    """Rejection replay of a uniformly randomised test (``table``: customer_id, arm, outcome[, segment]).

    Rows are offered in a seeded random order, ``batch_size`` at a time (one refit per batch, as a live campaign
    refits once a day); a row is kept when the policy's draw equals its logged arm. Each kept row is logged with
    the policy's probability of that arm, and its outcome as observed at the end of the batch.
    """
    missing = sorted({"customer_id", "arm", "outcome"} - set(table.columns))
    if missing:
        raise PolicyError(f"the replayed table lacks the columns {missing}; it has {list(table.columns)}")
    if batch_size < 1:
        raise PolicyError(f"batch_size must be ≥ 1, got {batch_size}")
    unknown = sorted(set(table["arm"].astype(str)) - set(spec.arms))
    if unknown:
        raise PolicyError(f"the table's arms {unknown} are not arms of the campaign: {list(spec.arms)}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(table))
    ids = table["customer_id"].astype(str).to_numpy(dtype=object)[order]
    logged = table["arm"].astype(str).to_numpy(dtype=object)[order]
    y = table["outcome"].to_numpy(float)[order]
    segs = (
        table["segment"].astype(str).to_numpy(dtype=object)[order]
        if "segment" in table.columns
        else np.full(len(ids), ALL_SEGMENTS, dtype=object)
    )
    hold = holdout_mask(ids, spec)
    t0 = pd.Timestamp(start)
    log = _Log()
    for b, lo in enumerate(range(0, len(ids), batch_size)):
        sl = slice(lo, lo + batch_size)
        policy.fit(*log.for_fit(), prior)
        arms, propensity = policy.choose(ids[sl], segs[sl], rng)
        keep = arms == logged[sl]
        now = t0 + pd.Timedelta(hours=b)
        log.add(
            customer_id=ids[sl][keep],
            arm=arms[keep],
            sent_at=np.full(int(keep.sum()), np.datetime64(now)),
            propensity=propensity[keep],
            policy_version=np.full(int(keep.sum()), b + 1),
            segment=segs[sl][keep],
            holdout=hold[sl][keep],
            outcome=y[sl][keep],
            observed_at=np.full(int(keep.sum()), np.datetime64(now + pd.Timedelta(minutes=59))),
        )
    a, o = log.frames(spec)
    contacted = ~a["holdout"].to_numpy(bool)
    rate = float(o["outcome"].to_numpy(float)[contacted].mean()) if contacted.any() else float("nan")
    return ReplayResult(policy.name, a, o, rate, n_kept=len(a), n_offered=len(ids))
