"""Jobs behind the CLI: each one a short outline of calls into the package, returning a typed result."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from cxml.config import PipelineConfig, TrainRequest, Workspace, default_pipeline
from cxml.models.spec import get_spec
from cxml.training import TrainResult, train

log = logging.getLogger(__name__)
SNAPSHOT_FILE = "customer360.parquet"
CONTACTS_FILE = "contacts.parquet"
POLICY_PATH = Path("pipelines") / "policy.yaml"
MANIFEST_PATH = Path("models") / "served.json"
SERVED_FAMILIES = ("churn",)
"""Always served; uplift and the ``OPTIONAL_FAMILIES`` are served too once they have a champion."""
OPTIONAL_FAMILIES = ("survival", "clv", "cross_sell")
"""Served when promoted: survival on the snapshot, CLV and cross-sell on rows exported with the champion."""
DEMO_FAMILIES = (*OPTIONAL_FAMILIES, "price")
"""Trained by the demo after churn and uplift (price is served from its recommendation table when promoted)."""


def load_pipeline(family: str, path: Path | None = None, trials: int | None = None, **tuning: Any) -> PipelineConfig:
    """The family's YAML (validated), with command-line overrides applied."""
    path = path or default_pipeline(family)
    cfg = PipelineConfig.from_yaml(path) if path.exists() else PipelineConfig(family=family)
    if cfg.family != family:
        raise ValueError(f"{path} configures family {cfg.family!r}, not {family!r}")
    overrides = {**tuning, **({"n_trials": trials} if trials else {})}
    if overrides:
        cfg = cfg.model_copy(update={"tuning": cfg.tuning.model_copy(update=overrides)})
    return cfg


def read_valid_tables(data_dir: Path) -> dict[str, pd.DataFrame]:
    """Contract tables from a folder, validated; a violation raises ValueError naming table/column/rows."""
    from cxml.data.contract import validate_tables
    from cxml.data.sources import read_tables

    if not data_dir.exists():
        raise ValueError(f"no data at {data_dir}; run `cxml generate --out {data_dir}` or pass --data")
    tables = read_tables(data_dir)
    validate_tables(tables)
    return tables


def run_train(req: TrainRequest, ws: Workspace, *, progress: bool = False) -> TrainResult:
    """Train a family on contract data (default) or on a file the user brings (``--table``/``--transactions``)."""
    spec = get_spec(req.family)
    if req.user_file is not None:
        if spec.table_dataset is None:
            raise ValueError(f"{req.family} trains on the contract tables only (--data), not on --table/--transactions")
        cv_folds = {"cv_folds": spec.table_cv_folds} if spec.table_cv_folds else {}
        cfg = load_pipeline(req.family, req.pipeline, req.trials, **cv_folds)
        data, notes = spec.table_dataset(req, cfg)
        for note in notes:
            log.warning(note)
        return train(
            spec,
            data,
            cfg,
            ws,
            resume=req.resume,
            progress=progress,
            cv_report_folds=spec.table_cv_folds,
            model_name=f"{spec.registered_name}.{data.name}",
        )
    if spec.contract_dataset is None:
        raise ValueError(f"{req.family} trains on a file you bring: pass --table or --transactions")
    cfg = load_pipeline(req.family, req.pipeline, req.trials)
    data_dir = req.data or ws.data
    tables = read_valid_tables(data_dir)
    dataset = spec.contract_dataset(tables, req.as_of or cfg.as_of, cfg, str(data_dir))
    result = train(spec, dataset, cfg, ws, resume=req.resume, progress=progress)
    write_snapshot(ws, tables, data_dir)
    return result


def write_snapshot(ws: Workspace, tables: Mapping[str, pd.DataFrame], data_dir: Path | None = None) -> pd.Timestamp:
    """Features of every customer as of the day after the last order: what serving and explain look up.

    ``data_dir`` (the tables' folder, default the workspace's) is recorded, so an export can build the rows the
    other families serve from the same data."""
    from cxml.data.sources import write_table_atomic
    from cxml.decision.nba import NbaConfig
    from cxml.decision.policy import contact_states
    from cxml.features.build import build_features

    as_of = tables["orders"]["ts"].max().normalize() + pd.Timedelta(days=1)
    write_table_atomic(build_features(tables, as_of).reset_index(), ws.snapshots / SNAPSHOT_FILE)
    states = contact_states(tables, as_of, NbaConfig.from_yaml(POLICY_PATH).policy)
    states = states.assign(contacts=states["contacts"].map(list)).rename_axis("customer_id").reset_index()
    write_table_atomic(states, ws.snapshots / CONTACTS_FILE)
    meta = {"as_of": str(as_of.date()), "data": str((data_dir or ws.data).resolve())}
    (ws.snapshots / "snapshot.json").write_text(json.dumps(meta))
    return as_of


def snapshot_data_dir(ws: Workspace) -> Path:
    """The folder of the contract tables the latest snapshot was built from."""
    meta = json.loads((ws.snapshots / "snapshot.json").read_text())
    return Path(meta.get("data", ws.data))


def snapshot_tables(ws: Workspace) -> dict[str, pd.DataFrame]:
    """The validated contract tables the latest snapshot was built from."""
    return read_valid_tables(snapshot_data_dir(ws))


def read_contacts(ws: Workspace) -> pd.DataFrame | None:
    """The contact states written beside the snapshot (None for a workspace written before they existed)."""
    path = ws.snapshots / CONTACTS_FILE
    if not path.exists():
        return None
    frame = pd.read_parquet(path).set_index("customer_id")
    return frame.assign(contacts=frame["contacts"].map(lambda v: tuple(pd.Timestamp(t) for t in v)))


def read_snapshot(ws: Workspace) -> tuple[pd.DataFrame, str]:
    path = ws.snapshots / SNAPSHOT_FILE
    if not path.exists():
        raise ValueError(f"no feature snapshot at {path}; train a model on contract data first")
    meta = json.loads((ws.snapshots / "snapshot.json").read_text())
    return pd.read_parquet(path).set_index("customer_id"), meta["as_of"]


def champion_estimator(ws: Workspace, family: str) -> tuple[Any, str, str]:
    from cxml import registry, tracking
    from cxml.pyfunc import load_estimator

    tracking.configure(ws)
    name = get_spec(family).registered_name
    version = registry.alias_version(name, registry.CHAMPION)
    if version is None:
        raise ValueError(f"{name} has no champion yet; run `cxml train {family}`")
    return load_estimator(f"models:/{name}/{version}"), name, version


def explain_customer(ws: Workspace, family: str, customer_id: str, k: int = 3) -> dict[str, Any]:
    """Champion score(s) and top reasons for one customer of the latest snapshot (the family says how)."""
    snapshot, as_of = read_snapshot(ws)
    if customer_id not in snapshot.index:
        raise KeyError(f"customer {customer_id!r} is not in the snapshot as of {as_of}")
    estimator, name, version = champion_estimator(ws, family)
    row = snapshot.loc[[customer_id], list(estimator.feature_names_in_)]
    result = {
        "customer_id": customer_id,
        "model_name": name,
        "model_version": version,
        "as_of": as_of,
        **get_spec(family).explain_row(estimator, row, k),
    }
    costs = contact_costs(ws, name, version) if "effects" in result else None
    if costs is not None:
        from cxml.decision.value import recommend

        result["expected_profit"], result["recommended_arm"] = recommend(result["effects"], costs)
    return result


def contact_costs(ws: Workspace, name: str, version: str) -> Any:
    """The economics of the campaign a registered uplift model was trained on, or None when unknown.

    Contact and incentive costs come from the ``campaigns`` table of the workspace's company, the control
    response rate from the training run, the margin per response from ``pipelines/uplift.yaml``.
    """
    from cxml.decision.value import ContactCosts
    from cxml.tracking import client

    tags = client().get_run(str(client().get_model_version(name, version).run_id)).data.tags
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


SERVICE = "cxml.serving.service:CxmlService"


def serve_command(host: str, port: int) -> list[str]:
    """The ``bentoml serve`` command line for the cxml service (used by ``cxml serve`` and the tests)."""
    import sys

    return [sys.executable, "-m", "bentoml", "serve", SERVICE, "--host", host, "--port", str(port)]


def example_customer(ws: Workspace) -> str:
    snapshot, _ = read_snapshot(ws)
    return str(snapshot.index[0])


def export_for_serving(ws: Workspace, manifest_path: Path = MANIFEST_PATH) -> dict[str, str]:
    """Copy each champion (exact MLflow version) and the snapshot into the BentoML store; write the manifest.

    Churn is required; uplift, the ``OPTIONAL_FAMILIES`` and the segments are exported when they have a champion,
    with the rows their endpoints look customers up in, built from the snapshot's tables at its date."""
    from functools import cache

    import mlflow

    from cxml import registry, tracking
    from cxml.lifecycle_jobs import SEGMENTS_MODEL, segment_lookup
    from cxml.serving import store

    snapshot, as_of = read_snapshot(ws)
    date = pd.Timestamp(as_of)
    tags = {family: store.export_champion(ws, family) for family in SERVED_FAMILIES}
    tracking.configure(ws)
    tables = cache(lambda: snapshot_tables(ws))
    uplift_version = registry.alias_version("cxml.uplift", registry.CHAMPION)
    if uplift_version is not None:
        tags["uplift"] = store.export_champion(ws, "uplift", extra_metadata=uplift_serving_metadata(ws, uplift_version))
    for family in OPTIONAL_FAMILIES:
        spec = get_spec(family)
        if registry.alias_version(spec.registered_name, registry.CHAMPION) is None:
            continue
        rows = None
        if (make_rows := spec.serving_rows) is not None:
            cfg = load_pipeline(family)
            rows = lambda model, make=make_rows, cfg=cfg: make(tables(), date, model, cfg)  # noqa: E731
        metadata = item_catalogue(tables(), load_pipeline(family)) if family == "cross_sell" else None
        tags[family] = store.export_champion(ws, family, rows=rows, extra_metadata=metadata)
    if registry.alias_version("cxml.price", registry.CHAMPION) is not None:
        tags["price"] = store.export_champion(ws, "price", rows=lambda model: price_rows(ws, tables(), date, model))
    if registry.alias_version(SEGMENTS_MODEL, registry.CHAMPION) is not None:
        tags["segments"] = store.export_champion(
            ws,
            "segments",
            model_name=SEGMENTS_MODEL,
            loader=mlflow.sklearn.load_model,
            rows=lambda segmenter: segment_lookup(segmenter, tables(), date),
        )
    tags["snapshot"] = store.export_snapshot(ws, snapshot, as_of, read_contacts(ws))
    store.write_manifest(manifest_path, tags)
    return tags


def price_rows(ws: Workspace, tables: Mapping[str, pd.DataFrame], date: pd.Timestamp, model: Any) -> dict[str, Any]:
    """What the price endpoint serves: the recommendation of every cell sold in the look-back before ``date``
    (``recommendations``) and the customer → segment map the model's segments come from (``segments``)."""
    from cxml.models.price_data import company_segments, options
    from cxml.serving.price_scoring import price_serving_table

    opts = options(load_pipeline("price"))
    segments = company_segments(tables, opts, snapshot_data_dir(ws))
    frames = {"recommendations": price_serving_table(tables, date, model, segments=segments, options=opts)}
    if segments is not None:
        frames["segments"] = segments.astype("str").reset_index(drop=True)
    return frames


def item_catalogue(tables: Mapping[str, pd.DataFrame], cfg: PipelineConfig) -> dict[str, Any]:
    """Names and unit margins of the cross-sell items (products or categories) for the endpoint and next best
    action: a product's margin is list price − unit cost; a category's the mean over its products."""
    from cxml.models.cross_sell import options

    products = tables["products"]
    margin = (products["list_price"] - products["unit_cost"]).astype(float)
    if options(cfg).level == "category":
        by_category = margin.groupby(products["category"].astype("str")).mean()
        return {"item_names": {c: c for c in by_category.index}, "item_margins": by_category.round(4).to_dict()}
    ids = products["product_id"].astype("str")
    names = dict(zip(ids, ids + " (" + products["category"].astype("str") + ")", strict=True))
    return {"item_names": names, "item_margins": dict(zip(ids, margin.round(4), strict=True))}


def uplift_serving_metadata(ws: Workspace, version: str) -> dict[str, Any]:
    """What the uplift endpoint needs beside the model: its holdout effect bands, campaign and contact costs."""
    import mlflow

    from cxml.models.uplift import effect_bands
    from cxml.tracking import client
    from cxml.training import HOLDOUT_ARTIFACT

    name = "cxml.uplift"
    run = client().get_run(str(client().get_model_version(name, version).run_id))
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


def run_demo(
    ws: Workspace, *, customers: int, seed: int, trials: int | None, echo: Callable[[str], None]
) -> dict[str, Any]:
    """Generate → validate → every family (tune/train/gate) and the segments → explain → model card → export;
    the CLI serves."""
    from cxml.data.synthetic import write_company
    from cxml.explain.card import write_card, write_index
    from cxml.lifecycle_jobs import run_segments

    params = {"customers": customers, "seed": seed}
    marker = ws.data / "params.json"
    if not marker.exists() or json.loads(marker.read_text()) != params:
        echo(f"1/8 generating a company of {customers:,} customers (seed {seed}) in {ws.data}")
        write_company(ws.data, customers, seed=seed, progress=True)
        marker.write_text(json.dumps(params))
    echo("2/8 validating the tables against the data contract")
    tables = read_valid_tables(ws.data)
    echo("3/8 tuning, training and gating the churn model (Optuna × MLflow)")
    result = run_train(TrainRequest(family="churn", data=ws.data, trials=trials), ws, progress=True)
    echo(f"    {result.model_name} v{result.model_version}: {result.gate.reason}")
    echo("4/8 tuning, training and gating the uplift model of the latest campaign")
    uplift = run_train(TrainRequest(family="uplift", data=ws.data, trials=trials), ws, progress=True)
    echo(f"    {uplift.model_name} v{uplift.model_version}: {uplift.gate.reason}")
    echo(f"5/8 the lifecycle, cross-sell and price families ({', '.join(DEMO_FAMILIES)}) and the segments")
    families = {}
    for family in DEMO_FAMILIES:
        families[family] = run_train(TrainRequest(family=family, data=ws.data, trials=trials), ws, progress=True)
        echo(f"    {families[family].model_name} v{families[family].model_version}: {families[family].gate.reason}")
    snapshot, as_of = read_snapshot(ws)
    segments = run_segments(ws, tables, as_of, source=str(ws.data))
    echo(f"    cxml.segments v{segments.model_version}: {segments.gate.reason} ({segments.k} segments)")
    echo("6/8 explaining three customers")
    for customer in snapshot.index[:3]:
        explained = explain_customer(ws, "churn", str(customer))
        reasons = "; ".join(r["text"] for r in explained["reasons"])
        echo(f"    {customer}: risk {explained['score']:.2f} — {reasons}")
        if uplift.gate.passed:
            offer = explain_customer(ws, "uplift", str(customer))
            arm, profit = offer["arm"], offer.get("expected_profit", {})
            worth = f", expected profit {profit[arm]:+.2f}" if arm in profit else ""
            echo(
                f"      strongest arm {arm}: effect {offer['effects'][arm]:+.3f}{worth}"
                f" → recommended: {offer.get('recommended_arm', '?')}"
            )
    echo("7/8 writing the champions' model cards")
    card_path, card = write_card(result.model_name, None, ws.reports)
    echo(f"    {result.model_name}: grade {card.grade.letter}: {card.grade.reason}")
    for other in (uplift, *families.values()):
        if other.gate.passed:
            _, other_card = write_card(other.model_name, None, ws.reports)
            echo(f"    {other.model_name}: grade {other_card.grade.letter}: {other_card.grade.reason}")
    echo(f"    open {write_index(ws.reports)}")
    echo("8/8 exporting the champions and the feature snapshot for serving")
    manifest = export_for_serving(ws)
    return {
        "tables": {k: len(v) for k, v in tables.items()},
        "model": result.model_name,
        "version": result.model_version,
        "metrics": result.metrics,
        "baseline_metrics": result.baseline_metrics,
        "gate": result.gate.reason,
        "uplift": {"version": uplift.model_version, "metrics": uplift.metrics, "gate": uplift.gate.reason},
        **{
            family: {"version": r.model_version, "metrics": r.metrics, "gate": r.gate.reason}
            for family, r in families.items()
        },
        "segments": segments.summary(),
        "grade": card.grade.letter,
        "model_card": str(card_path),
        "served": manifest,
    }
