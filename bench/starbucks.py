"""Starbucks promotion (simulated, 1.2 % base rate): does cxml's promotion policy earn more than its rivals?

The data are Udacity's simulated experiment (``../shared/data/starbucks_promo``). A promotion costs $0.15 and a
purchase is worth $10. cxml trains an uplift model on ``training.csv`` with the real pipeline (Optuna, MLflow in a
temporary store, the gate), then promotes the customers of ``Test.csv`` whose expected incremental profit is
positive (``cxml.decision.value``: effect × 10 − 0.15). Each policy is scored on the Test customers it would
promote, with the exercise's own definitions:

    IRR = purchases_treated / n_treated − purchases_control / n_control
    NIR = 10 · purchases_treated − 0.15 · n_treated − 10 · purchases_control

The rivals are promoting everyone, the response model's top customers (the same number as cxml promotes) and a
random choice of the same number (mean of 20 draws).

    .venv/bin/python bench/starbucks.py [--trials 10]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from cxml.config import PipelineConfig, Workspace
from cxml.datasets import get_family
from cxml.datasets.uplift import uplift_table_dataset
from cxml.decision.value import ContactCosts, best_arm, incremental_profit
from cxml.models.uplift import SPEC, ResponseModel
from cxml.pyfunc import load_estimator
from cxml.training import train

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "starbucks_promo"
PRICE, COST = 10.0, 0.15


def irr_nir(test: pd.DataFrame, promote: np.ndarray) -> tuple[float, float, int]:
    """IRR and NIR (the exercise's definitions) on the Test customers a policy promotes; and how many it promotes."""
    chosen = test[promote]
    treated, control = chosen[chosen["Promotion"] == "Yes"], chosen[chosen["Promotion"] == "No"]
    if treated.empty or control.empty:
        return float("nan"), float("nan"), int(promote.sum())
    irr = treated["purchase"].mean() - control["purchase"].mean()
    nir = PRICE * treated["purchase"].sum() - COST * len(treated) - PRICE * control["purchase"].sum()
    return float(irr), float(nir), int(promote.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=10, help="Optuna trials for the cxml pipeline")
    args = parser.parse_args()
    training = pd.read_csv(DATA / "training.csv")
    test = pd.read_csv(DATA / "Test.csv")
    t0 = time.perf_counter()
    data, _ = uplift_table_dataset(
        training, "purchase", "Promotion", "No", name="starbucks", source=str(DATA), id_column="ID", seed=0
    )
    cfg = PipelineConfig.model_validate(
        {
            "family": "uplift",
            "tuning": {"n_trials": args.trials, "cv_folds": 3, "algorithms": ["lightgbm"]},
            "gate": {"primary_metric": "qini", "min_gain_vs_baseline": 0.0, "min_value": 0.0},
        }
    )
    with tempfile.TemporaryDirectory() as home:
        result = train(get_family("uplift").spec, data, cfg, Workspace(home), model_name="cxml.uplift.starbucks")
        estimator = load_estimator(f"models:/{result.model_name}/{result.model_version}")
    X_test = test.set_index(test["ID"].astype(str))[[c for c in data.X_train.columns]]
    effects = estimator.effects(X_test)
    control_rate = float(data.y_train.loc[data.y_train["arm"] == "control", "outcome"].mean())
    costs = ContactCosts(margin=PRICE, cost_per_contact=COST, incentive_cost=0.0, control_rate=control_rate)
    cxml_promote = (best_arm(incremental_profit(effects, costs))["arm"] == "Yes").to_numpy()
    n = int(cxml_promote.sum())

    response = SPEC.fit(ResponseModel(), data.X_train, data.y_train).effects(X_test)["Yes"].to_numpy()
    response_promote = np.zeros(len(test), bool)
    response_promote[np.argsort(-response)[:n]] = True
    rng = np.random.default_rng(0)
    random_runs = []
    for _ in range(20):
        pick = np.zeros(len(test), bool)
        pick[rng.choice(len(test), n, replace=False)] = True
        random_runs.append(irr_nir(test, pick))
    rows = [
        ("cxml (expected profit > 0)", *irr_nir(test, cxml_promote)),
        ("response model, same count", *irr_nir(test, response_promote)),
        ("random, same count (mean of 20)", *np.nanmean(np.array(random_runs), axis=0)),
        ("promote everyone", *irr_nir(test, np.ones(len(test), bool))),
    ]
    print(f"training: {len(training):,} rows; Test: {len(test):,} rows; {time.perf_counter() - t0:.0f} s")
    print(f"cxml pipeline: {result.model_name} v{result.model_version}, best {result.study.best_params['learner']}"  # type: ignore[union-attr]
          f"-learner; holdout qini {result.metrics['qini']:.5f} vs response model "
          f"{result.baseline_metrics['qini']:.5f}; gate: {result.gate.reason}")  # fmt: skip
    print(f"\n{'policy':<34} {'IRR':>8} {'NIR $':>9} {'promoted':>9}")
    for name, irr, nir, count in rows:
        print(f"{name:<34} {irr:>8.4f} {nir:>9.1f} {int(count):>9,}")


if __name__ == "__main__":
    main()
