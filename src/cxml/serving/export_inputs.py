"""What a served family's export step may read: the workspace, the snapshot's tables and date, the champion."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cxml.config import Workspace


@dataclass(frozen=True)
class ExportInputs:
    ws: Workspace
    tables: Callable[[], Mapping[str, pd.DataFrame]]
    """The validated contract tables of the snapshot (read once, on first call)."""
    date: pd.Timestamp
    """The snapshot's ``as_of``: rows are built from data strictly before it."""
    data_dir: Path
    model_name: str
    version: str
