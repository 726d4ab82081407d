"""cxml's price models against EconML (LinearDML, CausalForestDML) and a constant-elasticity log-log regression.

What it measures, on two data sets, in one run (everything single-threaded, seeds fixed)

1. Dominick's orange juice (``../shared/data/dominicks_oj``, brands tropicana, minute.maid, dominicks; 28,947
   store × brand × week rows). Outcome ``logmove``, treatment the log own price, heterogeneity ``INCOME``,
   controls the other ten store demographics, the brand (one-hot) and ``feat``, as in EconML's orange-juice
   notebook. No true elasticity exists: reported are the pooled elasticity (mean over rows), the elasticity at
   the 10th and 90th income percentile and the INCOME slope with its 90 % interval. Held-out demand error: every
   model is refitted on weeks before the last 20 % of weeks and predicts ``logmove`` of the later weeks at their
   actual prices (RMSE of log units).
2. The simulated company (``write_company(--customers, seed=--seed)``, default 100,000 customers, seed 2), cells
   segment × channel × time bucket × week from ``cxml.features.demand.order_cells`` (the latent segment of
   ``truth/customers`` groups customers), outcome ``log_quantity``, treatment ``log_price_index``, cells weighted
   by their mean weekly orders, as in ``tests/quality/test_price_simulated.py``. Elasticity error: MAE of the 48
   cell elasticities against ``truth/elasticities`` and the coverage of their 90 % intervals. Held-out demand
   error: RMSE of log units on a random 20 % of the cell-weeks (seed 0), models refitted on the other 80 %.

Methods

  cxml DML            ``ElasticityDML`` (LightGBM nuisances with early stopping, 5 folds, IV-type score); on the
                      company with nuisances additive in (week, segment, bucket) + (channel, segment, bucket),
                      pairwise interactions in the elasticity model and 3 repeats of the cross-fitting.
                      Demand: ``predict`` (nuisance at a fixed price + elasticity × log price).
  cxml DML hist       the same with scikit-learn's ``HistGradientBoostingRegressor`` nuisances.
  cxml DML pooled     (company only) cxml DML with each block of cell effects pooled by empirical Bayes
                      (``pooling="empirical_bayes"``, what the price family ships; Dominick's INCOME is numeric,
                      nothing to pool).
  cxml monotone GBM   ``MonotoneDemandGBM`` on the controls and the price (demand only; its arc elasticity at
                      the observed prices, ±5 %, is shown for reference).
  econml LinearDML    ``LinearDML`` with ``LGBMRegressor(n_estimators=300, learning_rate=0.05, num_leaves=15,
                      min_child_samples=10)`` nuisances, cv=5, on the same design matrix D(X) as cxml (no
                      intercept column; econml adds it) and the same weights. On the company the nuisances get the
                      same interaction constraints (and once without: "free nuisances"). Demand: mean over folds
                      of its nuisance models,
                      ``E[y|W] + theta(X) (t − E[t|W])``.
  econml CausalForest ``CausalForestDML`` (200 trees, min_samples_leaf 5) with those nuisances; X the one-hot
                      cells (company) or INCOME (Dominick's).
  log-log OLS         ``LogLogDemand``: one elasticity, controls one-hot (company: cell and week fixed effects).

Run: ``make bench-peers PEERS_SCRIPTS=bench/price_peers.py`` (EconML from ``.venv-peers``; ~6 min on 2 shared
vCPUs) also rewrites the generated block of this script's section of bench/RESULTS.md (``--results``, the
convention of ``bench/results_section.py``). By hand, without EconML its rows are skipped::

    PYTHONPATH=src .venv-peers/bin/python bench/price_peers.py --results bench/RESULTS.md
    PYTHONPATH=src .venv-peers/bin/python bench/price_peers.py --customers 30000 --no-forest   # quicker
    PYTHONPATH=src .venv/bin/python bench/price_peers.py --customers 20000 --seed 0 --no-dominicks   # the demo's
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from results_section import markdown_table, replace_generated
from scipy.stats import norm

from cxml.data.oj import STORE_DEMOGRAPHICS, read_dominicks_oj
from cxml.data.sources import read_tables, read_truth
from cxml.data.synthetic import write_company
from cxml.features.demand import order_cells
from cxml.models.demand import LogLogDemand, MonotoneDemandGBM
from cxml.models.dml import ElasticityDML, LinearDesign

ROOT = Path(__file__).resolve().parent.parent
OJ = ROOT.parent / "shared" / "data" / "dominicks_oj"
KEYS = ["segment", "channel", "time_bucket"]
ADDITIVE = [["week", "segment", "time_bucket"], ["channel", "segment", "time_bucket"]]
SECTION = "## Price sensitivity against its peers (`bench/price_peers.py`)"
LGBM: dict[str, Any] = {
    "n_estimators": 300,
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_child_samples": 10,
    "n_jobs": 1,
}


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


class Task:
    """One data set: rows, the columns in each role, a train/holdout split and (maybe) true cell elasticities."""

    def __init__(
        self,
        name: str,
        frame: pd.DataFrame,
        x: list[str],
        controls: list[str],
        holdout: np.ndarray,
        weight: np.ndarray | None,
        truth: pd.DataFrame | None,
        dml: dict[str, Any],
    ):
        self.name, self.frame, self.x, self.controls = name, frame, x, controls
        self.holdout, self.weight, self.truth, self.dml = holdout, weight, truth, dml

    def part(self, rows: np.ndarray | None) -> tuple[pd.DataFrame, np.ndarray | None]:
        if rows is None:
            return self.frame, self.weight
        return self.frame[rows].reset_index(drop=True), None if self.weight is None else self.weight[rows]


def dominicks() -> Task:
    oj = read_dominicks_oj(OJ)
    controls = [c for c in STORE_DEMOGRAPHICS if c != "INCOME"] + ["brand", "feat"]
    frame = oj.rename(columns={"logmove": "y", "log_price": "t"})
    late = frame["week"] > frame["week"].quantile(0.8)
    return Task("dominicks", frame, ["INCOME"], controls, late.to_numpy(), None, None, {})


def company(customers: int, seed: int) -> Task:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "co"
        write_company(folder, customers, seed=seed)
        tables = read_tables(folder, ["orders", "products", "customers", "prices"])
        truth = read_truth(folder)
    cells = order_cells(tables, segments=truth["customers"][["customer_id", "segment"]])
    weight = cells.groupby(KEYS)["orders"].transform("mean").to_numpy()
    frame = cells.rename(columns={"log_quantity": "y", "log_price_index": "t"})
    holdout = np.random.default_rng(0).random(len(frame)) < 0.2
    dml = {"additive": ADDITIVE, "interactions": "pairwise", "n_repeats": 3}
    return Task(
        f"company {customers:,} seed {seed}", frame, KEYS, ["week"], holdout, weight, truth["elasticities"], dml
    )


# ---- methods: each returns (effect table or None, holdout predictions, fit seconds) ------------------------


def cells_or_rows(task: Task) -> pd.DataFrame:
    return task.truth if task.truth is not None else task.frame


def cxml_dml(task: Task, nuisance: str, pooling: str | None = None) -> dict[str, Any]:
    def fit(rows: np.ndarray | None) -> ElasticityDML:
        frame, w = task.part(rows)
        model = ElasticityDML(nuisance=nuisance, pooling=pooling, random_state=0, **task.dml)  # type: ignore[arg-type]
        return model.fit(
            frame[task.x], frame["y"], treatment=frame["t"], controls=frame[task.controls], sample_weight=w
        )

    model, seconds = timed(lambda: fit(None))
    lo, hi = model.effect_interval(cells_or_rows(task), alpha=0.1)
    slope = model.summary(alpha=0.1).iloc[1] if task.truth is None else None
    held = fit(~task.holdout)
    test = task.frame[task.holdout]
    pred = held.predict(test[task.x], treatment=test["t"], controls=test[task.controls])
    return {"effect": model.effect(cells_or_rows(task)), "lo": lo, "hi": hi, "slope": slope, "pred": pred, "s": seconds}


def monotone_gbm(task: Task) -> dict[str, Any]:
    features = list(dict.fromkeys([*task.x, *task.controls]))

    def fit(rows: np.ndarray | None) -> MonotoneDemandGBM:
        frame, w = task.part(rows)
        return MonotoneDemandGBM(random_state=0).fit(
            frame[features], frame["y"], price=np.exp(frame["t"]), sample_weight=w
        )

    model, seconds = timed(lambda: fit(None))
    test = task.frame[task.holdout]
    pred = fit(~task.holdout).predict(test[features], price=np.exp(test["t"]))
    arc = model.arc_elasticity(task.frame[features], price=np.exp(task.frame["t"]))
    if task.truth is not None:
        arc = task.frame.assign(arc=arc).groupby(KEYS)["arc"].mean().reindex(pd.MultiIndex.from_frame(task.truth[KEYS]))
    return {"effect": np.asarray(arc), "lo": None, "hi": None, "slope": None, "pred": pred, "s": seconds}


def log_log(task: Task) -> dict[str, Any]:
    def design(frame: pd.DataFrame) -> pd.DataFrame:
        if task.truth is None:
            return frame[[*task.x, *task.controls]]
        cell = frame[KEYS].astype(str).agg("|".join, axis=1)  # cell and week fixed effects
        return pd.DataFrame({"cell": cell, "week": frame["week"].astype(str)})

    def fit(rows: np.ndarray | None) -> LogLogDemand:
        frame, _ = task.part(rows)
        return LogLogDemand().fit(design(frame), frame["y"], price=np.exp(frame["t"]))

    model, seconds = timed(lambda: fit(None))
    test = task.frame[task.holdout]
    pred = fit(~task.holdout).predict(design(test), price=np.exp(test["t"]))
    z = float(norm.ppf(0.95))
    n = len(cells_or_rows(task))
    effect = np.full(n, model.elasticity_)
    return {
        "effect": effect,
        "lo": effect - z * model.elasticity_se_,
        "hi": effect + z * model.elasticity_se_,
        "slope": None,
        "pred": pred,
        "s": seconds,
    }


def econml_methods(task: Task, forest: bool) -> dict[str, dict[str, Any]]:
    try:
        from econml.dml import CausalForestDML, LinearDML
        from lightgbm import LGBMRegressor
    except ImportError as exc:
        print(f"  (EconML rows skipped: {exc})")
        return {}
    design = LinearDesign().fit(task.frame[task.x], task.dml.get("interactions"))
    w_cols = pd.get_dummies(task.frame[task.controls], dtype=float).columns

    def arrays(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        W = pd.get_dummies(frame[task.controls], dtype=float).reindex(columns=w_cols, fill_value=0.0).to_numpy()
        return design.transform(frame[task.x])[:, 1:], W

    def nuisance(constrained: bool) -> Any:
        extra: dict[str, Any] = {}
        if constrained and task.dml.get("additive"):  # the same constraints, on econml's [X, W] column order
            names = [*design.names_[1:], *w_cols]
            groups = [[j for j, n in enumerate(names) if n.split("[")[0].split(":")[0] in g] for g in ADDITIVE]
            extra["interaction_constraints"] = groups
        return LGBMRegressor(**LGBM, random_state=0, verbose=-1, **extra)

    out: dict[str, dict[str, Any]] = {}
    kinds: dict[str, tuple[Any, bool]] = {"econml LinearDML": (LinearDML, True)}
    if task.dml.get("additive"):
        kinds["econml LinearDML, free nuisances"] = (LinearDML, False)
    if forest:
        kinds["econml CausalForest"] = (CausalForestDML, True)
    for name, (cls, constrained) in kinds.items():

        def build(cls: Any = cls, constrained: bool = constrained) -> Any:
            kw: dict[str, Any] = {
                "model_y": nuisance(constrained),
                "model_t": nuisance(constrained),
                "cv": 5,
                "random_state": 0,
            }
            if cls is CausalForestDML:
                kw.update(n_estimators=200, min_samples_leaf=5, n_jobs=1)
            return cls(**kw)

        def fit(rows: np.ndarray | None, build: Callable[[], Any] = build) -> Any:
            frame, w = task.part(rows)
            X, W = arrays(frame)
            est = build()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est.fit(frame["y"].to_numpy(), frame["t"].to_numpy(), X=X, W=W, sample_weight=w)
            return est

        est, seconds = timed(partial(fit, None))
        Xc, _ = arrays(cells_or_rows(task).assign(**{c: 0 for c in task.controls if c not in cells_or_rows(task)}))
        lo, hi = est.effect_interval(Xc, alpha=0.1)
        held = fit(~task.holdout)
        test = task.frame[task.holdout]
        Xt, Wt = arrays(test)
        XW = np.hstack([Xt, Wt])
        y_hat = np.mean([m.predict(XW) for m in held.models_y[0]], axis=0)
        t_hat = np.mean([m.predict(XW) for m in held.models_t[0]], axis=0)
        pred = y_hat + held.effect(Xt) * (test["t"].to_numpy() - t_hat)
        slope = None
        if task.truth is None and name == "econml LinearDML":
            ci = est.coef__interval(alpha=0.1)
            slope = pd.Series({"coef": est.coef_[0], "ci_lower": ci[0][0], "ci_upper": ci[1][0]})
        out[name] = {"effect": est.effect(Xc), "lo": lo, "hi": hi, "slope": slope, "pred": pred, "s": seconds}
    return out


def report(task: Task, results: dict[str, dict[str, Any]]) -> str:
    """The task's Markdown: a ``###`` heading, what the figures are, and one row per method."""
    y_test = task.frame.loc[task.holdout, "y"].to_numpy()
    head = f"### {task.name}: {len(task.frame):,} rows, holdout {int(task.holdout.sum()):,}"
    if task.truth is not None:
        truth = task.truth["elasticity"].to_numpy()
        rows = []
        for name, r in results.items():
            err = r["effect"] - truth
            cover = "—" if r["lo"] is None else f"{np.mean((r['lo'] <= truth) & (truth <= r['hi'])):.3f}"
            mae, bias, held = np.mean(np.abs(err)), np.mean(err), rmse(r["pred"], y_test)
            rows.append([name, f"{mae:.3f}", f"{bias:+.3f}", cover, f"{held:.4f}", f"{r['s']:.1f}"])
        header = ["method", "elasticity MAE", "bias", "90 % coverage", "holdout RMSE log units", "fit s"]
        note = (
            f"Against the {len(truth)} true cell elasticities (truth/elasticities); the holdout is a random 20 % of "
            "the cell-weeks (seed 0), the models refitted on the other 80 %."
        )
        return "\n\n".join([head, note, markdown_table(header, rows)])
    income = task.frame["INCOME"]
    p10, p90 = (income <= income.quantile(0.1)).to_numpy(), (income >= income.quantile(0.9)).to_numpy()
    rows = []
    for name, r in results.items():
        e = np.asarray(r["effect"])
        s = r["slope"]
        slope = "—" if s is None else f"{s['coef']:.3f} [{s['ci_lower']:.3f}, {s['ci_upper']:.3f}]"
        estimates = [f"{e.mean():.3f}", f"{e[p10].mean():.3f}", f"{e[p90].mean():.3f}", slope]
        rows.append([name, *estimates, f"{rmse(r['pred'], y_test):.4f}", f"{r['s']:.1f}"])
    header = ["method", "pooled", "at income ≤ p10", "at income ≥ p90", "INCOME slope [90 % CI]"]
    header += ["holdout RMSE", "fit s"]
    note = (
        "Outcome `logmove`, treatment the log own price, heterogeneity `INCOME`, controls the other demographics, "
        "brand and `feat`; the holdout is the last 20 % of weeks. Published double ML on these data: about −2.8 at "
        "low income to −2.5 at high income."
    )
    return "\n\n".join([head, note, markdown_table(header, rows)])


def intro(command: str, seconds: float) -> str:
    """Where the tables below come from: the command, when, how long, how loaded, which EconML."""
    try:
        econml = f"EconML {version('econml')} (LinearDML, CausalForestDML)"
    except PackageNotFoundError:
        econml = "EconML not installed here, so its rows are skipped (`make bench-peers` installs it)"
    load = os.getloadavg()
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return (
        f"`{command}` on {when}, {seconds:.0f} s in all on {os.cpu_count()} CPUs (load average {load[0]:.1f} / "
        f"{load[1]:.1f} / {load[2]:.1f} at the end; every model single-threaded, the seconds are noisy, the "
        f"estimates are seeded and deterministic). {econml}. Regenerated by `make bench-peers`."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--no-forest", action="store_true", help="skip CausalForestDML (the slowest)")
    parser.add_argument("--no-dominicks", action="store_true")
    parser.add_argument("--no-company", action="store_true")
    parser.add_argument("--results", type=Path, help="rewrite this script's generated block in this Markdown file")
    args = parser.parse_args(argv)
    command = " ".join(["python bench/price_peers.py", *(argv if argv is not None else sys.argv[1:])])
    started = time.perf_counter()
    tasks: list[Callable[[], Task]] = []
    if not args.no_dominicks:
        tasks.append(dominicks)
    if not args.no_company:
        tasks.append(lambda: company(args.customers, args.seed))
    sections = []
    for make in tasks:
        task, seconds = timed(make)
        print(f"\n{task.name}: data ready in {seconds:.0f} s")
        results = {
            "cxml DML": cxml_dml(task, "lightgbm"),
            "cxml DML hist": cxml_dml(task, "hist"),
            **({"cxml DML pooled": cxml_dml(task, "lightgbm", "empirical_bayes")} if task.truth is not None else {}),
            "cxml monotone GBM": monotone_gbm(task),
            **econml_methods(task, not args.no_forest),
            "log-log OLS": log_log(task),
        }
        sections.append(report(task, results))
        print(f"\n{sections[-1]}", flush=True)
    if args.results is not None:
        body = "\n\n".join([intro(command, time.perf_counter() - started), *sections])
        replace_generated(args.results, SECTION, "bench/price_peers.py", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
