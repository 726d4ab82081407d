"""Booster threads: seconds per round at 1 and 2 threads, and whether the models are the same, on cross-sell pairs.

The shipped pipelines' ``n_jobs: -1`` gives LightGBM and XGBoost every core and CatBoost one thread
(``cxml.threads``) on the strength of this table. It measures what a second thread buys on the matrices the cross-sell
search trains (the simulated company, ``generate_company(N, seed=0)``, product level: 64 items, look-back 180 days,
horizon 90, as_of 2025-10-01) through cxml's own ``train_booster`` and ``train_ranker``: LightGBM binary, LightGBM
LambdaRank (one query group per customer), XGBoost hist and CatBoost, each for a fixed number of rounds (early stopping
set past them), customers split 2:1 into training and validation rows. Same params as the estimators' defaults.
Times are whole fits (Dataset construction included) divided by the rounds. "Identical" compares the validation
margins bit for bit: a thread count that changed them would make results depend on the machine's cores.

.venv/bin/python bench/booster_threads.py [--customers 3000] [--rounds 200] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import time
from typing import cast

import numpy as np

from cxml.config import Algorithm
from cxml.data.synthetic import generate_company
from cxml.features.affinity import CONTEXT_COLUMNS, cross_sell_from_tables
from cxml.models.boosting import BoosterParams, predict_margin, train_booster
from cxml.models.encoding import TableEncoder
from cxml.models.recommenders import train_ranker


def pairs_matrix(customers: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Encoded non-owned pair rows, their labels and customer ids, as the shared cross-sell model sees them."""
    company = generate_company(customers, seed=0)
    data = cross_sell_from_tables(company.tables, "2025-10-01", level="product", lookback_days=180, horizon_days=90)
    pairs = data.pairs
    keep = ~pairs["owned"].to_numpy(dtype=bool)
    features = pairs.loc[keep].drop(columns=[c for c in CONTEXT_COLUMNS if c in pairs.columns])
    matrix = TableEncoder().fit(features).transform(features)
    labels = np.asarray(data.labels, dtype=float)[keep]
    ids = pairs.loc[keep].index.get_level_values("customer_id").to_numpy(dtype=str)
    return matrix, labels, ids


def fit(kind: str, threads: int, rounds: int, X, y, ids, valid) -> tuple[float, np.ndarray]:
    algorithm = cast(Algorithm, kind.split()[0])
    p = BoosterParams(algorithm=algorithm, n_estimators=rounds, early_stopping_rounds=rounds + 1, n_jobs=threads)
    start = time.perf_counter()
    if kind == "lightgbm lambdarank":
        booster, n_iter = train_ranker(p, X[~valid], y[~valid], ids[~valid], X[valid], y[valid], ids[valid])
    else:
        booster, n_iter = train_booster(p, X[~valid], y[~valid], X[valid], y[valid])
    seconds = time.perf_counter() - start
    return seconds, predict_margin(booster, X[valid], n_iter)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=2, help="best of this many fits per cell")
    args = parser.parse_args()

    X, y, ids = pairs_matrix(args.customers)
    unique = np.random.default_rng(0).permutation(np.unique(ids))
    valid = np.isin(ids, unique[: len(unique) // 3])
    print(f"{len(X):,} pairs × {X.shape[1]} features, {len(unique):,} customers; {os.cpu_count()} cores")
    print(f"{'booster (per round)':22s} {'1 thread':>12s} {'2 threads':>12s} {'speed-up':>9s}  identical")
    for kind in ("lightgbm binary", "lightgbm lambdarank", "xgboost binary", "catboost binary"):
        seconds: dict[int, float] = {}
        margins: dict[int, np.ndarray] = {}
        for _ in range(args.repeat):
            for threads in (1, 2):  # interleaved, so drift in the machine's speed hits both alike
                s, margins[threads] = fit(kind, threads, args.rounds, X, y, ids, valid)
                seconds[threads] = min(s, seconds.get(threads, np.inf))
        per_round = {t: 1000 * s / args.rounds for t, s in seconds.items()}
        gap = float(np.max(np.abs(margins[1] - margins[2])))
        print(
            f"{kind:22s} {per_round[1]:9.2f} ms {per_round[2]:9.2f} ms {seconds[1] / seconds[2]:8.2f}×  "
            f"{'yes' if gap == 0 else f'no (largest margin gap {gap:.1e})'}",
            flush=True,
        )


if __name__ == "__main__":
    main()
