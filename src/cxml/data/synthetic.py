"""A simulated company with seeded, documented ground truth.

The generator writes every contract table (``customers``, ``identities``, ``products``, ``orders``,
``events``, ``service_contacts``, ``campaigns``, ``exposures``, ``prices``) plus ``truth`` tables that
evaluation scores against. This docstring is the ground truth; change it together with the code and tests.

Generative story
----------------
*World* (depends only on seed, start and end). 8 categories × 8 products (``P001`` .. ``P064``); list prices
log-normal per category; unit cost 45-75 % of list. Price of product × channel (web, app, store, phone) in a
week = ``list_price × CHANNEL_LEVEL[c] × move[c, week] × noise[p, c]``; every channel has 2-4 price moves
(week-aligned, factor 0.85-1.18; ``truth/price_index`` holds ``price_ratio[c, week]``) and ``prices`` has one
row per product × channel at ``start`` and at each move. Five campaigns (``CMP01`` .. ``CMP05``) start on
week boundaries spread over the period, each with 2-3 treatment arms plus ``control`` and a 14-day window.

*Customers* (generated in chunks, vectorised). ``signup_at`` is uniform over the 3 years before ``end``;
those who sign up during the period become active the week after. A latent segment (``bargain_hunter``,
``loyal``, ``premium``, ``occasional``) sets the base purchase rate (orders/week, log-normal, sd 0.9), lines
per order and quantity, the own-price elasticity ``e_i`` (segment base × log-normal noise), preferred channel
and channel mix, weekday/hour mix (``weekday_day``, ``weekday_evening``, ``weekend``), referral source,
baseline churn and persuadability. Category affinity is low rank: ``softmax(u_i · V + b)``, ``u_i`` in 3 dims
around a segment mean. Consent: marketing 70 %; profiling 85 % / 40 % with / without marketing consent.
Customers who signed up before ``start`` are alive at ``start`` with probability ``exp(-0.35 × tenure in
years)``.

*Weekly simulation.* For an alive, active customer the expected orders in channel ``c`` and bucket ``b``::

    lam[c, b] = rate_i × exp(0.3 sat_i) × mix_i[c] × bucket_i[b] × price_ratio[c, week] ** el(i, c, b)
    el(i, c, b) = e_i × CHANNEL_MULT[c] × BUCKET_MULT[b]    (truth/elasticities: segment means)

``sat_i`` is latent satisfaction, AR(1) with persistence 0.95 and N(0, 0.2) shocks, −0.5 per unresolved
service contact; it also drives browsing and contact frequency. Orders are Poisson with ``1 + Poisson(
lines_mu_i − 1)`` lines; category by affinity, product by within-category popularity, quantity
``1 + Poisson(qty_mu_i)``, ``unit_price`` from ``prices`` for the order's channel and week, returns 1-12 %
by category (about 5 %), promotional discounts on ~8 % of lines and arm discounts on campaign lines
(``discount`` is an amount ≥ 0).

*Service contacts*: weekly probability ``(3.5 % + 1.5 % per order that week) × exp(−0.5 sat_i)``;
reason-dependent resolution; survey score 1-5 (45 % null; 3-5 if resolved, 1-3 if not); sentiment in
[−1, 1] (30 % null).

*Churn*: after the week's purchases an alive customer churns with weekly hazard ``h``::

    logit h = H0[segment] + 0.15 log1p(weeks since last purchase) + 2.5 unresolved + 1.5 low_scores
              + 0.8 [tenure < 13 weeks] + 6 price_sens_i × max(0, price_ratio[preferred channel] − 1)
              − 1.5 sat_i + 0.9 [treated sleeping dog inside the campaign window]

``unresolved`` and ``low_scores`` are counts of unresolved contacts and survey scores ≤ 2, decayed by 0.85
a week. A churned customer buys nothing from the next week on (``churned_at`` = start of that week); with
weekly probability 0.4 % a churned customer is won back. ``truth/customers.churned_at`` is the *last* churn
(NaT when alive at ``end``; before ``start`` for customers already lost then), so no order is ever at or
after ``churned_at``. About a third of the customers alive at ``start`` churn during a year.

*Campaigns*: customers with marketing consent who signed up before ``start_at`` are targeted with
probability 0.6 and randomised: ``control`` 30 %, the rest split equally among the treatment arms.
``sent_at`` is in the first hour of ``start_at`` (control rows keep the would-be send time). For two weeks
a treated customer's rate becomes ``lam × mult + add`` by persuadability type: *persuadable*
(``add = 0.25 × strength × responsiveness × factor``, factor ``1 + 0.4 |e_i|`` for discount arms and
browsing-based for content arms), *sure thing* (tiny add), *lost cause* (nothing), *sleeping dog*
(``mult = 1 − min(0.85, 0.5 × strength × responsiveness)`` and the churn bump). ``truth/effects.true_effect``
= P(≥ 1 purchase in the 14 days | arm) − P(same | control), given the state at send time (0 if churned).
Treated customers' orders inside the window carry ``campaign_id``.

*Web events*: each web/app order follows a session (visit, search 50 %, 1 + Poisson(1) views, cart);
browsing sessions are Poisson with rate ``browse_i × exp(sat_i)`` (5 % of that after churn), so engagement
falls before churn. Web sessions use one of the customer's 1-3 cookies, app sessions one of 1-2 devices;
25 % of web sessions are anonymous (cookie only, linked to the customer in ``identities``). Another 5 %
cookies (per customer) are never linked (``customer_id`` null in ``identities``).

*Truth tables*: ``customers`` (latent traits, churn, hazards), ``effects`` (exposed customer × treatment
arm), ``elasticities`` (segment × channel × time bucket), ``affinities`` (top 3 categories per customer),
``campaign_arms`` and ``price_index``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cxml.data.contract import CONTROL_ARM

DEFAULT_CHUNK = 100_000
WEEK_US = 7 * 86_400 * 1_000_000
DAY_US = 86_400 * 1_000_000
HOUR_US = 3_600 * 1_000_000

CHANNELS = ("web", "app", "store", "phone")
CHANNEL_LEVEL = np.array([0.98, 0.96, 1.0, 1.02])  # channel price level vs list
CHANNEL_MULT = np.array([1.25, 1.1, 0.8, 0.65])  # elasticity multiplier per channel
BUCKETS = ("weekday_day", "weekday_evening", "weekend")
BUCKET_MULT = np.array([1.0, 1.2, 0.8])
BUCKET_HOURS = ((9, 17), (17, 23), (9, 22))
SEGMENTS = ("bargain_hunter", "loyal", "premium", "occasional")
SEG_P = np.array([0.3, 0.3, 0.15, 0.25])
SEG_RATE = np.array([0.2, 0.29, 0.18, 0.09])  # orders per week (median)
RATE_SD = 0.9
SEG_ELASTICITY = np.array([-2.6, -0.9, -0.5, -1.6])
SEG_LINES = np.array([1.9, 2.3, 2.6, 1.7])
SEG_QTY = np.array([0.35, 0.4, 0.25, 0.2])
SEG_H0 = np.array([-6.1, -6.8, -6.5, -5.6])
HAZARD = {"recency": 0.15, "unresolved": 2.5, "low_score": 1.5, "new": 0.8, "price": 6.0, "satisfaction": 1.5}
CONTACT_BASE, CONTACT_PER_ORDER = 0.035, 0.015
SAT_PERSIST, SAT_NOISE, SAT_PURCHASE, SAT_BROWSE = 0.95, 0.2, 0.3, 1.0
SEG_CHANNEL = np.array(
    [[0.45, 0.3, 0.2, 0.05], [0.3, 0.3, 0.35, 0.05], [0.3, 0.2, 0.4, 0.1], [0.35, 0.15, 0.4, 0.1]]
)
PERSUADABILITY = ("persuadable", "sure_thing", "lost_cause", "sleeping_dog")
CATEGORIES = ("grocery", "household", "beauty", "electronics", "apparel", "home", "toys", "sports")
CAT_PRICE = np.array([4.0, 8.0, 15.0, 120.0, 35.0, 45.0, 25.0, 40.0])
CAT_RETURN = np.array([0.01, 0.02, 0.03, 0.06, 0.12, 0.05, 0.04, 0.06])
PRODUCTS_PER_CAT = 8
REGIONS = ("north", "south", "east", "west", "central")
COUNTRIES = ("DE", "AT", "CH", "NL", "FR")
REFERRERS = ("organic", "direct", "paid_search", "social", "affiliate", "campaign")
SEG_REFERRER = np.array(
    [
        [0.2, 0.15, 0.3, 0.15, 0.2],
        [0.35, 0.4, 0.1, 0.1, 0.05],
        [0.3, 0.35, 0.2, 0.1, 0.05],
        [0.3, 0.1, 0.2, 0.3, 0.1],
    ]
)
DEVICES = ("desktop", "mobile", "tablet")
OSES = ("windows", "macos", "linux", "ios", "android")
BROWSERS = ("chrome", "safari", "firefox", "edge", "app")
CONTACT_CHANNELS = ("phone", "email", "chat", "store")
REASONS = ("delivery", "billing", "product_quality", "returns", "account", "other")
REASON_P = np.array([0.3, 0.15, 0.2, 0.15, 0.1, 0.1])
REASON_RESOLVE = np.array([0.75, 0.7, 0.55, 0.8, 0.9, 0.85])
ID_PREFIX = {
    "email_hash": "em_",
    "phone_hash": "ph_",
    "loyalty_card": "lc_",
    "cookie": "ck_",
    "device": "dv_",
}
RESPONSE_WEEKS = 2
RESPONSE_DAYS = 7 * RESPONSE_WEEKS

# campaign templates: (channel, offer, cost_per_contact, incentive_cost, [(arm, kind, strength, discount)])
CAMPAIGN_TEMPLATES = (
    (
        "email",
        "spring_sale",
        0.05,
        4.0,
        (("discount_10", "discount", 0.8, 0.10), ("discount_20", "discount", 1.3, 0.20)),
    ),
    (
        "app_push",
        "free_shipping",
        0.02,
        3.0,
        (("free_shipping", "discount", 0.9, 0.05), ("reminder", "content", 0.5, 0.0)),
    ),
    (
        "sms",
        "loyalty_points",
        0.08,
        2.5,
        (
            ("points_2x", "content", 0.7, 0.0),
            ("points_3x", "content", 1.0, 0.0),
            ("points_5x", "content", 1.2, 0.0),
        ),
    ),
    (
        "email",
        "new_collection",
        0.05,
        0.0,
        (("content_a", "content", 0.6, 0.0), ("content_b", "content", 0.9, 0.0)),
    ),
    (
        "direct_mail",
        "winback_voucher",
        1.2,
        8.0,
        (
            ("voucher_5", "discount", 0.9, 0.08),
            ("voucher_15", "discount", 1.5, 0.15),
            ("letter", "content", 0.4, 0.0),
        ),
    ),
)
TARGET_SHARE = 0.6
CONTROL_SHARE = 0.3

_STR = "str"
_TS = "datetime64[us]"
_DTYPES: dict[str, dict[str, str]] = {
    "customers": {
        "customer_id": _STR,
        "signup_at": _TS,
        "region": _STR,
        "birth_year": "Int64",
        "gender": _STR,
        "consent_marketing": "bool",
        "consent_profiling": "bool",
        "preferred_channel": _STR,
    },
    "identities": {"identifier": _STR, "identifier_type": _STR, "customer_id": _STR},
    "products": {"product_id": _STR, "category": _STR, "list_price": "float64", "unit_cost": "float64"},
    "orders": {
        "order_id": _STR,
        "line_no": "int64",
        "customer_id": _STR,
        "ts": _TS,
        "product_id": _STR,
        "quantity": "int64",
        "unit_price": "float64",
        "discount": "float64",
        "channel": _STR,
        "campaign_id": _STR,
        "returned": "bool",
    },
    "events": {
        "identifier": _STR,
        "customer_id": _STR,
        "ts": _TS,
        "event_type": _STR,
        "device": _STR,
        "os": _STR,
        "browser": _STR,
        "referrer_type": _STR,
        "country": _STR,
    },
    "service_contacts": {
        "contact_id": _STR,
        "customer_id": _STR,
        "ts": _TS,
        "channel": _STR,
        "reason": _STR,
        "resolved": "bool",
        "survey_score": "float64",
        "sentiment": "float64",
    },
    "campaigns": {
        "campaign_id": _STR,
        "channel": _STR,
        "offer": _STR,
        "start_at": _TS,
        "end_at": _TS,
        "cost_per_contact": "float64",
        "incentive_cost": "float64",
    },
    "exposures": {"campaign_id": _STR, "customer_id": _STR, "arm": _STR, "sent_at": _TS},
    "prices": {"product_id": _STR, "channel": _STR, "valid_from": _TS, "price": "float64"},
    "truth/customers": {
        "customer_id": _STR,
        "segment": _STR,
        "persuadability": _STR,
        "alive_at_start": "bool",
        "alive_at_end": "bool",
        "churned_at": _TS,
        "churn_week": "Int64",
        "n_churns": "int64",
        "weekly_churn_hazard_end": "float64",
        "weekly_churn_hazard_mean": "float64",
        "purchase_rate": "float64",
        "lines_per_order": "float64",
        "elasticity": "float64",
        "price_sensitivity": "float64",
        "responsiveness": "float64",
        "preferred_channel": _STR,
        "referral_source": _STR,
        "consent_marketing": "bool",
        "consent_profiling": "bool",
    },
    "truth/effects": {
        "customer_id": _STR,
        "campaign_id": _STR,
        "arm": _STR,
        "assigned_arm": _STR,
        "p_purchase_control": "float64",
        "true_effect": "float64",
    },
    "truth/elasticities": {"segment": _STR, "channel": _STR, "time_bucket": _STR, "elasticity": "float64"},
    "truth/affinities": {"customer_id": _STR, "rank": "int64", "category": _STR, "affinity": "float64"},
    "truth/campaign_arms": {
        "campaign_id": _STR,
        "arm": _STR,
        "kind": _STR,
        "strength": "float64",
        "discount": "float64",
        "response_days": "int64",
    },
    "truth/price_index": {"channel": _STR, "week_start": _TS, "price_ratio": "float64"},
}
CONTRACT_TABLES = (
    "customers",
    "identities",
    "products",
    "orders",
    "events",
    "service_contacts",
    "campaigns",
    "exposures",
    "prices",
)
GLOBAL_TABLES = (
    "products",
    "campaigns",
    "prices",
    "truth/elasticities",
    "truth/campaign_arms",
    "truth/price_index",
)


def _schema(name: str) -> pa.Schema:
    template = pd.DataFrame({c: pd.Series([], dtype=d) for c, d in _DTYPES[name].items()})
    return pa.Schema.from_pandas(template, preserve_index=False)


@dataclass(frozen=True)
class Company:
    """The contract tables and the ground truth of one simulated company."""

    tables: dict[str, pd.DataFrame]
    truth: dict[str, pd.DataFrame]


@dataclass(frozen=True)
class _World:
    start_us: int
    end_us: int
    n_weeks: int
    product_cat: np.ndarray
    list_price: np.ndarray
    prod_cum: np.ndarray  # (cats, products per cat) cumulative popularity
    price: np.ndarray  # (products, channels, weeks)
    price_ratio: np.ndarray  # (channels, weeks)
    cat_loadings: np.ndarray  # (3, cats)
    cat_bias: np.ndarray
    seg_affinity: np.ndarray  # (segments, 3)
    campaign_week: np.ndarray
    tables: dict[str, pa.Table]


def _ts_array(us: np.ndarray) -> np.ndarray:
    return np.asarray(us, dtype=np.int64).view("datetime64[us]")


def _str_take(
    values: Sequence[str] | np.ndarray, idx: np.ndarray, mask: np.ndarray | None = None
) -> pa.Array:
    """Strings ``values[idx]``, null where ``mask``; built by Arrow take (fast for millions of rows)."""
    dictionary = pa.array(list(values), pa.large_string())
    indices = pa.array(np.asarray(idx, dtype=np.int64), mask=mask)
    return dictionary.take(indices)


def _table(name: str, columns: dict[str, object]) -> pa.Table:
    schema = _schema(name)
    arrays = []
    for field in schema:
        col = columns[field.name]
        if isinstance(col, pa.Array | pa.ChunkedArray):
            arrays.append(col.cast(field.type))
        elif field.type == pa.timestamp("us"):
            arrays.append(pa.array(_ts_array(np.asarray(col)), pa.timestamp("us")))
        else:
            arrays.append(pa.array(col, field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _splitmix(x: np.ndarray) -> np.ndarray:
    """A bijection on uint64, so distinct keys give distinct pseudo-hashes."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _hash_ids(prefix: str, keys: np.ndarray, salt: int) -> list[str]:
    hashed = _splitmix(keys.astype(np.uint64) ^ np.uint64(salt & 0xFFFFFFFFFFFF) << np.uint64(16))
    return [f"{prefix}{h:016x}" for h in hashed.tolist()]


def _ids(prefix: str, start: int, n: int, width: int) -> list[str]:
    return [f"{prefix}{i:0{width}d}" for i in range(start, start + n)]


def _categorical(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One draw per row of ``probs`` (rows sum to 1)."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cum[:, -1]
    return np.minimum((u[:, None] > cum).sum(axis=1), probs.shape[1] - 1)


def _world(seed: int, start: pd.Timestamp, end: pd.Timestamp) -> _World:
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,)))
    start_us = int(np.datetime64(start.to_datetime64(), "us").astype(np.int64))
    end_us = int(np.datetime64(end.to_datetime64(), "us").astype(np.int64))
    if end_us <= start_us:
        raise ValueError("end must be after start")
    n_weeks = int(-(-(end_us - start_us) // WEEK_US))
    n_cat = len(CATEGORIES)
    n_prod = n_cat * PRODUCTS_PER_CAT
    product_cat = np.repeat(np.arange(n_cat), PRODUCTS_PER_CAT)
    list_price = np.round(CAT_PRICE[product_cat] * rng.lognormal(0.0, 0.35, n_prod), 2) + 0.49
    unit_cost = np.round(list_price * rng.uniform(0.45, 0.75, n_prod), 2)
    popularity = rng.dirichlet(np.full(PRODUCTS_PER_CAT, 1.5), n_cat)
    prod_cum = np.cumsum(popularity, axis=1)
    product_ids = _ids("P", 1, n_prod, 3)
    products = _table(
        "products",
        {
            "product_id": product_ids,
            "category": [CATEGORIES[c] for c in product_cat],
            "list_price": list_price,
            "unit_cost": unit_cost,
        },
    )

    # channel price moves, aligned to week starts
    move = np.ones((len(CHANNELS), n_weeks))
    price_rows = []
    noise = rng.lognormal(0.0, 0.03, (n_prod, len(CHANNELS)))
    for c in range(len(CHANNELS)):
        n_moves = int(rng.integers(2, 5))
        weeks = np.sort(rng.choice(np.arange(4, max(n_weeks - 2, 5)), size=n_moves, replace=False))
        for w in weeks:
            move[c, w:] = rng.uniform(0.85, 1.18)
        for w in [0, *weeks.tolist()]:
            price_rows.append((c, w))
    price = np.round(
        list_price[:, None, None] * CHANNEL_LEVEL[None, :, None] * move[None, :, :] * noise[:, :, None], 2
    )
    price_ratio = CHANNEL_LEVEL[:, None] * move
    pc, pw = np.array(price_rows).T
    p_idx = np.tile(np.arange(n_prod), len(price_rows))
    c_idx = np.repeat(pc, n_prod)
    w_idx = np.repeat(pw, n_prod)
    order = np.lexsort((w_idx, c_idx, p_idx))
    p_idx, c_idx, w_idx = p_idx[order], c_idx[order], w_idx[order]
    prices = _table(
        "prices",
        {
            "product_id": _str_take(product_ids, p_idx),
            "channel": _str_take(CHANNELS, c_idx),
            "valid_from": start_us + w_idx * WEEK_US,
            "price": price[p_idx, c_idx, w_idx],
        },
    )

    n_camp = len(CAMPAIGN_TEMPLATES)
    campaign_week = np.linspace(0.1 * n_weeks, 0.85 * n_weeks - RESPONSE_WEEKS, n_camp).astype(int)
    campaign_week = np.maximum(campaign_week, 1)
    camp_ids = _ids("CMP", 1, n_camp, 2)
    campaigns = _table(
        "campaigns",
        {
            "campaign_id": camp_ids,
            "channel": [t[0] for t in CAMPAIGN_TEMPLATES],
            "offer": [t[1] for t in CAMPAIGN_TEMPLATES],
            "start_at": start_us + campaign_week * WEEK_US,
            "end_at": np.minimum(start_us + campaign_week * WEEK_US + RESPONSE_DAYS * DAY_US, end_us - 1),
            "cost_per_contact": [t[2] for t in CAMPAIGN_TEMPLATES],
            "incentive_cost": [t[3] for t in CAMPAIGN_TEMPLATES],
        },
    )
    arms = [(camp_ids[i], a) for i, t in enumerate(CAMPAIGN_TEMPLATES) for a in t[4]]
    campaign_arms = _table(
        "truth/campaign_arms",
        {
            "campaign_id": [c for c, _ in arms],
            "arm": [a[0] for _, a in arms],
            "kind": [a[1] for _, a in arms],
            "strength": [a[2] for _, a in arms],
            "discount": [a[3] for _, a in arms],
            "response_days": [RESPONSE_DAYS] * len(arms),
        },
    )

    cells = [
        (s, c, b) for s in range(len(SEGMENTS)) for c in range(len(CHANNELS)) for b in range(len(BUCKETS))
    ]
    elasticities = _table(
        "truth/elasticities",
        {
            "segment": [SEGMENTS[s] for s, _, _ in cells],
            "channel": [CHANNELS[c] for _, c, _ in cells],
            "time_bucket": [BUCKETS[b] for _, _, b in cells],
            "elasticity": [SEG_ELASTICITY[s] * CHANNEL_MULT[c] * BUCKET_MULT[b] for s, c, b in cells],
        },
    )
    pi_c, pi_w = np.divmod(np.arange(len(CHANNELS) * n_weeks), n_weeks)
    price_index = _table(
        "truth/price_index",
        {
            "channel": _str_take(CHANNELS, pi_c),
            "week_start": start_us + pi_w * WEEK_US,
            "price_ratio": price_ratio[pi_c, pi_w],
        },
    )
    return _World(
        start_us=start_us,
        end_us=end_us,
        n_weeks=n_weeks,
        product_cat=product_cat,
        list_price=list_price,
        prod_cum=prod_cum,
        price=price,
        price_ratio=price_ratio,
        cat_loadings=rng.normal(0.0, 1.0, (3, n_cat)),
        cat_bias=rng.normal(0.0, 0.5, n_cat),
        seg_affinity=rng.normal(0.0, 0.8, (len(SEGMENTS), 3)),
        campaign_week=campaign_week,
        tables={
            "products": products,
            "campaigns": campaigns,
            "prices": prices,
            "truth/elasticities": elasticities,
            "truth/campaign_arms": campaign_arms,
            "truth/price_index": price_index,
        },
    )


# OS given device (desktop, mobile, tablet) and browser given OS (windows, macos, linux, ios, android)
_OS_P = np.array([[0.65, 0.3, 0.05, 0.0, 0.0], [0.0, 0.0, 0.0, 0.45, 0.55], [0.0, 0.0, 0.0, 0.55, 0.45]])
_BROWSER_P = np.array(
    [
        [0.6, 0.0, 0.15, 0.25, 0.0],
        [0.4, 0.55, 0.05, 0.0, 0.0],
        [0.5, 0.0, 0.5, 0.0, 0.0],
        [0.2, 0.8, 0.0, 0.0, 0.0],
        [0.9, 0.0, 0.1, 0.0, 0.0],
    ]
)
_EV_VISIT, _EV_SEARCH, _EV_VIEW, _EV_CART = range(4)
EVENT_TYPES = ("visit", "search", "view", "cart")


@dataclass
class _Traits:
    """Latent and observed traits of one chunk of customers (arrays of length n)."""

    seg: np.ndarray
    signup_us: np.ndarray
    first_week: np.ndarray
    alive0: np.ndarray
    region: np.ndarray
    birth_year: np.ndarray
    birth_null: np.ndarray
    gender: np.ndarray
    gender_null: np.ndarray
    consent_m: np.ndarray
    consent_p: np.ndarray
    pref: np.ndarray
    mix: np.ndarray
    bucket: np.ndarray
    rate: np.ndarray
    lines_mu: np.ndarray
    qty_mu: np.ndarray
    elasticity: np.ndarray
    price_sens: np.ndarray
    affinity: np.ndarray
    referral: np.ndarray
    ptype: np.ndarray
    resp: np.ndarray
    browse: np.ndarray
    country: np.ndarray
    n_cookies: np.ndarray
    cookie_dev: np.ndarray
    cookie_os: np.ndarray
    cookie_browser: np.ndarray
    n_devices: np.ndarray
    device_dev: np.ndarray
    device_os: np.ndarray
    has_phone: np.ndarray
    has_loyalty: np.ndarray


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def _traits(rng: np.random.Generator, world: _World, n: int) -> _Traits:
    seg = rng.choice(len(SEGMENTS), n, p=SEG_P)
    signup_us = world.end_us - rng.integers(1, 3 * 365 * DAY_US, n)
    pre = signup_us < world.start_us
    first_week = np.where(pre, 0, (signup_us - world.start_us) // WEEK_US + 1)
    tenure_years = np.maximum(world.start_us - signup_us, 0) / (365 * DAY_US)
    alive0 = np.where(pre, rng.random(n) < np.exp(-0.35 * tenure_years), True)
    pref = _categorical(rng, SEG_CHANNEL[seg])
    mix = 0.55 * np.eye(len(CHANNELS))[pref] + 0.45 * rng.dirichlet(np.ones(len(CHANNELS)), n)
    birth_year = np.clip(np.round(rng.normal(1982, 13, n)), 1935, 2007).astype(np.int64)
    older, younger = birth_year < 1970, birth_year > 1995
    elasticity = SEG_ELASTICITY[seg] * rng.lognormal(0.0, 0.25, n)
    u = world.seg_affinity[seg] + rng.normal(0.0, 1.0, (n, 3))
    # persuadability: persuadable, sure thing, lost cause, sleeping dog
    plogit = np.tile(np.array([0.0, -0.3, 0.3, -0.8]), (n, 1))
    plogit[:, 0] += np.select([seg == 0, seg == 2, seg == 3], [0.9, -0.3, 0.2], 0.0) + 0.4 * younger
    plogit[:, 0] += 0.3 * (pref <= 1)
    plogit[:, 1] += 1.0 * (seg == 1)
    plogit[:, 2] += 0.6 * (seg == 3)
    plogit[:, 3] += np.select([seg == 1, seg == 2], [0.5, 0.9], 0.0) + 0.7 * older
    ptype = _categorical(rng, _softmax(plogit))
    online = mix[:, 0] + mix[:, 1]
    cookie_dev = rng.choice(len(DEVICES), (n, 3), p=[0.5, 0.4, 0.1])
    cookie_os = _categorical(rng, _OS_P[cookie_dev.ravel()]).reshape(n, 3)
    cookie_browser = _categorical(rng, _BROWSER_P[cookie_os.ravel()]).reshape(n, 3)
    device_dev = np.where(rng.random((n, 2)) < 0.8, 1, 2)
    device_os = np.where(rng.random((n, 2)) < 0.45, 3, 4)
    return _Traits(
        seg=seg,
        signup_us=signup_us,
        first_week=first_week,
        alive0=alive0,
        region=rng.choice(len(REGIONS), n, p=[0.2, 0.25, 0.15, 0.2, 0.2]),
        birth_year=birth_year,
        birth_null=rng.random(n) < 0.12,
        gender=rng.choice(3, n, p=[0.5, 0.48, 0.02]),
        gender_null=rng.random(n) < 0.08,
        consent_m=(cm := rng.random(n) < 0.7),
        consent_p=rng.random(n) < np.where(cm, 0.85, 0.4),
        pref=pref,
        mix=mix,
        bucket=rng.dirichlet(np.array([4.5, 3.0, 2.5]) * 2, n),
        rate=SEG_RATE[seg] * rng.lognormal(0.0, RATE_SD, n),
        lines_mu=SEG_LINES[seg] * rng.lognormal(0.0, 0.15, n),
        qty_mu=SEG_QTY[seg] * rng.lognormal(0.0, 0.3, n),
        elasticity=elasticity,
        price_sens=0.4 * np.abs(elasticity) * rng.lognormal(0.0, 0.2, n),
        affinity=_softmax(u @ world.cat_loadings + world.cat_bias),
        referral=_categorical(rng, SEG_REFERRER[seg]),
        ptype=ptype,
        resp=rng.uniform(0.5, 1.5, n),
        browse=0.1 * rng.lognormal(0.0, 0.5, n) * (0.5 + online),
        country=rng.choice(len(COUNTRIES), n, p=[0.85, 0.06, 0.05, 0.02, 0.02]),
        n_cookies=rng.integers(1, 4, n),
        cookie_dev=cookie_dev,
        cookie_os=cookie_os,
        cookie_browser=cookie_browser,
        n_devices=1 + (rng.random(n) < 0.3 + 0.5 * mix[:, 1]),
        device_dev=device_dev,
        device_os=device_os,
        has_phone=rng.random(n) < 0.6,
        has_loyalty=rng.random(n) < 0.3 + 0.5 * mix[:, 2],
    )


def _arm_effect(t: _Traits, campaign: int, arm: int) -> tuple[np.ndarray, np.ndarray]:
    """(multiplier, additive weekly rate) of treatment ``arm`` (1-based) of ``campaign`` per customer."""
    _, kind, strength, _ = CAMPAIGN_TEMPLATES[campaign][4][arm - 1]
    if kind == "discount":
        factor = 1.0 + 0.4 * np.abs(t.elasticity)
    else:
        factor = 0.5 + 0.5 * np.clip(t.browse / 0.1, 0.3, 3.0)
    add = np.select([t.ptype == 0, t.ptype == 1], [0.25 * strength * t.resp * factor, 0.01 * strength], 0.0)
    mult = np.where(t.ptype == 3, 1.0 - np.minimum(0.85, 0.5 * strength * t.resp), 1.0)
    return mult, add


@dataclass
class _Sim:
    """What the weekly simulation produced for one chunk."""

    o_idx: np.ndarray
    o_week: np.ndarray
    o_cell: np.ndarray
    sc_idx: np.ndarray
    sc_week: np.ndarray
    sc_reason: np.ndarray
    sc_resolved: np.ndarray
    sc_score: np.ndarray
    sc_sentiment: np.ndarray
    b_idx: np.ndarray
    b_week: np.ndarray
    alive: np.ndarray
    churn_week: np.ndarray
    n_churns: np.ndarray
    hazard_end: np.ndarray
    hazard_mean: np.ndarray
    arm_idx: list[np.ndarray]
    sent_us: list[np.ndarray]
    effects: list[tuple[np.ndarray, int, int, np.ndarray, np.ndarray, np.ndarray]]


def _simulate(rng: np.random.Generator, world: _World, t: _Traits) -> _Sim:
    n = len(t.seg)
    n_ch, n_b = len(CHANNELS), len(BUCKETS)
    w12 = (t.mix[:, :, None] * t.bucket[:, None, :]).reshape(n, n_ch * n_b)
    cell_mult = (CHANNEL_MULT[:, None] * BUCKET_MULT[None, :]).ravel()
    cell_channel = np.repeat(np.arange(n_ch), n_b)

    # campaign assignment (randomised among eligible consenting customers)
    arm_idx, sent_us, treated, eff = [], [], [], []
    for j, tpl in enumerate(CAMPAIGN_TEMPLATES):
        camp_start = world.start_us + int(world.campaign_week[j]) * WEEK_US
        eligible = t.consent_m & (t.signup_us < camp_start)
        targeted = eligible & (rng.random(n) < TARGET_SHARE)
        u = rng.random(n)
        k = len(tpl[4])
        arm = np.where(
            u < CONTROL_SHARE, 0, 1 + np.minimum(((u - CONTROL_SHARE) / (1 - CONTROL_SHARE) * k), k - 1)
        )
        arm_idx.append(np.where(targeted, arm.astype(np.int64), -1))
        sent_us.append(camp_start + rng.integers(0, HOUR_US, n))
        rows = np.flatnonzero(arm_idx[j] >= 1)
        treated.append(rows)
        mult, add = np.ones(n), np.zeros(n)
        for a in range(1, k + 1):
            m_a, add_a = _arm_effect(t, j, a)
            sel = arm_idx[j] == a
            mult[sel], add[sel] = m_a[sel], add_a[sel]
        eff.append((mult[rows], add[rows]))

    alive = t.alive0.copy()
    pre = t.signup_us < world.start_us
    tenure_w0 = (world.start_us - t.signup_us) / WEEK_US
    weeks_since = np.where(
        pre & alive,
        np.minimum(np.maximum(tenure_w0, 0), rng.exponential(1.0 / np.maximum(t.rate, 0.02))),
        0.0,
    )
    dead_since = rng.uniform(0.0, 1.0, n) * np.maximum(tenure_w0, 0)
    weeks_since = np.where(pre & ~alive, dead_since + 4.0, weeks_since)
    churn_week = np.where(pre & ~alive, -np.ceil(dead_since).astype(np.int64), np.iinfo(np.int64).min)
    sat, unres, low = rng.normal(0.0, 0.3, n), np.zeros(n), np.zeros(n)
    n_churns = np.zeros(n, np.int64)
    hazard_sum, alive_weeks, hazard_last = np.zeros(n), np.zeros(n), np.full(n, np.nan)
    outs: dict[str, list[np.ndarray]] = {
        k: [] for k in ("oi", "ow", "oc", "si", "sw", "sr", "sv", "ss", "se", "bi", "bw")
    }
    effects = []
    for w in range(world.n_weeks):
        active = w >= t.first_week
        can = alive & active
        g = np.log(world.price_ratio[cell_channel, w]) * cell_mult
        lam_cells = (
            (t.rate * np.exp(SAT_PURCHASE * sat))[:, None] * w12 * np.exp(t.elasticity[:, None] * g[None, :])
        )
        lam_cells *= can[:, None]
        dog_bump = np.zeros(n)
        for j, cw in enumerate(world.campaign_week):
            if w == cw:  # ground-truth effect of every arm, given the state at send time
                lam0 = lam_cells.sum(axis=1)
                exposed = np.flatnonzero(arm_idx[j] >= 0)
                p0 = 1.0 - np.exp(-RESPONSE_WEEKS * lam0[exposed])
                for a in range(1, len(CAMPAIGN_TEMPLATES[j][4]) + 1):
                    m_a, add_a = _arm_effect(t, j, a)
                    lam1 = lam0[exposed] * m_a[exposed] + add_a[exposed] * can[exposed]
                    te = np.exp(-RESPONSE_WEEKS * lam0[exposed]) - np.exp(-RESPONSE_WEEKS * lam1)
                    effects.append((exposed, j, a, arm_idx[j][exposed], p0, te))
            if cw <= w < cw + RESPONSE_WEEKS:
                rows = treated[j]
                m, add = eff[j]
                lam_cells[rows] = lam_cells[rows] * m[:, None] + (add * can[rows])[:, None] * w12[rows]
                dog_bump[rows] += 0.9 * (t.ptype[rows] == 3)
        lam = lam_cells.sum(axis=1)
        cnt = rng.poisson(lam)
        has = np.flatnonzero(cnt)
        rep = np.repeat(has, cnt[has])
        outs["oi"].append(rep)
        outs["ow"].append(np.full(len(rep), w, np.int64))
        outs["oc"].append(_categorical(rng, lam_cells[rep]))
        weeks_since = np.where(cnt > 0, 0.0, weeks_since + 1.0)

        # service contacts
        sc = np.flatnonzero(
            can & (rng.random(n) < (CONTACT_BASE + CONTACT_PER_ORDER * cnt) * np.exp(-0.5 * sat))
        )
        reason = rng.choice(len(REASONS), len(sc), p=REASON_P)
        resolved = rng.random(len(sc)) < REASON_RESOLVE[reason]
        score = np.where(
            resolved,
            rng.choice([3, 4, 5], len(sc), p=[0.2, 0.4, 0.4]),
            rng.choice([1, 2, 3], len(sc), p=[0.45, 0.35, 0.2]),
        ).astype(float)
        score[rng.random(len(sc)) < 0.45] = np.nan
        senti = (
            np.where(resolved, 0.35, -0.45) + 0.12 * np.nan_to_num(score - 3.0) + rng.normal(0, 0.3, len(sc))
        )
        senti = np.round(np.clip(senti, -1.0, 1.0), 3).astype(np.float64)
        senti[rng.random(len(sc)) < 0.3] = np.nan
        for key, val in (
            ("si", sc),
            ("sw", np.full(len(sc), w, np.int64)),
            ("sr", reason),
            ("sv", resolved),
            ("ss", score),
            ("se", senti),
        ):
            outs[key].append(val)
        unres *= 0.85
        low *= 0.85
        unres[sc[~resolved]] += 1.0
        low[sc[score <= 2]] += 1.0
        sat = SAT_PERSIST * sat + rng.normal(0.0, SAT_NOISE, n)
        sat[sc[~resolved]] -= 0.5

        # churn after the week's purchases
        tenure_w = tenure_w0 + w
        price_up = np.maximum(world.price_ratio[t.pref, w] - 1.0, 0.0)
        logit = (
            SEG_H0[t.seg]
            + HAZARD["recency"] * np.log1p(weeks_since)
            + HAZARD["unresolved"] * unres
            + HAZARD["low_score"] * low
            + HAZARD["new"] * (tenure_w < 13)
            + HAZARD["price"] * t.price_sens * price_up
            - HAZARD["satisfaction"] * sat
            + dog_bump
        )
        h = 1.0 / (1.0 + np.exp(-logit))
        churn = can & (rng.random(n) < h)
        winback = ~alive & active & (rng.random(n) < 0.004)
        alive = (alive & ~churn) | winback
        churn_week[churn] = w
        n_churns += churn
        hazard_sum += h * can
        alive_weeks += can
        hazard_last = np.where(can, h, hazard_last)

        # browsing sessions
        lam_b = t.browse * np.exp(SAT_BROWSE * sat) * np.where(alive | churn, 1.0, 0.05) * active
        nb = rng.poisson(lam_b)
        hb = np.flatnonzero(nb)
        outs["bi"].append(np.repeat(hb, nb[hb]))
        outs["bw"].append(np.full(int(nb[hb].sum()), w, np.int64))

    cat = {k: np.concatenate(v) for k, v in outs.items()}
    return _Sim(
        o_idx=cat["oi"],
        o_week=cat["ow"],
        o_cell=cat["oc"],
        sc_idx=cat["si"],
        sc_week=cat["sw"],
        sc_reason=cat["sr"],
        sc_resolved=cat["sv"],
        sc_score=cat["ss"],
        sc_sentiment=cat["se"],
        b_idx=cat["bi"],
        b_week=cat["bw"],
        alive=alive,
        churn_week=churn_week,
        n_churns=n_churns,
        hazard_end=np.where(alive, hazard_last, np.nan),
        hazard_mean=np.divide(hazard_sum, alive_weeks, out=np.full(n, np.nan), where=alive_weeks > 0),
        arm_idx=arm_idx,
        sent_us=sent_us,
        effects=effects,
    )


def _week_days(start_us: int) -> tuple[np.ndarray, np.ndarray]:
    """Day offsets (0-6) inside a simulation week that fall on weekdays and on weekends."""
    wd0 = int(_ts_array(np.array([start_us])).astype("datetime64[D]").view(np.int64)[0] + 3) % 7  # Monday = 0
    days = np.arange(7)
    weekend = (wd0 + days) % 7 >= 5
    return days[~weekend], days[weekend]


def _order_tables(
    rng: np.random.Generator, world: _World, t: _Traits, sim: _Sim, k: int, cust_ids: list[str]
) -> tuple[pa.Table, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n_b = len(BUCKETS)
    ch, b = np.divmod(sim.o_cell, n_b)
    weekdays, weekends = _week_days(world.start_us)
    day = np.where(
        b == 2,
        weekends[rng.integers(0, len(weekends), len(b))],
        weekdays[rng.integers(0, len(weekdays), len(b))],
    )
    lo, hi = np.array([h[0] for h in BUCKET_HOURS])[b], np.array([h[1] for h in BUCKET_HOURS])[b]
    ts = (
        world.start_us
        + sim.o_week * WEEK_US
        + day * DAY_US
        + lo * HOUR_US
        + (rng.random(len(b)) * (hi - lo) * HOUR_US).astype(np.int64)
    )
    ts -= ts % 1_000_000
    keep = ts < world.end_us
    idx, week, ch, ts = sim.o_idx[keep], sim.o_week[keep], ch[keep], ts[keep]
    camp = np.full(len(idx), -1)
    pct_camp = np.zeros(len(idx))
    for j, tpl in enumerate(CAMPAIGN_TEMPLATES):
        arm = sim.arm_idx[j][idx]
        sent = sim.sent_us[j][idx]
        inside = (arm >= 1) & (ts >= sent) & (ts < sent + RESPONSE_DAYS * DAY_US)
        camp[inside] = j
        arm_disc = np.array([0.0] + [a[3] for a in tpl[4]])
        pct_camp[inside] = arm_disc[arm[inside]]
    order = np.lexsort((idx, ts))
    idx, week, ch, ts, camp, pct_camp = (
        idx[order],
        week[order],
        ch[order],
        ts[order],
        camp[order],
        pct_camp[order],
    )
    n_orders = len(idx)

    n_lines = 1 + rng.poisson(np.maximum(t.lines_mu[idx] - 1.0, 0.0))
    o_of_line = np.repeat(np.arange(n_orders), n_lines)
    line_no = np.arange(len(o_of_line)) - np.repeat(np.cumsum(n_lines) - n_lines, n_lines)
    l_idx = idx[o_of_line]
    cat = _categorical(rng, t.affinity[l_idx])
    within = np.minimum(
        (rng.random(len(cat))[:, None] > world.prod_cum[cat]).sum(axis=1), PRODUCTS_PER_CAT - 1
    )
    prod = cat * PRODUCTS_PER_CAT + within
    qty = 1 + rng.poisson(t.qty_mu[l_idx])
    l_ch, l_week = ch[o_of_line], week[o_of_line]
    unit_price = world.price[prod, l_ch, l_week]
    promo = np.where(rng.random(len(cat)) < 0.08, rng.uniform(0.05, 0.25, len(cat)), 0.0)
    pct = np.maximum(promo, pct_camp[o_of_line])
    discount = np.round(unit_price * qty * pct, 2)
    returned = rng.random(len(cat)) < CAT_RETURN[cat]
    order_ids = [f"O{k:04d}{i:08d}" for i in range(n_orders)]
    camp_ids = _ids("CMP", 1, len(CAMPAIGN_TEMPLATES), 2)
    l_camp = camp[o_of_line]
    table = _table(
        "orders",
        {
            "order_id": _str_take(order_ids, o_of_line),
            "line_no": line_no,
            "customer_id": _str_take(cust_ids, l_idx),
            "ts": ts[o_of_line],
            "product_id": _str_take(_ids("P", 1, len(world.list_price), 3), prod),
            "quantity": qty,
            "unit_price": unit_price,
            "discount": discount,
            "channel": _str_take(CHANNELS, l_ch),
            "campaign_id": _str_take(camp_ids, np.maximum(l_camp, 0), l_camp < 0),
            "returned": returned,
        },
    )
    return table, idx, ch, ts, camp


def _contact_table(
    rng: np.random.Generator, world: _World, sim: _Sim, k: int, cust_ids: list[str]
) -> pa.Table:
    m = len(sim.sc_idx)
    ts = (
        world.start_us
        + sim.sc_week * WEEK_US
        + rng.integers(0, 7, m) * DAY_US
        + 8 * HOUR_US
        + rng.integers(0, 12 * 3600, m) * 1_000_000
    )
    keep = ts < world.end_us
    order = np.lexsort((sim.sc_idx[keep], ts[keep]))
    sel = np.flatnonzero(keep)[order]
    return _table(
        "service_contacts",
        {
            "contact_id": _ids(f"S{k:04d}", 0, len(sel), 7),
            "customer_id": _str_take(cust_ids, sim.sc_idx[sel]),
            "ts": ts[sel],
            "channel": _str_take(CONTACT_CHANNELS, rng.choice(4, len(sel), p=[0.45, 0.25, 0.25, 0.05])),
            "reason": _str_take(REASONS, sim.sc_reason[sel]),
            "resolved": sim.sc_resolved[sel],
            "survey_score": sim.sc_score[sel],
            "sentiment": sim.sc_sentiment[sel],
        },
    )


@dataclass
class _Identities:
    table: pa.Table
    strings: list[str]
    cookie_pos: np.ndarray  # (n, 3) position in ``strings`` of each customer's cookie
    device_pos: np.ndarray  # (n, 2)
    anon_pos: np.ndarray  # positions of never-linked cookies


def _identities(
    rng: np.random.Generator, t: _Traits, seed: int, offset: int, cust_ids: list[str]
) -> _Identities:
    n = len(t.seg)
    gidx = offset + np.arange(n, dtype=np.int64)
    n_anon = max(n // 20, 1)
    blocks: list[tuple[str, np.ndarray, np.ndarray]] = [  # (type, customer idx or -1, hash key)
        ("email_hash", np.arange(n), gidx),
        ("phone_hash", np.flatnonzero(t.has_phone), gidx[t.has_phone]),
        ("loyalty_card", np.flatnonzero(t.has_loyalty), gidx[t.has_loyalty]),
    ]
    cookie_pos = np.full((n, 3), -1)
    device_pos = np.full((n, 2), -1)
    pos = sum(len(b[1]) for b in blocks)
    for j in range(3):
        has = np.flatnonzero(t.n_cookies > j)
        blocks.append(("cookie", has, gidx[has] * 4 + j))
        cookie_pos[has, j] = pos + np.arange(len(has))
        pos += len(has)
    for j in range(2):
        has = np.flatnonzero(t.n_devices > j)
        blocks.append(("device", has, gidx[has] * 4 + j))
        device_pos[has, j] = pos + np.arange(len(has))
        pos += len(has)
    anon_pos = pos + np.arange(n_anon)
    blocks.append(("cookie", np.full(n_anon, -1), (1 << 45) + offset + np.arange(n_anon)))
    strings: list[str] = []
    types, cust = [], []
    for typ, idx, keys in blocks:
        strings.extend(_hash_ids(ID_PREFIX[typ], keys, seed))
        types.append(np.full(len(idx), sorted(ID_PREFIX).index(typ)))
        cust.append(idx)
    cust_all = np.concatenate(cust)
    table = _table(
        "identities",
        {
            "identifier": pa.array(strings, pa.large_string()),
            "identifier_type": _str_take(sorted(ID_PREFIX), np.concatenate(types)),
            "customer_id": _str_take(cust_ids, np.maximum(cust_all, 0), cust_all < 0),
        },
    )
    return _Identities(table, strings, cookie_pos, device_pos, anon_pos)


def _event_table(
    rng: np.random.Generator,
    world: _World,
    t: _Traits,
    sim: _Sim,
    ids: _Identities,
    orders: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    cust_ids: list[str],
) -> pa.Table:
    o_idx, o_ch, o_ts, o_camp = orders
    # purchase sessions: every web/app order
    online = o_ch <= 1
    p_idx, p_app, p_end, p_camp = o_idx[online], o_ch[online] == 1, o_ts[online], o_camp[online]
    p_dur = rng.integers(3 * 60, 40 * 60, len(p_idx)) * 1_000_000
    # browsing sessions
    b_idx = sim.b_idx
    b_app = rng.random(len(b_idx)) < t.mix[b_idx, 1] / (t.mix[b_idx, 0] + t.mix[b_idx, 1])
    b_start = (
        world.start_us
        + sim.b_week * WEEK_US
        + rng.integers(0, 7, len(b_idx)) * DAY_US
        + 7 * HOUR_US
        + rng.integers(0, 16 * 3600, len(b_idx)) * 1_000_000
    )
    # never-linked cookies
    n_anon = len(ids.anon_pos)
    a_sess = rng.poisson(2.0, n_anon)
    a_cookie = np.repeat(np.arange(n_anon), a_sess)
    a_start = world.start_us + (rng.random(len(a_cookie)) * (world.end_us - world.start_us)).astype(np.int64)

    ns = (len(p_idx), len(b_idx), len(a_cookie))
    cust = np.concatenate([p_idx, b_idx, np.full(ns[2], -1)])
    app = np.concatenate([p_app, b_app, np.zeros(ns[2], bool)])
    views = np.concatenate([1 + rng.poisson(1.0, ns[0]), rng.poisson(1.2, ns[1]), rng.poisson(1.0, ns[2])])
    search = np.concatenate([rng.random(ns[0]) < 0.5, rng.random(ns[1]) < 0.35, np.zeros(ns[2], bool)])
    cart = np.concatenate([np.ones(ns[0], bool), rng.random(ns[1]) < 0.08, np.zeros(ns[2], bool)])
    m = 1 + search + views + cart
    step = np.concatenate([p_dur // (m[: ns[0]] + 1), rng.integers(20, 120, ns[1] + ns[2]) * 1_000_000])
    start = np.concatenate([p_end - p_dur, b_start, a_start])

    ci = np.maximum(cust, 0)
    slot = (rng.random(len(cust)) * np.where(app, t.n_devices[ci], t.n_cookies[ci])).astype(np.int64)
    ident = np.where(app, ids.device_pos[ci, np.minimum(slot, 1)], ids.cookie_pos[ci, np.minimum(slot, 2)])
    anon_dev = rng.choice(len(DEVICES), ns[2], p=[0.5, 0.4, 0.1])
    anon_os = _categorical(rng, _OS_P[anon_dev])
    anon_browser = _categorical(rng, _BROWSER_P[anon_os])
    device = np.where(app, t.device_dev[ci, np.minimum(slot, 1)], t.cookie_dev[ci, np.minimum(slot, 2)])
    os_ = np.where(app, t.device_os[ci, np.minimum(slot, 1)], t.cookie_os[ci, np.minimum(slot, 2)])
    browser = np.where(app, BROWSERS.index("app"), t.cookie_browser[ci, np.minimum(slot, 2)])
    tail = slice(ns[0] + ns[1], None)
    ident[tail], device[tail], os_[tail], browser[tail] = (
        ids.anon_pos[a_cookie],
        anon_dev,
        anon_os,
        anon_browser,
    )
    logged_in = (cust >= 0) & (app | (rng.random(len(cust)) < 0.75))
    referrer = np.where(rng.random(len(cust)) < 0.5, t.referral[ci], rng.integers(0, 5, len(cust)))
    from_campaign = np.concatenate([p_camp >= 0, np.zeros(ns[1] + ns[2], bool)])
    referrer = np.where(from_campaign & (rng.random(len(cust)) < 0.7), REFERRERS.index("campaign"), referrer)
    country = np.where(
        rng.random(len(cust)) < 0.95, t.country[ci], rng.integers(0, len(COUNTRIES), len(cust))
    )

    s_of_e = np.repeat(np.arange(len(m)), m)
    pos = np.arange(len(s_of_e)) - np.repeat(np.cumsum(m) - m, m)
    etype = np.full(len(s_of_e), _EV_VIEW)
    etype[pos == 0] = _EV_VISIT
    etype[(pos == 1) & search[s_of_e]] = _EV_SEARCH
    etype[(pos == m[s_of_e] - 1) & cart[s_of_e] & (pos > 0)] = _EV_CART
    ts = start[s_of_e] + pos * step[s_of_e]
    ts -= ts % 1_000_000
    keep = (ts >= world.start_us) & (ts < world.end_us)
    order = np.lexsort((pos[keep], s_of_e[keep], ts[keep]))
    sel = np.flatnonzero(keep)[order]
    s = s_of_e[sel]
    e_cust = cust[s]
    null_cust = ~logged_in[s]
    return _table(
        "events",
        {
            "identifier": _str_take(ids.strings, ident[s]),
            "customer_id": _str_take(cust_ids, np.maximum(e_cust, 0), null_cust),
            "ts": ts[sel],
            "event_type": _str_take(EVENT_TYPES, etype[sel]),
            "device": _str_take(DEVICES, device[s]),
            "os": _str_take(OSES, os_[s]),
            "browser": _str_take(BROWSERS, browser[s]),
            "referrer_type": _str_take(REFERRERS, referrer[s]),
            "country": _str_take(COUNTRIES, country[s]),
        },
    )


def _effects_table(sim: _Sim, cust_ids: list[str], camp_ids: list[str]) -> pa.Table:
    """One row per exposed customer × treatment arm, sorted by campaign, customer, arm."""
    rows, camp, arm, assigned, p0, te = (
        np.concatenate([e[0] for e in sim.effects]),
        np.concatenate([np.full(len(e[0]), e[1]) for e in sim.effects]),
        np.concatenate([np.full(len(e[0]), e[2]) for e in sim.effects]),
        np.concatenate([e[3] for e in sim.effects]),
        np.concatenate([e[4] for e in sim.effects]),
        np.concatenate([e[5] for e in sim.effects]),
    )
    order = np.lexsort((arm, rows, camp))
    rows, camp, arm, assigned, p0, te = (x[order] for x in (rows, camp, arm, assigned, p0, te))
    arm_names = [[CONTROL_ARM] + [x[0] for x in tpl[4]] for tpl in CAMPAIGN_TEMPLATES]
    offsets = np.cumsum([0] + [len(names) for names in arm_names])[:-1]
    names_only = [name for names in arm_names for name in names]
    return _table(
        "truth/effects",
        {
            "customer_id": _str_take(cust_ids, rows),
            "campaign_id": _str_take(camp_ids, camp),
            "arm": _str_take(names_only, offsets[camp] + arm),
            "assigned_arm": _str_take(names_only, offsets[camp] + assigned),
            "p_purchase_control": p0,
            "true_effect": te,
        },
    )


def _chunk(world: _World, seed: int, k: int, offset: int, n: int) -> dict[str, pa.Table]:
    """All per-customer tables (contract and truth) for customers ``offset .. offset + n - 1``."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, k)))
    t = _traits(rng, world, n)
    sim = _simulate(rng, world, t)
    cust_ids = _ids("C", offset + 1, n, 7)
    out: dict[str, pa.Table] = {}
    out["customers"] = _table(
        "customers",
        {
            "customer_id": cust_ids,
            "signup_at": t.signup_us - t.signup_us % 1_000_000,
            "region": _str_take(REGIONS, t.region),
            "birth_year": pa.array(t.birth_year, mask=t.birth_null),
            "gender": _str_take(("f", "m", "x"), t.gender, t.gender_null),
            "consent_marketing": t.consent_m,
            "consent_profiling": t.consent_p,
            "preferred_channel": _str_take(CHANNELS, t.pref),
        },
    )
    ids = _identities(rng, t, seed, offset, cust_ids)
    out["identities"] = ids.table
    orders, o_idx, o_ch, o_ts, o_camp = _order_tables(rng, world, t, sim, k, cust_ids)
    out["orders"] = orders
    out["events"] = _event_table(rng, world, t, sim, ids, (o_idx, o_ch, o_ts, o_camp), cust_ids)
    out["service_contacts"] = _contact_table(rng, world, sim, k, cust_ids)

    camp_ids = _ids("CMP", 1, len(CAMPAIGN_TEMPLATES), 2)
    exp_parts = []
    for j, tpl in enumerate(CAMPAIGN_TEMPLATES):
        arms = [CONTROL_ARM] + [a[0] for a in tpl[4]]
        rows = np.flatnonzero(sim.arm_idx[j] >= 0)
        exp_parts.append(
            _table(
                "exposures",
                {
                    "campaign_id": _str_take(camp_ids, np.full(len(rows), j)),
                    "customer_id": _str_take(cust_ids, rows),
                    "arm": _str_take(arms, sim.arm_idx[j][rows]),
                    "sent_at": sim.sent_us[j][rows],
                },
            )
        )
    out["exposures"] = pa.concat_tables(exp_parts)
    out["truth/effects"] = _effects_table(sim, cust_ids, camp_ids)

    churned = ~sim.alive & (sim.churn_week > np.iinfo(np.int64).min)
    churned_us = np.minimum(world.start_us + (sim.churn_week + 1) * WEEK_US, world.end_us)
    churned_at = pa.array(_ts_array(np.where(churned, churned_us, 0)), pa.timestamp("us"), mask=~churned)
    in_period = churned & (sim.churn_week >= 0)
    out["truth/customers"] = _table(
        "truth/customers",
        {
            "customer_id": cust_ids,
            "segment": _str_take(SEGMENTS, t.seg),
            "persuadability": _str_take(PERSUADABILITY, t.ptype),
            "alive_at_start": t.alive0 & (t.first_week == 0),
            "alive_at_end": sim.alive,
            "churned_at": churned_at,
            "churn_week": pa.array(np.where(in_period, sim.churn_week, 0), mask=~in_period),
            "n_churns": sim.n_churns,
            "weekly_churn_hazard_end": sim.hazard_end,
            "weekly_churn_hazard_mean": sim.hazard_mean,
            "purchase_rate": t.rate,
            "lines_per_order": np.maximum(t.lines_mu, 1.0),
            "elasticity": t.elasticity,
            "price_sensitivity": t.price_sens,
            "responsiveness": t.resp,
            "preferred_channel": _str_take(CHANNELS, t.pref),
            "referral_source": _str_take(REFERRERS, t.referral),
            "consent_marketing": t.consent_m,
            "consent_profiling": t.consent_p,
        },
    )
    top = np.argsort(-t.affinity, axis=1, kind="stable")[:, :3]
    out["truth/affinities"] = _table(
        "truth/affinities",
        {
            "customer_id": _str_take(cust_ids, np.repeat(np.arange(n), 3)),
            "rank": np.tile(np.arange(1, 4), n),
            "category": _str_take(CATEGORIES, top.ravel()),
            "affinity": np.take_along_axis(t.affinity, top, axis=1).ravel(),
        },
    )
    return out


def _chunks(
    n_customers: int, seed: int, start: str, end: str, chunk_customers: int
) -> tuple[_World, Iterator[dict[str, pa.Table]], int]:
    if n_customers < 1 or chunk_customers < 1:
        raise ValueError("n_customers and chunk_customers must be positive")
    world = _world(seed, pd.Timestamp(start), pd.Timestamp(end))
    bounds = [
        (k, off, min(chunk_customers, n_customers - off))
        for k, off in enumerate(range(0, n_customers, chunk_customers))
    ]
    return world, (_chunk(world, seed, k, off, size) for k, off, size in bounds), len(bounds)


def generate_company(
    n_customers: int = 20_000,
    seed: int = 0,
    start: str = "2025-01-01",
    end: str = "2026-01-01",
    chunk_customers: int = DEFAULT_CHUNK,
) -> Company:
    """Simulate a company in memory; the same arguments give the same tables as ``write_company``."""
    world, chunks, _ = _chunks(n_customers, seed, start, end, chunk_customers)
    parts: dict[str, list[pa.Table]] = {name: [tbl] for name, tbl in world.tables.items()}
    for chunk in chunks:
        for name, tbl in chunk.items():
            parts.setdefault(name, []).append(tbl)
    frames = {name: pa.concat_tables(tbls).to_pandas() for name, tbls in parts.items()}
    tables = {name: frames[name] for name in CONTRACT_TABLES}
    truth = {name.removeprefix("truth/"): f for name, f in frames.items() if name.startswith("truth/")}
    return Company(tables=tables, truth=truth)


def write_company(
    out_dir: Path,
    n_customers: int,
    seed: int = 0,
    start: str = "2025-01-01",
    end: str = "2026-01-01",
    chunk_customers: int = DEFAULT_CHUNK,
    progress: bool = False,
) -> dict[str, int]:
    """Stream a simulated company to ``out_dir`` (one Parquet file per table, truth under ``truth/``).

    Chunks of customers are generated and appended as row groups, so memory stays bounded; the data set is
    written to a temporary folder beside ``out_dir`` and renamed into place at the end.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    writers: dict[str, pq.ParquetWriter] = {}
    counts: dict[str, int] = {}

    def write(name: str, table: pa.Table) -> None:
        if name not in writers:
            path = tmp / f"{name}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            writers[name] = pq.ParquetWriter(path, table.schema, compression="zstd")
        writers[name].write_table(table, row_group_size=1 << 20)
        counts[name] = counts.get(name, 0) + table.num_rows

    try:
        world, chunks, n_chunks = _chunks(n_customers, seed, start, end, chunk_customers)
        for name, table in world.tables.items():
            write(name, table)
        if progress:
            from tqdm.auto import tqdm

            chunks = iter(tqdm(chunks, total=n_chunks, desc="generating", unit="chunk"))
        for chunk in chunks:
            for name, table in chunk.items():
                write(name, table)
        for w in writers.values():
            w.close()
        writers.clear()
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
            os.replace(out_dir, old / out_dir.name)
            os.replace(tmp, out_dir)
            shutil.rmtree(old)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        for w in writers.values():
            w.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return counts
