"""The ``cxml train`` job: a family on the company's contract tables, or on a file the user brings."""

from __future__ import annotations

import logging

from cxml import tracking
from cxml.config import TrainRequest, Workspace, load_pipeline
from cxml.data.sources import read_valid_tables
from cxml.datasets import check_as_of, get_family
from cxml.training import TRAIN_WAIT_S, TrainResult, train

log = logging.getLogger(__name__)


def run_train(
    req: TrainRequest, ws: Workspace, *, progress: bool = False, wait: float | None = TRAIN_WAIT_S
) -> TrainResult:
    """Tune, train, log, register and gate one family; nothing else (the serving snapshot is ``cxml snapshot``).

    ``wait``: how long to wait for another training on the workspace (``WorkspaceBusy`` after it)."""
    family = get_family(req.family)
    spec = family.spec
    tracking.configure(ws)
    if req.user_file is not None:
        if req.as_of is not None and not family.table_as_of:
            raise ValueError("--as-of applies to the contract tables (--data); a file you bring sets its own dates")
        if family.table_dataset is None:
            raise ValueError(f"{req.family} trains on the contract tables only (--data), not on --table/--transactions")
        cv_folds = {"cv_folds": family.table_cv_folds} if family.table_cv_folds else {}
        cfg = load_pipeline(req.family, req.pipeline, req.trials, **cv_folds)
        data, notes = family.table_dataset(req, cfg)
        for note in notes:
            log.warning(note)
        return train(
            spec,
            data,
            cfg,
            ws,
            resume=req.resume,
            progress=progress,
            cv_report_folds=family.table_cv_folds,
            model_name=f"{spec.registered_name}.{data.name}",
            wait=wait,
            storage=req.storage,
            workers=req.workers,
        )
    if family.contract_dataset is None:
        raise ValueError(f"{req.family} trains on a file you bring: pass --table or --transactions")
    cfg = load_pipeline(req.family, req.pipeline, req.trials)
    data_dir = req.data or ws.data
    as_of = check_as_of(family, req.as_of or cfg.as_of, from_command_line=req.as_of is not None)
    tables = read_valid_tables(data_dir)
    dataset = family.contract_dataset(tables, as_of, cfg, str(data_dir))
    return train(
        spec, dataset, cfg, ws, resume=req.resume, progress=progress, wait=wait, storage=req.storage,
        workers=req.workers,
    )  # fmt: skip
