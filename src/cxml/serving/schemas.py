"""The HTTP contract of the service: pydantic models that reject unknown fields and name the field at fault.

These models are the OpenAPI schema applications see; field descriptions and examples are part of the API.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from cxml.serving.examples import CUSTOMER, EXAMPLES, ITEM, OTHER_CUSTOMER, PRICE_CELL

FeatureValue = float | int | str | bool | None
"""One feature value: a number, a category, a flag, or null for missing (the model handles missing values)."""

MAX_BATCH = 1000


def mark_nullable(schema: dict[str, Any], cls: type[BaseModel] | None = None) -> None:
    """Say ``nullable`` on optional fields: BentoML's OpenAPI keeps only the first branch of ``X | None``."""
    for prop in schema.get("properties", {}).values():
        if any(branch.get("type") == "null" for branch in prop.get("anyOf", ())):
            prop["nullable"] = True


def with_example(example: dict[str, Any]) -> Callable[[dict[str, Any], type[BaseModel]], None]:
    """A request model's schema extras: its example (singular, as BentoML's OpenAPI wants) and the nullables."""

    def extra(schema: dict[str, Any], cls: type[BaseModel]) -> None:
        mark_nullable(schema, cls)
        schema["example"] = example

    return extra


def _response_config(name: str) -> ConfigDict:
    """A response model's config: strict, and its whole example body from ``examples.EXAMPLES``."""
    return ConfigDict(extra="forbid", frozen=True, json_schema_extra=with_example(EXAMPLES[name]))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=mark_nullable)


_FEATURES_EXAMPLE: dict[str, FeatureValue] = {
    "recency_days": 94,
    "orders_90d": 1,
    "spend_365d": 212.5,
    "consent_marketing": 1,
}


class ChurnRequest(_Strict):
    """One customer: either a ``customer_id`` (features from the latest snapshot) or a full feature record."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra=with_example({"customer_id": CUSTOMER, "top_k": 3}),
    )

    customer_id: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        description="A customer in the served feature snapshot. Give this or `features`, not both.",
        examples=[CUSTOMER],
    )
    features: dict[str, FeatureValue] | None = Field(
        None,
        description="Every feature the model uses, by name (see `GET /info`); null marks a missing value. "
        "Give this or `customer_id`, not both.",
        examples=[_FEATURES_EXAMPLE],
    )
    top_k: Annotated[StrictInt, Field(ge=0, le=10)] = Field(
        3, description="How many reasons to return, biggest effect first (0: none, fastest)."
    )

    @model_validator(mode="after")
    def _exactly_one_source(self) -> Self:
        if (self.customer_id is None) == (self.features is None):
            given = "both" if self.customer_id is not None else "neither"
            raise ValueError(f"give exactly one of 'customer_id' or 'features' ({given} given)")
        return self


class Reason(_Strict):
    """One driver of the score: a feature, its value, and how much it moves the probability."""

    model_config = _response_config("Reason")

    feature: str = Field(description="Feature name.", examples=["recency_days"])
    value: FeatureValue = Field(description="The customer's value of the feature.", examples=[94])
    contribution: float = Field(
        description="Change of the score due to this feature (tree SHAP; churn: probability scale, survival: log "
        "hazard, CLV: value).",
        examples=[0.21],
    )
    text: str = Field(description="The reason in words.", examples=["no purchase in 94 days raises risk by 0.21"])


class ChurnResponse(_Strict):
    model_config = _response_config("ChurnResponse")

    customer_id: str | None = Field(description="The customer scored; null for a feature record.")
    probability: float = Field(ge=0.0, le=1.0, description="Calibrated probability of churn within the horizon.")
    model_name: str = Field(description="Registered MLflow model that produced the score.", examples=["cxml.churn"])
    model_version: str = Field(description="Exact MLflow model version served.", examples=["3"])
    snapshot_as_of: str | None = Field(
        None, description="Date of the feature snapshot used for a `customer_id`; null for a feature record."
    )
    reasons: list[Reason] = Field(default_factory=list, description="Top drivers of this score.")


class UpliftRequest(ChurnRequest):
    """One customer for the uplift champion: a ``customer_id`` or a full feature record, and how many reasons."""


class ArmEffect(_Strict):
    model_config = _response_config("ArmEffect")

    arm: str = Field(description="Campaign arm (treatment) compared with control.", examples=["voucher_15"])
    effect: float = Field(
        description="Estimated effect on the response probability (treated minus control) for this customer.",
        examples=[0.084],
    )
    decile: int = Field(ge=1, description="Rank of this effect among the holdout's customers (1 = top 10 %).")
    observed_effect: float = Field(description="Uplift observed on the holdout among customers of that decile.")
    interval: tuple[float, float] = Field(
        description="90 % interval of the observed uplift in that decile (how far the estimate can be trusted)."
    )
    expected_profit: float | None = Field(
        None, description="Expected incremental profit of contacting with this arm (null when costs are unknown)."
    )


class UpliftResponse(_Strict):
    model_config = _response_config("UpliftResponse")

    customer_id: str | None = Field(description="The customer scored; null for a feature record.")
    campaign: str | None = Field(description="Campaign the model was trained on.", examples=["CMP05"])
    effects: list[ArmEffect] = Field(description="One entry per arm, in the model's order.")
    recommended_arm: str = Field(
        description="The arm with the highest expected profit, or `do_not_contact` when no arm is profitable "
        "(or, without known costs, when no arm has a positive effect).",
        examples=["voucher_15"],
    )
    explained_arm: str = Field(description="The arm the reasons are about (the strongest effect).")
    persuadable: bool = Field(description="True when the explained arm's effect is positive (else a sleeping dog).")
    model_name: str = Field(description="Registered MLflow model.", examples=["cxml.uplift"])
    model_version: str = Field(description="Exact MLflow model version served.", examples=["2"])
    snapshot_as_of: str | None = Field(description="Date of the snapshot the features came from (customer_id).")
    reasons: list[Reason] = Field(default_factory=list, description="Why the explained arm works (or backfires).")


class NextBestActionRequest(_Strict):
    """One customer of the served snapshot; the decision is taken as of the snapshot date."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra=with_example({"customer_id": CUSTOMER, "top_k": 3})
    )

    customer_id: str = Field(
        min_length=1,
        max_length=128,
        description="A customer in the served feature snapshot (consent and contact history come from it).",
        examples=[CUSTOMER],
    )
    top_k: Annotated[StrictInt, Field(ge=0, le=10)] = Field(3, description="Runners-up to return.")


class ActionValue(_Strict):
    model_config = _response_config("ActionValue")

    name: str = Field(description="Action: `campaign:arm`, `retention_offer`, `service_check_in`, `do_nothing`.")
    kind: str = Field(description="`marketing`, `service` or `none`.", examples=["marketing"])
    expected_value: float = Field(description="Expected incremental value (effect × value − costs).")
    effect: float = Field(description="Incremental response probability the value rests on.")
    cost: float = Field(description="Contact and incentive cost charged.")
    reason: str = Field(description="How the value was computed, in words (assumptions named).")


class NextBestActionResponse(_Strict):
    model_config = _response_config("NextBestActionResponse")

    customer_id: str = Field(description="The customer decided for.")
    action: ActionValue = Field(description="The chosen action (`do_nothing` when nothing allowed is worth it).")
    runners_up: list[ActionValue] = Field(description="The next best allowed actions, best first.")
    blocked: dict[str, str] = Field(description="Actions the contact policy ruled out, with the rule.")
    holdout: bool = Field(description="True for the persistent measurement holdout (always `do_nothing`).")
    reasons: list[str] = Field(description="Why this action, in words.")
    churn_probability: float = Field(ge=0.0, le=1.0, description="The churn champion's probability.")
    customer_value: float = Field(
        description="Value at stake used for retention actions: the CLV champion's expected value over its "
        "horizon when one is served and knows the customer, else the spend over the last 365 days."
    )
    models: dict[str, str] = Field(description="Served model → exact MLflow version used.")
    snapshot_as_of: str = Field(description="Date of the snapshot: features, consent and contact history.")


class BatchChurnRequest(_Strict):
    """Many customers: ``items`` (ids or feature records), or one table of feature records (``columns`` + ``rows``)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra=with_example(
            {"items": [{"customer_id": CUSTOMER}, {"customer_id": OTHER_CUSTOMER, "top_k": 0}]}
        ),
    )

    items: list[ChurnRequest] | None = Field(
        None,
        min_length=1,
        max_length=MAX_BATCH,
        description=f"Up to {MAX_BATCH} customers, each a `customer_id` or a feature record. Or `columns` + `rows`.",
        examples=[[{"customer_id": CUSTOMER}, {"customer_id": OTHER_CUSTOMER, "top_k": 0}]],
    )
    columns: list[str] | None = Field(
        None,
        min_length=1,
        description="The table form: every feature the model uses (see `GET /info`), naming the values of `rows`.",
        examples=[["recency_days", "orders_90d", "spend_365d", "consent_marketing"]],
    )
    rows: list[list[FeatureValue]] | None = Field(
        None,
        min_length=1,
        max_length=MAX_BATCH,
        description=f"The table form: up to {MAX_BATCH} feature records, values in the order of `columns` (null "
        "marks a missing value). Half the bytes of `items` and about twice as fast to score.",
        examples=[[[94, 1, 212.5, 1], [3, 4, 1040.0, 0]]],
    )
    top_k: Annotated[StrictInt, Field(ge=0, le=10)] = Field(
        0, description="The table form: how many reasons to return per row (0: none, fastest)."
    )

    @model_validator(mode="after")
    def _items_or_table(self) -> Self:
        table = self.columns is not None or self.rows is not None
        if (self.items is not None) == table:
            raise ValueError("give either 'items' or 'columns' and 'rows'" + (" (both given)" if table else ""))
        if self.items is not None and "top_k" in self.model_fields_set:
            raise ValueError("'top_k' belongs to the table form; give it per item in 'items'")
        if table:
            if self.columns is None or self.rows is None:
                raise ValueError("the table form needs both 'columns' and 'rows'")
            width = len(self.columns)
            bad = [i for i, row in enumerate(self.rows) if len(row) != width]
            if bad:
                raise ValueError(f"rows {bad[:5]} do not have {width} values, one per column")
        return self


class BatchChurnResponse(_Strict):
    model_config = _response_config("BatchChurnResponse")

    items: list[ChurnResponse] = Field(description="One response per request item, in the same order.")


class ScoreRequest(ChurnRequest):
    """One customer for the survival or CLV champion: a ``customer_id`` or a full feature record."""


class ScoreResponse(_Strict):
    model_config = _response_config("ScoreResponse")

    customer_id: str | None = Field(description="The customer scored; null for a feature record.")
    family: str = Field(description="Model family that scored.", examples=["survival"])
    score: float = Field(
        description="The headline score: survival `risk` (log relative hazard), CLV `expected_value`.",
        examples=[0.42],
    )
    scores: dict[str, float] = Field(
        description="Every score of the model: survival `survival_3`/`survival_6`/`survival_12` (P(still a "
        "customer) after 3/6/12 months) and `expected_remaining_tenure` (months, within the last horizon); CLV "
        "`expected_value`, `expected_purchases`, `p_alive` …",
        examples=[{"risk": 0.42, "survival_3": 0.93, "survival_6": 0.85, "survival_12": 0.71}],
    )
    summary: str = Field("", description="The scores in words.")
    reasons: list[Reason] = Field(default_factory=list, description="Top drivers of the headline score.")
    model_name: str = Field(description="Registered MLflow model.", examples=["cxml.survival"])
    model_version: str = Field(description="Exact MLflow model version served.", examples=["1"])
    snapshot_as_of: str | None = Field(None, description="Date of the rows a `customer_id` was looked up in.")


class CustomerRequest(_Strict):
    """One customer of the served snapshot."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=with_example({"customer_id": CUSTOMER}))

    customer_id: str = Field(
        min_length=1, max_length=128, description="A customer in the served snapshot.", examples=[CUSTOMER]
    )


class SegmentResponse(_Strict):
    model_config = _response_config("SegmentResponse")

    customer_id: str = Field(description="The customer.")
    segment: int = Field(ge=0, description="Behavioural segment number.", examples=[2])
    segment_name: str = Field(description="Short name of the segment.", examples=["web, frequent customers"])
    segment_traits: str = Field(description="The segment's most distinctive features, in words.")
    value_engagement: str = Field(description="Cell of the value × engagement grid.", examples=["high value, engaged"])
    high_value: bool = Field(description="Among the top 20 % by spend over 365 days.")
    engaged: bool = Field(description="Bought in the last 90 days or was active on web/app in the last 30.")
    stage: str = Field(
        description="Lifecycle stage by the documented rules: new, active, won back, at risk, sleeping or churned.",
        examples=["at risk"],
    )
    stage_reason: str = Field(description="Why this stage, in words.")
    model_name: str = Field(description="Registered MLflow model of the segmenter.", examples=["cxml.segments"])
    model_version: str = Field(description="Exact MLflow model version served.", examples=["1"])
    snapshot_as_of: str = Field(description="Date of the assignment.")


class CrossSellRequest(_Strict):
    """A customer's most likely next items."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra=with_example({"customer_id": CUSTOMER, "top_k": 5})
    )

    customer_id: str = Field(
        min_length=1, max_length=128, description="A customer with purchases in the look-back.", examples=[CUSTOMER]
    )
    top_k: Annotated[StrictInt, Field(ge=1, le=50)] = Field(5, description="How many items to return.")
    n_reasons: Annotated[StrictInt, Field(ge=0, le=5)] = Field(3, description="Reasons per item (0: none, fastest).")


class RecommendedItem(_Strict):
    model_config = _response_config("RecommendedItem")

    rank: int = Field(ge=1, description="1 = most likely.")
    item: str = Field(description="Product (or category) id.", examples=[ITEM])
    name: str = Field(description="Item in words.", examples=["P025 (electronics)"])
    probability: float = Field(ge=0.0, le=1.0, description="Calibrated P(the customer buys it in the horizon).")
    reasons: list[str] = Field(default_factory=list, description="Why, in words.")


class CrossSellResponse(_Strict):
    model_config = _response_config("CrossSellResponse")

    customer_id: str = Field(description="The customer.")
    items: list[RecommendedItem] = Field(description="Items the customer does not own yet, most likely first.")
    model_name: str = Field(description="Registered MLflow model.", examples=["cxml.cross_sell"])
    model_version: str = Field(description="Exact MLflow model version served.", examples=["1"])
    snapshot_as_of: str = Field(description="Date of the pair rows.")


class CrossSellPairRequest(_Strict):
    """P(customer X buys item Y)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra=with_example({"customer_id": CUSTOMER, "item": ITEM})
    )

    customer_id: str = Field(min_length=1, max_length=128, description="A customer.", examples=[CUSTOMER])
    item: str = Field(min_length=1, max_length=128, description="An item the model ranks.", examples=[ITEM])
    n_reasons: Annotated[StrictInt, Field(ge=0, le=5)] = Field(3, description="Reasons to return.")


class CrossSellPairResponse(_Strict):
    model_config = _response_config("CrossSellPairResponse")

    customer_id: str = Field(description="The customer.")
    item: str = Field(description="The item.")
    probability: float = Field(ge=0.0, le=1.0, description="Calibrated P(the customer buys it in the horizon).")
    owned: bool = Field(description="Bought in the look-back already (never recommended).")
    reasons: list[Reason] = Field(default_factory=list, description="What raises the probability.")
    model_name: str = Field(description="Registered MLflow model.", examples=["cxml.cross_sell"])
    model_version: str = Field(description="Exact MLflow model version served.", examples=["1"])
    snapshot_as_of: str = Field(description="Date of the pair rows.")


class PriceRequest(_Strict):
    """One cell: a segment (or a customer, mapped to their segment), a product, a channel and a time bucket."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra=with_example(PRICE_CELL),
    )

    segment: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="A segment of the price model. Give this or `customer_id`.",
        examples=[PRICE_CELL["segment"]],
    )
    customer_id: str | None = Field(
        None, min_length=1, max_length=128, description="A customer, priced as their segment. Or `segment`."
    )
    product_id: str = Field(
        min_length=1, max_length=128, description="A product sold in the look-back.", examples=[ITEM]
    )
    channel: str = Field(min_length=1, max_length=64, description="Sales channel.", examples=["web"])
    time_bucket: str = Field(
        min_length=1, max_length=64, description="Time of day / week bucket.", examples=[PRICE_CELL["time_bucket"]]
    )

    @model_validator(mode="after")
    def _segment_or_customer(self) -> Self:
        if (self.segment is None) == (self.customer_id is None):
            given = "both" if self.segment is not None else "neither"
            raise ValueError(f"give exactly one of 'segment' or 'customer_id' ({given} given)")
        return self


class PriceResponse(_Strict):
    model_config = _response_config("PriceResponse")

    segment: str = Field(description="The segment priced.")
    customer_id: str | None = Field(None, description="The customer asked about, when one was given.")
    product_id: str = Field(description="The product.")
    channel: str = Field(description="The channel.")
    time_bucket: str = Field(description="The time bucket.")
    elasticity: float = Field(description="Own-price elasticity: % change of units for +1 % price (causal, DML).")
    elasticity_interval: tuple[float, float] = Field(description="Its confidence interval.")
    interval_level: float = Field(description="Level of the interval.", examples=[0.9])
    current_price: float | None = Field(None, description="Average price paid in the look-back.")
    recommended_price: float | None = Field(None, description="Price maximising expected margin within guardrails.")
    price_change: float | None = Field(None, description="Relative change recommended vs the current price.")
    floor_price: float | None = Field(None, description="Lowest price the margin floor allows.")
    unit_cost: float | None = Field(None, description="Unit cost of the product.")
    weekly_volume: float | None = Field(None, description="Units per week at the current price (look-back).")
    expected_volume: float | None = Field(None, description="Units per week expected at the recommended price.")
    volume_change: float | None = Field(None, description="Expected change of weekly units.")
    volume_change_lower: float | None = Field(None, description="Its lower end (from the elasticity interval).")
    volume_change_upper: float | None = Field(None, description="Its upper end.")
    revenue_change: float | None = Field(None, description="Expected change of weekly revenue.")
    revenue_change_lower: float | None = Field(None, description="Its lower end.")
    revenue_change_upper: float | None = Field(None, description="Its upper end.")
    margin_change: float | None = Field(None, description="Expected change of weekly margin.")
    margin_change_lower: float | None = Field(None, description="Its lower end.")
    margin_change_upper: float | None = Field(None, description="Its upper end.")
    constraint: str = Field(description="The guardrail that binds (`optimum` when the optimum is allowed).")
    fairness_met: bool = Field(description="The segments' prices of this cell lie within the fairness spread.")
    model_name: str = Field(description="Registered MLflow model.", examples=["cxml.price"])
    model_version: str = Field(description="Exact MLflow model version served.", examples=["1"])
    snapshot_as_of: str = Field(description="Date the recommendations were computed at.")


class ServedModel(_Strict):
    model_config = _response_config("ServedModel")

    family: str = Field(description="Model family.", examples=["churn"])
    bento_tag: str = Field(description="Exact BentoML model tag served.", examples=["cxml-churn:v3-1a2b3c4d"])
    mlflow_model: str = Field(description="Registered MLflow model.", examples=["cxml.churn"])
    mlflow_version: str = Field(description="Exact MLflow model version.", examples=["3"])
    mlflow_run_id: str = Field(description="MLflow run that trained it.")
    features: list[str] = Field(description="Feature names the model expects, in order.")


class ServedSnapshot(_Strict):
    model_config = _response_config("ServedSnapshot")

    bento_tag: str = Field(description="Exact BentoML tag of the feature snapshot.")
    as_of: str = Field(description="Point in time of the features.", examples=["2024-06-30"])
    n_customers: int = Field(ge=0, description="Customers that can be scored by `customer_id`.")


class ServiceInfo(_Strict):
    model_config = _response_config("ServiceInfo")

    service: str = Field(description="Service name.", examples=["cxml"])
    ready: bool = Field(description="Models loaded and ready to score.")
    models: list[ServedModel] = Field(description="Every model served, with its exact versions.")
    snapshot: ServedSnapshot | None = Field(description="The feature snapshot used for `customer_id` lookups.")


class ErrorDetail(_Strict):
    model_config = _response_config("ErrorDetail")

    type: str = Field(description="Machine-readable error type.", examples=["unknown_feature"])
    loc: list[str | int] = Field(
        description="Where the error is in the request body.", examples=[["features", "recency_dayz"]]
    )
    msg: str = Field(description="What is wrong, in words.")
    url: str | None = Field(None, description="A page on the error type (on validation errors of the body).")


class ErrorResponse(_Strict):
    model_config = _response_config("ErrorResponse")

    error: str = Field(description="Summary of the problem.")
    detail: list[ErrorDetail] = Field(default_factory=list, description="One entry per offending field.")
