"""The one registration point of a model family: its ``ModelSpec`` and where its rows come from.

A family is a pure model module (``cxml.models.<family>``, exposing ``SPEC``) plus a datasets module
(``cxml.datasets.<family>``, exposing ``FAMILY``). Training, the demo, ``cxml train``/``explain``/``report`` and
the export for serving loop over ``families()`` instead of branching by name. Families outside the package
register the same way: list their modules in ``$CXML_FAMILIES`` (comma-separated), each exposing ``FAMILY``.

The ``as_of`` contract, the same for every family (checked once, by ``check_as_of``):

- ``split``: features from rows strictly before ``as_of``; labels or the holdout from rows at or after it.
  A date is required: ``--as-of`` or ``as_of`` in the family's pipeline YAML.
- ``cutoff``: only rows strictly before ``as_of`` are read (no labels follow it; the holdout is a random share);
  optional, all rows without it.
- ``rejected``: the family takes its dates from its data (uplift: the campaign's first send), so ``--as-of`` is
  refused with the reason.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import pandas as pd

from cxml.config import BUILTIN_FAMILIES, PipelineConfig, TrainRequest
from cxml.models.spec import Dataset, ModelSpec

AsOfRule = Literal["split", "cutoff", "rejected"]
PLUGINS_ENV = "CXML_FAMILIES"

ContractDataset = Callable[[Mapping[str, pd.DataFrame], str | None, PipelineConfig, str], Dataset]
TableDataset = Callable[[TrainRequest, PipelineConfig], tuple[Dataset, list[str]]]
ServingRows = Callable[[Mapping[str, pd.DataFrame], pd.Timestamp, Any, PipelineConfig], Any]
ServingMetadata = Callable[[Mapping[str, pd.DataFrame], PipelineConfig], dict[str, Any]]


@dataclass(frozen=True)
class Family:
    spec: ModelSpec
    contract_dataset: ContractDataset | None = None
    """(contract tables, as_of, pipeline config, source) → the Dataset on the company's own data."""
    table_dataset: TableDataset | None = None
    """(``cxml train`` request, pipeline config) → the Dataset on a file the user brings, and notes to log."""
    table_cv_folds: int | None = 5
    """Folds of the extra cross-validation reported on a user's file (None: skip it)."""
    as_of: AsOfRule = "split"
    as_of_reason: str = ""
    """Why ``--as-of`` is refused (``rejected``) or what it cuts (``cutoff``), said in the error and the help."""
    table_as_of: bool = False
    """Its ``table_dataset`` reads ``--as-of`` (cross-sell: the start of the horizon on the file); else refused."""
    serving_rows: ServingRows | None = None
    """(contract tables, snapshot date, champion, pipeline config) → the rows its endpoint looks customers up in,
    exported with the champion (CLV: RFM rows; cross-sell: pair rows). None: the customer-360 snapshot."""
    serving_metadata: ServingMetadata | None = None
    """(contract tables, pipeline config) → JSON-ready facts the endpoint needs beside the model (item names)."""
    demo: bool = True
    """Trained and gated by the main job (``cxml demo``)."""

    @property
    def name(self) -> str:
        return self.spec.family


def check_as_of(family: Family, as_of: str | None, *, from_command_line: bool) -> str | None:
    """The one ``as_of`` check: a valid date where the family needs one, a refusal where it takes none."""
    if family.as_of == "rejected":
        if as_of is not None and from_command_line:
            raise ValueError(f"{family.name} takes no --as-of: {family.as_of_reason}")
        return None
    if as_of is None:
        if family.as_of == "split":
            raise ValueError(
                f"{family.name} needs a date: pass --as-of YYYY-MM-DD or set as_of in pipelines/{family.name}.yaml "
                "(features from rows before it, labels after it)"
            )
        return None
    return str(parse_as_of(as_of).date())


def parse_as_of(text: str) -> pd.Timestamp:
    """``--as-of`` as a timestamp, or a ValueError that says the format."""
    try:
        parsed = pd.Timestamp(text)
    except ValueError:
        parsed = pd.NaT
    if pd.isna(parsed):
        raise ValueError(f"--as-of {text!r} is not a date (use YYYY-MM-DD)")
    return parsed


@cache
def families() -> dict[str, Family]:
    """Every registered family by name: the built-in ones, then those of ``$CXML_FAMILIES``."""
    modules = [f"cxml.datasets.{name}" for name in BUILTIN_FAMILIES]
    modules += [m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(",") if m.strip()]
    found: dict[str, Family] = {}
    for module in modules:
        family = importlib.import_module(module).FAMILY
        if family.name in found:
            raise ValueError(f"{module} registers family {family.name!r} a second time")
        found[family.name] = family
    return found


def get_family(name: str) -> Family:
    registered = families()
    if name not in registered:
        raise ValueError(f"unknown model family {name!r}; registered: {', '.join(registered)}")
    return registered[name]
