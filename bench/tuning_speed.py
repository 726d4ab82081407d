"""Time for an Optuna study to reach a fixed CV score, with cxml's pruning + early stopping vs without (DESIGN §9).

Data: the simulated company (``generate_company(N, seed=0)``), training part of the out-of-time churn dataset
of ``pipelines/churn.yaml`` (as_of and label windows from there). Both arms run the same number of trials, the
same search space, the same TPE sampler and seed, the same CV folds, one thread per booster:

  pruned  cxml's ``run_study`` as it is: MedianPruner on fold-level CV PR-AUC, early stopping (50 rounds,
          at most 3000 trees) inside every fit
  plain   NopPruner, no early stopping: every fit grows the fixed number of trees (``--trees``, default 1000);
          the model still predicts with its best iteration on the internal validation rows, so only the
          training cost differs, not what is scored

The reference is the best CV PR-AUC either arm reached; for each target fraction of it, the table shows how
many finished trials (pruned ones included) and seconds each arm needed before its best completed trial got
there, and the speed-up plain / pruned.

.venv/bin/python bench/tuning_speed.py [--customers 20000] [--trials 25] [--trees 1000] [--out bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from threadpoolctl import threadpool_limits

from cxml.config import TuningConfig, load_pipeline
from cxml.data.synthetic import generate_company
from cxml.datasets import get_family
from cxml.datasets.churn import churn_dataset
from cxml.models.spec import ModelSpec
from cxml.tuning import cross_validate, run_study

FRACTIONS = (0.95, 0.98, 0.99, 0.995, 0.999, 1.0)
HEADLINE = 0.99


@dataclass
class Arm:
    name: str
    times: list[float] = field(default_factory=list)
    """Seconds since the study started, when each trial finished."""
    values: list[float] = field(default_factory=list)
    """CV PR-AUC of each finished trial, NaN for pruned ones."""
    seconds: float = 0.0

    def record(self, started: float, trial: optuna.trial.FrozenTrial) -> None:
        self.times.append(time.perf_counter() - started)
        complete = trial.state == optuna.trial.TrialState.COMPLETE
        self.values.append(float(trial.value) if complete and trial.value is not None else float("nan"))

    @property
    def best(self) -> float:
        return float(np.nanmax(self.values))

    @property
    def n_pruned(self) -> int:
        return int(np.isnan(self.values).sum())

    def reach(self, target: float) -> tuple[int, float] | None:
        """(finished trials, seconds) when the best completed value first reached ``target``."""
        for i, value in enumerate(self.values):
            if not np.isnan(value) and value >= target:
                return i + 1, self.times[i]
        return None


def run_pruned(spec: ModelSpec, X: pd.DataFrame, y: np.ndarray, cfg: TuningConfig) -> Arm:
    arm = Arm("pruned")
    started = time.perf_counter()
    run_study(spec, X, y, cfg, storage=None, study_name="bench-pruned", on_trial=lambda t: arm.record(started, t))
    arm.seconds = time.perf_counter() - started
    return arm


def run_plain(spec: ModelSpec, X: pd.DataFrame, y: np.ndarray, cfg: TuningConfig, trees: int) -> Arm:
    """``run_study``'s objective and sampler with pruning and early stopping taken out."""
    arm = Arm("plain")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=cfg.seed, n_startup_trials=8),  # as cxml.tuning.open_study
        pruner=optuna.pruners.NopPruner(),
    )

    def objective(trial: optuna.Trial) -> float:
        params: dict[str, Any] = {
            **spec.search_space(trial, cfg.algorithms),
            "n_jobs": cfg.n_jobs,
            "random_state": cfg.seed,
            "n_estimators": trees,
            "early_stopping_rounds": 10**9,
        }
        metrics = cross_validate(spec, params, X, y, cfg.cv_folds, cfg.seed, trial)
        for key, value in metrics.items():
            trial.set_user_attr(key, value)
        return metrics[spec.primary_metric]

    started = time.perf_counter()
    study.optimize(objective, n_trials=cfg.n_trials, callbacks=[lambda s, t: arm.record(started, t)], catch=())
    arm.seconds = time.perf_counter() - started
    return arm


def _fmt_reach(hit: tuple[int, float] | None) -> str:
    return "not reached" if hit is None else f"{hit[0]:>3} / {hit[1]:7.1f}s"


def _ratio(pruned: Arm, plain: Arm, target: float) -> str:
    a, b = pruned.reach(target), plain.reach(target)
    if a is None:
        return "n/a"
    if b is None:  # plain never got there: its whole run is a lower bound
        return f"> {plain.seconds / a[1]:.1f}x"
    return f"{b[1] / a[1]:.1f}x"


def _rows(pruned: Arm, plain: Arm) -> list[tuple[str, str, str, str, str]]:
    reference = max(pruned.best, plain.best)
    rows = []
    for frac in FRACTIONS:
        target = frac * reference
        rows.append(
            (
                f"{frac:.3f}",
                f"{target:.4f}",
                _fmt_reach(pruned.reach(target)),
                _fmt_reach(plain.reach(target)),
                _ratio(pruned, plain, target),
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawTextHelpFormatter,
    )
    parser.add_argument("--customers", type=int, default=20_000, help="simulated customers (default 20000)")
    parser.add_argument("--seed", type=int, default=0, help="simulation seed (default 0)")
    parser.add_argument("--trials", type=int, default=25, help="trials per arm (default 25, as the pipeline)")
    parser.add_argument("--trees", type=int, default=1000, help="trees per fit without early stopping")
    parser.add_argument("--out", type=Path, help="append a markdown section to this file")
    args = parser.parse_args(argv)
    command = "python bench/tuning_speed.py " + " ".join(argv if argv is not None else sys.argv[1:])
    threadpool_limits(1)  # boosters run n_jobs=1; keep BLAS/OpenMP to one thread too (2-core machine)

    pipeline = load_pipeline("churn")
    cfg = pipeline.tuning.model_copy(update={"n_trials": args.trials, "timeout_s": None, "n_jobs": 1})
    started = time.perf_counter()
    company = generate_company(args.customers, seed=args.seed)
    data = churn_dataset(company.tables, pipeline.as_of, pipeline.label, source="simulated")
    X, y = data.X_train, data.y_train
    prep = time.perf_counter() - started
    spec = get_family("churn").spec

    pruned = run_pruned(spec, X, y, cfg)
    plain = run_plain(spec, X, y, cfg, args.trees)

    setup = (
        f"simulated company {args.customers:,} customers (seed {args.seed}), training snapshot "
        f"{len(y):,} rows x {X.shape[1]} features, churn rate {np.mean(y):.3f} (built in {prep:.0f}s); "
        f"{cfg.cv_folds}-fold CV PR-AUC, {cfg.n_trials} trials per arm, TPE seed {cfg.seed}, "
        f"algorithms {'/'.join(cfg.algorithms)}, 1 thread"
    )
    summary = [
        (arm.name, len(arm.values), arm.n_pruned, arm.best, arm.seconds, arm.seconds / len(arm.values))
        for arm in (pruned, plain)
    ]
    rows = _rows(pruned, plain)
    reference = max(pruned.best, plain.best)
    headline = _ratio(pruned, plain, HEADLINE * reference)

    print(setup)
    print(f"\n{'arm':<7} {'trials':>6} {'pruned':>6} {'best':>7} {'seconds':>8} {'s/trial':>8}")
    for name, n, n_pruned, best, seconds, per in summary:
        print(f"{name:<7} {n:>6} {n_pruned:>6} {best:>7.4f} {seconds:>8.1f} {per:>8.2f}")
    print(f"\nreference (best of both arms): {reference:.4f}; cells: finished trials / seconds to target")
    header = f"{'fraction':>8} {'target':>7} {'pruned + early stop':>20} {'plain':>20} {'speed-up':>9}"
    print(header)
    print("-" * len(header))
    for frac, target, a, b, ratio in rows:
        print(f"{frac:>8} {target:>7} {a:>20} {b:>20} {ratio:>9}")
    print(f"\nspeed-up to {HEADLINE:.0%} of the reference: {headline} (DESIGN §9 target: >= 3x)")

    if args.out is not None:
        lines = [
            f"\n## Tuning speed: pruning + early stopping vs neither ({time.strftime('%Y-%m-%d')})",
            "",
            f"`{command}` — {setup}. Plain arm: NopPruner, {args.trees} trees per fit, no early stopping.",
            "",
            "| arm | trials | pruned | best CV PR-AUC | seconds | s/trial |",
            "|---|---|---|---|---|---|",
        ]
        lines += [f"| {n} | {t} | {p} | {b:.4f} | {s:.1f} | {q:.2f} |" for n, t, p, b, s, q in summary]
        lines += [
            "",
            f"Reference (best of both arms) {reference:.4f}; cells are finished trials / seconds to reach the target.",
            "",
            "| fraction | target | pruned + early stopping | plain | speed-up |",
            "|---|---|---|---|---|",
        ]
        lines += [f"| {f} | {t} | {' '.join(a.split())} | {' '.join(b.split())} | {r} |" for f, t, a, b, r in rows]
        lines += ["", f"Speed-up to {HEADLINE:.0%} of the reference: **{headline}** (target ≥ 3×).", ""]
        with args.out.open("a") as fh:
            fh.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
