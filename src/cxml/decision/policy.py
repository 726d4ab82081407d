"""Contact policy for the next best action: who may be contacted, how often, and who is held out.

Rules, applied in this order (``ContactPolicy``, configured in ``pipelines/policy.yaml``):

1. **Holdout.** A persistent random share of customers always gets "do nothing", so the decisions can be
   measured against them. Membership is a salted hash of the customer id: the same customer stays in (or out)
   across requests, restarts and machines, and changing the salt draws a new holdout.
2. **Consent.** A customer without marketing consent gets no marketing action, only service actions or nothing.
3. **Contact caps.** No marketing action once the customer has had ``max_contacts_7d`` contacts in the last
   7 days or ``max_contacts_30d`` in the last 30 days (rolling windows ending now, from the exposure history).
4. **Cooldown.** No marketing action within ``cooldown_days`` after a negative response: a service contact with
   sentiment ≤ ``negative_sentiment`` or survey score ≤ ``negative_survey`` within ``response_window_days`` after
   a marketing contact.

Among the actions left, the one with the highest expected incremental value is chosen when that value is
positive; otherwise "do nothing" (worth 0). Pure: frames and dataclasses in, decisions out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field

DO_NOTHING = "do_nothing"
ActionKind = Literal["marketing", "service", "none"]


class ContactPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_contacts_7d: int = Field(1, ge=0, description="marketing contacts allowed in any 7 days")
    max_contacts_30d: int = Field(3, ge=0, description="marketing contacts allowed in any 30 days")
    cooldown_days: int = Field(60, ge=0, description="no marketing this long after a negative response")
    response_window_days: int = Field(14, gt=0, description="a service contact this soon after a send is a response")
    negative_sentiment: float = Field(-0.5, ge=-1, le=1, description="sentiment at or below this is negative")
    negative_survey: float = Field(2.0, description="survey score at or below this is negative")
    holdout_share: float = Field(0.05, ge=0, lt=1, description="share of customers always given do_nothing")
    holdout_salt: str = Field("cxml-nba-v1", min_length=1, description="change it to draw a new holdout")

    @classmethod
    def from_yaml(cls, path: Path) -> ContactPolicy:
        with open(path) as fh:
            return cls.model_validate(yaml.safe_load(fh) or {})


@dataclass(frozen=True)
class ContactState:
    """What the policy needs to know about one customer at decision time."""

    consent_marketing: bool
    contacts: tuple[pd.Timestamp, ...] = ()
    """Times of past marketing contacts (any order; those at or after ``now`` are ignored)."""
    last_negative_at: pd.Timestamp | None = None


@dataclass(frozen=True)
class Action:
    """A candidate action and its economics: value = effect × value_per_response − cost."""

    name: str
    kind: ActionKind
    expected_value: float
    effect: float = 0.0
    value_per_response: float = 0.0
    cost: float = 0.0
    reason: str = ""


@dataclass(frozen=True)
class Decision:
    chosen: Action
    runners_up: list[Action]
    blocked: dict[str, str] = field(default_factory=dict)
    """Action name → why the policy ruled it out."""
    holdout: bool = False
    reasons: list[str] = field(default_factory=list)


def in_holdout(customer_id: str, share: float, salt: str) -> bool:
    """Persistent random holdout: the salted SHA-256 of the id, read as a number in [0, 1), is below ``share``."""
    digest = hashlib.sha256(f"{salt}\x1f{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def do_nothing(reason: str = "no action is worth its cost") -> Action:
    return Action(DO_NOTHING, "none", 0.0, reason=reason)


def marketing_block(state: ContactState, now: pd.Timestamp, policy: ContactPolicy) -> str | None:
    """Why marketing is ruled out for this customer now (None when it is allowed)."""
    if not state.consent_marketing:
        return "no marketing consent"
    past = np.array([t for t in state.contacts if t < now], dtype="datetime64[ns]")
    in_7 = int((past >= np.datetime64(now - pd.Timedelta(days=7))).sum())
    in_30 = int((past >= np.datetime64(now - pd.Timedelta(days=30))).sum())
    if in_7 >= policy.max_contacts_7d:
        return f"contact cap: {in_7} contacts in the last 7 days (cap {policy.max_contacts_7d})"
    if in_30 >= policy.max_contacts_30d:
        return f"contact cap: {in_30} contacts in the last 30 days (cap {policy.max_contacts_30d})"
    if state.last_negative_at is not None and now - state.last_negative_at < pd.Timedelta(days=policy.cooldown_days):
        days = (now - state.last_negative_at).days
        return f"cooldown: negative response {days} days ago (cooldown {policy.cooldown_days} days)"
    return None


def decide(
    customer_id: str,
    actions: Sequence[Action],
    state: ContactState,
    now: pd.Timestamp,
    policy: ContactPolicy,
    *,
    n_runners_up: int = 3,
) -> Decision:
    """The best allowed action for one customer (module rules), the runners-up and what was blocked and why."""
    ranked = sorted(actions, key=lambda a: a.expected_value, reverse=True)
    if in_holdout(customer_id, policy.holdout_share, policy.holdout_salt):
        reason = f"in the measurement holdout ({policy.holdout_share:.0%} of customers always get do_nothing)"
        return Decision(do_nothing(reason), ranked[:n_runners_up], {}, holdout=True, reasons=[reason])
    blocked: dict[str, str] = {}
    block = marketing_block(state, now, policy)
    allowed = []
    for action in ranked:
        if action.kind == "marketing" and block is not None:
            blocked[action.name] = block
        else:
            allowed.append(action)
    positive = [a for a in allowed if a.expected_value > 0 and a.kind != "none"]
    if positive:
        chosen = positive[0]
        reasons = [f"{chosen.name}: expected incremental value {chosen.expected_value:.2f} > 0", chosen.reason]
    else:
        chosen = do_nothing()
        reasons = ["no allowed action has a positive expected incremental value"]
    if block is not None and blocked:
        reasons.append(f"marketing ruled out: {block}")
    runners_up = [a for a in allowed if a.name != chosen.name][:n_runners_up]
    return Decision(chosen, runners_up, blocked, reasons=[r for r in reasons if r])


def contact_states(
    tables: Mapping[str, pd.DataFrame], as_of: str | pd.Timestamp, policy: ContactPolicy
) -> pd.DataFrame:
    """Each customer's consent, marketing contacts in the 30 days before ``as_of`` and last negative response.

    Columns: ``consent_marketing`` (bool), ``contacts`` (tuple of timestamps), ``last_negative_at`` (or NaT);
    indexed by ``customer_id``. Only rows strictly before ``as_of`` are read.
    """
    as_of = pd.Timestamp(as_of)
    customers = tables["customers"].set_index("customer_id")
    exposures = tables["exposures"]
    exposures = exposures.loc[exposures["sent_at"] < as_of, ["customer_id", "sent_at"]]
    recent = exposures.loc[exposures["sent_at"] >= as_of - pd.Timedelta(days=30)]
    contacts = recent.groupby("customer_id")["sent_at"].agg(lambda s: tuple(sorted(s)))
    service = tables["service_contacts"]
    service = service.loc[service["ts"] < as_of]
    negative = service["sentiment"].le(policy.negative_sentiment) | service["survey_score"].le(policy.negative_survey)
    service = service.loc[negative.fillna(False).astype(bool), ["customer_id", "ts"]]
    # a negative contact is a response when it follows a marketing send within the response window
    pairs = service.merge(exposures, on="customer_id")
    window = pd.Timedelta(days=policy.response_window_days)
    responses = pairs.loc[(pairs["ts"] >= pairs["sent_at"]) & (pairs["ts"] - pairs["sent_at"] <= window)]
    last_negative = responses.groupby("customer_id")["ts"].max()
    out = pd.DataFrame(index=customers.index.astype(str))
    out["consent_marketing"] = customers["consent_marketing"].astype(bool).to_numpy()
    out["contacts"] = contacts.reindex(out.index).apply(lambda v: v if isinstance(v, tuple) else ())
    out["last_negative_at"] = last_negative.reindex(out.index)
    return out


def state_of(row: pd.Series) -> ContactState:
    """A ``contact_states`` row as the policy's ``ContactState``."""
    last = row["last_negative_at"]
    return ContactState(
        consent_marketing=bool(row["consent_marketing"]),
        contacts=tuple(pd.Timestamp(t) for t in row["contacts"]),
        last_negative_at=None if pd.isna(last) else pd.Timestamp(last),
    )
