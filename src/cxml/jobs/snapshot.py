"""The ``cxml snapshot`` job: every customer's features at one date, what serving and ``explain`` look up.

An explicit step (run by ``cxml build`` and the demo), never a side effect of training, and dated as asked:
features from rows strictly before ``as_of``; the default date is the day after the last order.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from cxml.config import Workspace
from cxml.data.sources import read_valid_tables, write_table_atomic
from cxml.decision.nba import NbaConfig
from cxml.decision.policy import contact_states
from cxml.features.build import build_features

SNAPSHOT_FILE = "customer360.parquet"
CONTACTS_FILE = "contacts.parquet"
META_FILE = "snapshot.json"


def default_as_of(tables: Mapping[str, pd.DataFrame]) -> pd.Timestamp:
    """The day after the last order: every recorded row is before it."""
    return pd.Timestamp(tables["orders"]["ts"].max()).normalize() + pd.Timedelta(days=1)


def write_snapshot(
    ws: Workspace, tables: Mapping[str, pd.DataFrame], data_dir: Path | None = None, as_of: str | None = None
) -> pd.Timestamp:
    """Features and contact states of every customer at ``as_of`` (default: the day after the last order).

    ``data_dir`` (the tables' folder, default the workspace's) is recorded, so an export can build the rows the
    other families serve from the same data: relative to the workspace when inside it, so that a moved or copied
    workspace reads its own copy."""
    date = default_as_of(tables) if as_of is None else pd.Timestamp(as_of)
    write_table_atomic(build_features(tables, date).reset_index(), ws.snapshots / SNAPSHOT_FILE)
    states = contact_states(tables, date, NbaConfig.from_yaml(ws.policy).policy)
    states = states.assign(contacts=states["contacts"].map(list)).rename_axis("customer_id").reset_index()
    write_table_atomic(states, ws.snapshots / CONTACTS_FILE)
    folder = (data_dir or ws.data).resolve()
    meta = {
        "as_of": str(date.date()),
        "data": str(folder.relative_to(ws.root) if folder.is_relative_to(ws.root) else folder),
    }
    (ws.snapshots / META_FILE).write_text(json.dumps(meta))
    return date


def run_snapshot(ws: Workspace, data_dir: Path | None = None, as_of: str | None = None) -> pd.Timestamp:
    """Read and validate the tables in ``data_dir`` (default the workspace's company) and write the snapshot."""
    folder = data_dir or ws.data
    return write_snapshot(ws, read_valid_tables(folder), folder, as_of)


def has_snapshot(ws: Workspace) -> bool:
    return (ws.snapshots / META_FILE).exists() and (ws.snapshots / SNAPSHOT_FILE).exists()


def snapshot_data_dir(ws: Workspace) -> Path:
    """The folder of the contract tables the latest snapshot was built from."""
    meta = json.loads((ws.snapshots / META_FILE).read_text())
    return ws.root / meta.get("data", ws.data)  # an absolute path stays itself


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
        raise ValueError(f"no feature snapshot at {path}; write one first: cxml snapshot")
    meta = json.loads((ws.snapshots / META_FILE).read_text())
    return pd.read_parquet(path).set_index("customer_id"), meta["as_of"]


def example_customer(ws: Workspace) -> str:
    snapshot, _ = read_snapshot(ws)
    return str(snapshot.index[0])
