"""One MLflow PythonModel for every family: it returns scores (probabilities, effects), never class labels."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any

import joblib
import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from mlflow.pyfunc import PythonModel

from cxml.datasets import get_family

ESTIMATOR_FILE = "estimator.joblib"
# What a logged model needs besides cxml itself (which travels as code, see ``code_paths``), pinned to the running
# versions: every distribution that loading the model imports (the estimator's modules reach the family
# registry, hence optuna, pydantic, PyYAML, DuckDB and the plotting stack). Declaring them skips MLflow's
# requirement inference, which costs ~14 s per model (a subprocess that re-imports the stack) and misses the
# boosters, since they are only reached through the joblib file.
MODEL_PACKAGES = (
    "mlflow",
    "cloudpickle",
    "joblib",
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
    "xgboost-cpu",
    "lightgbm",
    "catboost",
    "optuna",
    "pydantic",
    "PyYAML",
    "duckdb",
    "pyarrow",
    "matplotlib",
    "tqdm",
)


class CxmlModel(PythonModel):
    """Loads the fitted cxml estimator and serves ``ModelSpec.score`` as a one-column ``score`` frame."""

    def load_context(self, context: Any) -> None:

        self.estimator = joblib.load(context.artifacts["estimator"])
        self.spec = get_family(context.model_config["family"]).spec

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return score_frame(self.spec, self.estimator, model_input)


def score_frame(spec: Any, estimator: Any, X: pd.DataFrame) -> pd.DataFrame:
    """The served scores as a frame: ``score``, or one column per arm for uplift."""
    scores = np.asarray(spec.score(estimator, X))
    return pd.DataFrame(scores.reshape(len(X), -1), columns=spec.score_columns(estimator), index=X.index)


def model_input(X: pd.DataFrame) -> pd.DataFrame:
    """Rows as the logged signature expects them: integer counts (nullable or not) as doubles.

    The signature declares counts as doubles so a missing count (NaN) passes enforcement; MLflow then refuses
    int64 input for those columns ("can not safely convert"), so callers pass rows through this first.
    """
    ints = [c for c in X.columns if pd.api.types.is_integer_dtype(X[c])]
    return X.astype(dict.fromkeys(ints, "float64")) if ints else X


def log_estimator(estimator: Any, family: str, X_example: pd.DataFrame, tmp_dir: Path) -> Any:
    """Log the estimator under the active run as an MLflow pyfunc with signature and input example."""

    path = tmp_dir / ESTIMATOR_FILE
    joblib.dump(estimator, path)
    example = model_input(X_example.head(5))
    output = score_frame(get_family(family).spec, estimator, example)
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=CxmlModel(),
        artifacts={"estimator": str(path)},
        model_config={"family": family},
        signature=infer_signature(example, output),
        input_example=example,
        pip_requirements=pip_requirements(),
        code_paths=code_paths(),
    )


def code_paths() -> list[str]:
    """The ``cxml`` package folder, copied into every logged model so it loads where cxml is not installed.

    Code rather than a wheel in the requirements: the model carries the exact source that trained it, with no
    build step at log time and no wheel file that an executor or ``mlflow models serve`` host would have to
    reach; MLflow puts the folder on ``sys.path`` when it loads the model (``load_model``, ``models serve``,
    ``spark_udf``).
    """
    return [str(Path(__file__).resolve().parent)]


def pip_requirements() -> list[str]:
    """``MODEL_PACKAGES`` pinned to the installed versions (a package that is not installed is left out)."""
    pins = []
    for package in MODEL_PACKAGES:
        try:
            pins.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    return pins


def load_estimator(model_uri: str) -> Any:
    """The fitted cxml estimator inside a logged model (for serving and explanations without pyfunc overhead)."""
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri))
    return joblib.load(local / "artifacts" / ESTIMATOR_FILE)
