"""Pipeline configuration (validated YAML) and the workspace where runs write their outputs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

Algorithm = Literal["xgboost", "lightgbm"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LabelConfig(_Strict):
    horizon_days: int = Field(90, gt=0, description="label window after as_of")
    active_window_days: int = Field(180, gt=0, description="customers with a purchase in this window are scored")


class UpliftConfig(_Strict):
    campaign: str | None = Field(None, description="campaign to model [default: the latest whose window fits]")
    outcome: Literal["purchase", "visit", "spend"] = Field("purchase", description="response after the send")
    window_days: int = Field(14, gt=0, description="response window after each customer's send")
    holdout_fraction: float = Field(0.3, gt=0, lt=1, description="exposures held out (stratified by arm)")
    margin_per_response: float = Field(25.0, ge=0, description="value of one incremental response, for profit")


class TuningConfig(_Strict):
    n_trials: int = Field(30, ge=1)
    timeout_s: float | None = Field(None, gt=0, description="stop starting new trials after this many seconds")
    cv_folds: int = Field(3, ge=2)
    algorithms: tuple[Algorithm, ...] = ("xgboost", "lightgbm")
    seed: int = 0
    n_jobs: int = Field(1, ge=1, description="threads per booster (1 is fastest below ~100k rows, DESIGN §10)")


class GateConfig(_Strict):
    primary_metric: str = "pr_auc"
    min_gain_vs_baseline: float = Field(0.01, description="absolute gain on the primary metric required")
    min_gain_vs_champion: float = Field(0.0, description="absolute gain over the current champion required")
    min_value: float | None = Field(
        None, description="the primary metric must also beat this value (uplift: Qini 0 = random targeting)"
    )
    also_beat_baseline: tuple[str, ...] = Field(
        (),
        description="further metrics (the family's direction) the candidate must beat the baseline on, with no "
        "margin; one missing on either side is skipped (price: elasticity_mae where a simulation knows the truth)",
    )


class PipelineConfig(_Strict):
    family: str
    as_of: str | None = None
    label: LabelConfig = LabelConfig()
    uplift: UpliftConfig = UpliftConfig()
    tuning: TuningConfig = TuningConfig()
    gate: GateConfig = GateConfig()
    options: dict[str, Any] = Field(
        default_factory=dict, description="family-specific settings, validated by the family module"
    )

    @classmethod
    def from_yaml(cls, path: Path) -> PipelineConfig:
        with open(path) as fh:
            return cls.model_validate(yaml.safe_load(fh) or {})


@dataclass(frozen=True)
class TrainRequest:
    """What ``cxml train`` was asked: the family, contract data or a file the user brings, and its columns."""

    family: str
    data: Path | None = None
    as_of: str | None = None
    table: Path | None = None
    """A flat table (one row per customer, or a demand panel for price)."""
    transactions: Path | None = None
    """A transaction log (one row per purchase line), for cross-sell and lifetime value."""
    target: str | None = None
    treatment: str | None = None
    control: str | None = None
    id_column: str | None = None
    drop: tuple[str, ...] = ()
    duration: str | None = None
    event: str | None = None
    customer: str | None = None
    item: str | None = None
    time: str | None = None
    value: str | None = None
    calibration_end: str | None = None
    quantity: str | None = None
    invoice: str | None = None
    log_quantity: str | None = None
    price: str | None = None
    group: tuple[str, ...] = ()
    controls: tuple[str, ...] = ()
    pipeline: Path | None = None
    trials: int | None = None
    resume: bool = False

    @property
    def user_file(self) -> Path | None:
        """The file the user brought (table or transactions), or None for the contract tables."""
        return self.table or self.transactions


def default_pipeline(family: str) -> Path:
    """The YAML shipped in ``pipelines/`` for a family, looked up from the working directory."""
    return Path("pipelines") / f"{family}.yaml"


class Workspace:
    """Where cxml writes: the MLflow store, Optuna studies, the BentoML store, data and reports.

    Defaults to ``./.cxml`` (or ``$CXML_HOME``); nothing is created until a command asks for a folder.
    """

    def __init__(self, root: Path | str | None = None):
        self.root = Path(root or os.environ.get("CXML_HOME", ".cxml")).resolve()

    def _dir(self, *parts: str) -> Path:
        path = self.root.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self._dir() / 'mlflow.db'}"

    @property
    def artifacts(self) -> Path:
        return self._dir("mlartifacts")

    @property
    def studies(self) -> Path:
        return self._dir("optuna")

    @property
    def bentoml_home(self) -> Path:
        return self._dir("bentoml")

    @property
    def snapshots(self) -> Path:
        return self._dir("snapshots")

    @property
    def reports(self) -> Path:
        return self._dir("reports")

    @property
    def data(self) -> Path:
        return self.root / "data" / "company"
