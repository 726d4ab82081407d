"""Allocation policies for a running campaign, side by side (cxml issue #16, DESIGN §11).

What it measures

1. Closed loop on the simulated company (``generate_company(--customers, seed=0)``, campaign ``--campaign``,
   CMP05 by default: control, voucher_5, voucher_15, letter; outcome = a purchase within 14 days). The targeted
   customers arrive over ``--days`` days in a random order (one refit a day, outcomes seen the next day); seeds
   0 .. ``--seeds``-1 vary the order, the outcome draws, the posterior draws and the warm start's model error.
   Regret = sum over contacted customers of (best arm's true purchase probability − the policy's expected one),
   exact from the truth. Policies: uniform A/B, Thompson sampling, top-two TS (beta 0.5), TS warm-started from a
   model that is the truth plus N(0, ``--prior-noise``) per customer and arm (``prior_weight`` 20), and the same
   warm start with the predictions shuffled across customers (a wrong model).
2. Hillstrom replay (``../shared/data/hillstrom/hillstrom.csv``: treatment ``segment``, control ``No E-Mail``,
   target ``visit``, ``conversion`` and ``spend`` dropped): an uplift T-learner fit on a 30 % held-aside share
   warm-starts TS; the other 70 % is replayed ``--shuffles`` times (Li, Chu, Langford & Wang 2011 rejection
   replay, a refit every 1,000 rows offered).
3. Speed: one Thompson-sampling fit on 1,000,000 logged assignments (CPU seconds).

Run from the repository root::

    .venv/bin/python bench/campaigns.py                    # everything (about 10 minutes on 2 shared vCPUs)
    .venv/bin/python bench/campaigns.py --seeds 3 --shuffles 3   # a quick look
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from cxml.campaigns.policies import make_policy
from cxml.campaigns.spec import CampaignSpec
from cxml.jobs.campaign_simulate import simulate_company, simulate_table

HILLSTROM = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "hillstrom" / "hillstrom.csv"


def fit_speed(n: int = 1_000_000) -> float:
    spec = CampaignSpec(campaign_id="speed", arms=("control", "a", "b", "c"), control="control")
    rng = np.random.default_rng(0)
    ids = np.array([f"C{i:07d}" for i in range(n)], dtype=object)
    arm = np.array(spec.arms, dtype=object)[rng.integers(0, 4, n)]
    a = pd.DataFrame({"campaign_id": "speed", "customer_id": ids, "arm": arm, "segment": "*", "holdout": False})
    o = pd.DataFrame({"campaign_id": "speed", "customer_id": ids, "outcome": (rng.random(n) < 0.1).astype(float)})
    start = time.process_time()
    make_policy(spec).fit(a, o)
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=40_000)
    parser.add_argument("--campaign", default="CMP05")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--prior-noise", type=float, default=0.1)
    parser.add_argument("--shuffles", type=int, default=20)
    parser.add_argument("--table", type=Path, default=HILLSTROM)
    args = parser.parse_args()

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    loop = simulate_company(
        customers=args.customers,
        campaign=args.campaign,
        seeds=range(args.seeds),
        days=args.days,
        prior_noise=args.prior_noise,
        echo=progress,
    )
    print(
        f"\n1. Closed loop: {loop['campaign']}, {loop['targeted']} targeted of {loop['customers']} customers, "
        f"{loop['days']} days, {loop['seeds']} seeds ({time.perf_counter() - t0:.0f}s)"
    )
    print(f"{'policy':28s} {'regret mean':>12s} {'sd':>8s} {'purchases/contact':>18s}")
    for name, r in loop["regret"].items():
        print(f"{name:28s} {r['mean']:12.1f} {r['sd']:8.1f} {loop['value_per_contact'][name]['mean']:18.4f}")
    print(
        f"warm < cold TS on {loop['warm_beats_cold']}/{loop['seeds']} seeds; warm / uniform regret "
        f"{loop['warm_over_uniform']:.2f}; wrong prior / cold TS {loop['wrong_prior_over_cold']:.2f}"
    )

    t0 = time.perf_counter()
    rep = simulate_table(
        args.table,
        treatment="segment",
        control="No E-Mail",
        target="visit",
        drop=("conversion", "spend"),  # later outcomes, not features of the warm start's model
        shuffles=args.shuffles,
        echo=progress,
    )
    print(
        f"\n2. Hillstrom replay: {rep['replayed_rows']} rows replayed, {rep['prior_rows']} held aside for the prior, "
        f"{rep['shuffles']} shuffles ({time.perf_counter() - t0:.0f}s)"
    )
    print("arm visit rates: " + ", ".join(f"{a} {v:.4f}" for a, v in rep["arm_rates"].items()))
    print(f"{'policy':16s} {'visits/contact':>15s} {'sd':>8s} {'of best arm':>12s} {'kept rows':>10s}  winner")
    for name, r in rep["rate"].items():
        readout = rep["readout"].get(name)
        winner = "n/a" if readout is None else (readout.get("winner") or "none")
        print(
            f"{name:16s} {r['mean']:15.4f} {r['sd']:8.4f} {r['mean'] / rep['best_arm_rate']:12.1%} "
            f"{rep['kept'][name]['mean']:10.0f}  {winner}"
        )

    print(f"\n3. Thompson-sampling fit on 1,000,000 assignments: {fit_speed():.2f} CPU s")


if __name__ == "__main__":
    main()
