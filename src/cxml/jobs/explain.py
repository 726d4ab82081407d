"""The ``cxml explain`` job: the champion's score for one customer of the latest snapshot, with reasons in words."""

from __future__ import annotations

from typing import Any

from cxml import registry, tracking
from cxml.config import Workspace
from cxml.datasets import get_family
from cxml.decision.value import recommend
from cxml.jobs.snapshot import read_snapshot
from cxml.pyfunc import load_estimator
from cxml.serving.uplift_export import contact_costs


def champion_estimator(ws: Workspace, family: str) -> tuple[Any, str, str]:
    tracking.configure(ws)
    name = get_family(family).spec.registered_name
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
        **get_family(family).spec.explain_row(estimator, row, k),
    }
    costs = contact_costs(ws, name, version) if "effects" in result else None
    if costs is not None:
        result["expected_profit"], result["recommended_arm"] = recommend(result["effects"], costs)
    return result
