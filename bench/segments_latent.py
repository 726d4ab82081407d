"""`cxml segments` against the simulated company's latent segments (#18): ARI, stability and a ceiling.

For one simulated company (``--customers``, ``--seed``; generated unless ``--data`` names one) at ``--as-of``:

1. the documented command, ``cxml segments --data DIR --as-of DATE --json``, in a child process with its own
   workspace: k, the stability it gates on (mean ARI across seeds) and its assignments;
2. the peer in this script, on the same customers: the segmenter on the customer-360 features the command used
   before #18 (16 columns: recency, frequency, spend, channel, returns, timing, web, service);
3. a ceiling: a supervised quadratic discriminant on the scaled basket features the command uses, 3-fold
   cross-validated predictions of the latent segment. No clustering of these features can be expected to beat it.

ARI is reported on every customer and on those with a kept purchase in the 365 days before ``as_of`` (the
others are one "non-buying" segment, which the latent segments run straight through).

    PYTHONPATH=src .venv/bin/python bench/segments_latent.py --customers 20000 --seed 0
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
from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import cross_val_predict

from cxml.data.sources import read_tables, read_truth
from cxml.data.synthetic import write_company
from cxml.datasets.segments import segment_features
from cxml.features.build import build_features
from cxml.models.scaling import BehaviourScaler
from cxml.models.segmentation import BehaviouralSegmenter, segment_columns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--as-of", default="2026-01-01")
    parser.add_argument("--data", type=Path, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="segments-latent-"))
    data = args.data or work / "company"
    if args.data is None:
        write_company(data, args.customers, seed=args.seed)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")} | {"CXML_HOME": str(work / "home")}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "cxml.cli", "segments", "--data", str(data), "--as-of", args.as_of, "--json"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    payload = json.loads(proc.stdout.strip().splitlines()[-1])
    assigned = pd.read_parquet(Path(payload["out_dir"]) / "assignments.parquet")["segment"]
    tables = read_tables(data)
    latent = read_truth(data)["customers"].set_index("customer_id")["segment"].reindex(assigned.index)
    features = segment_features(tables, args.as_of).reindex(assigned.index)
    buying = features["lines_per_order"].notna().to_numpy()

    def ari(labels: np.ndarray | pd.Series, mask: np.ndarray | None = None) -> float:
        m = np.ones(len(latent), dtype=bool) if mask is None else mask
        return round(float(adjusted_rand_score(latent[m], np.asarray(labels)[m])), 3)

    before = BehaviouralSegmenter().fit(build_features(tables, args.as_of).reindex(assigned.index))
    basket = segment_columns(features)
    scaled = BehaviourScaler(basket).fit(features[buying]).transform(features[buying])
    ceiling = cross_val_predict(QuadraticDiscriminantAnalysis(reg_param=0.05), scaled, latent[buying], cv=3)
    result = {
        "customers": len(assigned),
        "buying_share": round(float(buying.mean()), 3),
        "command": {"k": payload["k"], "stability": round(payload["mean_ari"], 3), "seconds": round(seconds, 1)},
        "ari_command": {"all": ari(assigned), "buying": ari(assigned, buying)},
        "ari_customer360_peer": {
            "k": before.n_clusters_,
            "all": ari(before.labels_),
            "buying": ari(before.labels_, buying),
        },
        "ari_supervised_ceiling_buying": round(float(adjusted_rand_score(latent[buying], ceiling)), 3),
        "load": os.getloadavg()[0],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
