"""Parallel tuning: the same trials on one Optuna study with 1 and with 2 worker processes (issue #20).

Both runs evaluate the same parameter sets (enqueued from one seeded random sample, so the best value must be
identical), each booster with one thread, on a journal-file study (or ``--storage URL`` for PostgreSQL). The
ratio is the 1-worker wall time over the 2-worker wall time, measured in the same run.

    python bench/parallel_tuning.py --rows 20000 --trials 16
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import optuna
import pandas as pd
from sklearn.datasets import make_classification

from cxml.config import TuningConfig
from cxml.datasets import get_family
from cxml.tuning import open_study, run_study


def planned_trials(n: int, seed: int, cfg: TuningConfig) -> list[dict]:
    """``n`` parameter sets from the churn search space, drawn by a seeded random sampler (no fitting)."""
    spec = get_family("churn").spec
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        spec.search_space(trial, cfg.algorithms)
        out.append(dict(trial.params))
        study.tell(trial, 0.0)
    return out


def timed(workers: int, X: pd.DataFrame, y, cfg: TuningConfig, plan: list[dict], storage: str | None) -> tuple:
    name = f"bench-{workers}w-{time.time_ns()}"
    with tempfile.TemporaryDirectory() as tmp:
        where = storage or str(Path(tmp) / "study.journal")
        study = open_study(where, name, seed=cfg.seed, resume=False, greater_is_better=True)
        for params in plan:
            study.enqueue_trial(params)
        t0 = time.perf_counter()
        result = run_study(
            get_family("churn").spec, X, y, cfg, storage=where, study_name=name, resume=True, workers=workers
        )
        return time.perf_counter() - t0, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--storage", default=None, help="a database URL instead of a journal file")
    args = parser.parse_args()
    X, y = make_classification(args.rows, 20, n_informative=8, weights=[0.8], random_state=0)
    X = pd.DataFrame(X, columns=[f"f{i}" for i in range(20)])
    cfg = TuningConfig(n_trials=args.trials, cv_folds=3, n_jobs=1)
    plan = planned_trials(args.trials, 0, cfg)
    one, r1 = timed(1, X, y, cfg, plan, args.storage)
    two, r2 = timed(2, X, y, cfg, plan, args.storage)
    print(f"{args.trials} trials on {args.rows:,} rows, 3-fold CV, one booster thread each")
    print(f"  1 worker : {one:7.1f}s  best {r1.best_value:.6f} ({r1.n_complete} complete, {r1.n_pruned} pruned)")
    print(f"  2 workers: {two:7.1f}s  best {r2.best_value:.6f} ({r2.n_complete} complete, {r2.n_pruned} pruned)")
    print(f"  speed-up: {one / two:.2f}×; same best value: {abs(r1.best_value - r2.best_value) < 1e-12}")


if __name__ == "__main__":
    main()
