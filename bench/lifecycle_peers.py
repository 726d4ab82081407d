"""cxml's BTYD and survival models against lifetimes and lifelines on the public sets, side by side.

What it measures

1. CDNOW 1/10 sample (``../shared/data/cdnow/CDNOW_sample.txt``): calibration to 1997-09-30, holdout to
   1998-06-30, time in weeks, purchases grouped by day. BG/NBD and Pareto/NBD fitted by cxml
   (``cxml.models.btyd``) and by lifetimes 0.11 (``BetaGeoFitter``, ``ParetoNBDFitter``, defaults), each on its own
   RFM summary (``rfm_summary`` / ``calibration_and_holdout_data``). Reported: parameters, log-likelihood, the
   summed conditional expected holdout purchases against the actual count, and the fit wall time.
2. Telco (``../shared/data/telco_churn``; duration ``tenure``, event ``Churn`` = Yes, ``customerID`` and
   ``TotalCharges`` dropped): the same 5 stratified folds (seed 0) for every model. cxml ``SurvivalBooster``
   (Cox and AFT, defaults) against lifelines ``CoxPHFitter(penalizer=0.01)`` on one-hot features. Reported: mean
   out-of-fold Harrell's C, once with cxml's ``concordance_index`` and once with lifelines' (a cross-check of
   the two implementations on identical scores), and the wall time of the 5 fits.

Both sides run with one BLAS/OpenMP thread and a fixed seed (lifetimes' Pareto/NBD starts from a random point).

lifetimes needs setuptools < 81 and lifelines needs pandas < 3, so the peers run in their own virtualenv, in a
child process of this script (``--peer``), and exchange data through a temporary directory. ``make bench-peers``
builds that virtualenv (.venv-peers-lifecycle), runs this script with ``--peer-python`` pointing at it and
``--results bench/RESULTS.md``, which rewrites the generated block of this script's section (the convention of
``bench/results_section.py``). By hand:

    .venv/bin/python -m uv venv /tmp/peers-lifecycle --python 3.11
    .venv/bin/python -m uv pip install --python /tmp/peers-lifecycle/bin/python \\
        "pandas<3" "setuptools<81" lifetimes lifelines "numpy<2.3" scipy
    .venv/bin/python bench/lifecycle_peers.py --peer-python /tmp/peers-lifecycle/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from results_section import markdown_table, replace_generated

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
CDNOW = DATA / "cdnow" / "CDNOW_sample.txt"
TELCO = DATA / "telco_churn" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"
CAL_END, OBS_END, HOLDOUT_WEEKS = "1997-09-30", "1998-06-30", 39.0
SECTION = "## Lifecycle against its peers (`bench/lifecycle_peers.py`)"


def read_cdnow() -> pd.DataFrame:
    return pd.read_csv(CDNOW, sep=r"\s+", header=None, names=["master_id", "id", "date", "cds", "value"], dtype=str)


def read_telco() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    table = pd.read_csv(TELCO)
    X = table.drop(columns=["customerID", "TotalCharges", "tenure", "Churn"])
    return X, table["tenure"].to_numpy(dtype=float), (table["Churn"] == "Yes").to_numpy()


def ours(folds: np.ndarray) -> dict[str, Any]:
    from cxml.features.rfm import rfm_summary
    from cxml.models.btyd import BetaGeoNBD, ParetoNBD
    from cxml.models.survival_boost import SurvivalBooster

    rfm = rfm_summary(
        read_cdnow(),
        customer="id",
        time="date",
        calibration_end=CAL_END,
        observation_end=OBS_END,
        freq_multiplier=7,
        time_format="%Y%m%d",
    )
    out: dict[str, Any] = {"actual_holdout": float(rfm["frequency_holdout"].sum()), "btyd": {}, "survival": {}}
    for name, model_class in (("BG/NBD", BetaGeoNBD), ("Pareto/NBD", ParetoNBD)):
        start = time.perf_counter()
        model = model_class().fit(rfm)
        seconds = time.perf_counter() - start
        predicted = model.expected_purchases(HOLDOUT_WEEKS, rfm["frequency"], rfm["recency"], rfm["T"]).sum()
        out["btyd"][name] = {
            "params": model.params_.round(4).to_dict(),
            "log_lik": model.log_likelihood_,
            "holdout": float(predicted),
            "seconds": seconds,
        }
    X, d, e = read_telco()
    runs: dict[str, dict[str, Any]] = {"cxml cox": {"objective": "cox"}, "cxml aft": {"objective": "aft"}}
    for name, params in runs.items():
        risk, start = np.empty(len(X)), time.perf_counter()
        for k in range(folds.max() + 1):
            train, test = folds != k, folds == k
            model = SurvivalBooster(**params).fit(X[train], d[train], e[train])
            risk[test] = model.predict_risk(X[test])
        out["survival"][name] = {"risk": risk, "seconds": time.perf_counter() - start}
    return out


def mean_c(d: np.ndarray, e: np.ndarray, folds: np.ndarray, risk: np.ndarray) -> float:
    """Mean over folds of cxml's Harrell's C on the fold's out-of-fold risk."""
    from cxml.evaluation.survival_metrics import concordance_index

    return float(np.mean([concordance_index(d[folds == k], e[folds == k], risk[folds == k]) for k in set(folds)]))


def log_likelihood_at(name: str, params: dict[str, float]) -> float:
    """cxml's log-likelihood of the CDNOW RFM at another library's parameters (libraries scale theirs differently)."""
    from cxml.features.rfm import rfm_summary
    from cxml.models.btyd import BetaGeoNBD, ParetoNBD

    rfm = rfm_summary(
        read_cdnow(), customer="id", time="date", calibration_end=CAL_END, freq_multiplier=7, time_format="%Y%m%d"
    )
    model = BetaGeoNBD() if name == "BG/NBD" else ParetoNBD()
    model.params_ = pd.Series(params)[list(model._names)]
    return float(model.score(rfm) * len(rfm))


def peer(workdir: Path) -> None:
    """Runs under the peers' virtualenv: lifetimes and lifelines only (no cxml, no scikit-learn)."""
    from lifelines import CoxPHFitter
    from lifelines.utils import concordance_index
    from lifetimes import BetaGeoFitter, ParetoNBDFitter
    from lifetimes.utils import calibration_and_holdout_data

    tx = read_cdnow()
    tx["date"] = pd.to_datetime(tx["date"], format="%Y%m%d")
    data = calibration_and_holdout_data(
        tx, "id", "date", calibration_period_end=CAL_END, observation_period_end=OBS_END, freq="D", freq_multiplier=7
    )
    result: dict[str, Any] = {"btyd": {}, "actual_holdout": float(data["frequency_holdout"].sum())}
    result["versions"] = {name: version(name) for name in ("lifetimes", "lifelines", "pandas")}
    args = (data["frequency_cal"], data["recency_cal"], data["T_cal"])
    np.random.seed(0)  # ParetoNBDFitter starts Nelder-Mead from np.random.normal: unseeded, its 4th digit wanders
    for name, fitter in (("BG/NBD", BetaGeoFitter()), ("Pareto/NBD", ParetoNBDFitter())):
        start = time.perf_counter()
        fitter.fit(*args)
        seconds = time.perf_counter() - start
        predicted = fitter.conditional_expected_number_of_purchases_up_to_time(HOLDOUT_WEEKS, *args).sum()
        result["btyd"][name] = {
            "params": {k: float(v) for k, v in fitter.params_.items()},
            "holdout": float(predicted),
            "seconds": seconds,
        }
    X, d, e = read_telco()
    folds = np.load(workdir / "folds.npy")
    design = pd.get_dummies(X, drop_first=True, dtype=float)
    risk, c_own, start = np.empty(len(X)), [], time.perf_counter()
    for k in range(folds.max() + 1):
        train, test = folds != k, folds == k
        frame = design[train].assign(duration=d[train], event=e[train].astype(int))
        cph = CoxPHFitter(penalizer=0.01).fit(frame, duration_col="duration", event_col="event")
        risk[test] = cph.predict_log_partial_hazard(design[test]).to_numpy()
        c_own.append(concordance_index(d[test], -risk[test], e[test]))
    seconds = time.perf_counter() - start
    np.save(workdir / "lifelines_risk.npy", risk)
    c_ours: dict[str, float] = {}
    for name in ("cxml cox", "cxml aft"):
        r = np.load(workdir / f"{name.replace(' ', '_')}.npy")
        c_ours[name] = float(
            np.mean([concordance_index(d[folds == k], -r[folds == k], e[folds == k]) for k in range(folds.max() + 1)])
        )
    result["lifelines"] = {"c_lifelines": float(np.mean(c_own)), "seconds": seconds, "c_of_cxml": c_ours}
    (workdir / "peer.json").write_text(json.dumps(result))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peer-python", default="/tmp/peers-lifecycle/bin/python")
    parser.add_argument("--results", type=Path, help="rewrite this script's generated block in this Markdown file")
    parser.add_argument("--peer", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.peer:
        peer(args.peer)
        return 0
    from sklearn.model_selection import StratifiedKFold
    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    threadpool_limits(1)  # one BLAS/OpenMP thread on both sides, as every peers script: comparable fit seconds
    X, d, e = read_telco()
    folds = np.empty(len(X), dtype=int)
    for k, (_, test) in enumerate(StratifiedKFold(5, shuffle=True, random_state=0).split(X, e)):
        folds[test] = k
    mine = ours(folds)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        np.save(work / "folds.npy", folds)
        for name in ("cxml cox", "cxml aft"):
            np.save(work / f"{name.replace(' ', '_')}.npy", mine["survival"][name]["risk"])
        one_thread = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
        subprocess.run([args.peer_python, __file__, "--peer", str(work)], check=True, env={**os.environ, **one_thread})
        theirs = json.loads((work / "peer.json").read_text())
        lifelines_risk = np.load(work / "lifelines_risk.npy")
    for name, res in theirs["btyd"].items():
        res["log_lik"] = log_likelihood_at(name, res["params"])
        res["params"] = {k: round(v, 4) for k, v in res["params"].items()}

    tables = "\n\n".join([btyd_table(mine, theirs), survival_table(mine, theirs, d, e, folds, lifelines_risk)])
    print(f"\n{tables}")
    if args.results is not None:
        command = " ".join(["python bench/lifecycle_peers.py", *(argv if argv is not None else sys.argv[1:])])
        body = "\n\n".join([intro(command, time.perf_counter() - started, theirs["versions"]), tables])
        replace_generated(args.results, SECTION, "bench/lifecycle_peers.py", body)
    return 0


def btyd_table(mine: dict[str, Any], theirs: dict[str, Any]) -> str:
    """CDNOW: both libraries' BG/NBD and Pareto/NBD, each with cxml's log-likelihood at its parameters."""
    rows = []
    for name in ("BG/NBD", "Pareto/NBD"):
        for library, res in (("cxml", mine["btyd"][name]), ("lifetimes", theirs["btyd"][name])):
            params = ", ".join(f"{k} {v}" for k, v in res["params"].items())
            gap = res["holdout"] / mine["actual_holdout"] - 1
            fit = [f"{res['log_lik']:.2f}", f"{res['holdout']:.1f}", f"{gap:+.1%}", f"{res['seconds']:.2f}"]
            rows.append([name, library, params, *fit])
    header = ["model", "library", "parameters", "log-likelihood", "predicted holdout", "vs actual", "fit s"]
    note = (
        f"CDNOW 1/10 sample, calibration to {CAL_END}, holdout weeks 40–78: {mine['actual_holdout']:,.0f} actual "
        f"repeat purchases ({theirs['actual_holdout']:,.0f} on lifetimes' own summary). The log-likelihood is "
        "cxml's at each library's parameters."
    )
    return "\n\n".join([note, markdown_table(header, rows)])


def survival_table(
    mine: dict[str, Any],
    theirs: dict[str, Any],
    d: np.ndarray,
    e: np.ndarray,
    folds: np.ndarray,
    lifelines_risk: np.ndarray,
) -> str:
    """Telco tenure: out-of-fold Harrell's C by both libraries' concordance_index on the same scores."""
    rows = []
    for name in ("cxml cox", "cxml aft"):
        c = mean_c(d, e, folds, mine["survival"][name]["risk"])
        lif = theirs["lifelines"]["c_of_cxml"][name]
        rows.append([name, f"{c:.6f}", f"{lif:.6f}", f"{mine['survival'][name]['seconds']:.1f}"])
    c_lifelines = mean_c(d, e, folds, lifelines_risk)
    lifelines = theirs["lifelines"]
    own = [f"{lifelines['c_lifelines']:.6f}", f"{lifelines['seconds']:.1f}"]
    rows.append(["lifelines CoxPH (penalizer 0.01)", f"{c_lifelines:.6f}", *own])
    header = ["model", "C (cxml concordance_index)", "C (lifelines concordance_index)", "5 fits s"]
    note = "Telco tenure, 5 stratified folds (seed 0): mean out-of-fold Harrell's C."
    return "\n\n".join([note, markdown_table(header, rows)])


def intro(command: str, seconds: float, versions: dict[str, str]) -> str:
    """Where the tables below come from: the command, when, how long, how loaded, which peer versions."""
    load = os.getloadavg()
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    peers = ", ".join(f"{name} {v}" for name, v in versions.items())
    return (
        f"`{command}` on {when}, {seconds:.1f} s in all on {os.cpu_count()} CPUs (load average {load[0]:.1f} / "
        f"{load[1]:.1f} / {load[2]:.1f} at the end; the seconds are noisy, the fits deterministic). The peers "
        f"({peers}) run in a child process on their own virtualenv. Regenerated by `make bench-peers`."
    )


if __name__ == "__main__":
    sys.exit(main())
