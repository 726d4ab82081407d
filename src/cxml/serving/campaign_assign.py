"""``POST /campaign/assign``: the HTTP contract and the thin step from a request to ``cxml.campaigns.assign``.

The campaigns live in the served workspace (``$CXML_HOME/campaigns``); consent and contact history come from the
snapshot the service already loaded for the next best action, judged as of the snapshot date like it.
"""

from __future__ import annotations

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from cxml.campaigns.assign import Assigner, Assignment
from cxml.campaigns.store import CampaignNotFound
from cxml.config import Workspace
from cxml.decision.policy import ContactPolicy, ContactState, marketing_block, state_of
from cxml.serving.examples import CUSTOMER
from cxml.serving.schemas import ErrorDetail, with_example
from cxml.serving.scoring import RequestError

CAMPAIGN_EXAMPLE = "spring-2025"


class CampaignAssignRequest(BaseModel):
    """One customer arriving in one running campaign."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra=with_example({"campaign_id": CAMPAIGN_EXAMPLE, "customer_id": CUSTOMER}),
    )

    campaign_id: str = Field(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="A campaign started with `cxml campaign start`.",
        examples=[CAMPAIGN_EXAMPLE],
    )
    customer_id: str = Field(
        min_length=1,
        max_length=128,
        description="The customer (consent and contact history come from the served snapshot).",
        examples=[CUSTOMER],
    )
    segment: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="The customer's segment, when the allocation has per-segment shares (else everyone's apply).",
    )


class CampaignAssignResponse(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra=with_example(
            {
                "campaign_id": CAMPAIGN_EXAMPLE,
                "customer_id": CUSTOMER,
                "arm": "discount_10",
                "contact": True,
                "holdout": False,
                "propensity": 0.42,
                "policy_version": 3,
                "segment": None,
                "assigned_at": "2025-03-02T09:15:04.120000Z",
                "new": True,
                "reason": "drawn 'discount_10' with probability 0.420 by allocation v3 (thompson)",
                "blocked": None,
            }
        ),
    )

    campaign_id: str = Field(description="The campaign.")
    customer_id: str = Field(description="The customer.")
    arm: str | None = Field(
        description="The arm assigned (the control arm for the holdout); null when the customer may not be contacted."
    )
    contact: bool = Field(description="True: send `arm`. False: do not contact (holdout, consent or contact rules).")
    holdout: bool = Field(description="In the persistent holdout (shared with the next best action): never contacted.")
    propensity: float | None = Field(description="Probability with which `arm` was drawn (logged for evaluation).")
    policy_version: int | None = Field(description="Allocation version that drew the arm.")
    segment: str | None = Field(description="Segment whose shares applied (null: everyone's).")
    assigned_at: str | None = Field(description="When the customer was first assigned (UTC).")
    new: bool = Field(description="True when this request made the assignment; false when it was already logged.")
    reason: str = Field(description="Why this answer, in words.")
    blocked: str | None = Field(description="The contact rule that rules the customer out, if any.")


def response_of(a: Assignment) -> CampaignAssignResponse:
    return CampaignAssignResponse(
        campaign_id=a.campaign_id,
        customer_id=a.customer_id,
        arm=a.arm,
        contact=a.contact,
        holdout=a.holdout,
        propensity=a.propensity,
        policy_version=a.policy_version,
        segment=a.segment,
        assigned_at=a.assigned_at,
        new=a.new,
        reason=a.reason,
        blocked=a.blocked,
    )


class CampaignAssigner:
    """Campaign assignment behind HTTP: contact rules from the snapshot's states, the rest in ``Assigner``."""

    def __init__(self, ws: Workspace, states: pd.DataFrame, policy: ContactPolicy, as_of: pd.Timestamp):
        self.assigner = Assigner(ws)
        self.states, self.policy, self.as_of = states, policy, as_of

    def _block(self, customer_id: str) -> str | None:
        if customer_id in self.states.index:
            state = state_of(self.states.loc[customer_id])
        else:
            state = ContactState(consent_marketing=False)
        block = marketing_block(state, self.as_of, self.policy)
        if block is not None and customer_id not in self.states.index:
            return f"{block} on record (not in the served snapshot)"
        return block

    def assign(self, req: CampaignAssignRequest) -> CampaignAssignResponse:
        """Sticky arm, holdout or the contact rule that rules the customer out; 404 for an unknown campaign."""
        block = self._block(req.customer_id)
        try:
            done = self.assigner.assign(req.campaign_id, req.customer_id, segment=req.segment, block=block)
        except CampaignNotFound:
            msg = f"no campaign {req.campaign_id!r} is running here: start it with `cxml campaign start`"
            raise RequestError(404, msg, [_detail("unknown_campaign", "campaign_id", msg)]) from None
        except ValueError as exc:  # a spec or allocation file that does not parse: the operator must fix it
            raise RequestError(503, f"campaign {req.campaign_id!r} cannot be read: {exc}") from None
        return response_of(done)


def _detail(kind: str, field: str, msg: str) -> ErrorDetail:
    return ErrorDetail(type=kind, loc=[field], msg=msg)
