"""The ``cxml build`` and ``cxml serve`` jobs: every champion (exact MLflow version) with the rows its endpoint
reads, and the feature snapshot, into the workspace's BentoML store; the manifest; the Bento; the server command.

The Bento is built from a staging folder outside the checkout and the workspace, because BentoML refuses any
path with a component that starts with "." (a workspace ``.cxml``, a clone under ``~/.local/src``). It installs
cxml from a wheel (``cxml.jobs.package``), so it builds from a checkout and from an installed cxml alike.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from functools import cache, partial
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from cxml import progress, registry, tracking
from cxml.config import Workspace, load_pipeline
from cxml.datasets import families
from cxml.decision.nba import NbaConfig
from cxml.jobs.package import copy_build_files, stage_wheel
from cxml.jobs.snapshot import read_contacts, read_snapshot, snapshot_data_dir, snapshot_tables
from cxml.serving import store
from cxml.serving.export_inputs import ExportInputs
from cxml.serving.families import ServedFamily, served_families
from cxml.serving.precomputed import with_churn_reasons

SERVICE = "cxml.serving.service:CxmlService"


class NothingToServe(ValueError):
    """No champion of a required family (churn) yet: the message names the command that trains one."""


def _exporters(served: ServedFamily) -> tuple[Any, Any]:
    """The rows and metadata callables of a served family: its own, else its dataset family's."""
    family = families().get(served.name)
    rows, metadata = served.export_rows, served.export_metadata
    if rows is None and family is not None and family.serving_rows is not None:
        make = family.serving_rows

        def rows(inputs: ExportInputs, model: Any) -> Any:
            return make(inputs.tables(), inputs.date, model, load_pipeline(served.name))

    if metadata is None and family is not None and family.serving_metadata is not None:
        describe = family.serving_metadata

        def metadata(inputs: ExportInputs) -> dict[str, Any]:
            return describe(inputs.tables(), load_pipeline(served.name))

    return rows, metadata


def _rows_of(make: Any, inputs: ExportInputs, model: Any) -> Any:
    return make(inputs, model)


def _no_champion(served: ServedFamily) -> NothingToServe:
    return NothingToServe(
        f"{served.registered_name} has no champion yet, so there is nothing to serve: train {served.name} first: "
        f"{served.fix}"
    )


def require_champions(ws: Workspace) -> None:
    """Raise :class:`NothingToServe` (naming the command) when a required family has no champion: checked before
    the snapshot is written, so a new workspace learns what to run first without waiting for it."""
    tracking.configure(ws)
    for served in served_families().values():
        if served.required and registry.alias_version(served.registered_name, registry.CHAMPION) is None:
            raise _no_champion(served)


def export_for_serving(ws: Workspace, manifest_path: Path | None = None) -> dict[str, str]:
    """Copy each champion (exact MLflow version) and the snapshot into the BentoML store; write the manifest.

    A required family (churn) must have a champion; the others are exported when they have one, with the rows
    their endpoints look customers up in, built from the snapshot's tables at its date; churn with every snapshot
    customer's probability and reasons, computed in batch on the snapshot exactly as the service reads it."""
    snapshot, as_of = read_snapshot(ws)
    tracking.configure(ws)
    tables = cache(lambda: snapshot_tables(ws))
    tags = {"snapshot": store.export_snapshot(ws, snapshot, as_of, read_contacts(ws))}
    served_snapshot = cache(lambda: store.load_snapshot(store.model_store(ws).get(tags["snapshot"])))
    for name, served in progress.bar(served_families().items(), "exporting champions", unit="family"):
        version = registry.alias_version(served.registered_name, registry.CHAMPION)
        if version is None:
            if served.required:
                raise _no_champion(served)
            continue
        inputs = ExportInputs(ws, tables, pd.Timestamp(as_of), snapshot_data_dir(ws), served.registered_name, version)
        rows, metadata = _exporters(served)
        family_rows = partial(_rows_of, rows, inputs) if rows else None
        tags[name] = store.export_champion(
            ws,
            name,
            model_name=served.registered_name,
            loader=served.loader,
            rows=with_churn_reasons(family_rows, served_snapshot) if name == "churn" else family_rows,
            extra_metadata=metadata(inputs) if metadata else None,
        )
    store.write_manifest(manifest_path or ws.manifest, tags)
    return tags


def serve_env(ws: Workspace) -> dict[str, str]:
    """The environment the service reads: the workspace's BentoML store, manifest and policy."""
    env = {**os.environ, "BENTOML_HOME": str(ws.bentoml_home), "CXML_HOME": str(ws.root)}
    env["CXML_MANIFEST"] = str(ws.manifest)
    if ws.policy is not None:
        env["CXML_POLICY"] = str(ws.policy.resolve())
    env.setdefault("BENTOML_DO_NOT_TRACK", "true")
    return env


def serve_command(host: str, port: int) -> list[str]:
    """The ``bentoml serve`` command line for the cxml service (used by ``cxml serve`` and the tests)."""
    return [sys.executable, "-m", "bentoml", "serve", SERVICE, "--host", host, "--port", str(port)]


def _staged_bentofile(staging: Path, wheel: Path) -> None:
    """Declare the staged wheel under ``python.wheels`` (its file name carries the version, so the copied
    bentofile cannot name it)."""
    path = staging / "bentofile.yaml"
    bentofile = yaml.safe_load(path.read_text())
    bentofile["python"]["wheels"] = [f"./{wheel.relative_to(staging).as_posix()}"]
    path.write_text(yaml.safe_dump(bentofile, sort_keys=False))


def build_bento(ws: Workspace) -> str:
    """``bentoml build`` from a staging folder with no dot in its path: the bentofile, the runtime lock, cxml as a
    wheel, the manifest and the policy. The Bento installs the wheel; no source is copied. Returns its tag."""
    staging = Path(tempfile.mkdtemp(prefix="cxml-bento-", dir="/tmp"))
    try:
        copy_build_files(staging)
        _staged_bentofile(staging, stage_wheel(staging / "wheels"))
        (staging / "models").mkdir()
        shutil.copy(ws.manifest, staging / "models" / "served.json")
        # the policy in force, whole (the shipped defaults beneath any override), so the Bento serves the same
        policy = NbaConfig.from_yaml(ws.policy)
        (staging / "models" / "policy.yaml").write_text(yaml.safe_dump(policy.model_dump(mode="json")))
        env = {**serve_env(ws), "CXML_MANIFEST": str(staging / "models" / "served.json")}
        out = subprocess.run(
            [sys.executable, "-m", "bentoml", "build", str(staging), "--output", "tag"],
            env=env,
            cwd=staging,
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(f"bentoml build failed:\n{out.stderr[-3000:]}")
        return out.stdout.strip().splitlines()[-1].removeprefix("__tag__:")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
