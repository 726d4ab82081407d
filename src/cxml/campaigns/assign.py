"""Assign one arriving customer to an arm of a running campaign, sticky and logged with its propensity.

The order of the rules, and why:

1. **Sticky.** A customer already in the log gets the same answer for the campaign's life (the log's UNIQUE key
   makes this hold across workers and processes too).
2. **May they be contacted?** Consent, contact caps and cooldown (``cxml.decision.policy.marketing_block``). A
   customer who may not be contacted is answered with the reason and *not* logged: they are outside the
   experiment, so leaving them out keeps the randomisation (and the holdout comparison) among the eligible only.
3. **Persistent holdout.** ``in_holdout(customer_id, spec.holdout_share, spec.holdout_salt)``, the same hash and
   salt as the next best action's: a holdout customer is logged on the control arm with ``holdout`` set and is
   never contacted (propensity 1: membership is a fixed function of the id).
4. **Draw.** The arm is drawn from the current allocation's shares for the customer (their own, their segment's or
   everyone's) with a uniform number hashed from the campaign, the customer and the allocation version: random
   with respect to everything the outcome depends on, yet reproducible, and the logged propensity is exactly the
   share the arm was drawn with.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from typing import Any

import pandas as pd

from cxml.campaigns.spec import Allocation, CampaignSpec
from cxml.campaigns.store import CampaignLog, CampaignStore, now_ns
from cxml.config import Workspace
from cxml.decision.policy import in_holdout

DRAW_SALT = "cxml-campaign-draw-v1"


def uniform_draw(campaign_id: str, customer_id: str, version: int) -> float:
    """A number in [0, 1) fixed by campaign, customer and allocation version (SHA-256, independent of the
    holdout's hash by its salt)."""
    digest = hashlib.sha256(f"{DRAW_SALT}\x1f{campaign_id}\x1f{customer_id}\x1f{version}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def draw_arm(shares: dict[str, float], u: float) -> tuple[str, float]:
    """The arm whose cumulative-share interval holds ``u``, and its share (the propensity). Arms with share 0
    are never drawn."""
    arms = [(arm, p) for arm, p in shares.items() if p > 0]
    total = sum(p for _, p in arms)
    edge = 0.0
    for arm, p in arms:
        edge += p / total
        if u < edge:
            return arm, p / total
    arm, p = arms[-1]
    return arm, p / total


@dataclass(frozen=True)
class Assignment:
    """What the service answers for one customer of one campaign."""

    campaign_id: str
    customer_id: str
    arm: str | None
    """The arm assigned (the control arm for a holdout customer); None when the customer may not be contacted."""
    contact: bool
    """True: send ``arm``. False: do not contact (holdout, or blocked by consent or contact rules)."""
    holdout: bool
    propensity: float | None
    policy_version: int | None
    segment: str | None
    assigned_at: str | None
    new: bool
    """True when this request made the assignment; False when it was already in the log (sticky)."""
    reason: str
    blocked: str | None = None
    """Why the customer may not be contacted (consent, cap, cooldown), when that is the answer."""


def _answer(spec: CampaignSpec, row: dict[str, Any], new: bool, reason: str) -> Assignment:
    return Assignment(
        campaign_id=spec.campaign_id,
        customer_id=str(row["customer_id"]),
        arm=str(row["arm"]),
        contact=not row["holdout"],
        holdout=bool(row["holdout"]),
        propensity=float(row["propensity"]),
        policy_version=int(row["policy_version"]),
        segment=row["segment"],
        assigned_at=pd.Timestamp(int(row["sent_at"]), unit="ns").isoformat() + "Z",
        new=new,
        reason=reason,
    )


def assign_customer(
    spec: CampaignSpec,
    allocation: Allocation,
    log: CampaignLog,
    customer_id: str,
    *,
    segment: str | None = None,
    block: str | None = None,
    sent_at_ns: int | None = None,
) -> Assignment:
    """The module's rules for one customer; logs a new assignment (insert-or-ignore, then read back)."""
    stored = log.get(customer_id)
    if stored is not None:
        return _answer(spec, stored, False, _sticky_reason(stored))
    if block is not None:
        return Assignment(
            spec.campaign_id, customer_id, None, False, False, None, None, segment, None, False,
            f"not contacted: {block}", blocked=block,
        )  # fmt: skip
    holdout = in_holdout(customer_id, spec.holdout_share, spec.holdout_salt)
    if holdout:
        arm, propensity = spec.control, 1.0
    else:
        shares = allocation.shares_for(customer_id, segment)
        arm, propensity = draw_arm(shares, uniform_draw(spec.campaign_id, customer_id, allocation.version))
    row = {
        "customer_id": customer_id,
        "arm": arm,
        "sent_at": now_ns() if sent_at_ns is None else sent_at_ns,
        "propensity": propensity,
        "policy_version": allocation.version,
        "segment": segment,
        "holdout": holdout,
    }
    stored, new = log.assign(row)
    reason = _new_reason(spec, allocation, stored) if new else _sticky_reason(stored)
    return _answer(spec, stored, new, reason)


def _new_reason(spec: CampaignSpec, allocation: Allocation, row: dict[str, Any]) -> str:
    if row["holdout"]:
        return (
            f"in the persistent holdout ({spec.holdout_share:.0%} of customers, shared with the next best action): "
            "never contacted, measured as the baseline"
        )
    return (
        f"drawn {row['arm']!r} with probability {row['propensity']:.3f} by allocation v{allocation.version} "
        f"({allocation.policy})"
    )


def _sticky_reason(row: dict[str, Any]) -> str:
    when = pd.Timestamp(int(row["sent_at"]), unit="ns").isoformat()
    kind = "holdout (never contacted)" if row["holdout"] else repr(row["arm"])
    return f"already assigned {kind} on {when} by allocation v{row['policy_version']}: sticky for the campaign's life"


@dataclass
class _Loaded:
    store: CampaignStore
    spec: CampaignSpec
    log: CampaignLog
    allocation: Allocation
    pointer: tuple[int, int, int]


class Assigner:
    """The service's view of every campaign in a workspace: specs, logs and current allocations, cached.

    A new allocation is picked up without a restart: each request stats the campaign's ``current`` pointer (about
    a microsecond) and rereads the allocation only when the pointer file changed (it is replaced atomically, so
    its inode, size or time changes)."""

    def __init__(self, ws: Workspace):
        self.ws = ws
        self._cache: dict[str, _Loaded] = {}
        self._lock = threading.Lock()

    def _pointer(self, store: CampaignStore) -> tuple[int, int, int]:
        st = os.stat(store.current_pointer)
        return st.st_ino, st.st_mtime_ns, st.st_size

    def campaign(self, campaign_id: str) -> _Loaded:
        """The loaded campaign, reloaded when its allocation pointer moved; ``CampaignNotFound`` when unknown."""
        loaded = self._cache.get(campaign_id)
        if loaded is not None:
            try:
                if self._pointer(loaded.store) == loaded.pointer:
                    return loaded
            except FileNotFoundError:
                pass
        with self._lock:
            store = CampaignStore(self.ws, campaign_id).require()
            pointer = self._pointer(store)
            log = loaded.log if loaded is not None else store.log()
            loaded = _Loaded(store, store.spec(), log, store.allocation(), pointer)
            self._cache[campaign_id] = loaded
            return loaded

    def assign(
        self, campaign_id: str, customer_id: str, *, segment: str | None = None, block: str | None = None
    ) -> Assignment:
        c = self.campaign(campaign_id)
        return assign_customer(c.spec, c.allocation, c.log, customer_id, segment=segment, block=block)
