"""How long `cxml campaign update` takes on a large campaign log (issue #16: 1,000,000 exposures in ≤ 30 s).

Fills a workspace with one uniform three-arm campaign of N logged assignments and their outcomes (a 5 % holdout,
10 days), then times the documented command end to end in a subprocess — ingest the outcomes, read out, refit,
write the next allocation and its MLflow run — and, as the baseline in the same run, a plain pandas read of the
same log and outcomes (what any update must at least do).

    python bench/campaign_update.py --customers 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from cxml.campaigns.spec import CampaignSpec
from cxml.campaigns.store import CampaignStore
from cxml.config import Workspace
from cxml.decision.policy import in_holdout
from cxml.jobs.campaign import start_campaign

ROOT = Path(__file__).resolve().parents[1]


def fill(home: Path, n: int, seed: int = 0) -> Path:
    """One campaign with ``n`` assignments in its log; returns the outcome file to ingest."""
    ws = Workspace(home)
    spec = CampaignSpec(campaign_id="bench", arms=("a", "b", "ctrl"), control="ctrl", policy="thompson")
    start_campaign(ws, spec)
    rng = np.random.default_rng(seed)
    ids = np.array([f"C{i:07d}" for i in range(n)], dtype=object)
    hold = np.fromiter((in_holdout(c, spec.holdout_share, spec.holdout_salt) for c in ids), bool, n)
    arm = np.where(hold, "ctrl", rng.choice(np.array(["a", "b", "ctrl"], dtype=object), n))
    sent = pd.Timestamp("2026-01-01") + pd.to_timedelta(np.sort(rng.integers(0, 10 * 86400, n)), unit="s")
    log = pd.DataFrame(
        {
            "campaign_id": "bench", "customer_id": ids, "arm": arm, "sent_at": sent,
            "propensity": np.where(hold, 1.0, 1 / 3), "policy_version": 1, "segment": None, "holdout": hold,
        }
    )  # fmt: skip
    CampaignStore(ws, "bench").log().append(log)
    rate = pd.Series(arm).map({"a": 0.06, "b": 0.08, "ctrl": 0.05}).to_numpy()
    outcomes = pd.DataFrame(
        {
            "campaign_id": "bench", "customer_id": ids, "outcome": (rng.random(n) < rate).astype(int),
            "observed_at": sent + pd.Timedelta(days=3),
        }
    )  # fmt: skip
    path = home / "outcomes.parquet"
    outcomes.to_parquet(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        t0 = time.perf_counter()
        outcomes = fill(home, args.customers)
        print(f"filled {args.customers:,} assignments in {time.perf_counter() - t0:.1f}s")
        t0 = time.perf_counter()
        log = CampaignStore(Workspace(home), "bench").log().assignments()
        read = pd.read_parquet(outcomes)
        baseline = time.perf_counter() - t0
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
        cmd = [sys.executable, "-m", "cxml.cli", "campaign", "update", "--campaign", "bench"]
        cmd += ["--outcomes", str(outcomes), "--home", str(home), "--json"]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        seconds = time.perf_counter() - t0
        summary = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"baseline: read {len(log):,} log rows + {len(read):,} outcomes with pandas in {baseline:.1f}s")
    print(f"cxml campaign update: {seconds:.1f}s end to end ({args.customers / seconds:,.0f} assignments/s), "
          f"{seconds / baseline:.1f}× the bare read; allocation v{summary.get('version')}")  # fmt: skip


if __name__ == "__main__":
    main()
