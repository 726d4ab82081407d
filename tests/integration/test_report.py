"""The model card against a real MLflow store: a small real model, its card, the artifact and the index."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification

from cxml import tracking
from cxml.config import PipelineConfig, Workspace
from cxml.datasets import get_family
from cxml.datasets.tables import table_dataset
from cxml.explain.card import CARD_ARTIFACT_DIR, write_card, write_index
from cxml.training import train

pytestmark = pytest.mark.integration
NAME = "cxml.churn.report_test"
HEADINGS = (
    "Data",
    "Metrics",
    "Grade",
    "Calibration",
    "ROC and precision-recall curves",
    "Global drivers (SHAP)",
    "Example customers",
    "Performance per segment",
    "Gate decision",
)


def generated_table(n: int = 2000, seed: int = 5) -> pd.DataFrame:
    """Customers with numeric features, a gender and an age; the label depends on the features and on age."""
    X, y = make_classification(n, 6, n_informative=4, flip_y=0.05, random_state=seed)
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    frame["gender"] = rng.choice(["female", "male"], n)
    frame["age"] = rng.integers(18, 80, n)
    frame["plan"] = rng.choice(["basic", "plus", "premium"], n)
    return frame.assign(churned=y)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    data, _ = table_dataset(generated_table(), "churned", name="report_test", source="generated")
    cfg = PipelineConfig.model_validate(
        {"family": "churn", "tuning": {"n_trials": 2, "cv_folds": 2, "algorithms": ["lightgbm"]}}
    )
    ws = Workspace(tmp_path_factory.mktemp("ws"))
    tracking.configure(ws)
    result = train(get_family("churn").spec, data, cfg, ws, model_name=NAME)
    out = tmp_path_factory.mktemp("reports")
    path, card = write_card(NAME, None, out)
    index = write_index(out)
    return result, path, card, index


def png_images(html: str) -> list[bytes]:
    return [base64.b64decode(b) for b in re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", html)]


def test_card_has_every_section_grade_and_gate_reason(report):
    result, path, card, _ = report
    html = path.read_text()
    for heading in HEADINGS:
        assert f"<h2>{heading}</h2>" in html
    assert f"Grade {card.grade.letter}:" in html and card.grade.letter in "ABC"
    assert result.gate.reason in html
    assert "source" in html and "generated" in html and "table:report_test" in html


def test_card_references_nothing_outside_itself(report):
    html = report[1].read_text()
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/|@import|<link|<script", html, re.IGNORECASE)
    assert re.findall(r"src='([^']*)'", html) and all(
        s.startswith("data:image/png") for s in re.findall(r"src='([^']*)'", html)
    )


def test_plots_are_non_blank_pngs(report):
    from PIL import Image

    images = png_images(report[1].read_text())
    assert len(images) == 5  # reliability, ROC, PR, SHAP bar, SHAP beeswarm
    for raw in images:
        img = Image.open(io.BytesIO(raw)).convert("L")
        pixels = np.asarray(img)
        assert img.size[0] > 200 and img.size[1] > 100
        assert (pixels < 200).mean() > 0.005 and len(np.unique(pixels)) > 20  # drawn, not a blank canvas


def test_examples_give_reasons_in_words(report):
    _, path, card, _ = report
    assert [e.label for e in card.examples] == ["highest risk", "typical", "lowest risk"]
    assert card.examples[0].score > card.examples[2].score
    for example in card.examples:
        assert example.reasons and all(
            ("raises risk by" in r.text) or ("lowers risk by" in r.text) for r in example.reasons
        )
        assert example.reasons[0].text in path.read_text()


def test_segments_cover_gender_age_and_small_categoricals(report):
    seg = report[2].segments
    assert {"gender", "age band", "plan"} <= set(seg["dimension"])
    assert set(seg.loc[seg["dimension"] == "gender", "segment"]) == {"female", "male"}
    overall = report[2].metrics["roc_auc"][0]
    big = seg[seg["rows"] >= 30]
    np.testing.assert_array_equal(big["flagged"], (big["roc_auc"] - overall).abs() > 0.05)


def test_metrics_have_intervals_around_the_point_value(report):
    card = report[2]
    for value, lo, hi in card.metrics.values():
        if np.isfinite(value):
            assert lo <= value <= hi or np.isclose(value, lo) or np.isclose(value, hi)
    assert card.metrics["pr_auc"][0] == pytest.approx(report[0].metrics["pr_auc"])


def test_card_is_logged_to_the_model_run(report):
    result, path, _, _ = report
    artifacts = [a.path for a in tracking.client().list_artifacts(result.run_id, CARD_ARTIFACT_DIR)]
    assert artifacts == [f"{CARD_ARTIFACT_DIR}/{path.name}"]
    logged = mlflow.artifacts.download_artifacts(run_id=result.run_id, artifact_path=artifacts[0])
    assert Path(logged).read_text() == path.read_text()


def test_index_links_the_card_and_shows_the_champion(report):
    result, path, _, index = report
    html = index.read_text()
    assert f"href='{path.name}'" in html
    assert "Champions side by side" in html and f"{NAME} v{result.model_version}" in html
    assert "http://" not in html and "https://" not in html
