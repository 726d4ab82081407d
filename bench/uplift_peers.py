"""cxml's uplift learners against scikit-uplift and causalml, and against the simulated company's true effects.

What it measures

1. Hillstrom (the MineThatData e-mail experiment, ``../shared/data/hillstrom/hillstrom.csv`` from the repository
   root; treatment column ``segment``, control ``No E-Mail``, the other outcome columns dropped), three tasks:

     womens-visit        Womens E-Mail vs No E-Mail, target ``visit`` (the Mens E-Mail rows removed)
     womens-conversion   the same rows, target ``conversion``
     3arm-visit          Mens E-Mail and Womens E-Mail vs No E-Mail, target ``visit``

   Each runs on ``--seeds`` stratified 50/50 splits (``uplift_table_dataset(holdout_fraction=0.5, seed=s)``,
   s = 0, 1, ...). Every method is fitted on the training half and scored on the holdout half with cxml's own
   metric functions (``SPEC.metrics``: ``uplift_metrics`` per arm on that arm's and the control's rows, then the
   unweighted mean over arms), so all numbers are comparable. Reported: mean ± sd over the seeds of qini_norm,
   qini and uplift_at_30, and the mean fit + score seconds.

2. The simulated company (``generate_company(n_customers=--customers, seed=0)``), campaign ``--campaign``
   (CMP05: letter, voucher_15, voucher_5 and control; purchase within 14 days), 30 % holdout, seed 0. On every
   holdout customer and every arm: PEHE = sqrt(mean((estimated - true_effect)^2)) against
   ``truth["effects"].true_effect`` (joined on customer_id, campaign and arm; every exposed customer has a true
   effect for every arm, whichever arm they got), Pearson r with the true effect, and the observed qini (that
   arm's holdout rows against the control rows). The true-effect ranking's qini is printed as the ceiling.

3. Heterogeneous simulated campaigns (``cxml.data.synthetic.uplift_experiment``, shapes ``--shapes``, seeds
   0..``--sim-seeds``-1, ``--sim-customers`` customers, offer vs control): the command's 30 % stratified holdout;
   qini on the observed outcomes and PEHE against every holdout customer's true effect, mean ± sd over seeds.

Methods (all given the same rows; ``--seeds`` varies the split and the seeds of the models)

  cxml s/t/x/dr      ``SPEC.build({"learner": l, **PARAMS})``: 1000 trees at most, early stopping after 30
                     on an internal 20 % validation split, PARAMS = learning_rate 0.03, max_depth 2,
                     min_child_weight 200 (LightGBM). ``--variants`` adds the settings in VARIANTS: by
                     default on the company only, where min_child_weight 200 leaves the S- and T-learners'
                     binary outcome models without a single split (a leaf needs a hessian sum of 200, i.e.
                     about 1,000 rows at a 25 % purchase rate, and an arm has about 1,000 training rows).
  cxml forest        ``SPEC.build({"learner": "forest"})``: the honest uplift forest with its defaults (200 trees,
                     depth 6, min_leaf 100, max_features 0.8, half the rows per tree split in structure and
                     estimation halves).
  cxml forest kl     ``SPEC.build(URF_SHAPE)``: the same forest with causalml's normalised KL split
                     (``criterion="kl"``, not honest, 63 % of the rows per tree), depth 5, min_leaf 100,
                     max_features 0.55: urf's shape. Built on request; the command does not search it.
  cxml blend         ``SPEC.build({"learner": "blend", **PARAMS})``: the mean of the effects of the forest (its
                     defaults) and the X- and DR-learners (PARAMS), ``BlendLearner``.
  cxml stack         ``SPEC.build({"learner": "stack", **PARAMS})``: ``StackedLearner``, the forest, X and DR
                     cross-fitted on 5 folds of the training rows and the control outcome model P(y | x, control),
                     combined by a doubly robust linear final stage (member weights >= 0); its effect is the
                     intercept plus the weighted means of the folds' columns.
  cxml stack+residual  the same with ``residual: true``: a booster (PARAMS) on what the linear stage left of the
                     pseudo-outcome, added to the effect.
  cxml command       what ``cxml train uplift --table FILE ...`` fits: the Optuna study of pipelines/uplift.yaml
                     (20 trials, 300 s, 3 folds, LightGBM and XGBoost, seed 0, every learner and the forest, not the
                     blend) on the training rows, then the best trial refitted on all of them (``--command-trials``
                     overrides the trials as ``--trials`` does); on ``--command-tasks``.
  cxml ct            ``ClassTransformation`` with the same settings, fitted per arm on that arm's and the
                     control's rows (the three-arm task fits one per arm).
  response model     ``cxml.models.uplift.ResponseModel``: P(respond | x, arm) per arm, the naive ranking. On the
                     company its "effect" is that probability minus the control rows' mean outcome in training.
  random             uniform random scores (one draw per seed).
  constant           (company only) every customer gets the arm's observed effect in training: mean outcome of
                     the arm's training rows minus the control's. Its qini is 0 by definition.
  sklift solo/two/two-ddr/ct   scikit-uplift ``SoloModel``, ``TwoModels(method="vanilla" | "ddr_control")``,
                     ``ClassTransformation``, each with ``LGBMClassifier(n_estimators=200, learning_rate=0.05,
                     num_leaves=15)``; two-arm models, so fitted per arm on that arm's and the control's rows.
  causalml s/t/x     ``BaseSClassifier`` / ``BaseTClassifier`` (that LGBMClassifier) and ``BaseXClassifier``
                     (that classifier for outcomes, the same-sized ``LGBMRegressor`` for effects), multi-arm
                     natively; the X-learner gets the known constant propensities (the arm's share among the
                     arm's and the control's training rows), as cxml's learners do.
  causalml dr        ``BaseDRRegressor(learner=LGBMRegressor(...))`` with the same constant propensities.
  causalml urf       ``UpliftRandomForestClassifier(n_estimators=100, max_depth=6, min_samples_leaf=100)``
                     (KL criterion), on the tasks in ``--urf-tasks`` (all but womens-conversion by default).

The peers see the same feature frame one-hot encoded (``pandas.get_dummies``; holdout columns aligned to the
training columns); cxml's learners encode it themselves (``TableEncoder``). Everything runs single-threaded
(``n_jobs=1``). The peers are imported lazily: when scikit-uplift or causalml is missing their rows are skipped
with the reason printed. No network access.

Run (before issue #18 about 9 minutes on 2 shared vCPUs with both peers; the forest rows, the command's 20-trial
studies and the simulated part made each of the three parts in RESULTS.md take about 35 minutes at a load of
12-17; ``--command-trials`` and ``--sim-seeds`` shorten it)::

    .venv/bin/python bench/uplift_peers.py                      # everything, 5 seeds, 20,000 customers
    .venv/bin/python bench/uplift_peers.py --seeds 2 --tasks womens-visit --no-company   # a quick look
    .venv/bin/python bench/uplift_peers.py --variants all       # cxml's VARIANTS on Hillstrom too (~11 min)
    .venv/bin/python bench/uplift_peers.py --markdown /tmp/uplift.md   # also write the tables as Markdown
    .venv/bin/python bench/uplift_peers.py --tasks --no-company --sim-seeds 1   # the simulated campaigns only
    .venv/bin/python bench/uplift_peers.py --results bench/RESULTS.md   # what ``make bench-peers`` runs

``--results FILE`` rewrites this script's generated block of the uplift section (SECTION) of that Markdown file
with this run's tables, the convention of ``bench/results_section.py``; the hand-written subsections around the
block are kept.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from results_section import replace_generated
from scipy.special import expit
from threadpoolctl import threadpool_limits

from cxml.config import load_pipeline
from cxml.datasets.uplift import uplift_table_dataset
from cxml.models.meta_learners import ClassTransformation
from cxml.models.uplift import CONTROL, SPEC, URF_SHAPE, ResponseModel
from cxml.tuning import run_study

ROOT = Path(__file__).resolve().parent.parent
HILLSTROM = ROOT.parent / "shared" / "data" / "hillstrom" / "hillstrom.csv"
OUTCOMES = ("visit", "conversion", "spend")
TASKS: dict[str, dict[str, Any]] = {
    "womens-visit": {"target": "visit", "drop_arms": ("Mens E-Mail",)},
    "womens-conversion": {"target": "conversion", "drop_arms": ("Mens E-Mail",)},
    "3arm-visit": {"target": "visit", "drop_arms": ()},
}
PARAMS: dict[str, Any] = {"learning_rate": 0.03, "max_depth": 2, "min_child_weight": 200}
VARIANTS: dict[str, dict[str, Any]] = {
    "mcw20": {"learning_rate": 0.03, "max_depth": 2, "min_child_weight": 20},
    "defaults": {},  # the learners' own defaults: learning_rate 0.05, max_depth 4, min_child_weight 1
}
LGBM: dict[str, Any] = {"n_estimators": 200, "learning_rate": 0.05, "num_leaves": 15, "verbose": -1, "n_jobs": 1}
METRICS = ("qini_norm", "qini", "uplift_at_30")
PEERS = {"sklift": "scikit-uplift", "causalml": "causalml"}
PEER_MODULES = {"sklift": ("sklift.models",), "causalml": ("causalml.inference.meta", "causalml.inference.tree")}
GROUPS = ("cxml", "baseline", "sklift", "causalml")
SECTION = "## Uplift against its peers (`bench/uplift_peers.py`)"


# --------------------------------------------------------------------------------------------------- the split


@dataclass
class Split:
    """One train/holdout split: cxml's frames, plus the one-hot matrices the peers get."""

    X_tr: pd.DataFrame
    y_tr: pd.DataFrame
    X_ho: pd.DataFrame
    y_ho: pd.DataFrame
    seed: int
    arms: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.arms = sorted(set(self.y_tr["arm"].astype(str)) - {CONTROL})

    @property
    def outcome(self) -> np.ndarray:
        return self.y_tr["outcome"].to_numpy(float)

    @property
    def arm(self) -> np.ndarray:
        return self.y_tr["arm"].to_numpy().astype(str)

    @cached_property
    def onehot(self) -> tuple[np.ndarray, np.ndarray]:
        train = pd.get_dummies(self.X_tr, dtype=float)
        holdout = pd.get_dummies(self.X_ho, dtype=float).reindex(columns=train.columns, fill_value=0.0)
        return train.to_numpy(np.float64), holdout.to_numpy(np.float64)

    def pair(self, arm: str) -> np.ndarray:
        """Training rows of ``arm`` and of the control."""
        return np.isin(self.arm, (arm, CONTROL))

    def share(self, arm: str) -> float:
        """The arm's share among its and the control's training rows (the randomised propensity)."""
        return float(np.mean(self.arm[self.pair(arm)] == arm))


Scorer = Callable[[Split], np.ndarray]
"""Fits on the split's training rows, returns holdout effect scores: n_holdout × arms, columns in ``split.arms``."""


@dataclass(frozen=True)
class Method:
    name: str
    group: str  # one of GROUPS
    run: Scorer
    effect_scale: bool = True  # its scores estimate effects (PEHE is meaningful)


# --------------------------------------------------------------------------------------------------- cxml


def cxml_learner(learner: str, params: dict[str, Any]) -> Scorer:
    def run(s: Split) -> np.ndarray:
        estimator = SPEC.build({"learner": learner, **params, "random_state": s.seed})
        SPEC.fit(estimator, s.X_tr, s.y_tr)
        assert list(estimator.arms_) == s.arms
        return np.asarray(SPEC.score(estimator, s.X_ho), dtype=float)

    return run


def cxml_command(trials: int | None) -> Scorer:
    """What ``cxml train uplift --table FILE ...`` fits, with pipelines/uplift.yaml's defaults: the Optuna study
    over SPEC's search space on the training rows (its trials, timeout, folds, algorithms and seed), then the
    best trial refitted on all of them. ``trials`` overrides the pipeline's count, as ``--trials`` does."""

    def run(s: Split) -> np.ndarray:
        cfg = load_pipeline("uplift", None, trials)
        study = run_study(SPEC, s.X_tr, s.y_tr, cfg.tuning, storage=None, study_name=f"bench-{s.seed}")
        COMMAND_CHOICES.append(dict(study.best_params))
        estimator = SPEC.fit(SPEC.build({**study.best_params, **SPEC.refit_params}), s.X_tr, s.y_tr)
        return np.asarray(SPEC.score(estimator, s.X_ho), dtype=float)

    return run


COMMAND_CHOICES: list[dict[str, Any]] = []
"""The best trial's parameters of every ``cxml command`` fit, in order (printed with the tables)."""


def cxml_ct(params: dict[str, Any]) -> Scorer:
    """cxml's ClassTransformation (single arm vs control), one per arm, with SPEC.build's tree budget."""

    def run(s: Split) -> np.ndarray:
        columns = []
        for arm in s.arms:
            rows = s.pair(arm)
            model = ClassTransformation(n_estimators=1000, early_stopping_rounds=30, control=CONTROL)
            model.set_params(**params, random_state=s.seed)
            model.fit(s.X_tr.loc[rows], s.outcome[rows], treatment=s.arm[rows])
            columns.append(model.effect(s.X_ho, arm=arm))
        return np.column_stack(columns)

    return run


def response_model(s: Split) -> np.ndarray:
    """P(respond | x, arm) minus the control rows' mean outcome in training (a rank shift for the metrics)."""
    model = ResponseModel(random_state=s.seed).fit(s.X_tr, s.outcome, treatment=s.arm)
    score = model.effects(s.X_ho)[s.arms].to_numpy(float)
    if model.outcome_ == "binary":
        score = expit(score)
    return score - s.outcome[s.arm == CONTROL].mean()


def random_scores(s: Split) -> np.ndarray:
    return np.random.default_rng(1000 + s.seed).random((len(s.X_ho), len(s.arms)))


def constant_effect(s: Split) -> np.ndarray:
    base = s.outcome[s.arm == CONTROL].mean()
    effects = [s.outcome[s.arm == arm].mean() - base for arm in s.arms]
    return np.tile(np.asarray(effects), (len(s.X_ho), 1))


# --------------------------------------------------------------------------------------------------- peers


def peer_status() -> dict[str, str | None]:
    """None for an importable peer, else why it is skipped."""
    status: dict[str, str | None] = {}
    for module in PEERS:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for name in PEER_MODULES[module]:
                    importlib.import_module(name)
            status[module] = None
        except Exception as exc:  # any import failure: the peer is skipped
            status[module] = f"{type(exc).__name__}: {exc}"
    return status


def peer_version(module: str) -> str:
    try:
        return importlib.metadata.version(PEERS[module])
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _classifier(seed: int) -> Any:
    from lightgbm import LGBMClassifier

    return LGBMClassifier(**LGBM, random_state=seed)


def _regressor(seed: int) -> Any:
    from lightgbm import LGBMRegressor

    return LGBMRegressor(**LGBM, random_state=seed)


def sklift_model(kind: str) -> Scorer:
    def build(seed: int) -> Any:
        from sklift.models import ClassTransformation as SkliftCT
        from sklift.models import SoloModel, TwoModels

        if kind == "solo":
            return SoloModel(_classifier(seed))
        if kind == "ct":
            return SkliftCT(_classifier(seed))
        method = {"two": "vanilla", "two-ddr": "ddr_control"}[kind]
        return TwoModels(_classifier(seed), _classifier(seed + 1), method=method)

    def run(s: Split) -> np.ndarray:
        X_tr, X_ho = s.onehot
        columns = []
        for arm in s.arms:
            rows = s.pair(arm)
            model = build(s.seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(X_tr[rows], s.outcome[rows].astype(int), (s.arm[rows] == arm).astype(int))
                columns.append(np.asarray(model.predict(X_ho), dtype=float))
        return np.column_stack(columns)

    return run


def causalml_meta(kind: str) -> Scorer:
    def run(s: Split) -> np.ndarray:
        from causalml.inference.meta import BaseDRRegressor, BaseSClassifier, BaseTClassifier, BaseXClassifier

        X_tr, X_ho = s.onehot
        y = s.outcome.astype(int)
        p_tr = {arm: np.full(len(X_tr), s.share(arm)) for arm in s.arms}
        p_ho = {arm: np.full(len(X_ho), s.share(arm)) for arm in s.arms}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if kind == "s":
                model = BaseSClassifier(learner=_classifier(s.seed), control_name=CONTROL).fit(X_tr, s.arm, y)
                score = model.predict(X_ho)
            elif kind == "t":
                model = BaseTClassifier(learner=_classifier(s.seed), control_name=CONTROL).fit(X_tr, s.arm, y)
                score = model.predict(X_ho)
            elif kind == "x":
                model = BaseXClassifier(
                    outcome_learner=_classifier(s.seed), effect_learner=_regressor(s.seed), control_name=CONTROL
                )
                model.fit(X_tr, s.arm, y, p=p_tr)
                score = model.predict(X_ho, p=p_ho)
            else:
                model = BaseDRRegressor(learner=_regressor(s.seed), control_name=CONTROL)
                model.fit(X_tr, s.arm, s.outcome, p=p_tr, seed=s.seed)
                score = model.predict(X_ho)
        assert list(model.t_groups) == s.arms
        return np.asarray(score, dtype=float).reshape(len(X_ho), -1)

    return run


def causalml_urf(s: Split) -> np.ndarray:
    from causalml.inference.tree import UpliftRandomForestClassifier

    X_tr, X_ho = s.onehot
    model = UpliftRandomForestClassifier(
        control_name=CONTROL, n_estimators=100, max_depth=6, min_samples_leaf=100, n_jobs=1, random_state=s.seed
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X_tr, treatment=s.arm, y=s.outcome.astype(int))
        score = model.predict(X_ho)
    assert list(model.classes_[1:]) == s.arms
    return np.asarray(score, dtype=float)


# --------------------------------------------------------------------------------------------------- registry


def methods(
    *,
    variants: bool,
    peers: dict[str, str | None],
    urf: bool,
    ct: bool,
    company: bool = False,
    command: bool = False,
    command_trials: int | None = None,
) -> list[Method]:
    out = [Method(f"cxml {name}", "cxml", cxml_learner(name, PARAMS)) for name in ("s", "t", "x", "dr")]
    out.append(Method("cxml forest", "cxml", cxml_learner("forest", {})))
    kl_forest = {k: v for k, v in URF_SHAPE.items() if k != "learner"}
    out.append(Method("cxml forest kl", "cxml", cxml_learner("forest", kl_forest)))
    out.append(Method("cxml blend", "cxml", cxml_learner("blend", PARAMS)))
    out.append(Method("cxml stack", "cxml", cxml_learner("stack", PARAMS)))
    out.append(Method("cxml stack+residual", "cxml", cxml_learner("stack", {**PARAMS, "residual": True})))
    if command:
        out.append(Method("cxml command", "cxml", cxml_command(command_trials)))
    if ct:
        out.append(Method("cxml ct", "cxml", cxml_ct(PARAMS)))
    if variants:
        for tag, params in VARIANTS.items():
            out += [
                Method(f"cxml {name} [{tag}]", "cxml", cxml_learner(name, params)) for name in ("s", "t", "x", "dr")
            ]
    out.append(Method("response model", "baseline", response_model, effect_scale=company))
    out.append(Method("random", "baseline", random_scores, effect_scale=False))
    if company:
        out.append(Method("constant (training ATE)", "baseline", constant_effect))
    if peers.get("sklift") is None:
        kinds = ("solo", "two", "two-ddr", "ct")
        out += [Method(f"sklift {kind}", "sklift", sklift_model(kind)) for kind in kinds]
    if peers.get("causalml") is None:
        out += [Method(f"causalml {kind}", "causalml", causalml_meta(kind)) for kind in ("s", "t", "x", "dr")]
        if urf:
            out.append(Method("causalml urf", "causalml", causalml_urf))
    return out


# --------------------------------------------------------------------------------------------------- tables


def mean_sd(values: list[float], digits: int) -> str:
    arr = np.asarray(values, dtype=float)
    if arr.size == 1:
        return f"{arr[0]:.{digits}f}"
    return f"{np.nanmean(arr):.{digits}f} ± {np.nanstd(arr, ddof=1):.{digits}f}"


class Report:
    """Aligned text tables on stdout, the same tables as Markdown when asked."""

    def __init__(self) -> None:
        self.markdown: list[str] = []

    def table(self, title: str, header: list[str], rows: list[list[str]]) -> None:
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

        def line(cells: list[str]) -> str:
            first = f"{cells[0]:<{widths[0]}}"
            return "  ".join([first, *(f"{c:>{w}}" for c, w in zip(cells[1:], widths[1:], strict=True))])

        print(f"\n{title}")
        print(line(header))
        print("  ".join("-" * w for w in widths))
        for row in rows:
            print(line(row))
        self.markdown += [f"**{title}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        self.markdown += ["| " + " | ".join(row) + " |" for row in rows] + [""]

    def text(self, text: str) -> None:
        print(text)
        self.markdown += [text, ""]


# --------------------------------------------------------------------------------------------------- parts


def hillstrom_splits(frame: pd.DataFrame, task: str, seed: int) -> Split:
    spec = TASKS[task]
    rows = frame.loc[~frame["segment"].isin(spec["drop_arms"])]
    others = [c for c in OUTCOMES if c != spec["target"]]
    ds, _ = uplift_table_dataset(
        rows,
        spec["target"],
        "segment",
        "No E-Mail",
        name=f"hillstrom-{task}",
        source=str(HILLSTROM),
        drop=others,
        holdout_fraction=0.5,
        seed=seed,
    )
    return Split(ds.X_train, ds.y_train, ds.X_holdout, ds.y_holdout, seed)


def run_hillstrom(
    task: str, frame: pd.DataFrame, seeds: int, registry: list[Method], report: Report, first_seed: int = 0
) -> dict[str, dict[str, list[float]]]:
    results: dict[str, dict[str, list[float]]] = {m.name: {k: [] for k in (*METRICS, "seconds")} for m in registry}
    started = time.perf_counter()
    for seed in range(first_seed, first_seed + seeds):
        split = hillstrom_splits(frame, task, seed)
        for method in registry:
            t0 = time.perf_counter()
            try:
                score = method.run(split)
            except Exception as exc:  # a failing method is reported, not fatal
                print(f"  {task} seed {seed}: {method.name} failed: {type(exc).__name__}: {exc}")
                continue
            seconds = time.perf_counter() - t0
            metrics = SPEC.metrics(split.y_ho, score)
            for key in METRICS:
                results[method.name][key].append(metrics[key])
            results[method.name]["seconds"].append(seconds)
        print(f"  {task} seed {seed} done ({time.perf_counter() - started:.0f} s)", flush=True)
    n_tr, n_ho = len(split.X_tr), len(split.X_ho)
    arms = ", ".join(split.arms)
    title = (
        f"Hillstrom {task}: target {TASKS[task]['target']}, arms {arms} vs No E-Mail; {n_tr:,} train / "
        f"{n_ho:,} holdout rows; mean ± sd over {seeds} seeds ({first_seed}–{first_seed + seeds - 1})"
    )
    rows = []
    for method in registry:
        r = results[method.name]
        if not r["qini_norm"]:
            rows.append([method.name, method.group, "failed", "", "", ""])
            continue
        rows.append(
            [
                method.name,
                method.group,
                mean_sd(r["qini_norm"], 4),
                mean_sd(r["qini"], 5),
                mean_sd(r["uplift_at_30"], 4),
                f"{np.mean(r['seconds']):.1f}",
            ]
        )
    report.table(title, ["method", "group", "qini_norm", "qini", "uplift@30", "s/fit"], rows)
    report.text(f"Part {task}: {time.perf_counter() - started:.0f} s.")
    return results


def company_split(customers: int, campaign: str) -> tuple[Split, pd.DataFrame]:
    from cxml.config import UpliftConfig
    from cxml.data.synthetic import generate_company
    from cxml.datasets.uplift import uplift_dataset

    company = generate_company(n_customers=customers, seed=0)
    ds = uplift_dataset(company.tables, UpliftConfig(campaign=campaign), source="synthetic", seed=0)
    split = Split(ds.X_train, ds.y_train, ds.X_holdout, ds.y_holdout, 0)
    effects = company.truth["effects"]
    effects = effects.loc[effects["campaign_id"] == campaign]
    truth = effects.pivot(index="customer_id", columns="arm", values="true_effect")
    truth.index = truth.index.astype(str)
    truth = truth.reindex(index=split.X_ho.index, columns=split.arms)
    if truth.isna().any().any():
        raise RuntimeError(f"{int(truth.isna().sum().sum())} holdout customer × arm pairs have no true effect")
    return split, truth


@dataclass
class CompanyResult:
    summary: dict[str, dict[str, float]]  # method -> pehe, r, qini, qini_norm
    y_holdout: pd.DataFrame
    scores: dict[str, np.ndarray]


def paired_bootstrap(y: pd.DataFrame, a: np.ndarray, b: np.ndarray, n_boot: int = 200) -> np.ndarray:
    """qini_norm(a) - qini_norm(b) on resamples of the holdout, customers drawn within each arm (sizes fixed)."""
    rng = np.random.default_rng(0)
    received = y["arm"].to_numpy().astype(str)
    groups = [np.flatnonzero(received == g) for g in np.unique(received)]
    diffs = []
    for _ in range(n_boot):
        idx = np.sort(np.concatenate([rng.choice(g, g.size) for g in groups]))
        sub = y.iloc[idx]
        diffs.append(SPEC.metrics(sub, a[idx])["qini_norm"] - SPEC.metrics(sub, b[idx])["qini_norm"])
    return np.asarray(diffs, dtype=float)


def run_company(customers: int, campaign: str, registry: list[Method], report: Report) -> CompanyResult:
    started = time.perf_counter()
    split, truth = company_split(customers, campaign)
    print(f"  company data: {time.perf_counter() - started:.0f} s", flush=True)
    true = truth.to_numpy(float)
    scores: dict[str, np.ndarray] = {}
    seconds: dict[str, float] = {}
    for method in registry:
        t0 = time.perf_counter()
        try:
            scores[method.name] = method.run(split)
        except Exception as exc:  # a failing method is reported, not fatal
            print(f"  company: {method.name} failed: {type(exc).__name__}: {exc}")
            continue
        seconds[method.name] = time.perf_counter() - t0
    scores["true effect (ceiling)"] = true
    groups = {m.name: m.group for m in registry} | {"true effect (ceiling)": "oracle"}
    effect_scale = {m.name: m.effect_scale for m in registry} | {"true effect (ceiling)": True}
    summary: dict[str, dict[str, float]] = {}
    pehe_rows, r_rows, qini_rows = [], [], []
    for name, score in scores.items():
        metrics = SPEC.metrics(split.y_ho, score)
        pehe = np.sqrt(np.mean((score - true) ** 2, axis=0))
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = [
                float(np.corrcoef(score[:, i], true[:, i])[0, 1]) if np.ptp(score[:, i]) > 0 else float("nan")
                for i in range(len(split.arms))
            ]
        qinis = [metrics[f"qini:{arm}"] for arm in split.arms]
        summary[name] = {
            "pehe": float(np.mean(pehe)) if effect_scale[name] else float("nan"),
            "r": float(np.nanmean(corr)) if not np.isnan(corr).all() else float("nan"),
            "qini": metrics["qini"],
            "qini_norm": metrics["qini_norm"],
        }
        sec = f"{seconds[name]:.1f}" if name in seconds else ""
        if effect_scale[name]:
            pehe_rows.append([name, groups[name], *(f"{v:.4f}" for v in pehe), f"{np.mean(pehe):.4f}", sec])
        r_rows.append([name, groups[name], *(f"{v:.3f}" for v in corr), f"{summary[name]['r']:.3f}"])
        qini_rows.append(
            [name, groups[name], *(f"{v:.5f}" for v in qinis), f"{metrics['qini']:.5f}", f"{metrics['qini_norm']:.4f}"]
        )
    arms = split.arms
    n = {a: int((split.y_ho["arm"] == a).sum()) for a in [CONTROL, *arms]}
    report.text(
        f"Simulated company ({customers:,} customers, seed 0), campaign {campaign}: {len(split.X_tr):,} train / "
        f"{len(split.X_ho):,} holdout exposures (holdout arms {n}); true mean effect on the holdout "
        + ", ".join(f"{a} {truth[a].mean():.4f}" for a in arms)
        + "."
    )
    report.table(
        "PEHE per arm (lower is better; all holdout customers)", ["method", "group", *arms, "mean", "s/fit"], pehe_rows
    )
    report.table("Pearson r with the true effect, per arm", ["method", "group", *arms, "mean"], r_rows)
    report.table(
        "Qini per arm (observed outcomes, that arm's rows vs control); mean over arms, qini_norm",
        ["method", "group", *arms, "qini", "qini_norm"],
        qini_rows,
    )
    report.text(f"Part company: {time.perf_counter() - started:.0f} s.")
    return CompanyResult(summary, split.y_ho, scores)


def run_simulated(
    shapes: list[str], seeds: int, customers: int, registry: list[Method], report: Report, first_seed: int = 0
) -> dict[str, dict[str, dict[str, list[float]]]]:
    """The heterogeneous two-arm campaigns of ``cxml.data.synthetic.uplift_experiment``: per shape and seed, the
    command's 30 % stratified holdout; Qini on the observed outcomes and PEHE against the true effects."""
    from cxml.data.synthetic.uplift_experiment import CONTROL_VALUE, TARGET, TREATMENT, simulate_uplift_experiment

    started = time.perf_counter()
    out: dict[str, dict[str, dict[str, list[float]]]] = {}
    for shape in shapes:
        results: dict[str, dict[str, list[float]]] = {m.name: {"qini": [], "pehe": []} for m in registry}
        for seed in range(first_seed, first_seed + seeds):
            table, truth = simulate_uplift_experiment(customers, shape=shape, seed=seed)
            ds, _ = uplift_table_dataset(
                table, TARGET, TREATMENT, CONTROL_VALUE, name=f"sim-{shape}", source="simulated", seed=seed
            )
            split = Split(ds.X_train, ds.y_train, ds.X_holdout, ds.y_holdout, seed)
            true = truth.reindex(split.X_ho.index).to_numpy(float)
            for method in registry:
                try:
                    score = method.run(split)
                except Exception as exc:  # a failing method is reported, not fatal
                    print(f"  {shape} seed {seed}: {method.name} failed: {type(exc).__name__}: {exc}")
                    continue
                results[method.name]["qini"].append(SPEC.metrics(split.y_ho, score)["qini"])
                pehe = float(np.sqrt(np.mean((score[:, 0] - true) ** 2))) if method.effect_scale else np.nan
                results[method.name]["pehe"].append(pehe)
            oracle = results.setdefault("true effect (ceiling)", {"qini": [], "pehe": []})
            oracle["qini"].append(SPEC.metrics(split.y_ho, true.reshape(-1, 1))["qini"])
            oracle["pehe"].append(0.0)
            print(f"  simulated {shape} seed {seed} done ({time.perf_counter() - started:.0f} s)", flush=True)
        out[shape] = results
        rows = [
            [name, mean_sd(r["qini"], 5), mean_sd(r["pehe"], 4) if np.isfinite(r["pehe"]).all() else "–"]
            for name, r in results.items()
            if r["qini"]
        ]
        report.table(
            f"Simulated heterogeneous campaign, shape {shape}: {customers:,} customers, offer vs control, 30 % "
            f"holdout; mean ± sd over {seeds} seeds ({first_seed}–{first_seed + seeds - 1})",
            ["method", "qini", "PEHE"],
            rows,
        )
    report.text(f"Part simulated: {time.perf_counter() - started:.0f} s.")
    return out


def best(names: list[str], value: Callable[[str], float]) -> str | None:
    scored = [(value(n), n) for n in names if np.isfinite(value(n))]
    return max(scored)[1] if scored else None


def summarise(
    hill: dict[str, dict[str, dict[str, list[float]]]],
    company: CompanyResult | None,
    groups: dict[str, str],
    report: Report,
) -> None:
    rows = []
    for task, results in hill.items():
        done = [n for n, r in results.items() if r["qini_norm"]]
        mean = {n: float(np.mean(results[n]["qini_norm"])) for n in done}
        cx = best([n for n in done if groups[n] == "cxml"], mean.__getitem__)
        peer = best([n for n in done if groups[n] in ("sklift", "causalml")], mean.__getitem__)
        resp = "response model" if "response model" in mean else None
        if cx is None:
            continue
        if peer is None:
            rows.append([task, f"{cx} {mean[cx]:.4f}", "(no peer ran)", "", "", ""])
            continue
        a, b = np.asarray(results[cx]["qini_norm"]), np.asarray(results[peer]["qini_norm"])
        diff = a - b if a.size == b.size else np.asarray([a.mean() - b.mean()])
        wins = f"{int((diff > 0).sum())}/{diff.size}" if a.size == b.size else ""
        rows.append(
            [
                task,
                f"{cx} {mean[cx]:.4f}",
                f"{peer} {mean[peer]:.4f}",
                mean_sd(list(diff), 4),
                wins,
                f"{mean[resp]:.4f}" if resp else "",
            ]
        )
    if company:
        names = [n for n in company.summary if groups.get(n) in GROUPS]
        qn = {n: company.summary[n]["qini_norm"] for n in names}
        cx = best([n for n in names if groups[n] == "cxml"], qn.__getitem__)
        peer = best([n for n in names if groups[n] in ("sklift", "causalml")], qn.__getitem__)
        if cx is not None:
            cx_text = f"{cx} {qn[cx]:.4f} (PEHE {company.summary[cx]['pehe']:.4f})"
            if peer is None:
                rows.append(["company", cx_text, "(no peer ran)", "", "", f"{qn.get('response model', np.nan):.4f}"])
            else:
                diffs = paired_bootstrap(company.y_holdout, company.scores[cx], company.scores[peer])
                lo, hi = np.nanquantile(diffs, [0.025, 0.975])
                rows.append(
                    [
                        "company",
                        cx_text,
                        f"{peer} {qn[peer]:.4f} (PEHE {company.summary[peer]['pehe']:.4f})",
                        f"{qn[cx] - qn[peer]:+.4f} [{lo:+.4f}, {hi:+.4f}]",
                        f"{np.mean(diffs > 0):.0%} of {diffs.size} boot",
                        f"{qn.get('response model', np.nan):.4f}",
                    ]
                )
    report.table(
        "Summary: best cxml learner vs best peer by mean qini_norm (Hillstrom: mean ± sd of the difference paired "
        "over seeds; company: one split, 95 % paired bootstrap interval of the difference)",
        ["data set", "best cxml", "best peer", "Δ qini_norm", "cxml ahead", "response model"],
        rows,
    )


# --------------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="See the module docstring.")
    parser.add_argument("--seeds", type=int, default=5, help="Hillstrom splits: seeds F..F+N-1, F the first seed [5]")
    parser.add_argument(
        "--first-seed", type=int, default=0, help="first Hillstrom seed: fresh splits to check a choice on [0]"
    )
    parser.add_argument("--customers", type=int, default=20_000, help="simulated company size [20000]")
    parser.add_argument("--campaign", default="CMP05", help="simulated campaign [CMP05]")
    parser.add_argument("--tasks", nargs="*", choices=list(TASKS), default=list(TASKS), help="Hillstrom tasks")
    parser.add_argument(
        "--urf-tasks",
        nargs="*",
        default=["womens-visit", "3arm-visit", "company"],
        help="where to run causalml's uplift forest (about 10-15 s a fit) [all but womens-conversion]",
    )
    parser.add_argument(
        "--variants",
        choices=("none", "company", "all"),
        default="company",
        help="where cxml also runs with the settings in VARIANTS [company]",
    )
    parser.add_argument("--no-peers", action="store_true", help="skip scikit-uplift and causalml")
    parser.add_argument(
        "--command-tasks",
        nargs="*",
        default=["womens-visit", "simulated"],
        help="where to add the row of the documented command (tuned as cxml train does) [womens-visit simulated]",
    )
    parser.add_argument("--command-trials", type=int, help="the command's tuning trials [the pipeline's]")
    parser.add_argument(
        "--shapes", nargs="*", default=["browse-lapse", "baseline-heavy", "sleeping-dogs"], help="simulated shapes"
    )
    parser.add_argument("--sim-seeds", type=int, default=2, help="seeds per simulated shape [2]")
    parser.add_argument(
        "--first-sim-seed", type=int, default=0, help="first simulation seed: fresh campaigns to check a choice on [0]"
    )
    parser.add_argument("--sim-customers", type=int, default=40_000, help="customers per simulation [40000]")
    parser.add_argument("--no-company", action="store_true", help="skip the simulated company")
    parser.add_argument("--markdown", type=Path, help="also write the tables as Markdown to this file")
    parser.add_argument(
        "--results", type=Path, help="replace the latest-run subsection of the uplift section of this file (RESULTS.md)"
    )
    args = parser.parse_args(argv)
    logging.getLogger("causalml").setLevel(logging.WARNING)
    report = Report()
    started = time.perf_counter()

    t0 = time.perf_counter()
    peers: dict[str, str | None] = {m: "--no-peers" for m in PEERS} if args.no_peers else peer_status()
    lines = []
    for module, why in peers.items():
        state = f"{PEERS[module]} {peer_version(module)}" if why is None else f"{PEERS[module]} skipped ({why})"
        lines.append(state)
    report.text("Peers: " + "; ".join(lines) + f" (imports {time.perf_counter() - t0:.0f} s).")

    groups: dict[str, str] = {}
    hill: dict[str, dict[str, dict[str, list[float]]]] = {}
    with threadpool_limits(limits=1):
        if args.tasks:
            frame = pd.read_csv(HILLSTROM)
            for task in args.tasks:
                registry = methods(
                    variants=args.variants == "all",
                    peers=peers,
                    urf=task in args.urf_tasks,
                    ct=True,
                    command=task in args.command_tasks,
                    command_trials=args.command_trials,
                )
                groups |= {m.name: m.group for m in registry}
                hill[task] = run_hillstrom(task, frame, args.seeds, registry, report, args.first_seed)
        company = None
        if not args.no_company:
            registry = methods(
                variants=args.variants != "none", peers=peers, urf="company" in args.urf_tasks, ct=True, company=True
            )
            groups |= {m.name: m.group for m in registry}
            company = run_company(args.customers, args.campaign, registry, report)
        if args.shapes:
            registry = [
                m
                for m in methods(
                    variants=False,
                    peers=peers,
                    urf="simulated" in args.urf_tasks,
                    ct=False,
                    company=True,
                    command="simulated" in args.command_tasks,
                    command_trials=args.command_trials,
                )
                if m.group != "sklift" and m.name not in ("cxml s", "cxml t", "causalml s", "causalml t")
            ]
            run_simulated(args.shapes, args.sim_seeds, args.sim_customers, registry, report, args.first_sim_seed)
        if COMMAND_CHOICES:
            report.text("The command's choices, in run order: " + "; ".join(map(str, COMMAND_CHOICES)) + ".")
    summarise(hill, company, groups, report)
    report.text(f"Total: {time.perf_counter() - started:.0f} s.")
    if args.markdown:
        args.markdown.write_text("\n".join(report.markdown))
    if args.results:
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
        intro = (
            f"`bench/uplift_peers.py {' '.join(argv if argv is not None else sys.argv[1:])}`, finished {when}, "
            f"load average {load} (s/fit depends on it; the quality figures are deterministic)."
        )
        replace_generated(args.results, SECTION, "bench/uplift_peers.py", "\n".join([intro, "", *report.markdown]))
    return 0


if __name__ == "__main__":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        raise SystemExit(main())
