"""Is the campaign readout valid at every look, and do the off-policy estimators find the truth? (issue #16)

Four measurements, each printed with its protocol:

1. **A/A, simulated**: campaigns of two arms with the same 10 % response rate, 100 customers a day, a look every day
   for 30 days. False positive = any look at which the readout calls a winner or drops an arm (its sequence
   excludes the true lift, 0). Beside it the naive test: a two-sided z-test at 5 % repeated at every look.
   **With a real lift** (10 % → 12.5 %, 500 customers a day): the average number of customers at which the readout
   declares the winner, against the fixed-horizon z-test of 80 % power (n from the usual formula).
2. **Hillstrom** (``../shared/data/hillstrom``, 64,000 customers, uniform three-arm test, outcome ``visit``) spread
   over 30 days in a random arrival order: on the A/A version (arm labels shuffled) no winner may be declared; on
   the real arms, what the readout says and on which day.
3. **Open Bandit** (``../shared/data/open_bandit``, MANIFEST §9): the Bernoulli TS policy (its production priors,
   ``prior_bts.yaml``; its action distribution per position simulated with 100,000 draws as obp's
   ``compute_batch_action_dist`` does) valued from the uniform-random log and compared with its on-policy click
   rate (``bts/all.csv``); relative error |V̂ − V| / V averaged over 30 bootstrap resamples of the random log
   (obp's own resamples, ``obp_resample``), beside the published DM 0.157, IPW 0.311, DR 0.292 (obp's
   logistic-regression reward model; cxml's is LightGBM on the four user features and the position).
4. **Coverage**: a logged contextual bandit with known reward functions (3 arms, 5 features, logistic rewards, a
   softmax logging policy with known propensities, 2,000 rows); the candidate is "arm 1 to the 30 % of customers
   with the highest x0, else control"; its true value is computed on 1,000,000 fresh customers. Share of 200
   replications whose 95 % interval covers it, per estimator.

    PYTHONPATH=src:. .venv/bin/python bench/campaign_readout.py [--campaigns 1000] [--replications 200]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy import stats

from cxml.campaigns.ope import ESTIMATORS, evaluate
from cxml.campaigns.readout import readout, readout_history
from cxml.campaigns.spec import CampaignSpec

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
START = pd.Timestamp("2026-01-01")
AB = CampaignSpec(campaign_id="ab", arms=("control", "offer"), control="control")


def simulate_ab(
    seed: int, rates: dict[str, float], *, days: int = 30, per_day: int = 100
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A uniform test: customers arrive through ``days``, each drawn an arm uniformly, responding at its rate the
    same day."""
    rng = np.random.default_rng(seed)
    n, arms = days * per_day, list(rates)
    arm = np.array(arms)[rng.integers(0, len(arms), n)]
    sent = START + pd.to_timedelta(np.sort(rng.random(n)) * days, unit="D")
    y = rng.random(n) < np.array([rates[a] for a in arm])
    ids = np.arange(n).astype(str)
    assignments = pd.DataFrame({"campaign_id": AB.campaign_id, "customer_id": ids, "arm": arm, "sent_at": sent})
    outcomes = pd.DataFrame(
        {"campaign_id": AB.campaign_id, "customer_id": ids[y], "outcome": 1.0, "observed_at": sent[y]}
    )
    return assignments, outcomes


def naive_z_rejects(assignments: pd.DataFrame, outcomes: pd.DataFrame, alpha: float = 0.05) -> np.ndarray:
    """At each daily look, does a two-sided z-test of the two response rates reject at ``alpha``?"""
    frame = assignments.assign(y=assignments["customer_id"].isin(outcomes["customer_id"]).astype(float))
    day = (frame["sent_at"] - START).dt.days
    offer = (frame["arm"] != "control").to_numpy()
    n1 = np.cumsum(np.bincount(day[offer], minlength=day.max() + 1))
    n0 = np.cumsum(np.bincount(day[~offer], minlength=day.max() + 1))
    s1 = np.cumsum(np.bincount(day[offer], weights=frame["y"][offer], minlength=day.max() + 1))
    s0 = np.cumsum(np.bincount(day[~offer], weights=frame["y"][~offer], minlength=day.max() + 1))
    pooled = (s0 + s1) / np.maximum(n0 + n1, 1)
    se = np.sqrt(pooled * (1 - pooled) * (1 / np.maximum(n0, 1) + 1 / np.maximum(n1, 1)))
    z = np.divide(s1 / np.maximum(n1, 1) - s0 / np.maximum(n0, 1), se, out=np.zeros_like(se), where=se > 0)
    return np.abs(z) > stats.norm.ppf(1 - alpha / 2)


def aa_false_positives(n_campaigns: int = 1000, seed: int = 0) -> dict[str, float]:
    """Share of A/A campaigns with any false call over 30 daily looks: the readout's and the naive z-test's."""
    readout_fp = naive_fp = 0
    for c in range(n_campaigns):
        assignments, outcomes = simulate_ab(seed * 100_000 + c, {"control": 0.10, "offer": 0.10})
        history = readout_history(assignments, outcomes, AB)
        readout_fp += bool(history["decision"].isin(["winner", "drop"]).any())
        naive_fp += bool(naive_z_rejects(assignments, outcomes).any())
    return {"readout": readout_fp / n_campaigns, "naive_z": naive_fp / n_campaigns, "campaigns": n_campaigns}


def fixed_horizon_n(p0: float, p1: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Customers per arm for a two-sided two-proportion z-test of the given power."""
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return int(np.ceil(z**2 * (p0 * (1 - p0) + p1 * (1 - p1)) / (p1 - p0) ** 2))


def sample_size_with_lift(n_campaigns: int = 200, p0: float = 0.10, p1: float = 0.125) -> dict[str, float]:
    """Customers (both arms) at which the readout declares the true winner, against the fixed-horizon test of 80 %
    power. The sequential test's power-matched size is E[min(τ, τ₈₀)], τ₈₀ the 80th percentile of the stopping
    customer count τ (so it, too, has 80 % power)."""
    stops = []
    for c in range(n_campaigns):
        assignments, outcomes = simulate_ab(10_000 + c, {"control": p0, "offer": p1}, per_day=500)
        history = readout_history(assignments, outcomes, AB)
        offer = history[history["arm"] == "offer"]
        won = offer[offer["decision"] == "winner"]
        n_at = history.groupby("time")["n"].sum()
        stops.append(float(n_at.loc[won["time"].iloc[0]]) if len(won) else np.inf)
    tau = np.array(stops)
    declared = np.isfinite(tau)
    t80 = float(np.quantile(tau, 0.8)) if declared.mean() >= 0.8 else np.inf
    return {
        "fixed_horizon_n": 2 * fixed_horizon_n(p0, p1),
        "power_by_30_days": float(declared.mean()),
        "mean_n_when_declared": float(tau[declared].mean()) if declared.any() else float("nan"),
        "power_matched_mean_n": float(np.minimum(tau, t80).mean()) if np.isfinite(t80) else float("nan"),
        "campaigns": n_campaigns,
    }


HILLSTROM = CampaignSpec(
    campaign_id="hillstrom", arms=("No E-Mail", "Mens E-Mail", "Womens E-Mail"), control="No E-Mail"
)


def hillstrom_logs(seed: int, *, shuffle_arms: bool, path: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hillstrom as a 30-day campaign in a random arrival order; ``shuffle_arms`` relabels the arms (A/A)."""
    table = pd.read_csv(path or DATA / "hillstrom" / "hillstrom.csv", usecols=["segment", "visit"])
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(table))
    arm = table["segment"].to_numpy()[order]
    if shuffle_arms:
        arm = rng.permutation(arm)
    y = table["visit"].to_numpy()[order] > 0
    ids = np.arange(len(table)).astype(str)
    sent = START + pd.to_timedelta(np.arange(len(table)) / len(table) * 30, unit="D")
    assignments = pd.DataFrame({"customer_id": ids, "arm": arm, "sent_at": sent})
    outcomes = pd.DataFrame({"customer_id": ids[y], "outcome": 1.0, "observed_at": sent[y]})
    return assignments, outcomes


def hillstrom_aa(n_shuffles: int = 20) -> int:
    """How many of ``n_shuffles`` relabelled Hillstrom campaigns ever call a winner or drop an arm."""
    calls = 0
    for s in range(n_shuffles):
        history = readout_history(*hillstrom_logs(s, shuffle_arms=True), HILLSTROM)
        calls += bool(history["decision"].isin(["winner", "drop"]).any())
    return calls


def hillstrom_real(seed: int = 0) -> dict[str, object]:
    """The readout on the real arms at the end, and the first day a winner stood."""
    assignments, outcomes = hillstrom_logs(seed, shuffle_arms=False)
    final = readout(assignments, outcomes, HILLSTROM)
    history = readout_history(assignments, outcomes, HILLSTROM)
    won = history[history["winner"].notna()]
    return {
        "winner": final.winner,
        "arms": [
            (a.arm, a.n, round(a.mean, 4), round(a.lift, 4), round(a.lower, 4), round(a.upper, 4), a.decision)
            for a in final.arms
        ],
        "first_winner_day": int((won["time"].iloc[0] - START).days) if len(won) else None,
    }


def bts_action_dist(n_sim: int = 100_000, seed: int = 12345, path: Path | None = None) -> np.ndarray:
    """(80 items, 3 positions): how often the production Bernoulli TS puts each item at each position, by drawing
    its Beta(alpha, beta) scores ``n_sim`` times and ranking the top 3 (obp's ``compute_batch_action_dist``)."""
    prior = yaml.safe_load((path or DATA / "open_bandit" / "prior_bts.yaml").read_text())["all"]
    alpha, beta = np.asarray(prior["alpha"], float), np.asarray(prior["beta"], float)
    rng = np.random.default_rng(seed)
    counts = np.zeros((alpha.size, 3))
    for chunk in np.array_split(np.arange(n_sim), 10):
        theta = rng.beta(alpha, beta, size=(chunk.size, alpha.size))
        top = np.argsort(-theta, axis=1)[:, :3]
        for position in range(3):
            counts[:, position] += np.bincount(top[:, position], minlength=alpha.size)
    return counts / n_sim


def open_bandit_logs(path: Path | None = None) -> tuple[pd.DataFrame, list[str], float]:
    """The uniform-random log as an OPE table, its features and BTS's on-policy CTR. The features are obp's default
    context (``context_set="1"``: the four user features, here as category codes) and the position."""
    root = path or DATA / "open_bandit"
    random_log = pd.read_csv(root / "random" / "all.csv", index_col=0)
    truth = float(pd.read_csv(root / "bts" / "all.csv", usecols=["click"])["click"].mean())
    users = [f"user_feature_{i}" for i in range(4)]
    encoded = {c: pd.factorize(random_log[c])[0] for c in users}
    logs = random_log.assign(**encoded, arm=random_log["item_id"].astype(str))
    return logs, [*users, "position"], truth


def obp_resample(n: int, b: int) -> np.ndarray:
    """The rows of obp's ``sample_bootstrap_bandit_feedback(random_state=b)``: the published figures were averaged
    over these very resamples (with another stream of resamples IPS's mean error moves from 0.31 to 0.41 on the
    same log: 38 clicks make the figure itself noisy)."""
    return np.random.RandomState(b).choice(np.arange(n), size=n, replace=True)


def open_bandit_errors(n_boot: int = 30, n_folds: int = 3) -> dict[str, float]:
    """Mean relative error of each estimator of BTS's click rate over ``n_boot`` bootstrap resamples."""
    logs, features, truth = open_bandit_logs()
    dist = bts_action_dist()
    arms = [str(i) for i in range(dist.shape[0])]
    errors: dict[str, list[float]] = {name: [] for name in ESTIMATORS}
    for b in range(n_boot):
        sample = logs.iloc[obp_resample(len(logs), b)].reset_index(drop=True)
        target = dist[:, sample["position"].to_numpy() - 1].T
        estimates = evaluate(
            sample,
            target,
            arms,
            features=features,
            outcome="click",
            propensity="propensity_score",
            seed=b,
            n_folds=n_folds,
            n_boot=50,
        )
        for name, estimate in estimates.items():
            errors[name].append(abs(estimate.value - truth) / truth)
    return {"truth": truth, **{name: float(np.mean(v)) for name, v in errors.items()}}


COEF = np.array([[0.0, 0.0, 0.0, 0.0, 0.0], [0.8, -0.3, 0.2, 0.0, 0.0], [-0.4, 0.5, 0.0, 0.3, 0.0]])
BASE = np.array([-1.2, -1.4, -1.3])
LOGGING = np.array([[0.0] * 5, [0.6, 0.0, 0.0, 0.0, 0.4], [0.0, 0.6, -0.5, 0.0, 0.0]])
CUTOFF = float(stats.norm.ppf(0.7))


def bandit_target(x: np.ndarray) -> np.ndarray:
    """The candidate: arm 1 to customers with x0 above its 70th percentile (the top 30 %), else control (arm 0)."""
    target = np.zeros((x.shape[0], 3))
    top = x[:, 0] > CUTOFF
    target[top, 1], target[~top, 0] = 1.0, 1.0
    return target


def bandit_truth(n: int = 1_000_000, seed: int = 999) -> float:
    """The candidate's expected response per customer, from the known reward functions."""
    x = np.random.default_rng(seed).standard_normal((n, 5))
    p = 1 / (1 + np.exp(-(BASE + x @ COEF.T)))
    return float((bandit_target(x) * p).sum(axis=1).mean())


def logged_bandit(seed: int, n: int = 2000) -> tuple[pd.DataFrame, np.ndarray]:
    """A log of ``n`` customers: softmax logging policy (propensities logged), logistic rewards; and the target."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 5))
    logits = x @ LOGGING.T
    prob = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    arm = (rng.random(n)[:, None] > np.cumsum(prob, axis=1)).sum(axis=1)
    reward_p = 1 / (1 + np.exp(-(BASE + x @ COEF.T)))
    y = (rng.random(n) < reward_p[np.arange(n), arm]).astype(float)
    logs = pd.DataFrame(x, columns=[f"x{i}" for i in range(5)]).assign(
        arm=arm.astype(str), outcome=y, propensity=prob[np.arange(n), arm]
    )
    return logs, bandit_target(x)


def coverage(n_replications: int = 200, n_folds: int = 3) -> dict[str, float]:
    """Share of replications whose 95 % interval covers the candidate's true value, per estimator."""
    truth = bandit_truth()
    covered = {name: 0 for name in ESTIMATORS}
    for r in range(n_replications):
        logs, target = logged_bandit(r)
        estimates = evaluate(
            logs, target, ["0", "1", "2"], features=[f"x{i}" for i in range(5)], seed=r, n_folds=n_folds
        )
        for name, e in estimates.items():
            covered[name] += e.lower <= truth <= e.upper
    return {"truth": truth, **{name: c / n_replications for name, c in covered.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=1000)
    parser.add_argument("--lift-campaigns", type=int, default=200)
    parser.add_argument("--replications", type=int, default=200)
    args = parser.parse_args()
    for title, job in [
        ("A/A false-positive rate over 30 daily looks", lambda: aa_false_positives(args.campaigns)),
        ("Sample size to declare a real lift (10% -> 12.5%)", lambda: sample_size_with_lift(args.lift_campaigns)),
        ("Hillstrom A/A (20 shuffles): campaigns with any call", lambda: hillstrom_aa()),
        ("Hillstrom real arms (visit)", lambda: hillstrom_real()),
        ("Open Bandit: BTS from the random log, relative error (30 bootstraps)", lambda: open_bandit_errors()),
        ("Coverage of 95% intervals on the logged-bandit simulator", lambda: coverage(args.replications)),
    ]:
        start = time.perf_counter()
        result = job()
        print(f"{title}: {result}  [{time.perf_counter() - start:.0f} s]", flush=True)


if __name__ == "__main__":
    main()
