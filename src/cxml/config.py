"""Pipeline configuration (validated YAML) and the workspace where runs write their outputs.

Settings never depend on the working directory: each family's defaults ship inside the package
(``cxml/pipelines/<name>.yaml``); a project's ``pipelines/<name>.yaml`` (in the current folder, or the folder in
``$CXML_PIPELINES``) overrides them key by key, and ``--pipeline FILE`` overrides both. A file that was named but
is missing, bad YAML or an unknown key fails at once, naming the file and the key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cxml.threads import AUTO, check_n_jobs

Algorithm = Literal["xgboost", "lightgbm", "catboost"]
"""The boosting libraries a search may choose from (cxml.models.boosting); catboost is a churn candidate."""
BUILTIN_FAMILIES = ("churn", "uplift", "survival", "clv", "cross_sell", "price")
"""The model families shipped with cxml (``cxml.datasets.<family>``), in the order the demo trains them."""


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
    n_jobs: int = Field(
        AUTO,
        description="threads: -1 puts LightGBM and XGBoost on every core ($CXML_THREADS caps it) and keeps one "
        "thread where the model would change with more (CatBoost, BLAS); a positive count is used everywhere",
    )

    @field_validator("n_jobs")
    @classmethod
    def _threads(cls, value: int) -> int:
        return check_n_jobs(value)


class GateConfig(_Strict):
    primary_metric: str = "pr_auc"
    min_gain_vs_baseline: float = Field(0.01, description="absolute gain on the primary metric required")
    min_gain_vs_champion: float = Field(0.0, description="absolute gain over the current champion required")
    min_value: float | None = Field(
        None, description="the primary metric must also beat this value (uplift: Qini 0 = random targeting)"
    )
    min_value_by_interval: bool = Field(
        False,
        description="the whole 95 % holdout interval of the primary metric must beat min_value, not only its "
        "value (uplift: a Qini interval that includes 0 cannot be told from random targeting)",
    )
    check_elasticity: bool = Field(
        True,
        description="price: refuse an own-price elasticity that is surely positive or contradicts the baseline "
        "(turn off only to test the plumbing on data too small to estimate it)",
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
        """One file on its own (no shipped defaults beneath it); errors name the file and key."""
        return validate_settings(cls, [(str(path), _parse(Path(path).read_text(), str(path)))])


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
    item_filter: str | None = None
    """cross-sell: regex an item id must contain to be a product ("none": keep all; default: from the data)."""
    min_buyers: int | None = None
    """cross-sell: distinct look-back buyers an item needs (default: from the data)."""
    horizon_days: float | None = None
    """cross-sell: label window in days (default: from the data)."""
    log_quantity: str | None = None
    price: str | None = None
    group: tuple[str, ...] = ()
    controls: tuple[str, ...] = ()
    pipeline: Path | None = None
    trials: int | None = None
    resume: bool = False
    storage: str | None = None
    """The Optuna study's database URL (``postgresql://…``), shared by workers on several machines."""
    workers: int = 1
    """Tuning processes on one study."""

    @property
    def user_file(self) -> Path | None:
        """The file the user brought (table or transactions), or None for the contract tables."""
        return self.table or self.transactions


class SettingsError(ValueError):
    """A settings file that is missing, is not YAML, or has a key or value the schema refuses."""


SettingsT = TypeVar("SettingsT", bound=BaseModel)
PIPELINES_ENV = "CXML_PIPELINES"


def project_pipelines() -> Path:
    """The folder of a project's overrides: ``$CXML_PIPELINES``, or ``pipelines/`` in the current folder."""
    return Path(os.environ.get(PIPELINES_ENV, "pipelines"))


def _parse(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SettingsError(f"{source}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"{source}: expected a mapping of settings, found {type(data).__name__}")
    return data


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``, key by key (nested mappings merged, everything else replaced)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _has_key(data: Mapping[str, Any], loc: tuple[Any, ...]) -> bool:
    node: Any = data
    for part in loc:
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def settings_layers(name: str, explicit: Path | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(source, values) from lowest to highest precedence: shipped defaults, project file, ``explicit``."""
    shipped = resources.files("cxml.pipelines").joinpath(f"{name}.yaml")
    # a family registered from outside the package ships no file: the schema's defaults are its defaults
    base = _parse(shipped.read_text(), f"shipped {name}.yaml") if shipped.is_file() else {}
    layers = [(f"cxml/pipelines/{name}.yaml (shipped)", base)]
    if explicit is not None:
        if not Path(explicit).is_file():
            raise SettingsError(f"pipeline file {explicit} does not exist")
        layers.append((str(explicit), _parse(Path(explicit).read_text(), str(explicit))))
        return layers
    project = project_pipelines() / f"{name}.yaml"
    if project.is_file():
        layers.append((str(project), _parse(project.read_text(), str(project))))
    return layers


def validate_settings(model: type[SettingsT], layers: list[tuple[str, dict[str, Any]]]) -> SettingsT:
    """Merge the layers and validate them; an error names the key and the file it came from."""
    merged: dict[str, Any] = {}
    for _, values in layers:
        merged = _merge(merged, values)
    try:
        return model.model_validate(merged)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            source = next((src for src, values in reversed(layers) if _has_key(values, loc)), layers[-1][0])
            problems.append(f"{source}: {'.'.join(map(str, loc)) or '(top level)'}: {err['msg']}")
        raise SettingsError("; ".join(problems)) from None


def load_pipeline(family: str, path: Path | None = None, trials: int | None = None, **tuning: Any) -> PipelineConfig:
    """A family's pipeline settings (shipped defaults, project overrides, ``path``), with command-line overrides."""
    cfg = validate_settings(PipelineConfig, [("(family)", {"family": family}), *settings_layers(family, path)])
    if cfg.family != family:
        raise SettingsError(f"{path or family + '.yaml'} configures family {cfg.family!r}, not {family!r}")
    overrides = {**tuning, **({"n_trials": trials} if trials else {})}
    if overrides:
        cfg = cfg.model_copy(update={"tuning": cfg.tuning.model_copy(update=overrides)})
    return cfg


class Workspace:
    """Where cxml writes: the MLflow store, Optuna studies, the BentoML store, data and reports.

    Defaults to ``./.cxml`` (or ``$CXML_HOME``); nothing is created until a command asks for a folder.
    """

    def __init__(self, root: Path | str | None = None, tracking_uri: str | None = None):
        self.root = Path(root or os.environ.get("CXML_HOME", ".cxml")).resolve()
        self._tracking_uri = tracking_uri

    def _dir(self, *parts: str) -> Path:
        path = self.root.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def tracking_uri(self) -> str:
        """The store given (``cxml --tracking-uri`` or ``$MLFLOW_TRACKING_URI`` as the command started: a shared
        server or database), else the workspace's SQLite file. The environment is not read here: MLflow's own
        ``set_tracking_uri`` writes ``MLFLOW_TRACKING_URI``, which would tie every later workspace to the first."""
        return self._tracking_uri or self._own_store_uri()

    def _own_store_uri(self) -> str:
        return f"sqlite:///{self._dir() / 'mlflow.db'}"

    @property
    def local_store(self) -> Path | None:
        """The workspace's own SQLite store, None when it tracks to a store given from outside (a shared server
        or database, which a move of the workspace must not touch)."""
        own = self._own_store_uri()
        return Path(own.removeprefix("sqlite:///")) if self._tracking_uri in (None, own) else None

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

    @property
    def manifest(self) -> Path:
        """The exact BentoML tags this workspace serves (written by ``cxml build``, read by its server)."""
        return self.root / "served.json"

    @property
    def policy(self) -> Path | None:
        """The contact policy: ``policy.yaml`` in the workspace, else a project's ``pipelines/policy.yaml``;
        None means the shipped defaults."""
        for path in (self.root / "policy.yaml", project_pipelines() / "policy.yaml"):
            if path.is_file():
                return path
        return None
