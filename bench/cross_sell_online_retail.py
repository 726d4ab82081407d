"""Cross-sell on the Online Retail sample through the README's command, with intervals for every ranking.

Runs what a user runs, ``cxml train cross_sell --transactions online_retail_first_49999_rows.csv --customer
CustomerID --item StockCode --time InvoiceDate`` (the same job function, ``run_train``, in a temporary workspace),
then reads the run's logged holdout (``holdout/holdout.parquet``: targets, the model's scores and the pair
features) and scores the model, look-back popularity (``item_popularity``) and item–item co-purchase
(``copurchase_score``) on the same holdout customers with the same metric code: MAP@10 and Success@10, each with
a 95 % percentile bootstrap over customers (1,000 resamples, seed 0). Prints the window the pipeline chose and a
Markdown table for bench/RESULTS.md.

.venv/bin/python bench/cross_sell_online_retail.py [--file PATH] [--trials N]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import mlflow
import pandas as pd

from cxml.config import TrainRequest, Workspace
from cxml.evaluation.ranking import bootstrap_ranking_ci, ranking_per_customer
from cxml.jobs.train import run_train
from cxml.models.cross_sell import matrices
from cxml.training import HOLDOUT_ARTIFACT

DEFAULT_FILE = Path(__file__).resolve().parents[1] / "../shared/data/online_retail_sample"
RANKINGS = {"model (the command's champion)": "__score__", "popularity": "item_popularity"}
RANKINGS["co-purchase"] = "copurchase_score"


def rows(holdout: pd.DataFrame, column: str) -> list[str]:
    y = holdout[["__label__", "__customer_id__", "__item__", "__owned__"]].set_axis(
        ["label", "customer_id", "item", "owned"], axis=1
    )
    per = ranking_per_customer(*matrices(y, holdout[column].to_numpy(dtype=float)), k=10)
    cells = []
    for metric in ("ap", "success"):
        lo, hi = bootstrap_ranking_ci(per, metric, seed=0)
        cells.append(f"{per[metric].mean():.4f} [{lo:.4f}, {hi:.4f}]")
    return [*cells, str(len(per))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE / "online_retail_first_49999_rows.csv")
    parser.add_argument("--trials", type=int, default=None, help="Optuna trials (default: the pipeline's 8)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    with tempfile.TemporaryDirectory() as home:
        req = TrainRequest(
            family="cross_sell",
            transactions=args.file.resolve(),
            customer="CustomerID",
            item="StockCode",
            time="InvoiceDate",
            trials=args.trials,
        )
        t0 = time.perf_counter()
        result = run_train(req, Workspace(Path(home)))
        seconds = time.perf_counter() - t0
        path = mlflow.artifacts.download_artifacts(run_id=result.run_id, artifact_path=HOLDOUT_ARTIFACT)
        holdout = pd.read_parquet(path)
    print(f"\n{result.model_name} v{result.model_version}: {result.gate.reason} ({seconds:.0f} s)")
    for name in ("item_filter", "horizon_days", "as_of", "min_buyers"):
        print(f"- {name} = {result.data_params[name]!r} ({result.data_params[name + '_by']}): ", end="")
        print(result.data_params[name + "_why"])
    print("\n| ranking | MAP@10 [95 % CI] | Success@10 [95 % CI] | customers |\n|---|---|---|---|")
    for name, column in RANKINGS.items():
        print(f"| {name} | " + " | ".join(rows(holdout, column)) + " |")


if __name__ == "__main__":
    main()
