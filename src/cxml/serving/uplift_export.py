"""What the uplift endpoint needs beside the model: its holdout effect bands and the campaign's economics."""

from __future__ import annotations

import dataclasses
from typing import Any

import mlflow
import pandas as pd

from cxml import tracking
from cxml.config import Workspace, load_pipeline
from cxml.decision.value import ContactCosts
from cxml.models.uplift import effect_bands
from cxml.serving.export_inputs import ExportInputs
from cxml.training import HOLDOUT_ARTIFACT


def contact_costs(ws: Workspace, name: str, version: str) -> ContactCosts | None:
    """The economics of the campaign a registered uplift model was trained on, or None when unknown.

    Contact and incentive costs come from the ``campaigns`` table of the workspace's company, the control
    response rate from the training run, the margin per response from the uplift pipeline settings.
    """
    with tracking.using(ws):
        client = tracking.client()
        tags = client.get_run(str(client.get_model_version(name, version).run_id)).data.tags
    campaign, rate = tags.get("cxml.campaign"), tags.get("cxml.control_rate")
    path = ws.data / "campaigns.parquet"
    if campaign is None or rate is None or not path.exists():
        return None
    campaigns = pd.read_parquet(path).set_index("campaign_id")
    if campaign not in campaigns.index:
        return None
    row = campaigns.loc[campaign]
    return ContactCosts(
        margin=load_pipeline("uplift").uplift.margin_per_response,
        cost_per_contact=float(row["cost_per_contact"]),
        incentive_cost=float(row["incentive_cost"]),
        control_rate=float(rate),
    )


def uplift_serving_metadata(ws: Workspace, version: str, name: str = "cxml.uplift") -> dict[str, Any]:
    """The champion's holdout effect bands per arm, its campaign and the campaign's contact costs."""
    with tracking.using(ws):
        client = tracking.client()
        run = client.get_run(str(client.get_model_version(name, version).run_id))
        holdout = pd.read_parquet(
            mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path=HOLDOUT_ARTIFACT)
        )
    arms = [c.split(":", 1)[1] for c in holdout.columns if c.startswith("__score__:")]
    costs = contact_costs(ws, name, version)
    metadata: dict[str, Any] = {"effect_bands": effect_bands(holdout, arms)}  # BentoML metadata allows no None
    if costs is not None:
        metadata["contact_costs"] = dataclasses.asdict(costs)
    if "cxml.campaign" in run.data.tags:
        metadata["campaign"] = run.data.tags["cxml.campaign"]
    return metadata


def export_metadata(inputs: ExportInputs) -> dict[str, Any]:
    return uplift_serving_metadata(inputs.ws, inputs.version, inputs.model_name)
