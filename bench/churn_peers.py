"""cxml's churn model against standard peers on the public churn sets, side by side in one run.

Each dataset gets the seeded 80/20 stratified split of ``cxml train churn --table`` (``table_dataset``). On the
training part every model is scored on the SAME 5 stratified folds (seed 1, the folds the CLI reports), then
fitted on the whole training part and scored on the 20 % holdout. cxml is tuned exactly as the README's
``cxml train churn --table`` does it: the shipped pipeline settings (pipelines/churn.yaml: 25 trials, its
timeout) with the table's 5-fold tuning CV, then ``{**best_params, **spec.refit_params}`` (the 5-bag refit), so
its CV figure is the CLI's ``cv_metrics``. The peers, each in its strongest plain form:

  logreg    median imputation + standard scaling, one-hot categoricals, C chosen by inner 3-fold CV
  xgboost   XGBClassifier(n_estimators=300, max_depth=3, learning_rate=0.05), ordinal-encoded categoricals
            (the issue's "sensible default"; XGBoost's own default, depth 6, over-fits these tables)
  lightgbm  LGBMClassifier(), pandas categoricals (its native handling)
  catboost  CatBoostClassifier(), native categoricals (when importable: `make bench-peers` installs it)
  hgb       HistGradientBoostingClassifier(), categorical_features="from_dtype"

Every model gets one thread. The margins compare cxml with the best peer by mean CV, fold by fold.

PYTHONPATH=src .venv-peers/bin/python bench/churn_peers.py [--datasets telco bank] [--trials N] [--results FILE]

``--results bench/RESULTS.md`` rewrites this script's section of that file (SECTION) with the tables of the run,
through ``bench/results_section.py``; ``make bench-peers`` does that.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from results_section import replace_generated
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegressionCV
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from cxml.config import load_pipeline
from cxml.data.sources import read_flat_table
from cxml.datasets import get_family
from cxml.datasets.tables import table_dataset
from cxml.models.spec import Dataset
from cxml.tuning import cross_validate, run_study

ROOT = Path(__file__).resolve().parent.parent
DATASETS: dict[str, dict[str, Any]] = {
    "telco": {
        "path": "../shared/data/telco_churn/WA_Fn-UseC_-Telco-Customer-Churn.csv",
        "target": "Churn",
        "id_column": "customerID",
        "drop": (),
    },
    "bank": {
        "path": "../shared/data/bank_churn/Churn_Modelling.csv",
        "target": "Exited",
        "id_column": None,
        "drop": ("RowNumber", "CustomerId", "Surname"),
    },
}
SECTION = "## Churn against its peers on the public sets (`bench/churn_peers.py`)"
CV_FOLDS, CV_SEED = 5, 1  # the CLI's report: 5 folds, seed tuning.seed + 1
N_JOBS = 1


class ToCategory(BaseEstimator, TransformerMixin):
    """Text columns → pandas categoricals with the categories seen in fit (unseen values become missing)."""

    def fit(self, X: pd.DataFrame, y: Any = None) -> ToCategory:
        self.dtypes_ = {
            c: pd.CategoricalDtype(sorted(X[c].dropna().unique()))
            for c in X.columns
            if not pd.api.types.is_numeric_dtype(X[c])
        }
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        return X.astype(self.dtypes_)


def _text(X: pd.DataFrame) -> list[str]:
    return [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]


def logreg() -> Any:
    numeric = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    text = make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore"))
    pre = ColumnTransformer(
        [
            ("num", numeric, make_column_selector(dtype_include="number")),
            ("cat", text, make_column_selector(dtype_exclude="number")),
        ]
    )
    model = LogisticRegressionCV(Cs=[0.01, 0.1, 1.0, 10.0], cv=3, scoring="average_precision", max_iter=5000)
    return make_pipeline(pre, model)


def hgb() -> Any:
    return make_pipeline(ToCategory(), HistGradientBoostingClassifier(categorical_features="from_dtype"))


def xgboost() -> Any:
    from xgboost import XGBClassifier

    ordinal = ColumnTransformer(
        [
            (
                "cat",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan),
                make_column_selector(dtype_exclude="number"),
            )
        ],
        remainder="passthrough",
    )
    booster = XGBClassifier(n_estimators=300, max_depth=3, learning_rate=0.05, n_jobs=N_JOBS, random_state=0)
    return make_pipeline(ordinal, booster)


def lightgbm() -> Any:
    from lightgbm import LGBMClassifier

    return make_pipeline(ToCategory(), LGBMClassifier(n_jobs=N_JOBS, random_state=0, verbose=-1))


class CatBoostNative(BaseEstimator):
    """CatBoost with its defaults, the text columns handed over as categorical features (its own encoding)."""

    def fit(self, X: pd.DataFrame, y: Any) -> CatBoostNative:
        from catboost import CatBoostClassifier

        self.text_ = _text(X)
        self.model_ = CatBoostClassifier(
            thread_count=N_JOBS, random_seed=0, verbose=0, cat_features=self.text_, allow_writing_files=False
        )
        self.model_.fit(self._frame(X), y)
        return self

    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:
        return X.assign(**{c: X[c].astype(object).where(X[c].notna(), "NA").astype(str) for c in self.text_})

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model_.predict_proba(self._frame(X)))


def catboost() -> Any:
    return CatBoostNative()


PEERS = {"logreg": logreg, "xgboost": xgboost, "lightgbm": lightgbm, "catboost": catboost, "hgb": hgb}


def _importable(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


@dataclass
class Row:
    model: str
    fold_roc: list[float] = field(default_factory=list)
    fold_pr: list[float] = field(default_factory=list)
    holdout_roc: float = float("nan")
    holdout_pr: float = float("nan")
    seconds: float = 0.0
    note: str = ""


def _score_peer(name: str, data: Dataset) -> Row:
    row, started = Row(name), time.perf_counter()
    X, y = data.X_train, data.y_train
    for tr, va in StratifiedKFold(CV_FOLDS, shuffle=True, random_state=CV_SEED).split(X, y):
        model = clone(PEERS[name]()).fit(X.iloc[tr], y[tr])
        p = model.predict_proba(X.iloc[va])[:, 1]
        row.fold_roc.append(roc_auc_score(y[va], p))
        row.fold_pr.append(average_precision_score(y[va], p))
    p = PEERS[name]().fit(X, y).predict_proba(data.X_holdout)[:, 1]
    row.holdout_roc = roc_auc_score(data.y_holdout, p)
    row.holdout_pr = average_precision_score(data.y_holdout, p)
    row.seconds = time.perf_counter() - started
    return row


def _score_cxml(data: Dataset, trials: int | None) -> Row:
    family = get_family("churn")
    spec = family.spec
    cfg = load_pipeline("churn", None, trials, cv_folds=family.table_cv_folds).tuning  # what the CLI tunes with
    row, started = Row("cxml"), time.perf_counter()
    study = run_study(spec, data.X_train, data.y_train, cfg, storage=None, study_name=f"bench-{data.name}")
    tuned = time.perf_counter() - started
    params = {**study.best_params, **spec.refit_params}
    # cross_validate itself (what the CLI reports) with a metrics function that also keeps each fold's values
    folds: list[dict[str, float]] = []

    def recording(y_true: np.ndarray, score: np.ndarray) -> dict[str, float]:
        folds.append(spec.metrics(y_true, score))
        return folds[-1]

    X, y = data.X_train, data.y_train
    cv = cross_validate(replace(spec, metrics=recording), params, X, y, CV_FOLDS, CV_SEED)
    row.fold_roc = [f["roc_auc"] for f in folds]
    row.fold_pr = [f["pr_auc"] for f in folds]
    assert np.isclose(cv["pr_auc"], np.mean(row.fold_pr)), "per-fold values disagree with cross_validate"
    model = spec.build(params).fit(X, y)
    m = spec.metrics(data.y_holdout, spec.score(model, data.X_holdout))
    row.holdout_roc, row.holdout_pr = m["roc_auc"], m["pr_auc"]
    row.seconds = time.perf_counter() - started
    chosen = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in study.best_params.items())
    row.note = (
        f"tuning {tuned:.0f}s, {study.n_complete} complete / {study.n_pruned} pruned of {cfg.n_trials} trials "
        f"(timeout {cfg.timeout_s} s); best trial CV pr_auc {study.best_value:.4f}: {chosen}; "
        f"blend weight of the linear part in the refit {model.fitted_params()['linear_weight']:.2f}"
    )
    return row


def _ms(values: list[float]) -> str:
    return f"{np.mean(values):.4f} ± {np.std(values, ddof=1):.4f}"


def _margins(rows: list[Row]) -> list[str]:
    """cxml minus the best peer, per metric: fold means, paired fold differences, holdout."""
    cxml, peers = rows[0], rows[1:]
    lines = []
    for label, folds, holdout in (("pr_auc", "fold_pr", "holdout_pr"), ("roc_auc", "fold_roc", "holdout_roc")):
        best = max(peers, key=lambda r: np.mean(getattr(r, folds)))
        diff = np.subtract(getattr(cxml, folds), getattr(best, folds))
        wins = int((diff > 0).sum())
        best_ho = max(peers, key=lambda r: getattr(r, holdout))
        lines.append(
            f"{label}: cxml - best peer by CV ({best.model}) = {diff.mean():+.4f} ± {diff.std(ddof=1):.4f} "
            f"(paired over folds, cxml ahead on {wins}/{len(diff)} folds; per fold "
            f"{' '.join(f'{d:+.4f}' for d in diff)}); "
            f"holdout vs best peer on holdout ({best_ho.model}) = "
            f"{getattr(cxml, holdout) - getattr(best_ho, holdout):+.4f}"
        )
    return lines


HEADER = f"{'model':<9} {'CV ROC-AUC':>17} {'CV PR-AUC':>17} {'holdout ROC':>11} {'holdout PR':>10} {'seconds':>8}"


def _text_table(rows: list[Row]) -> list[str]:
    out = [HEADER, "-" * len(HEADER)]
    for r in rows:
        out.append(
            f"{r.model:<9} {_ms(r.fold_roc):>17} {_ms(r.fold_pr):>17} {r.holdout_roc:>11.4f} "
            f"{r.holdout_pr:>10.4f} {r.seconds:>8.1f}"
        )
    return out


def _markdown(title: str, data: Dataset, rows: list[Row], margins: list[str]) -> str:
    lines = [
        f"### {title}",
        "",
        f"n_train {len(data.y_train):,}, n_holdout {len(data.y_holdout):,}, "
        f"positive rate {np.mean(data.y_train):.3f}; CV = the same {CV_FOLDS} stratified folds (seed {CV_SEED}) "
        "of the training part for every model, mean ± sd over folds; holdout = fit on the training part.",
        "",
        "| model | CV ROC-AUC | ROC-AUC per fold | CV PR-AUC | holdout ROC-AUC | holdout PR-AUC | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        per_fold = " ".join(f"{v:.4f}" for v in r.fold_roc)
        lines.append(
            f"| {r.model} | {_ms(r.fold_roc)} | {per_fold} | {_ms(r.fold_pr)} | {r.holdout_roc:.4f} "
            f"| {r.holdout_pr:.4f} | {r.seconds:.1f} |"
        )
    lines += ["", f"cxml: {rows[0].note}", ""] + [f"- {m}" for m in margins] + [""]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawTextHelpFormatter,
    )
    parser.add_argument("--datasets", nargs="+", choices=sorted(DATASETS), default=["telco", "bank"])
    parser.add_argument("--trials", type=int, help="Optuna trials for cxml (default: as the CLI, pipelines/churn.yaml)")
    parser.add_argument("--peers", nargs="+", choices=list(PEERS), default=list(PEERS))
    parser.add_argument("--results", type=Path, help="replace the churn section of this Markdown file (RESULTS.md)")
    args = parser.parse_args(argv)
    command = "python bench/churn_peers.py " + " ".join(argv if argv is not None else sys.argv[1:])

    started = time.perf_counter()
    # one thread for the peers (their boosters take n_jobs=1; this caps HGB's OpenMP and BLAS); cxml's pipeline keeps
    # n_jobs -1, whose models are the same at any thread count (cxml.threads), so only the times could differ
    threadpool_limits(1)
    warnings.filterwarnings("ignore", category=FutureWarning)
    sections = []
    for key in args.datasets:
        meta = DATASETS[key]
        path = (ROOT / meta["path"]).resolve()
        data, _ = table_dataset(
            read_flat_table(path),
            meta["target"],
            name=key,
            source=str(path),
            id_column=meta["id_column"],
            drop=meta["drop"],
            seed=0,
        )
        peers = [p for p in args.peers if p != "catboost" or _importable("catboost")]
        if len(peers) < len(args.peers):
            print("catboost is not importable here: skipped (`make bench-peers` runs it)", file=sys.stderr)
        rows = [_score_cxml(data, args.trials)] + [_score_peer(name, data) for name in peers]
        margins = _margins(rows)
        title = f"{key}: {path.name} (target {meta['target']})"
        print(f"\n{title}")
        print(
            f"n_train {len(data.y_train):,}  n_holdout {len(data.y_holdout):,}  "
            f"positive rate {np.mean(data.y_train):.3f}  CV: {CV_FOLDS} folds seed {CV_SEED}, mean ± sd"
        )
        print("\n".join(_text_table(rows)))
        print(f"cxml: {rows[0].note}")
        print("\n".join(margins))
        sections.append(_markdown(title, data, rows, margins))
        sys.stdout.flush()

    if args.results is not None:
        load = os.getloadavg()
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        intro = (
            f"`{command}` on {when}, {time.perf_counter() - started:.0f} s "
            f"in all on {os.cpu_count()} CPUs (load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end; "
            "the seconds are noisy, the AUCs are seeded and deterministic). cxml is the README's "
            "`cxml train churn --table` (pipelines/churn.yaml, 5-fold tuning CV, 5-bag refit); its CV ROC-AUC is the "
            "command's `cv_metrics`. Regenerated by `make bench-peers`."
        )
        replace_generated(args.results, SECTION, "bench/churn_peers.py", "\n".join([intro, "", "\n".join(sections)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
