"""A running campaign on disk: its spec, its versioned allocations and its append-only assignment and outcome log.

Layout under ``<workspace>/campaigns/<campaign_id>/``:

- ``campaign.yaml``: the ``CampaignSpec``, written once by ``cxml campaign start``;
- ``allocations/v<N>.json``: every allocation ever written, each created atomically (a temporary file linked to its
  final name, which fails if another update got there first), then ``allocations/current`` (the version number),
  replaced last, so a reader never sees a pointer to a file that is not whole;
- ``log.sqlite``: the assignments and outcomes (SQLite in WAL mode). The assignments table has a UNIQUE
  ``(campaign_id, customer_id)`` key: the service inserts-or-ignores and reads the row back, so two workers (or two
  processes) racing on the same customer both answer with the one row that won, nothing is lost or duplicated, and
  a customer keeps their arm for the campaign's life.

Only the customer id is kept about a person (the key the log needs); times are UTC, stored as integer nanoseconds.
"""

from __future__ import annotations

import os
import re
import sqlite3
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from cxml.campaigns.spec import ASSIGNMENT_COLUMNS, OUTCOME_COLUMNS, Allocation, CampaignSpec
from cxml.config import Workspace

CAMPAIGNS_DIR = "campaigns"
SPEC_FILE = "campaign.yaml"
LOG_FILE = "log.sqlite"
CURRENT = "current"
CAMPAIGN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
BUSY_TIMEOUT_MS = 30_000
"""How long a writer waits for another's lock (a bulk append of a million rows holds it for a few seconds)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS assignments (
    campaign_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    arm TEXT NOT NULL,
    sent_at INTEGER NOT NULL,
    propensity REAL NOT NULL,
    policy_version INTEGER NOT NULL,
    segment TEXT,
    holdout INTEGER NOT NULL,
    UNIQUE (campaign_id, customer_id)
);
CREATE TABLE IF NOT EXISTS outcomes (
    campaign_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    outcome REAL NOT NULL,
    observed_at INTEGER NOT NULL,
    UNIQUE (campaign_id, customer_id, observed_at)
);
"""


class CampaignNotFound(LookupError):
    """No campaign of that id in the workspace (the message names the folder and the command that starts one)."""


class CampaignExists(FileExistsError):
    """``start`` on a campaign id that is already taken."""


class AllocationConflict(RuntimeError):
    """Another update wrote the same allocation version first: read again and retry."""


class OutcomeFileError(ValueError):
    """An outcome file that cannot be ingested; the message names the file, the column, the rule and the rows."""


def check_campaign_id(campaign_id: str) -> str:
    """A campaign id doubles as a folder name: letters, digits, ``.``, ``_`` and ``-``, at most 128 characters."""
    if not isinstance(campaign_id, str) or not CAMPAIGN_ID.fullmatch(campaign_id):
        raise ValueError(
            f"campaign id {campaign_id!r} must start with a letter or digit and hold only letters, digits, "
            "'.', '_' and '-' (at most 128 characters)"
        )
    return campaign_id


def campaigns_root(ws: Workspace) -> Path:
    return ws.root / CAMPAIGNS_DIR


def list_campaigns(ws: Workspace) -> list[str]:
    root = campaigns_root(ws)
    return sorted(p.name for p in root.iterdir() if (p / SPEC_FILE).is_file()) if root.is_dir() else []


def _ns(values: pd.Series) -> list[int]:
    """UTC nanoseconds since the epoch (naive times are read as UTC)."""
    times = pd.to_datetime(values, utc=True).dt.tz_localize(None)
    return times.astype("datetime64[ns]").astype("int64").tolist()


def now_ns() -> int:
    return int(pd.Timestamp.now(tz="UTC").value)


class CampaignLog:
    """The campaign's SQLite log: one connection per thread, so BentoML's worker threads never share one."""

    def __init__(self, path: Path, campaign_id: str):
        self.path, self.campaign_id = path, campaign_id
        self._local = threading.local()

    def _connect(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across a process crash
            self._local.conn = conn
        return conn

    def create(self) -> None:
        """Create the file in WAL mode (persistent for the file): readers never block the writer."""
        conn = self._connect()
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(_SCHEMA)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # -- assignments -------------------------------------------------------------------------------------------

    def get(self, customer_id: str) -> dict[str, Any] | None:
        """The customer's assignment, or None."""
        row = (
            self._connect()
            .execute(
                "SELECT campaign_id, customer_id, arm, sent_at, propensity, policy_version, segment, holdout "
                "FROM assignments WHERE campaign_id = ? AND customer_id = ?",
                (self.campaign_id, customer_id),
            )
            .fetchone()
        )
        return None if row is None else _row_dict(row)

    def assign(self, row: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        """Insert the assignment unless the customer has one; returns the row that stands and whether it is new."""
        conn = self._connect()
        cur = conn.execute(
            "INSERT OR IGNORE INTO assignments VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.campaign_id,
                str(row["customer_id"]),
                str(row["arm"]),
                int(row["sent_at"]),
                float(row["propensity"]),
                int(row["policy_version"]),
                None if row.get("segment") is None else str(row["segment"]),
                int(bool(row["holdout"])),
            ),
        )
        new = cur.rowcount == 1
        stored = self.get(str(row["customer_id"]))
        if stored is None:  # pragma: no cover - the insert or the row it lost to is always there
            raise RuntimeError(f"assignment of {row['customer_id']} vanished from {self.path}")
        return stored, new

    def append(self, frame: pd.DataFrame) -> int:
        """Bulk insert-or-ignore (a simulation, an import); returns the rows added."""
        missing = [c for c in ASSIGNMENT_COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"assignments lack columns {missing}; they need {list(ASSIGNMENT_COLUMNS)}")
        other = frame["campaign_id"].astype(str) != self.campaign_id
        if other.any():
            raise ValueError(f"{int(other.sum())} assignment rows belong to another campaign than {self.campaign_id}")
        segment = frame["segment"].astype(object).where(frame["segment"].notna(), None)
        rows = zip(
            frame["campaign_id"].astype(str),
            frame["customer_id"].astype(str),
            frame["arm"].astype(str),
            _ns(frame["sent_at"]),
            frame["propensity"].astype(float).tolist(),
            frame["policy_version"].astype(int).tolist(),
            [None if s is None else str(s) for s in segment],
            frame["holdout"].astype(bool).astype(int).tolist(),
            strict=True,
        )
        with self._transaction() as conn:
            before = conn.total_changes
            conn.executemany("INSERT OR IGNORE INTO assignments VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            return conn.total_changes - before

    def count(self) -> int:
        return int(self._connect().execute("SELECT COUNT(*) FROM assignments").fetchone()[0])

    def assigned_ids(self) -> set[str]:
        return {r[0] for r in self._connect().execute("SELECT customer_id FROM assignments")}

    def assignments(self) -> pd.DataFrame:
        """Every assignment in arrival order, with ``ASSIGNMENT_COLUMNS`` (``sent_at`` naive UTC).

        Built column by column from one scan (the campaign id, constant here, is not read): a million rows in
        about two seconds, most of it SQLite handing each value to Python."""
        rows = self._connect().execute(
            "SELECT customer_id, arm, sent_at, propensity, policy_version, segment, holdout FROM assignments "
            "ORDER BY rowid"
        )
        columns = list(zip(*rows.fetchall(), strict=True)) or [() for _ in range(7)]
        ids, arms, sent, propensity, version, segment, holdout = columns
        return pd.DataFrame(
            {
                "campaign_id": pd.Series(self.campaign_id, index=range(len(ids)), dtype=object),
                "customer_id": pd.Series(ids, dtype=object),
                "arm": pd.Series(arms, dtype=object),
                "sent_at": pd.to_datetime(np.asarray(sent, dtype="int64"), unit="ns"),
                "propensity": np.asarray(propensity, dtype="float64"),
                "policy_version": np.asarray(version, dtype="int64"),
                "segment": pd.Series(segment, dtype=object),
                "holdout": np.asarray(holdout, dtype=bool),
            }
        )

    # -- outcomes ----------------------------------------------------------------------------------------------

    def add_outcomes(self, frame: pd.DataFrame) -> dict[str, int]:
        """Insert validated outcomes; a row with the same customer and time as a stored one is a duplicate and
        is ignored (ingesting a file twice changes nothing). Returns counts: rows added, duplicates."""
        rows = zip(
            frame["campaign_id"].astype(str),
            frame["customer_id"].astype(str),
            frame["outcome"].astype(float).tolist(),
            _ns(frame["observed_at"]),
            strict=True,
        )
        with self._transaction() as conn:
            before = conn.total_changes
            conn.executemany("INSERT OR IGNORE INTO outcomes VALUES (?, ?, ?, ?)", rows)
            added = conn.total_changes - before
        return {"added": added, "duplicates": len(frame) - added}

    def outcomes(self) -> pd.DataFrame:
        """Every outcome, with ``OUTCOME_COLUMNS`` (``observed_at`` naive UTC), oldest first."""
        rows = self._connect().execute(
            "SELECT customer_id, outcome, observed_at FROM outcomes ORDER BY observed_at, rowid"
        )
        ids, outcome, observed = list(zip(*rows.fetchall(), strict=True)) or [() for _ in range(3)]
        return pd.DataFrame(
            {
                "campaign_id": pd.Series(self.campaign_id, index=range(len(ids)), dtype=object),
                "customer_id": pd.Series(ids, dtype=object),
                "outcome": np.asarray(outcome, dtype="float64"),
                "observed_at": pd.to_datetime(np.asarray(observed, dtype="int64"), unit="ns"),
            }
        )


def _row_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    out = dict(zip(ASSIGNMENT_COLUMNS, row, strict=True))
    out["holdout"] = bool(out["holdout"])
    return out


@dataclass(frozen=True)
class CampaignStore:
    """One campaign's folder: spec, allocations and log."""

    ws: Workspace
    campaign_id: str

    def __post_init__(self) -> None:
        check_campaign_id(self.campaign_id)

    @property
    def path(self) -> Path:
        return campaigns_root(self.ws) / self.campaign_id

    @property
    def allocations_dir(self) -> Path:
        return self.path / "allocations"

    @property
    def current_pointer(self) -> Path:
        return self.allocations_dir / CURRENT

    def exists(self) -> bool:
        return (self.path / SPEC_FILE).is_file()

    def require(self) -> CampaignStore:
        if not self.exists():
            known = list_campaigns(self.ws)
            raise CampaignNotFound(
                f"no campaign {self.campaign_id!r} in {campaigns_root(self.ws)}"
                f" (campaigns there: {known or 'none'}); start one with `cxml campaign start --campaign ID ...`"
            )
        return self

    @classmethod
    def create(cls, ws: Workspace, spec: CampaignSpec, first: Allocation) -> CampaignStore:
        """Write the spec, the log and allocation v1; refuses an id that is taken."""
        store = cls(ws, spec.campaign_id)
        if store.exists():
            raise CampaignExists(f"campaign {spec.campaign_id!r} already exists in {store.path}; pick another id")
        store.allocations_dir.mkdir(parents=True, exist_ok=True)
        store.log().create()
        store.write_allocation(first)
        _atomic_write(store.path / SPEC_FILE, yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False))
        return store

    def spec(self) -> CampaignSpec:
        self.require()
        path = self.path / SPEC_FILE
        try:
            return CampaignSpec.model_validate(yaml.safe_load(path.read_text()))
        except (yaml.YAMLError, ValueError) as exc:
            raise ValueError(f"{path}: not a valid campaign spec: {exc}") from None

    def log(self) -> CampaignLog:
        return CampaignLog(self.path / LOG_FILE, self.campaign_id)

    # -- allocations -------------------------------------------------------------------------------------------

    def current_version(self) -> int | None:
        try:
            return int(self.current_pointer.read_text().strip())
        except FileNotFoundError:
            return None

    def allocation(self, version: int | None = None) -> Allocation:
        """Allocation ``version`` (default: the current one)."""
        version = self.current_version() if version is None else version
        if version is None:
            raise CampaignNotFound(f"campaign {self.campaign_id!r} has no allocation yet ({self.allocations_dir})")
        return Allocation.from_json((self.allocations_dir / f"v{version}.json").read_text())

    def allocations(self) -> list[Allocation]:
        """Every allocation written, oldest first (the readout page plots shares over versions)."""
        files = sorted(self.allocations_dir.glob("v*.json"), key=lambda p: int(p.stem[1:]))
        return [Allocation.from_json(p.read_text()) for p in files]

    def write_allocation(self, allocation: Allocation) -> Path:
        """Create ``v<N>.json`` (never overwriting one), then point ``current`` at it."""
        if allocation.campaign_id != self.campaign_id:
            raise ValueError(f"allocation of {allocation.campaign_id!r} written to campaign {self.campaign_id!r}")
        _check_shares(allocation)
        final = self.allocations_dir / f"v{allocation.version}.json"
        fd, tmp = tempfile.mkstemp(dir=self.allocations_dir, prefix=f".{final.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(allocation.to_json())
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, final)  # atomic create-if-absent: a racing update gets FileExistsError
            except FileExistsError:
                raise AllocationConflict(
                    f"allocation v{allocation.version} of {self.campaign_id!r} already exists ({final}): another "
                    "update wrote it first; run the update again"
                ) from None
        finally:
            Path(tmp).unlink(missing_ok=True)
        _atomic_write(self.current_pointer, f"{allocation.version}\n")
        return final


def _check_shares(allocation: Allocation) -> None:
    rows: Iterable[tuple[str, Mapping[str, float]]] = [
        *allocation.shares.items(),
        *allocation.customer_shares.items(),
    ]
    for key, shares in rows:
        total = sum(shares.values())
        if not shares or abs(total - 1.0) > 1e-6 or any(p < 0 for p in shares.values()):
            raise ValueError(f"allocation v{allocation.version} shares for {key!r} must be ≥ 0 and sum to 1: {shares}")


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- outcome files ---------------------------------------------------------------------------------------------


def _rows(mask: pd.Series) -> str:
    """Data rows (1 = the first row after a CSV header) where ``mask`` holds, the first five."""
    where = np.flatnonzero(mask.to_numpy(dtype=bool)) + 1
    shown = ", ".join(map(str, where[:5])) + (f" and {len(where) - 5} more" if len(where) > 5 else "")
    return f"{len(where)} rows: {shown}"


def read_outcome_file(path: Path, spec: CampaignSpec) -> tuple[pd.DataFrame, int]:
    """An outcome file (CSV or Parquet, ``OUTCOME_COLUMNS``) validated against the campaign, or an
    ``OutcomeFileError`` naming the file, the column, the rule and the rows. Rows of other campaigns are dropped
    (a feed may carry several); returns this campaign's rows and the rows the file had."""
    path = Path(path)
    if not path.is_file():
        raise OutcomeFileError(f"{path}: no such file")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, dtype={"campaign_id": str, "customer_id": str})
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        kind = "Parquet" if path.suffix.lower() in (".parquet", ".pq") else "CSV"
        raise OutcomeFileError(f"{path}: cannot be read as {kind}: {exc}") from None
    missing = [c for c in OUTCOME_COLUMNS if c not in frame.columns]
    if missing:
        raise OutcomeFileError(f"{path}: missing column(s) {missing}; an outcome file has {list(OUTCOME_COLUMNS)}")
    frame = frame[list(OUTCOME_COLUMNS)].reset_index(drop=True)
    for col in ("campaign_id", "customer_id"):
        empty = frame[col].isna() | (frame[col].astype(str).str.strip() == "")
        if empty.any():
            raise OutcomeFileError(f"{path}: column {col!r}: must not be empty ({_rows(empty)})")
    outcome = pd.to_numeric(frame["outcome"], errors="coerce")
    bad = outcome.isna() | ~np.isfinite(outcome.fillna(0.0))
    if bad.any():
        raise OutcomeFileError(f"{path}: column 'outcome': must be a finite number ({_rows(bad)})")
    if spec.outcome == "binary":
        bad = ~outcome.isin([0.0, 1.0])
        if bad.any():
            raise OutcomeFileError(f"{path}: column 'outcome': a binary campaign's outcome is 0 or 1 ({_rows(bad)})")
    observed = pd.to_datetime(frame["observed_at"], errors="coerce", utc=True, format="mixed")
    bad = observed.isna()
    if bad.any():
        raise OutcomeFileError(f"{path}: column 'observed_at': must be a date or time ({_rows(bad)})")
    out = pd.DataFrame(
        {
            "campaign_id": frame["campaign_id"].astype(str),
            "customer_id": frame["customer_id"].astype(str),
            "outcome": outcome.astype("float64"),
            "observed_at": observed.dt.tz_localize(None),
        }
    )
    return out.loc[out["campaign_id"] == spec.campaign_id].reset_index(drop=True), len(out)


def ingest_outcomes(store: CampaignStore, path: Path, assigned: pd.Series | None = None) -> dict[str, int]:
    """Validate and add an outcome file to the campaign's log; returns rows read, added, duplicates, rows of other
    campaigns and outcomes of customers the log has not assigned (kept: they may be assigned later). ``assigned``:
    the customer ids of the log when the caller has read them already."""
    frame, total = read_outcome_file(path, store.spec())
    log = store.log()
    counts = log.add_outcomes(frame)
    ids = assigned if assigned is not None else pd.Series(sorted(log.assigned_ids()), dtype=object)
    unmatched = int((~frame["customer_id"].isin(ids)).sum()) if len(frame) else 0
    return {"rows": total, **counts, "other_campaigns": total - len(frame), "unassigned_customers": unmatched}
