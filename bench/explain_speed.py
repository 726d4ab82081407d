"""Tree SHAP speed: native contributions (XGBoost ``pred_contribs``, LightGBM ``pred_contrib``) vs shap.TreeExplainer.

Data: ``make_classification`` (20,000 rows × 40 features, seed 0); each booster has exactly 300 trees (depth 6
for XGBoost, 31 leaves for LightGBM), one thread, as cxml trains them. Measured: a batch of 10,000 rows (best of
3) and one row (median of 200 calls), for both back ends, plus ``ChurnClassifier.explain`` on one customer (the
path the CLI, the model card and the endpoints use) with one bag and with the five bags of the refit.

.venv/bin/python bench/explain_speed.py [--rows 10000] [--repeats 200]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import shap
from sklearn.datasets import make_classification

from cxml.models.boosting import BoosterParams, train_booster, tree_contributions
from cxml.models.churn import ChurnClassifier

TREES = 300


def best_of(fn: Callable[[], Any], n: int = 3) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def median_of(fn: Callable[[], Any], n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    X, y = make_classification(20_000, 40, n_informative=12, random_state=0)
    X = X.astype(np.float64)
    X_tr, y_tr, X_va, y_va = X[:16_000], y[:16_000], X[16_000:], y[16_000:]
    batch, one = X[: args.rows], X[:1]
    print(f"{'model':<10} {'batch ' + str(args.rows):>14} {'':>10} {'ratio':>7} {'1 row':>10} {'':>10} {'ratio':>7}")
    print(f"{'':<10} {'native s':>14} {'shap s':>10} {'sh/nat':>7} {'native ms':>10} {'shap ms':>10} {'sh/nat':>7}")
    for algorithm, extra in (("xgboost", {"max_depth": 6}), ("lightgbm", {"num_leaves": 31, "max_depth": -1})):
        params = BoosterParams(algorithm=algorithm, n_estimators=TREES, early_stopping_rounds=TREES + 1, **extra)  # type: ignore[arg-type]
        booster, _ = train_booster(params, X_tr, y_tr, X_va, y_va)
        explainer = shap.TreeExplainer(booster)
        native = tree_contributions(booster, batch[:200], TREES)
        theirs = np.asarray(explainer.shap_values(batch[:200]))
        assert np.allclose(native[:, :-1], theirs, atol=1e-4), f"{algorithm}: back ends disagree"
        nb = best_of(lambda b=booster: tree_contributions(b, batch, TREES))
        sb = best_of(lambda e=explainer: e.shap_values(batch))
        n1 = median_of(lambda b=booster: tree_contributions(b, one, TREES), args.repeats)
        s1 = median_of(lambda e=explainer: e.shap_values(one), args.repeats)
        print(
            f"{algorithm:<10} {nb:>14.3f} {sb:>10.3f} {sb / nb:>7.2f} "
            f"{n1 * 1e3:>10.2f} {s1 * 1e3:>10.2f} {s1 / n1:>7.2f}"
        )
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    for algorithm in ("xgboost", "lightgbm"):
        for bags in (1, 5):
            model = ChurnClassifier(
                algorithm=algorithm, n_estimators=TREES, early_stopping_rounds=TREES + 1, n_bags=bags, max_depth=6
            ).fit(frame.iloc[:16_000], y_tr)
            row = frame.iloc[[16_000]]
            trees = [n for _, n in model.boosters_]
            ms = median_of(lambda m=model, r=row: m.explain(r), args.repeats) * 1e3
            print(f"ChurnClassifier.explain one customer, {algorithm}, {bags} bag(s) of {trees} trees: {ms:.2f} ms")


if __name__ == "__main__":
    main()
