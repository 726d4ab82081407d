"""Lifecycle stage of every customer at a cut-off, by documented rules, and the migration between two cut-offs.

Rules (``StageRules``, defaults in brackets), applied in this order, first match wins. *Silence* is the days
since the last kept purchase (an order with at least one line not returned), or since sign-up when there is
none; only rows before ``as_of`` are read.

1. **new**: signed up less than ``new_days`` [100] days ago (``new_from="first_purchase"``: first kept purchase
   less than 100 days ago, or no purchase yet and signed up less than 100 days ago).
2. **won back**: came back after a lapse, i.e. a gap of at least ``lapse_days`` [180] between two consecutive
   kept purchases that ended less than ``won_back_days`` [90] days ago (needs the orders table).
3. **active**: silence of at most ``active_days`` [90] and not overdue: a customer with two or more purchases
   is overdue when the silence is at least ``overdue_gap_ratio`` [3] times their mean gap between purchases and
   at least ``overdue_min_days`` [30] days.
4. **at risk**: silence of at most ``at_risk_days`` [180] (or active by silence but overdue).
5. **sleeping**: silence of at most ``sleeping_days`` [365].
6. **churned**: longer silence.

From a customer-360 feature frame (``tenure_days``, ``recency_days``, ``mean_gap_days``) the same rules apply,
except *won back*, which needs the purchase history: nobody is won back from features alone, and
``new_from="first_purchase"`` is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Self, TypeAlias

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

STAGES: tuple[str, ...] = ("new", "active", "won back", "at risk", "sleeping", "churned")
"""The stages, from the newest relationship to the lost one."""
NOT_YET = "not a customer yet"
"""Migration row for customers who signed up between the two cut-offs."""
GONE = "not in the later table"
"""Migration column for customers present at the first cut-off and absent from the second."""

_DAY = pd.Timedelta(days=1)


class StageRules(BaseModel):
    """Thresholds of the lifecycle-stage rules, in days (module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    new_days: float = Field(100, gt=0, description="younger relationships are 'new'")
    new_from: str = Field("signup", pattern="^(signup|first_purchase)$", description="what 'new' counts from")
    active_days: float = Field(90, gt=0, description="silence up to this is 'active'")
    at_risk_days: float = Field(180, gt=0, description="silence up to this is 'at risk'")
    sleeping_days: float = Field(365, gt=0, description="silence up to this is 'sleeping'; longer is 'churned'")
    overdue_gap_ratio: float | None = Field(3.0, gt=1, description="silence / mean gap that makes 'at risk'")
    overdue_min_days: float = Field(30, ge=0, description="an overdue silence must also be this long")
    lapse_days: float = Field(180, gt=0, description="a gap between purchases this long is a lapse")
    won_back_days: float = Field(90, gt=0, description="a return after a lapse this recent is 'won back'")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not self.active_days < self.at_risk_days < self.sleeping_days:
            raise ValueError(
                f"need active_days < at_risk_days < sleeping_days, got {self.active_days}, "
                f"{self.at_risk_days}, {self.sleeping_days}"
            )
        return self


Source: TypeAlias = Mapping[str, pd.DataFrame] | pd.DataFrame


def stage_at(source: Source, as_of: str | pd.Timestamp, rules: StageRules | None = None) -> pd.DataFrame:
    """Each customer's lifecycle stage at ``as_of`` and the numbers the rules read, indexed by ``customer_id``.

    ``source`` is either contract tables (``customers`` with ``customer_id``, ``signup_at``; ``orders`` with
    ``customer_id``, ``ts`` and optionally ``returned``) or a customer-360 feature frame built at ``as_of``. Columns:
    ``stage`` (ordered categorical of ``STAGES``), ``days_since_signup``, ``days_since_first_purchase``,
    ``days_since_last_purchase``, ``silence_days``, ``mean_gap_days``, ``days_since_return`` (end of the last
    lapse; NaN when none) and ``reason`` in words.
    """
    rules = rules or StageRules()
    as_of_ts = pd.Timestamp(as_of)
    if isinstance(source, pd.DataFrame):
        facts = _facts_from_features(source, rules)
    else:
        facts = _facts_from_tables(source, as_of_ts, rules)
    return _apply_rules(facts, rules)


def _require(frame: pd.DataFrame, table: str, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{table} lacks column(s) {missing}; it has {list(frame.columns)[:12]}")


def _timestamps(frame: pd.DataFrame, table: str, column: str) -> pd.Series:
    ts = pd.to_datetime(frame[column], errors="coerce")
    bad = ts.isna() & frame[column].notna()
    if bad.any():
        raise ValueError(
            f"{table}.{column} holds values that are not times, e.g. {frame[column][bad].head(3).tolist()}"
        )
    if getattr(ts.dt, "tz", None) is not None:
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    return ts


def _facts_from_tables(tables: Mapping[str, pd.DataFrame], as_of: pd.Timestamp, rules: StageRules) -> pd.DataFrame:
    for name in ("customers", "orders"):
        if name not in tables:
            raise ValueError(f"stage_at needs table {name!r}; got {sorted(tables)}")
    customers, orders = tables["customers"], tables["orders"]
    _require(customers, "customers", ("customer_id", "signup_at"))
    _require(orders, "orders", ("customer_id", "ts"))
    signup = _timestamps(customers, "customers", "signup_at")
    known = customers.loc[(signup < as_of).to_numpy(), "customer_id"].astype(str)
    signup = signup[(signup < as_of).to_numpy()].set_axis(known.to_numpy())
    ts = _timestamps(orders, "orders", "ts")
    kept = ts < as_of
    if "returned" in orders.columns:  # optional for tables users bring: without it every line counts
        kept &= ~orders["returned"].fillna(False).astype(bool)
    buys = pd.DataFrame({"customer_id": orders["customer_id"].astype(str)[kept], "ts": ts[kept]})
    buys = buys.drop_duplicates().sort_values(["customer_id", "ts"], kind="stable")
    gap = buys["ts"].diff() / _DAY
    gap[buys["customer_id"].ne(buys["customer_id"].shift())] = np.nan
    returns = buys.loc[gap.to_numpy() >= rules.lapse_days]
    grouped = buys.groupby("customer_id")["ts"]
    first, last, count = grouped.min(), grouped.max(), grouped.size()
    mean_gap = ((last - first) / _DAY) / (count - 1).where(count > 1)
    last_return = returns.groupby("customer_id")["ts"].max()
    index = pd.Index(signup.index.union(first.index), name="customer_id").sort_values()
    signup = signup.reindex(index)
    return pd.DataFrame(
        {
            "days_since_signup": (as_of - signup) / _DAY,
            "days_since_first_purchase": (as_of - first.reindex(index)) / _DAY,
            "days_since_last_purchase": (as_of - last.reindex(index)) / _DAY,
            "mean_gap_days": mean_gap.reindex(index).astype(float),
            "days_since_return": (as_of - last_return.reindex(index)) / _DAY,
        },
        index=index,
    )


def _facts_from_features(features: pd.DataFrame, rules: StageRules) -> pd.DataFrame:
    _require(features, "the feature frame", ("tenure_days", "recency_days", "mean_gap_days"))
    if rules.new_from == "first_purchase":
        raise ValueError("new_from='first_purchase' needs the orders table: pass tables, not features")
    index = pd.Index(features.index.astype(str), name="customer_id")
    return pd.DataFrame(
        {
            "days_since_signup": features["tenure_days"].to_numpy(dtype=float),
            "days_since_first_purchase": np.nan,
            "days_since_last_purchase": features["recency_days"].to_numpy(dtype=float),
            "mean_gap_days": features["mean_gap_days"].to_numpy(dtype=float),
            "days_since_return": np.nan,
        },
        index=index,
    ).sort_index()


def _apply_rules(facts: pd.DataFrame, r: StageRules) -> pd.DataFrame:
    last, signup = facts["days_since_last_purchase"], facts["days_since_signup"]
    silence = last.fillna(signup).fillna(facts["days_since_first_purchase"])
    if r.new_from == "signup":
        age = signup.fillna(facts["days_since_first_purchase"])
    else:
        age = facts["days_since_first_purchase"].fillna(signup)
    new = age < r.new_days
    won_back = facts["days_since_return"] < r.won_back_days
    overdue = pd.Series(False, index=facts.index)
    if r.overdue_gap_ratio is not None:
        overdue = (silence >= r.overdue_gap_ratio * facts["mean_gap_days"]) & (silence >= r.overdue_min_days)
    active = (silence <= r.active_days) & ~overdue
    at_risk = silence <= r.at_risk_days
    sleeping = silence <= r.sleeping_days
    conditions = [new, won_back, active, at_risk, sleeping]
    order = ["new", "won back", "active", "at risk", "sleeping"]  # the rules in precedence order
    stage = np.select([c.to_numpy(dtype=bool) for c in conditions], order, default="churned")
    reasons = np.select(
        [c.to_numpy(dtype=bool) for c in conditions],
        [
            _says("customer for {:.0f} days, under {:.0f}", age, r.new_days),
            _says("back {:.0f} days ago after a lapse of {:.0f}+ days", facts["days_since_return"], r.lapse_days),
            _says("last purchase {:.0f} days ago, within {:.0f}", silence, r.active_days),
            _at_risk_reason(silence, facts["mean_gap_days"], overdue, r),
            _says("last purchase {:.0f} days ago, within {:.0f}", silence, r.sleeping_days),
        ],
        default=_says("last purchase {:.0f} days ago, more than {:.0f}", silence, r.sleeping_days),
    )
    never = last.isna().to_numpy() & (stage != STAGES[0])
    reasons = np.where(never, np.char.add(reasons.astype(str), " (no purchase since sign-up)"), reasons)
    out = facts.assign(silence_days=silence)
    out.insert(0, "stage", pd.Categorical(stage, categories=list(STAGES), ordered=True))
    out["reason"] = reasons
    return out


def _says(template: str, values: pd.Series, threshold: float) -> np.ndarray:
    return np.array([template.format(v, threshold) if not np.isnan(v) else "" for v in values.to_numpy(float)])


def _at_risk_reason(silence: pd.Series, gap: pd.Series, overdue: pd.Series, r: StageRules) -> np.ndarray:
    ratio = (silence / gap).to_numpy(float)
    late = _says("last purchase {:.0f} days ago, past {:.0f}", silence, r.active_days)
    return np.where(
        overdue.to_numpy(dtype=bool) & (silence.to_numpy(float) <= r.active_days),
        [f"last purchase {s:.0f} days ago, {q:.1f}× the usual gap" for s, q in zip(silence, ratio, strict=True)],
        late,
    )


# ---------------------------------------------------------------------------------------------------------------
# migration


@dataclass(frozen=True)
class Migration:
    """Stage movements between two cut-offs: counts, row shares, and each customer's pair of stages."""

    counts: pd.DataFrame
    shares: pd.DataFrame
    pairs: pd.DataFrame
    """One row per customer: ``before`` and ``after`` stage (``NOT_YET`` / ``GONE`` where absent)."""

    def moved(self, before: str, after: str) -> pd.Index:
        """The customers who were ``before`` at the first cut-off and ``after`` at the second."""
        labels = {*STAGES, NOT_YET, GONE}
        for stage in (before, after):
            if stage not in labels:
                raise ValueError(f"unknown stage {stage!r}; stages are {sorted(labels)}")
        mask = (self.pairs["before"] == before) & (self.pairs["after"] == after)
        return self.pairs.index[mask.to_numpy()]


def migration_matrix(a: pd.DataFrame | pd.Series, b: pd.DataFrame | pd.Series) -> Migration:
    """Customers by stage at the first cut-off (rows) and the second (columns), from two ``stage_at`` results.

    Rows are the stages plus ``NOT_YET`` (signed up in between); columns the stages plus ``GONE`` (missing from
    ``b``). ``shares`` divides each row by its total (the chance of moving from that stage to each other one).
    """
    before, after = _stages(a, "a"), _stages(b, "b")
    index = before.index.union(after.index)
    pairs = pd.DataFrame(
        {
            "before": before.reindex(index).astype(object).fillna(NOT_YET),
            "after": after.reindex(index).astype(object).fillna(GONE),
        },
        index=index,
    )
    rows, cols = [*STAGES, NOT_YET], [*STAGES, GONE]
    counts = pd.crosstab(pairs["before"], pairs["after"]).reindex(index=rows, columns=cols, fill_value=0)
    counts.index.name, counts.columns.name = "before", "after"
    totals = counts.sum(axis=1).replace(0, np.nan)
    shares = counts.div(totals, axis=0).fillna(0.0)
    return Migration(counts=counts.astype("int64"), shares=shares, pairs=pairs)


def _stages(x: pd.DataFrame | pd.Series, name: str) -> pd.Series:
    stages = x["stage"] if isinstance(x, pd.DataFrame) else x
    unknown = ~stages.astype(object).isin(STAGES)
    if unknown.any():
        raise ValueError(
            f"{name} holds unknown stages {stages[unknown].astype(object).unique()[:3].tolist()} "
            f"e.g. customers {list(stages.index[unknown.to_numpy()][:5])}; stages are {list(STAGES)}"
        )
    if stages.index.has_duplicates:
        raise ValueError(f"{name} lists customers twice: {stages.index[stages.index.duplicated()][:5].tolist()}")
    return stages.astype(object).set_axis(stages.index.astype(str))
