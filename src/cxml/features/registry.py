"""The customer-360 feature set: what each column means, and how to say its value in plain words.

Explanations turn a feature and its value into a sentence ("no purchase in 94 days") and attach the
model's contribution to it ("... raises risk by 0.21"). Every column ``build_features`` returns is here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Unit = Literal["days", "count", "currency", "share", "multiple", "trend", "flag", "score"]


@dataclass(frozen=True)
class FeatureInfo:
    """One feature: its dimension, definition, unit and sentence templates.

    ``template`` takes ``{value}`` (formatted for the unit) and, for counts, ``{s}``/``{es}`` plural endings.
    ``missing`` is said when the value is NaN (undefined: nothing to measure yet); ``zero`` when it is 0 and
    a special sentence reads better ("no orders in the last 30 days", "no marketing consent").
    """

    name: str
    dimension: str
    definition: str
    template: str
    unit: Unit
    missing: str = "no data yet"
    zero: str | None = None


def _f(
    name: str,
    dimension: str,
    unit: Unit,
    definition: str,
    template: str,
    missing: str = "no data yet",
    zero: str | None = None,
) -> FeatureInfo:
    return FeatureInfo(name, dimension, definition, template, unit, missing, zero)


_NO_ORDERS = "no purchases yet"
_NO_ORDERS_365 = "no orders in the last 365 days"
_NO_WEB = "no web or app activity in the last 365 days"
_NO_CONTACT = "no service contacts in the last 365 days"

# fmt: off
_ALL: tuple[FeatureInfo, ...] = (
    # tenure
    _f("tenure_days", "tenure", "days", "Days since sign-up.",
       "customer for {value}"),
    # consent
    _f("consent_marketing", "consent", "flag", "1 if the customer consents to marketing contact.",
       "consents to marketing", zero="no marketing consent"),
    _f("consent_profiling", "consent", "flag", "1 if the customer consents to profiling.",
       "consents to profiling", zero="no profiling consent"),
    # recency
    _f("recency_days", "recency", "days", "Days since the last kept purchase (NaN: none yet).",
       "no purchase in {value}", missing=_NO_ORDERS),
    # frequency
    _f("orders_30d", "frequency", "count", "Kept orders in the last 30 days.",
       "{value} order{s} in the last 30 days", zero="no orders in the last 30 days"),
    _f("orders_90d", "frequency", "count", "Kept orders in the last 90 days.",
       "{value} order{s} in the last 90 days", zero="no orders in the last 90 days"),
    _f("orders_365d", "frequency", "count", "Kept orders in the last 365 days.",
       "{value} order{s} in the last 365 days", zero=_NO_ORDERS_365),
    _f("orders_total", "frequency", "count", "Kept orders since sign-up.",
       "{value} order{s} in total", zero=_NO_ORDERS),
    # monetary
    _f("spend_90d", "monetary", "currency",
       "Net value of kept lines in the last 90 days (quantity × price − discount).",
       "spent {value} in the last 90 days", zero="nothing spent in the last 90 days"),
    _f("spend_365d", "monetary", "currency", "Net value of kept lines in the last 365 days.",
       "spent {value} in the last 365 days", zero="nothing spent in the last 365 days"),
    _f("avg_order_value", "monetary", "currency",
       "Mean net value of a kept order since sign-up (NaN: no orders).",
       "spends {value} per order on average", missing=_NO_ORDERS),
    # rhythm
    _f("mean_gap_days", "rhythm", "days", "Mean days between kept orders (NaN: fewer than two).",
       "buys every {value} on average", missing="fewer than two purchases so far"),
    _f("gap_ratio", "rhythm", "multiple",
       "Days since the last purchase divided by the usual gap (NaN: fewer than two).",
       "{value} the usual gap since the last purchase", missing="fewer than two purchases so far"),
    # breadth
    _f("category_breadth", "breadth", "count",
       "Distinct product categories bought (kept lines, last 365 days).",
       "bought from {value} categor{ies} in the last 365 days", zero=_NO_ORDERS_365),
    # discount
    _f("discount_share", "discount", "share", "Share of kept lines with a discount (last 365 days).",
       "{value} of items bought on discount", missing=_NO_ORDERS_365),
    # returns
    _f("return_share", "returns", "share", "Share of order lines returned (last 365 days).",
       "{value} of items returned", missing=_NO_ORDERS_365, zero="no returns"),
    # price
    _f("price_vs_list", "price", "share",
       "Mean unit price paid divided by list price (kept lines, last 365 days).",
       "paid {value} of list price on average", missing=_NO_ORDERS_365),
    # channel
    _f("channel_share_web", "channel", "share", "Share of orders placed on the web (last 365 days).",
       "{value} of orders on the web", missing=_NO_ORDERS_365),
    _f("channel_share_app", "channel", "share", "Share of orders placed in the app (last 365 days).",
       "{value} of orders in the app", missing=_NO_ORDERS_365),
    _f("channel_share_store", "channel", "share", "Share of orders placed in a store (last 365 days).",
       "{value} of orders in store", missing=_NO_ORDERS_365),
    _f("channel_share_phone", "channel", "share", "Share of orders placed by phone (last 365 days).",
       "{value} of orders by phone", missing=_NO_ORDERS_365),
    # timing
    _f("share_evening", "timing", "share", "Share of orders placed from 17:00 (last 365 days).",
       "{value} of orders in the evening", missing=_NO_ORDERS_365),
    _f("share_weekend", "timing", "share", "Share of orders placed on Saturday or Sunday (last 365 days).",
       "{value} of orders at the weekend", missing=_NO_ORDERS_365),
    # campaigns
    _f("campaign_order_share", "campaigns", "share", "Share of orders carrying a campaign (last 365 days).",
       "{value} of orders came from a campaign", missing=_NO_ORDERS_365),
    # web
    _f("days_since_web", "web", "days", "Days since the last web or app event (NaN: none).",
       "last web or app visit {value} ago", missing="never seen on the web or app", zero="on the web or app today"),
    _f("web_visits_7d", "web", "count", "Visits in the last 7 days.",
       "{value} visit{s} in the last 7 days", zero="no visits in the last 7 days"),
    _f("web_visits_30d", "web", "count", "Visits in the last 30 days.",
       "{value} visit{s} in the last 30 days", zero="no visits in the last 30 days"),
    _f("web_searches_30d", "web", "count", "Searches in the last 30 days.",
       "{value} search{es} in the last 30 days", zero="no searches in the last 30 days"),
    _f("web_carts_30d", "web", "count", "Add-to-cart events in the last 30 days.",
       "{value} add-to-cart{s} in the last 30 days", zero="nothing added to a cart in the last 30 days"),
    _f("web_events_30d", "web", "count", "Web and app events of any type in the last 30 days.",
       "{value} web or app event{s} in the last 30 days", zero="no web or app activity in the last 30 days"),
    _f("web_trend_30d", "web", "trend",
       "(events last 30 days − events the 30 before) / their sum, in [−1, 1] (NaN: neither had any).",
       "web and app activity {value}",
       missing="no web or app activity in the last 60 days",
       zero="web and app activity steady month on month"),
    # device
    _f("share_mobile", "device", "share", "Share of events on a mobile phone or tablet (last 365 days).",
       "{value} of visits on mobile", missing=_NO_WEB),
    _f("share_ios", "device", "share", "Share of events on iOS (last 365 days).",
       "{value} of visits on iOS", missing=_NO_WEB),
    # referral
    _f("referrer_share_campaign", "referral", "share",
       "Share of events referred by a campaign (last 365 days).",
       "{value} of visits came from campaigns", missing=_NO_WEB),
    _f("referrer_share_social", "referral", "share",
       "Share of events referred by social media (last 365 days).",
       "{value} of visits came from social media", missing=_NO_WEB),
    _f("referrer_share_paid_search", "referral", "share",
       "Share of events referred by paid search (last 365 days).",
       "{value} of visits came from paid search", missing=_NO_WEB),
    _f("referrer_share_organic", "referral", "share",
       "Share of events referred by organic search (last 365 days).",
       "{value} of visits came from organic search", missing=_NO_WEB),
    _f("referrer_share_affiliate", "referral", "share",
       "Share of events referred by affiliates (last 365 days).",
       "{value} of visits came from affiliates", missing=_NO_WEB),
    _f("referrer_share_direct", "referral", "share", "Share of direct events (last 365 days).",
       "{value} of visits came in directly", missing=_NO_WEB),
    # service
    _f("days_since_contact", "service", "days", "Days since the last service contact (NaN: none).",
       "last contacted customer service {value} ago", missing="never contacted customer service"),
    _f("service_contacts_90d", "service", "count", "Service contacts in the last 90 days.",
       "{value} service contact{s} in the last 90 days", zero="no service contacts in the last 90 days"),
    _f("service_contacts_365d", "service", "count", "Service contacts in the last 365 days.",
       "{value} service contact{s} in the last 365 days", zero=_NO_CONTACT),
    _f("unresolved_share", "service", "share", "Share of service contacts left unresolved (last 365 days).",
       "{value} of service contacts unresolved", missing=_NO_CONTACT, zero="every service contact resolved"),
    _f("mean_survey_score", "service", "score", "Mean survey score after service contacts (last 365 days).",
       "average service survey score {value}", missing="no service survey answered"),
    _f("mean_sentiment", "service", "score", "Mean sentiment of service contacts (last 365 days).",
       "average service sentiment {value}", missing="no service sentiment measured"),
    # campaigns
    _f("days_since_exposure", "campaigns", "days", "Days since the last campaign sent (NaN: none).",
       "last campaign sent {value} ago", missing="never sent a campaign"),
    _f("exposures_180d", "campaigns", "count", "Campaigns sent in the last 180 days (control arm excluded).",
       "{value} campaign{s} sent in the last 180 days", zero="no campaigns in the last 180 days"),
    _f("exposures_total", "campaigns", "count", "Campaigns sent since sign-up (control arm excluded).",
       "{value} campaign{s} sent in total", zero="never sent a campaign"),
    _f("response_share", "campaigns", "share",
       "Share of campaigns sent that were followed by a kept order with that campaign (NaN: none sent).",
       "answered {value} of campaigns", missing="never sent a campaign", zero="never answered a campaign"),
)
# fmt: on

FEATURES: dict[str, FeatureInfo] = {f.name: f for f in _ALL}


def _format(unit: Unit, value: float) -> str:
    if unit == "days":
        days = round(value)
        return "under a day" if days == 0 else f"{days} day" + ("" if days == 1 else "s")
    if unit == "count":
        return f"{round(value):,}"
    if unit == "currency":
        return f"{value:,.2f}"
    if unit == "share":
        return f"{value:.0%}"
    if unit == "multiple":
        return f"{value:.1f}×"
    if unit == "trend":
        if value >= 1:
            return "new in the last 30 days (none the 30 before)"
        if value <= -1:
            return "stopped in the last 30 days (some the 30 before)"
        change = 2 * value / (1 - value)  # d = (a - b) / (a + b)  =>  a / b - 1 = 2d / (1 - d)
        return f"{'up' if change > 0 else 'down'} {abs(change):.0%} on the previous 30 days"
    if unit == "flag":
        return "yes" if value else "no"
    return f"{value:.2f}"


def describe(name: str, value: float) -> str:
    """A plain-words sentence for a feature value.

    ``describe("recency_days", 94)`` → "no purchase in 94 days"; NaN → "no purchases yet".
    """
    try:
        info = FEATURES[name]
    except KeyError:
        raise KeyError(f"unknown feature {name!r}; known: {sorted(FEATURES)}") from None
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return info.missing
    value = float(value)
    if info.zero is not None and value == 0:
        return info.zero
    plural = round(value) != 1
    return info.template.format(
        value=_format(info.unit, value),
        s="s" if plural else "",
        es="es" if plural else "",
        ies="ies" if plural else "y",
    )
