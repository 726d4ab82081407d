"""The main job (``cxml demo``): generate → validate → every family (tune/train/gate) and the segments → snapshot
→ explain → model cards and the journey page → export → a campaign in closed loop; the CLI builds the Bento, says
what to open, and serves."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from cxml.config import TrainRequest, Workspace
from cxml.data.sources import read_valid_tables
from cxml.data.synthetic import write_company
from cxml.datasets import families
from cxml.jobs.campaign import run_demo_campaign
from cxml.jobs.explain import explain_customer
from cxml.jobs.export import export_for_serving
from cxml.jobs.journey import run_journey
from cxml.jobs.report import write_report, write_report_index
from cxml.jobs.segments import run_segments
from cxml.jobs.snapshot import read_snapshot, write_snapshot
from cxml.jobs.train import run_train
from cxml.training import TrainResult


def run_demo(
    ws: Workspace, *, customers: int, seed: int, trials: int | None, echo: Callable[[str], None]
) -> dict[str, Any]:
    """The main job on a simulated company; returns its summary (strict-JSON ready)."""
    params = {"customers": customers, "seed": seed}
    marker = ws.data / "params.json"
    if not marker.exists() or json.loads(marker.read_text()) != params:
        echo(f"1/8 generating a company of {customers:,} customers (seed {seed}) in {ws.data}")
        write_company(ws.data, customers, seed=seed, progress=True)
        marker.write_text(json.dumps(params))
    echo("2/8 validating the tables against the data contract")
    tables = read_valid_tables(ws.data)
    echo("3/8 tuning, training and gating every model family (Optuna × MLflow)")
    results: dict[str, TrainResult] = {}
    for name, family in families().items():
        if not family.demo:
            continue
        results[name] = run_train(TrainRequest(family=name, data=ws.data, trials=trials), ws, progress=True)
        echo(f"    {results[name].model_name} v{results[name].model_version}: {results[name].gate.reason}")
    echo("4/8 writing the serving snapshot (every customer's features the day after the last order)")
    write_snapshot(ws, tables, ws.data)
    snapshot, as_of = read_snapshot(ws)
    echo(f"    {len(snapshot):,} customers as of {as_of}")
    echo("5/8 the behavioural segments, lifecycle stages and value × engagement cells")
    segments = run_segments(ws, tables, as_of, source=str(ws.data))
    echo(f"    cxml.segments v{segments.model_version}: {segments.gate.reason} ({segments.k} segments)")
    echo("6/8 explaining three customers")
    uplift = results.get("uplift")
    for customer in snapshot.index[:3]:
        explained = explain_customer(ws, "churn", str(customer))
        reasons = "; ".join(r["text"] for r in explained["reasons"])
        echo(f"    {customer}: risk {explained['score']:.2f} — {reasons}")
        if uplift is not None and uplift.gate.passed:
            offer = explain_customer(ws, "uplift", str(customer))
            arm, profit = offer["arm"], offer.get("expected_profit", {})
            worth = f", expected profit {profit[arm]:+.2f}" if arm in profit else ""
            echo(
                f"      strongest arm {arm}: effect {offer['effects'][arm]:+.3f}{worth}"
                f" → recommended: {offer.get('recommended_arm', '?')}"
            )
    echo("7/8 writing the champions' model cards")
    churn = results["churn"]
    card_path, card = write_report(ws, churn.model_name)
    echo(f"    {churn.model_name}: grade {card.grade.letter}: {card.grade.reason}")
    for name, other in results.items():
        if name != "churn" and other.gate.passed:
            _, other_card = write_report(ws, other.model_name)
            echo(f"    {other.model_name}: grade {other_card.grade.letter}: {other_card.grade.reason}")
    index = write_report_index(ws)
    echo(f"    open {index}")
    echo("    the customer journey (funnel, channel flow, time to convert)")
    journey = run_journey(ws.data, ws.reports / "journey")
    echo(f"    open {journey.html}")
    echo("8/8 exporting the champions and the feature snapshot for serving")
    manifest = export_for_serving(ws)
    echo("    and one campaign run in closed loop for 5 simulated days, so /campaign/assign has a live allocation")
    campaign = run_demo_campaign(ws, days=5, seed=seed)
    echo(
        f"    {campaign.campaign_id} ({campaign.policy}): {campaign.assigned:,} customers assigned, allocation "
        f"v{campaign.version}, winner {campaign.winner or 'none yet'}; open {campaign.page}"
    )
    return {
        "tables": {k: len(v) for k, v in tables.items()},
        "model": churn.model_name,
        "version": churn.model_version,
        "metrics": churn.metrics,
        "baseline_metrics": churn.baseline_metrics,
        "gate": churn.gate.reason,
        **{
            name: {"version": r.model_version, "metrics": r.metrics, "gate": r.gate.reason}
            for name, r in results.items()
            if name != "churn"
        },
        "segments": segments.summary(),
        "grade": card.grade.letter,
        "model_card": str(card_path),
        "pages": {"cards": str(index), "journey": str(journey.html), "campaign": str(campaign.page)},
        "served": manifest,
        "campaign": campaign.summary(),
    }
