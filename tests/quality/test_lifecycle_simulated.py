"""Segments, lifecycle stages and lookalikes on a small simulated company, against its ground truth.

Figures are printed (run with ``-s``): segment stability and ARI vs the generator's latent segments, the stage
migration matrix, and lookalike recall of held-out last-quarter churners for both methods.
"""

import math

import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from cxml.data.sources import read_tables, read_truth
from cxml.features.build import build_features
from cxml.features.labels import churn_labels
from cxml.models.lifecycle_stage import migration_matrix, stage_at
from cxml.models.lookalike import LookalikeScorer
from cxml.models.segmentation import BehaviouralSegmenter
from tests.conftest import run_cli

pytestmark = pytest.mark.quality

N_CUSTOMERS, SEED = 4000, 11
AS_OF, EARLIER = pd.Timestamp("2025-12-01"), pd.Timestamp("2025-09-01")


@pytest.fixture(scope="module")
def company(tmp_path_factory):
    home = tmp_path_factory.mktemp("lifecycle")
    out = home / "company"
    proc, _ = run_cli("generate", "--customers", str(N_CUSTOMERS), "--seed", str(SEED), "--out", str(out), home=home)
    assert proc.returncode == 0, proc.stderr[-3000:]
    tables = read_tables(out)
    return tables, read_truth(out), build_features(tables, AS_OF, threads=1)


def test_segments_are_stable_balanced_and_described(company):
    _, truth, features = company
    model = BehaviouralSegmenter().fit(features)
    stability = model.stability(features, seeds=(0, 1, 2))
    latent = truth["customers"].set_index("customer_id").loc[features.index, "segment"]
    shares = pd.Series(model.labels_).value_counts(normalize=True)
    described = model.describe()
    print(f"\nsegments: k={model.n_clusters_}, ARI across seeds {stability.pairwise.round(3).to_dict()}")
    print(f"ARI vs the latent segments: {adjusted_rand_score(latent, model.labels_):.3f}")
    print(described[["name", "size", "summary"]].to_string())
    assert stability.min_ari >= 0.8
    assert shares.min() >= 0.03
    assert described["name"].is_unique and (described["traits"].map(len) == 3).all()


def test_stages_follow_the_truth_and_migrate(company):
    tables, truth, _ = company
    before, after = stage_at(tables, EARLIER), stage_at(tables, AS_OF)
    m = migration_matrix(before, after)
    print("\nmigration counts\n" + m.counts.to_string())
    print("row shares\n" + m.shares.round(2).to_string())
    churned_at = truth["customers"].set_index("customer_id")["churned_at"].reindex(after.index)
    lost = churned_at.notna() & (churned_at < AS_OF)  # the simulator's last churn happened before the cut-off
    precision = lost.groupby(after["stage"].astype(str)).mean()
    print("share truly lost by stage\n" + precision.round(3).to_string())
    assert m.counts.to_numpy().sum() == len(after)  # nobody vanishes; newcomers come from "not a customer yet"
    assert len(m.moved("active", "at risk")) > 0
    assert precision["churned"] >= 0.8 and precision["active"] <= 0.2
    assert precision["churned"] > precision["sleeping"] > precision["at risk"] > precision["active"]


def test_lookalikes_of_last_quarters_churners(company):
    tables, _, features = company
    quarter_start = AS_OF - pd.Timedelta(days=91)
    labels = churn_labels(tables["orders"], tables["customers"], quarter_start, 91, 180)
    churners = labels.index[labels == 1]
    model = LookalikeScorer(auto_level=0.1).fit(features, seed_ids=churners)  # measures both methods first
    ev = model.evaluation_
    print(f"\n{len(churners)} churners of the last quarter; recall of the held-out 30 %\n" + ev.to_string())
    print(model.reasons(k=3)[["feature", "text"]].to_string())
    recall = ev.set_index("method")["recall"]
    assert (ev["level"] == 0.1).all() and ev["n_holdout"].iloc[0] == round(0.3 * len(churners))
    assert recall.max() >= 3 * 0.1  # the top 10 % holds at least three times its share of held-out churners
    assert model.method_ == ("knn" if recall["knn"] > recall["pu"] else "pu")
    assert model.expand(0.1).shape[0] == math.ceil(0.1 * (len(features) - len(churners)))


def test_lookalikes_of_a_hidden_segment_at_ten_percent(company):
    """The seed is the generator's latent 'premium' segment, which no feature names: likeness must be learnt."""
    _, truth, features = company
    segment = truth["customers"].set_index("customer_id")["segment"].reindex(features.index)
    seed = features.index[segment == "premium"]
    model = LookalikeScorer(auto_level=0.1).fit(features, seed_ids=seed)
    ev = model.evaluation_.set_index("method")
    print(f"\n{len(seed)} premium customers; recall of the held-out 30 % at 10 %\n" + ev.to_string())
    assert model.method_ == ev["recall"].idxmax()
    assert ev.loc[model.method_, "recall"] >= 2.5 * ev.loc[model.method_, "random"]
