"""The data contract: the tables a company brings, their schemas, and validation at the boundary.

A bad table fails here, before anything is written, with the table, column, rule and first offending rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

Kind = Literal["string", "int", "float", "bool", "datetime"]

IDENTIFIER_TYPES = frozenset({"email_hash", "phone_hash", "cookie", "loyalty_card", "device"})
REFERRER_TYPES = frozenset({"campaign", "affiliate", "social", "paid_search", "organic", "direct"})
CONTROL_ARM = "control"


@dataclass(frozen=True)
class Column:
    """One column: its kind, whether it may be null, and optional value rules."""

    name: str
    kind: Kind
    nullable: bool = False
    allowed: frozenset[str] | None = None
    min_value: float | None = None
    optional: bool = False
    """The table may leave the column out; when it is there its rules apply."""


@dataclass(frozen=True)
class ForeignKey:
    column: str
    table: str
    ref_column: str


@dataclass(frozen=True)
class TableSchema:
    """A contract table. ``key`` is unique and never null; ``time_column`` must not lie in the future; a table with
    ``min_rows`` cannot be empty (a company without customers, products or orders cannot be modelled)."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    time_columns: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    required: bool = True
    min_rows: int = 0

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


_CUSTOMER_FK = ForeignKey("customer_id", "customers", "customer_id")

SCHEMAS: dict[str, TableSchema] = {
    s.name: s
    for s in (
        TableSchema(
            "customers",
            (
                Column("customer_id", "string"),
                Column("signup_at", "datetime"),
                Column("region", "string"),
                Column("birth_year", "int", nullable=True, min_value=1900),
                Column("gender", "string", nullable=True),
                Column("consent_marketing", "bool"),
                Column("consent_profiling", "bool"),
                Column("preferred_channel", "string"),
            ),
            key=("customer_id",),
            time_columns=("signup_at",),
            min_rows=1,
        ),
        TableSchema(
            "identities",
            (
                Column("identifier", "string"),
                Column("identifier_type", "string", allowed=IDENTIFIER_TYPES),
                Column("customer_id", "string", nullable=True),
            ),
            key=("identifier",),
            foreign_keys=(_CUSTOMER_FK,),
        ),
        TableSchema(
            "products",
            (
                Column("product_id", "string"),
                Column("category", "string"),
                Column("list_price", "float", min_value=0.0),
                Column("unit_cost", "float", min_value=0.0),
            ),
            key=("product_id",),
            min_rows=1,
        ),
        TableSchema(
            "orders",
            (
                Column("order_id", "string"),
                Column("line_no", "int", min_value=0),
                Column("customer_id", "string"),
                Column("ts", "datetime"),
                Column("product_id", "string"),
                Column("quantity", "int"),
                Column("unit_price", "float", min_value=0.0),
                Column("discount", "float", min_value=0.0),
                Column("channel", "string"),
                Column("campaign_id", "string", nullable=True),
                Column("returned", "bool"),
            ),
            key=("order_id", "line_no"),
            time_columns=("ts",),
            foreign_keys=(_CUSTOMER_FK, ForeignKey("product_id", "products", "product_id")),
            min_rows=1,
        ),
        TableSchema(
            "events",
            (
                Column("identifier", "string", nullable=True),
                Column("customer_id", "string", nullable=True),
                Column("ts", "datetime"),
                Column("event_type", "string"),
                Column("device", "string"),
                Column("os", "string"),
                Column("browser", "string"),
                Column("referrer_type", "string", allowed=REFERRER_TYPES),
                Column("country", "string"),
            ),
            time_columns=("ts",),
            foreign_keys=(_CUSTOMER_FK,),
        ),
        TableSchema(
            "service_contacts",
            (
                Column("contact_id", "string"),
                Column("customer_id", "string"),
                Column("ts", "datetime"),
                Column("channel", "string"),
                Column("reason", "string"),
                Column("resolved", "bool"),
                Column("survey_score", "float", nullable=True),
                Column("sentiment", "float", nullable=True),
            ),
            key=("contact_id",),
            time_columns=("ts",),
            foreign_keys=(_CUSTOMER_FK,),
        ),
        TableSchema(
            "campaigns",
            (
                Column("campaign_id", "string"),
                Column("channel", "string"),
                Column("offer", "string"),
                Column("start_at", "datetime"),
                Column("end_at", "datetime"),
                Column("cost_per_contact", "float", min_value=0.0),
                Column("incentive_cost", "float", min_value=0.0),
            ),
            key=("campaign_id",),
            time_columns=("start_at",),
        ),
        TableSchema(
            "exposures",
            (
                Column("campaign_id", "string"),
                Column("customer_id", "string"),
                Column("arm", "string"),
                Column("sent_at", "datetime"),
                # how the arm was drawn (DESIGN §11): absent = uniform over the arms present
                Column("propensity", "float", nullable=True, optional=True),
                Column("policy_version", "string", nullable=True, optional=True),
            ),
            key=("campaign_id", "customer_id"),
            time_columns=("sent_at",),
            foreign_keys=(_CUSTOMER_FK, ForeignKey("campaign_id", "campaigns", "campaign_id")),
        ),
        TableSchema(
            "prices",
            (
                Column("product_id", "string"),
                Column("channel", "string"),
                Column("valid_from", "datetime"),
                Column("price", "float", min_value=0.0),
            ),
            key=("product_id", "channel", "valid_from"),
            time_columns=("valid_from",),
            foreign_keys=(ForeignKey("product_id", "products", "product_id"),),
            required=False,
        ),
    )
}

TABLE_NAMES: tuple[str, ...] = tuple(SCHEMAS)


@dataclass(frozen=True)
class Violation:
    """One broken rule, with enough context to find and fix the rows.

    ``column`` is ``*`` for a rule about the whole table (missing, empty or unreadable file); such a violation
    has no rows to show and its ``n_rows`` is 0.
    """

    table: str
    column: str
    rule: str
    n_rows: int
    examples: pd.DataFrame = field(repr=False, compare=False)

    def __str__(self) -> str:
        where = f"{self.table}.{self.column}: {self.rule}"
        if self.examples.empty:
            return f"{where} ({self.n_rows} rows)" if self.n_rows else where
        sample = self.examples.head(5).to_string(index=True, max_colwidth=40)
        return f"{where} ({self.n_rows} rows), first offending rows:\n{sample}"


class ContractError(ValueError):
    """Raised when tables break the data contract; carries every violation found."""

    def __init__(self, violations: list[Violation]):
        self.violations = violations
        super().__init__("data contract violated:\n" + "\n\n".join(str(v) for v in violations))


class MissingTableError(ContractError, FileNotFoundError):
    """A required table has no file: a contract violation that is also a ``FileNotFoundError``."""


MISSING_TABLE = "missing table"


def table_violation(table: str, rule: str) -> Violation:
    """A rule broken by the whole table (no rows to show): missing, empty, or a file that cannot be read."""
    return Violation(table, "*", rule, 0, pd.DataFrame())


def row_violation(table: str, column: str, rule: str, frame: pd.DataFrame, mask: pd.Series | np.ndarray) -> Violation:
    """A rule broken by the rows of ``frame`` where ``mask`` holds (a null in the mask counts as not broken)."""
    flags = np.asarray(pd.Series(mask, dtype="boolean").fillna(False), dtype=bool)
    return Violation(table, column, rule, int(flags.sum()), frame.loc[flags].head(5))


def _kind_ok(series: pd.Series, kind: Kind) -> bool:
    api = pd.api.types
    if kind == "string":
        return bool(
            api.is_string_dtype(series)
            or (api.is_object_dtype(series) and series.dropna().map(lambda v: isinstance(v, str)).all())
        )
    if kind == "int":
        return bool(api.is_integer_dtype(series) and not api.is_bool_dtype(series))
    if kind == "float":
        return bool(api.is_numeric_dtype(series) and not api.is_bool_dtype(series))
    if kind == "bool":
        return bool(api.is_bool_dtype(series))
    return bool(api.is_datetime64_any_dtype(series))


def _check_table(schema: TableSchema, frame: pd.DataFrame, now: pd.Timestamp) -> list[Violation]:
    out: list[Violation] = []
    mistyped = False
    missing = [c.name for c in schema.columns if not c.optional and c.name not in frame.columns]
    if missing:
        found = ", ".join(map(str, frame.columns[:12])) + (", …" if len(frame.columns) > 12 else "")
        rule = f"missing column (found: {found or 'no columns'})"
        return [Violation(schema.name, c, rule, 0, pd.DataFrame()) for c in missing]
    if len(frame) < schema.min_rows:
        out.append(table_violation(schema.name, f"empty table: a company without {schema.name} cannot be modelled"))
    for col in schema.columns:
        if col.name not in frame.columns:  # an optional column left out
            continue
        s = frame[col.name]
        if not col.nullable and s.isna().any():
            out.append(row_violation(schema.name, col.name, "null in a non-nullable column", frame, s.isna()))
        if not _kind_ok(s, col.kind):
            out.append(
                Violation(
                    schema.name,
                    col.name,
                    f"expected {col.kind}, found dtype {s.dtype}",
                    len(frame),
                    frame.head(5),
                )
            )
            mistyped = True
            continue
        if col.allowed is not None:
            bad = s.notna() & ~s.isin(col.allowed)
            if bad.any():
                out.append(row_violation(schema.name, col.name, f"value not in {sorted(col.allowed)}", frame, bad))
        if col.kind == "float":
            bad = pd.Series(np.isinf(s.to_numpy(dtype="float64", na_value=np.nan)), index=frame.index)
            if bad.any():
                out.append(row_violation(schema.name, col.name, "infinite value", frame, bad))
        if col.min_value is not None:
            bad = s.notna() & (s < col.min_value)
            if bad.any():
                out.append(row_violation(schema.name, col.name, f"value below {col.min_value}", frame, bad))
    for tcol in schema.time_columns:
        s = frame[tcol]
        if pd.api.types.is_datetime64_any_dtype(s):
            future = s > _align_tz(now, s)
            if future.any():
                out.append(row_violation(schema.name, tcol, f"timestamp in the future (after {now})", frame, future))
    if schema.key:
        dup = frame.duplicated(list(schema.key), keep=False)
        if dup.any():
            out.append(row_violation(schema.name, ",".join(schema.key), "duplicate key", frame, dup))
    if not mistyped:  # rules across columns need the right kinds; a wrong kind was reported above
        out.extend(_table_rules(schema.name, frame))
    return out


def _align_tz(now: pd.Timestamp, s: pd.Series) -> pd.Timestamp:
    tz = getattr(s.dt, "tz", None)
    if tz is not None and now.tzinfo is None:
        return now.tz_localize(tz)
    if tz is None and now.tzinfo is not None:
        return now.tz_convert(None)
    return now


def _table_rules(name: str, frame: pd.DataFrame) -> list[Violation]:
    """Rules that span columns of one table."""
    out = []
    if name == "orders":
        bad = (frame["quantity"] < 0) & ~frame["returned"].astype("boolean").fillna(True)  # a null was reported
        if bad.any():
            out.append(row_violation(name, "quantity", "negative quantity on a line that is not a return", frame, bad))
        bad = frame["quantity"] == 0
        if bad.any():
            out.append(row_violation(name, "quantity", "zero quantity", frame, bad))
    if name == "events":
        bad = frame["identifier"].isna() & frame["customer_id"].isna()
        if bad.any():
            out.append(row_violation(name, "identifier,customer_id", "neither identifier nor customer_id", frame, bad))
    if name == "exposures" and "propensity" in frame.columns:
        p = frame["propensity"]
        bad = p.notna() & ((p <= 0) | (p > 1))
        if bad.any():
            out.append(row_violation(name, "propensity", "propensity outside (0, 1]", frame, bad))
    if name == "campaigns":
        bad = frame["end_at"] < frame["start_at"]
        if bad.any():
            out.append(row_violation(name, "end_at", "campaign ends before it starts", frame, bad))
    return out


def _check_foreign_keys(schema: TableSchema, tables: Mapping[str, pd.DataFrame]) -> list[Violation]:
    out = []
    frame = tables[schema.name]
    for fk in schema.foreign_keys:
        if fk.table not in tables or fk.column not in frame.columns or fk.ref_column not in tables[fk.table]:
            continue  # a missing table or column was reported as such
        s = frame[fk.column]
        orphan = s.notna() & ~s.isin(tables[fk.table][fk.ref_column])
        if orphan.any():
            rule = f"orphan: not in {fk.table}.{fk.ref_column}"
            out.append(row_violation(schema.name, fk.column, rule, frame, orphan))
    return out


def validate_tables(tables: Mapping[str, pd.DataFrame], now: pd.Timestamp | None = None) -> None:
    """Check every table against its schema and the foreign keys between them.

    Raises ContractError listing all violations; returns None when the tables are valid.
    """
    now = pd.Timestamp.now() if now is None else pd.Timestamp(now)
    violations: list[Violation] = []
    for name, schema in SCHEMAS.items():
        if name not in tables:
            if schema.required:
                violations.append(table_violation(name, MISSING_TABLE))
            continue
        table_violations = _check_table(schema, tables[name], now)
        violations.extend(table_violations)
        if not any(v.rule.startswith("missing column") for v in table_violations):
            violations.extend(_check_foreign_keys(schema, tables))
    if violations:
        raise ContractError(violations)
