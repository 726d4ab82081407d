"""A family defined outside the package, registered through ``$CXML_FAMILIES`` only: proof that a new family
needs its model spec, its dataset builder and (to be served) one ``ServedFamily``, and nothing else edited.

"tiny": will a customer buy again within 30 days? A small booster on the customer-360 features.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cxml.config import LabelConfig
from cxml.datasets.churn import churn_dataset
from cxml.datasets.family import Family
from cxml.evaluation.baselines import PriorRate
from cxml.evaluation.metrics import binary_metrics
from cxml.models.churn import ChurnClassifier
from cxml.models.spec import ModelSpec
from cxml.serving import schemas
from cxml.serving.families import Route, ServedFamily
from cxml.serving.family_scoring import load_family_scorer

SPEC = ModelSpec(
    family="tiny",
    primary_metric="roc_auc",
    build=lambda params: ChurnClassifier(n_estimators=30, early_stopping_rounds=5).set_params(**params),
    search_space=lambda trial, algorithms: {"max_depth": trial.suggest_int("max_depth", 2, 3)},
    score=lambda model, X: np.asarray(model.predict_proba(X))[:, 1],
    metrics=binary_metrics,
    baseline=lambda X: PriorRate(),
    baseline_name="the overall rate",
)


def _rows(tables: Any, as_of: str | None, cfg: Any, source: str) -> Any:
    return churn_dataset(tables, as_of, LabelConfig(horizon_days=30, active_window_days=180), source=source)


FAMILY = Family(SPEC, contract_dataset=_rows, demo=False)
SERVED = ServedFamily(
    "tiny",
    (
        Route(
            "/tiny",
            "tiny_one",
            schemas.ScoreRequest,
            schemas.ScoreResponse,
            lambda scorer, req: scorer.score(req),
            "P(no purchase within 30 days) of one customer, with reasons.",
        ),
    ),
    lambda model, snapshot: load_family_scorer("tiny", model, snapshot),
    "cxml train tiny",
)
