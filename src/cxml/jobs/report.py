"""The ``cxml report`` job: a version's self-contained model card (logged to its run) and the index of cards."""

from __future__ import annotations

from pathlib import Path

from cxml import tracking
from cxml.config import Workspace
from cxml.explain.card import write_card, write_index
from cxml.explain.card_data import CardData


def write_report(
    ws: Workspace, model_name: str, version: str | None = None, out_dir: Path | None = None
) -> tuple[Path, CardData]:
    """The card of ``model_name`` at ``version`` (default: the champion, else the latest) in ``out_dir``."""
    with tracking.using(ws):
        return write_card(model_name, version, out_dir or ws.reports)


def write_report_index(ws: Workspace, out_dir: Path | None = None) -> Path:
    """``index.html`` linking every card in ``out_dir`` (default: the workspace's reports), champions side by side."""
    return write_index(out_dir or ws.reports)
