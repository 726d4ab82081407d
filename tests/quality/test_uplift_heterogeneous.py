"""Uplift where effects differ by customer: the documented command recovers the effects, the response model not.

The simulated campaign of :mod:`cxml.data.synthetic.uplift_experiment` (shape ``browse-lapse``: the effect rises
with browsing and lapsing, turns negative after repeated service calls and half follows the baseline response),
written as a file and trained by the job ``cxml train uplift --table FILE --treatment arm --control control
--target responded --id-column customer_id`` runs, with ``--trials 3`` to stay under a minute. The holdout the run
logs carries the champion's and the response model's scores; PEHE is against every holdout customer's true
effect (the response model's "effect" is its P(respond | offer) minus the control rate in training).

Not asserted: a higher Qini than the response model's. On this shape the response model ranks nearly as well as
the true effects can (bench/RESULTS.md, issue #18 section: 0.00523 against the command's 0.00506 and the
ceiling's 0.00655, two seeds), so which of the two is ahead on one holdout is a coin flip.

The stacked learner (``learner: stack``, built on request) is checked on the same campaign directly: its final
stage puts a positive weight on the baseline response, as the simulator's effect does, and its effects are
closer to the truth than the response model's.
"""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from cxml import tracking
from cxml.config import TrainRequest, Workspace
from cxml.data.synthetic.uplift_experiment import CONTROL_VALUE, OFFER, TARGET, TREATMENT, simulate_uplift_experiment
from cxml.datasets.uplift import uplift_table_dataset
from cxml.jobs.train import run_train
from cxml.models.uplift import SPEC, ResponseModel
from cxml.training import HOLDOUT_ARTIFACT

pytestmark = pytest.mark.quality


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sim")
    table, truth = simulate_uplift_experiment(30_000, shape="browse-lapse", seed=1)
    path = folder / "campaign.csv"
    table.reset_index().to_csv(path, index=False)
    ws = Workspace(folder / "ws")
    request = TrainRequest(
        family="uplift",
        table=path,
        target=TARGET,
        treatment=TREATMENT,
        control=CONTROL_VALUE,
        id_column="customer_id",
        trials=3,
    )
    result = run_train(request, ws)
    tracking.configure(ws)
    holdout = pd.read_parquet(mlflow.artifacts.download_artifacts(run_id=result.run_id, artifact_path=HOLDOUT_ARTIFACT))
    control_rate = table.loc[table[TREATMENT] == CONTROL_VALUE, TARGET].mean()
    true = truth.reindex(holdout.index.astype(str)).to_numpy(float)
    assert np.isfinite(true).all()
    ate = table.loc[table[TREATMENT] == OFFER, TARGET].mean() - control_rate
    pehe = {
        "constant": float(np.sqrt(np.mean((ate - true) ** 2))),
        "model": float(np.sqrt(np.mean((holdout[f"__score__:{OFFER}"].to_numpy(float) - true) ** 2))),
        "response": float(
            np.sqrt(np.mean((expit(holdout[f"__baseline_score__:{OFFER}"].to_numpy(float)) - control_rate - true) ** 2))
        ),
    }
    return result, pehe


def test_the_command_recovers_the_effects_far_better_than_the_response_model(trained):
    _, pehe = trained
    assert pehe["model"] < 0.6 * pehe["response"], pehe


def test_the_command_recovers_heterogeneity_the_average_effect_misses(trained):
    _, pehe = trained
    assert pehe["model"] < 0.85 * pehe["constant"], pehe


def test_its_qini_interval_is_clear_of_random_targeting(trained):
    result, _ = trained
    assert result.metrics["qini_ci_low"] > 0, result.metrics


@pytest.fixture(scope="module")
def stacked() -> dict[str, float]:
    table, truth = simulate_uplift_experiment(30_000, shape="browse-lapse", seed=1)
    data, _ = uplift_table_dataset(table, TARGET, TREATMENT, CONTROL_VALUE, name="sim", source="simulated", seed=1)
    params = {"learner": "stack", "learning_rate": 0.03, "max_depth": 2, "min_child_weight": 200}
    stack = SPEC.fit(SPEC.build(params), data.X_train, data.y_train)
    response = SPEC.fit(ResponseModel(), data.X_train, data.y_train)
    true = truth.reindex(data.X_holdout.index).to_numpy(float)
    y = pd.DataFrame(data.y_train)
    control_rate = y.loc[y["arm"] == CONTROL_VALUE, "outcome"].mean()
    response_effect = expit(response.effects(data.X_holdout)[OFFER].to_numpy(float)) - control_rate
    return {
        "baseline_weight": stack.stack_weights(OFFER)["mu:control"],
        "stack": float(np.sqrt(np.mean((stack.effect(data.X_holdout, arm=OFFER) - true) ** 2))),
        "response": float(np.sqrt(np.mean((response_effect - true) ** 2))),
    }


def test_the_stack_leans_on_the_baseline_response_where_the_effect_follows_it(stacked):
    assert stacked["baseline_weight"] > 0.05, stacked


def test_the_stacks_effects_are_far_closer_to_the_truth_than_the_response_models(stacked):
    assert stacked["stack"] < 0.5 * stacked["response"], stacked
