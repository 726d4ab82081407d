"""What a running campaign is: its arms, its floors, and the allocation the service assigns by.

The logs a campaign reads and writes are plain frames with these columns:

- **assignments / exposures** (``ASSIGNMENT_COLUMNS``): ``campaign_id``, ``customer_id``, ``arm``, ``sent_at``,
  ``propensity`` (the probability with which that arm was drawn; absent = uniform over the arms present),
  ``policy_version`` (the allocation version that drew it), ``segment`` and ``holdout`` (True = never contacted;
  the arm of a holdout row is the control arm).
- **outcomes** (``OUTCOME_COLUMNS``): ``campaign_id``, ``customer_id``, ``outcome`` (0/1 for a binary campaign,
  spend for a continuous one), ``observed_at``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ASSIGNMENT_COLUMNS = (
    "campaign_id",
    "customer_id",
    "arm",
    "sent_at",
    "propensity",
    "policy_version",
    "segment",
    "holdout",
)
OUTCOME_COLUMNS = ("campaign_id", "customer_id", "outcome", "observed_at")
ALL_SEGMENTS = "*"
"""The segment key of an allocation that applies to every customer."""

OutcomeKind = Literal["binary", "continuous"]
PolicyName = Literal["uniform", "thompson", "top_two", "warm_thompson"]


class CampaignSpec(BaseModel):
    """A campaign's definition: stored once per campaign (``campaign.yaml`` in the workspace) and never changed
    in a way that breaks stickiness (arms may be stopped, not renamed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    campaign_id: str = Field(min_length=1, max_length=128)
    arms: tuple[str, ...] = Field(min_length=2, description="every arm, the control included")
    control: str = Field(description="the arm that is 'no offer' (or the current default)")
    outcome: OutcomeKind = "binary"
    policy: PolicyName = "thompson"
    min_share: float = Field(0.01, ge=0, lt=1, description="floor on every active arm's share")
    holdout_share: float = Field(0.05, ge=0, lt=1, description="customers never contacted, for the readout")
    holdout_salt: str = Field("cxml-nba-v1", min_length=1, description="shared with the next best action")
    prior_weight: float = Field(20.0, ge=0, description="pseudo-observations a warm-start prior is worth")
    value_per_response: float = Field(0.0, ge=0, description="revenue of one response (cost-aware reward)")
    cost_per_contact: float = Field(0.0, ge=0, description="cost of one contact (cost-aware reward)")
    min_lift: float = Field(0.0, description="a lift below this is not worth having (stopping rule)")
    alpha: float = Field(0.05, gt=0, lt=1, description="error rate of the anytime-valid readout")

    @model_validator(mode="after")
    def _control_is_an_arm(self) -> CampaignSpec:
        if self.control not in self.arms:
            raise ValueError(f"control {self.control!r} is not one of the arms {list(self.arms)}")
        if len(set(self.arms)) != len(self.arms):
            raise ValueError(f"arms must be distinct, got {list(self.arms)}")
        return self


@dataclass(frozen=True)
class Allocation:
    """The shares the service assigns arriving customers by, versioned (1, 2, ...) per campaign.

    ``shares`` maps a segment (``ALL_SEGMENTS`` for everyone) to each arm's probability; every row sums to 1 and
    every active arm's share is at least the campaign's ``min_share``. ``stopped`` arms have share 0. The holdout
    is drawn before the shares apply (a holdout customer is never contacted), so the shares are conditional on
    being outside the holdout.
    """

    campaign_id: str
    version: int
    created_at: str
    policy: str
    shares: dict[str, dict[str, float]]
    stopped: tuple[str, ...] = ()
    per_customer: bool = False
    """True when a warm-started policy also stores per-customer shares (``customer_shares``)."""
    customer_shares: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: dict[str, object] = field(default_factory=dict)

    def shares_for(self, customer_id: str, segment: str | None = None) -> dict[str, float]:
        """The shares that apply to one customer: their own, else their segment's, else everyone's."""
        if customer_id in self.customer_shares:
            return self.customer_shares[customer_id]
        if segment is not None and segment in self.shares:
            return self.shares[segment]
        return self.shares[ALL_SEGMENTS]

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Allocation:
        raw = json.loads(text)
        raw["stopped"] = tuple(raw.get("stopped", ()))
        return cls(**raw)
