"""Uplift quality on Hillstrom's randomised e-mail test: Womens E-Mail vs No E-Mail, target ``visit``.

Five seeds of a stratified 50/50 split; the DR learner with the regularised boosters that
``bench/uplift_peers.py`` measured best (depth 2, min_child_weight 200, learning rate 0.03), and the forest with
causalml's KL split in urf's shape (the command's first trial). Metrics are cxml's (definitions in
``cxml.evaluation.uplift_metrics``): the normalised Qini coefficient and uplift@30 %.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxml.datasets.uplift import uplift_table_dataset
from cxml.models.uplift import SPEC, URF_SHAPE, ResponseModel
from tests.conftest import shared_data

pytestmark = pytest.mark.quality
PARAMS = {"learner": "dr", "learning_rate": 0.03, "max_depth": 2, "min_child_weight": 200}


@pytest.fixture(scope="module")
def per_seed() -> pd.DataFrame:
    frame = pd.read_csv(shared_data("hillstrom", "hillstrom.csv"))
    frame = frame[frame["segment"].isin(["Womens E-Mail", "No E-Mail"])]
    rows = []
    for seed in range(5):
        data, _ = uplift_table_dataset(
            frame,
            "visit",
            "segment",
            "No E-Mail",
            name="hillstrom",
            source="hillstrom",
            drop=["conversion", "spend"],
            holdout_fraction=0.5,
            seed=seed,
        )
        models = (("dr", SPEC.build(PARAMS)), ("forest kl", SPEC.build(URF_SHAPE)), ("response", ResponseModel()))
        for name, estimator in models:
            fitted = SPEC.fit(estimator, data.X_train, data.y_train)
            metrics = SPEC.metrics(data.y_holdout, SPEC.score(fitted, data.X_holdout))
            rows.append({"seed": seed, "model": name, **metrics})
    return pd.DataFrame(rows)


def test_mean_normalised_qini_and_uplift_at_30_reach_the_thresholds(per_seed):
    dr = per_seed[per_seed["model"] == "dr"]
    assert dr["qini_norm"].mean() >= 0.055, dr[["seed", "qini_norm"]]
    assert dr["uplift_at_30"].mean() >= 0.070, dr[["seed", "uplift_at_30"]]


def test_the_uplift_model_beats_the_response_model_on_every_seed(per_seed):
    wide = per_seed.pivot(index="seed", columns="model", values="qini_norm")
    assert np.all(wide["dr"] > wide["response"]), wide


def test_the_kl_forest_reaches_causalmls_uplift_forest_and_beats_the_response_model(per_seed):
    """causalml's forest (100 trees, max_depth 6, leaves of 100) scored 0.0605 on these splits (bench/RESULTS.md);
    its split rule on cxml's binned trees 0.0597, within 0.003 of it on every seed."""
    wide = per_seed.pivot(index="seed", columns="model", values="qini_norm")
    assert wide["forest kl"].mean() >= 0.059, wide
    assert np.all(wide["forest kl"] > wide["response"]), wide
