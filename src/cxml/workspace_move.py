"""A workspace that was moved or copied keeps working: the absolute paths its MLflow store recorded under the old
root are re-rooted to where the workspace is now.

MLflow's SQLite store keeps absolute ``file://`` locations (experiments, runs, model versions, logged models) and
cxml logs absolute data paths (the ``source`` parameter, dataset sources). Relative locations are no way out:
MLflow resolves them against the working directory, not the store. Left alone, a copy would go on writing its
artifacts into the original and a moved workspace would find none of its models.

So the workspace records the root it was last opened at (``workspace.json``). Opened somewhere else, every stored
path under the old root is rewritten to the new root, in one transaction and under the workspace's move lock, and
the record follows. A workspace written before the record existed tells its old root by its experiments' artifact
folders. Only a workspace that keeps its own SQLite store is re-rooted: a shared tracking server or database
belongs to everyone who uses it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from functools import partial
from pathlib import Path
from urllib.parse import unquote, urlparse

from cxml.config import Workspace
from cxml.workspace_lock import command_line, hold

log = logging.getLogger(__name__)

RECORD_FILE = "workspace.json"
LOCK_FILE = "move.lock"
LOCK_TIMEOUT_S = 120.0
_TEXT_TYPES = ("CHAR", "TEXT", "CLOB", "JSON")
# a path starts a value, follows a URI's scheme, a quote, a separator or a blank, and ends at one of them or a '/'
_BEFORE = r"(?:^|(?<=://)|(?<=:///)|(?<=[\s\"'=:,(\[]))"
_AFTER = r"(?=/|$|[\s\"'?#,)\]])"
SqlValue = str | bytes | int | float | None


def reroot(ws: Workspace) -> str | None:
    """Re-root the stored paths of a workspace that was moved or copied since it was last opened.

    Returns what was re-rooted (and logs it once), None when the workspace is where it was, or does not keep its
    own store. Safe to call on every open: an unmoved workspace costs one small file read."""
    store = ws.local_store
    if store is None or not store.exists() or recorded_root(ws.root) == ws.root:
        return None  # a new workspace holds nothing to re-root: a command that refuses its input writes nothing
    with hold(ws.root / LOCK_FILE, what=command_line(), timeout=LOCK_TIMEOUT_S):
        old = recorded_root(ws.root) or _root_in_store(store)
        done = None
        if old is not None and old != ws.root:
            counts = rewrite_store(store, old, ws.root)
            records = rewrite_records(ws.snapshots, path_rewriter(old, ws.root))
            if records:
                counts["snapshot records"] = records
            listed = ", ".join(f"{table} {n}" for table, n in sorted(counts.items())) or "nothing stored there"
            done = f"workspace moved from {old} to {ws.root}: re-rooted {sum(counts.values())} stored paths ({listed})"
            log.info("%s", done)
        _record_root(ws.root)
    return done


def recorded_root(root: Path) -> Path | None:
    """The root the workspace at ``root`` was last opened at, None when it never recorded one."""
    try:
        found = json.loads((root / RECORD_FILE).read_text()).get("root")
    except (OSError, ValueError, AttributeError):
        return None
    return Path(found) if isinstance(found, str) else None


def _record_root(root: Path) -> None:
    tmp = root / f".{RECORD_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"root": str(root)}))
    os.replace(tmp, root / RECORD_FILE)  # a reader sees the old record or the new one, never half of one


def _root_in_store(store: Path) -> Path | None:
    """Where a workspace without a record lived: the folder holding its experiments' ``mlartifacts``."""
    with closing(sqlite3.connect(store)) as con:
        try:
            locations = [row[0] for row in con.execute("SELECT artifact_location FROM experiments")]
        except sqlite3.OperationalError:  # not an MLflow store (yet)
            return None
    roots = Counter(
        path.parent.parent
        for path in (Path(unquote(urlparse(loc).path)) for loc in locations if loc and loc.startswith("file:"))
        if path.parent.name == "mlartifacts"
    )
    return roots.most_common(1)[0][0] if roots else None


def rewrite_store(store: Path, old: Path, new: Path) -> dict[str, int]:
    """Rewrite every path under ``old`` in any text column of the SQLite ``store`` to the same path under ``new``,
    in one transaction; returns the rows changed per table.

    Every text column, not a list of MLflow's: a column a later MLflow adds is re-rooted too, and a path under
    the old root names something that moved with the workspace wherever it is stored."""
    needles = tuple({str(old), _uri_path(old)})
    found = " OR ".join("instr({column}, ?) > 0" for _ in needles)
    counts: dict[str, int] = {}
    with closing(sqlite3.connect(store, timeout=60, isolation_level=None)) as con:
        con.create_function("cxml_reroot", 1, path_rewriter(old, new), deterministic=True)
        con.execute("BEGIN IMMEDIATE")
        try:
            for table, column in _text_columns(con):
                quoted = f'"{column}"'
                changed = con.execute(
                    f'UPDATE "{table}" SET {quoted} = cxml_reroot({quoted}) '
                    f"WHERE ({found.format(column=quoted)}) AND cxml_reroot({quoted}) IS NOT {quoted}",
                    needles,
                ).rowcount
                if changed:
                    counts[table] = counts.get(table, 0) + changed
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
    return counts


def rewrite_records(folder: Path, rewrite: Callable[[SqlValue], SqlValue]) -> int:
    """Re-root the paths in the JSON records of ``folder`` (a snapshot written before it recorded its tables'
    folder relative to the workspace names them absolutely); the number of files changed, each replaced at once."""
    changed = 0
    for record in sorted(folder.glob("*.json")):
        text = record.read_text()
        moved = rewrite(text)
        if isinstance(moved, str) and moved != text:
            tmp = record.with_name(f".{record.name}.{os.getpid()}.tmp")
            tmp.write_text(moved)
            os.replace(tmp, record)
            changed += 1
    return changed


def path_rewriter(old: Path, new: Path) -> Callable[[SqlValue], SqlValue]:
    """A function of one stored value: paths under ``old`` in it (plain, or percent-encoded as in ``file://``
    URIs) moved under ``new``; any other value as it was. Idempotent even when ``new`` lies inside ``old``."""
    moves = [
        (re.compile(_BEFORE + re.escape(before) + _AFTER), re.compile(re.escape(after) + _AFTER), after)
        for before, after in ((str(old), str(new)), (_uri_path(old), _uri_path(new)))
    ]

    def rewrite(value: SqlValue) -> SqlValue:
        if not isinstance(value, str):
            return value
        for under_old, under_new, after in moves:
            value = under_old.sub(partial(_swap, under_new=under_new, after=after), value)
        return value

    return rewrite


def _swap(found: re.Match[str], *, under_new: re.Pattern[str], after: str) -> str:
    # a value already under the new root stays (the new root may lie inside the old one)
    return found.group() if under_new.match(found.string, found.start()) else after


def _uri_path(path: Path) -> str:
    """The path as a ``file://`` URI spells it (``/my%20workspace``)."""
    return path.as_uri().removeprefix("file://")


def _text_columns(con: sqlite3.Connection) -> list[tuple[str, str]]:
    tables = [
        row[0]
        for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    ]
    return [
        (table, column)
        for table in tables
        for _, column, declared, *_ in con.execute(f'PRAGMA table_info("{table}")')
        if not declared or any(kind in declared.upper() for kind in _TEXT_TYPES)
    ]
