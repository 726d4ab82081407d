"""A throwaway workspace with a simulated company: what the notebooks (and quick experiments) run in.

Everything goes to a fresh temporary folder: the MLflow store, the Optuna studies, the snapshots and, unless a
company is given, the generated tables. Nothing is written into the repository or the user's ``.cxml``.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cxml.config import Workspace
from cxml.data.sources import read_valid_tables
from cxml.data.synthetic import write_company
from cxml.training import HOLDOUT_ARTIFACT

DATA_ENV = "CXML_NOTEBOOK_DATA"
"""Where the notebooks' parameters cell looks for a company already written by ``cxml generate`` (the notebook
tests generate one and share it)."""


@dataclass(frozen=True)
class Sandbox:
    """A workspace in a temporary folder and the company it reads."""

    ws: Workspace
    data: Path
    generated: bool
    """True when the company was generated here (and goes away with ``close``)."""

    def tables(self) -> dict[str, pd.DataFrame]:
        """The company's contract tables, validated."""

        return read_valid_tables(self.data)

    def close(self) -> None:
        """Remove the temporary folder (a company given by path is left alone)."""
        shutil.rmtree(self.ws.root, ignore_errors=True)


def open_sandbox(customers: int = 2_000, seed: int = 0, data: Path | str | None = None) -> Sandbox:
    """A fresh workspace; the company is the folder ``data``, or else generated (seeded) inside the workspace."""
    root = Path(tempfile.mkdtemp(prefix="cxml-sandbox-"))
    if data:
        path = Path(data)
        if not path.is_dir():
            shutil.rmtree(root, ignore_errors=True)
            raise ValueError(f"no company at {path}; run `cxml generate --out {path}` or leave data unset")
        return Sandbox(Workspace(root), path.resolve(), generated=False)

    path = root / "company"
    write_company(path, customers, seed=seed)
    return Sandbox(Workspace(root), path, generated=True)


def quiet() -> None:
    """The CLI's logging set-up for a notebook: cxml at INFO, the libraries' notices and warnings hushed."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", force=True)
    for noisy in ("mlflow", "alembic", "urllib3", "httpx", "optuna"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def read_holdout(run_id: str) -> pd.DataFrame:
    """The holdout a training run logged: features, target columns, ``__score__*`` and ``__baseline_score__*``."""
    import mlflow

    return pd.read_parquet(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=HOLDOUT_ARTIFACT))
