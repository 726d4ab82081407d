"""Seconds a training spends outside its models, against the library calls they replaced, in one run.

    python bench/training_overheads.py                    # 1,000,000 x 49 frame, churn holdout of 1,730 rows
    python bench/training_overheads.py --rows 200000 --boot 200

1. The schema logged with each training frame: ``cxml.tracking.dataset_schema`` against MLflow's own inference
   (``PandasDataset.schema``, a Python test of every cell for a missing value), on a frame of ``--rows`` rows
   and 49 float columns, 20 of them with a missing value in every fifth row. The two schemas must be equal.
2. The bootstrap interval of a churn metric (200 resamples): ``cxml.evaluation.metrics.binary_metrics`` against
   the same four metrics from scikit-learn's ``roc_auc_score``, ``average_precision_score`` and
   ``brier_score_loss``. Every resample's values must agree to 1e-12.
3. With ``--company DIR`` (a folder from ``cxml generate``): the wall time of ``run_train`` for churn and
   cross-sell with ``--trials`` trials, the whole product path (features, tuning, gate, model card data, MLflow).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.types.utils import _infer_schema
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from cxml import tracking
from cxml.config import TrainRequest, Workspace
from cxml.evaluation.bootstrap import resamples
from cxml.evaluation.metrics import binary_metrics, lift_at


def _best(fn, repeat: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    best, out = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - started)
    return best, out


def _scikit_learn_metrics(y: np.ndarray, s: np.ndarray) -> dict[str, float]:
    return {
        "roc_auc": float(roc_auc_score(y, s)),
        "pr_auc": float(average_precision_score(y, s)),
        "brier": float(brier_score_loss(y, s)),
        "lift_at_10": lift_at(y, s, 0.10),
    }


def schema(rows: int, repeat: int) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.random((rows, 49)), columns=[f"x{i}" for i in range(49)])
    frame.iloc[::5, :20] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLflow's hint about integer columns
        ours, fast = _best(lambda: tracking.dataset_schema(frame), repeat)
        theirs, slow = _best(lambda: _infer_schema(frame), 1)
    assert fast.to_dict() == slow.to_dict(), "the schemas differ"  # type: ignore[union-attr]
    print(f"dataset schema, {rows:,} x 49: cxml {ours:.3f} s, MLflow {theirs:.2f} s, {theirs / ours:,.0f}x")


def bootstrap(n: int, n_boot: int, repeat: int) -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(n) < 0.26).astype(int)  # the demo's churn rate
    s = np.clip(0.26 + 0.3 * (y - 0.26) + rng.normal(0, 0.2, n), 0, 1)
    draws = [idx for idx in resamples(n, n_boot=n_boot, seed=0) if y[idx].min() < y[idx].max()]
    ours, got = _best(lambda: [binary_metrics(y[i], s[i]) for i in draws], repeat)
    theirs, want = _best(lambda: [_scikit_learn_metrics(y[i], s[i]) for i in draws], repeat)
    worst = max(abs(a[k] - b[k]) for a, b in zip(got, want, strict=True) for k in a)  # type: ignore[call-overload]
    assert worst < 1e-12, worst
    print(
        f"bootstrap of a churn holdout, {n:,} rows x {len(draws)} resamples, 4 metrics: cxml {ours:.3f} s, "
        f"scikit-learn {theirs:.2f} s, {theirs / ours:.0f}x (largest difference {worst:.1e})"
    )


def trainings(company: Path, trials: int) -> None:
    from cxml.jobs.train import run_train

    with tempfile.TemporaryDirectory() as home:
        ws = Workspace(Path(home))
        with tracking.using(ws):
            run_train(TrainRequest(family="clv", data=company, trials=1), ws)  # creates the store: not timed
            for family in ("churn", "cross_sell"):
                started = time.perf_counter()
                run_train(TrainRequest(family=family, data=company, trials=trials), ws)
                print(f"run_train {family}, {trials} trials: {time.perf_counter() - started:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the frame whose schema is inferred")
    parser.add_argument("--holdout", type=int, default=1_730, help="rows of the churn holdout (the demo's)")
    parser.add_argument("--boot", type=int, default=200, help="bootstrap resamples (the gate's)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the fast side; the best is reported")
    parser.add_argument("--company", type=Path, help="a generated company: also time churn and cross-sell training")
    parser.add_argument("--trials", type=int, default=4, help="Optuna trials per training (the demo test's)")
    args = parser.parse_args()
    schema(args.rows, args.repeat)
    bootstrap(args.holdout, args.boot, args.repeat)
    if args.company:
        trainings(args.company, args.trials)


if __name__ == "__main__":
    main()
