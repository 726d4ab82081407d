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

from cxml.data.synthetic.company import (
    Company,
    generate_company,
    write_company,
)
from cxml.data.synthetic.params import (
    BROWSERS,
    BUCKET_HOURS,
    BUCKET_MULT,
    BUCKETS,
    CAMPAIGN_TEMPLATES,
    CAT_PRICE,
    CAT_RETURN,
    CATEGORIES,
    CHANNEL_LEVEL,
    CHANNEL_MULT,
    CHANNELS,
    CONTACT_BASE,
    CONTACT_CHANNELS,
    CONTACT_PER_ORDER,
    CONTROL_SHARE,
    COUNTRIES,
    DAY_US,
    DEFAULT_CHUNK,
    DEVICES,
    EVENT_TYPES,
    HAZARD,
    HOUR_US,
    ID_PREFIX,
    OSES,
    PERSUADABILITY,
    PRODUCTS_PER_CAT,
    RATE_SD,
    REASON_P,
    REASON_RESOLVE,
    REASONS,
    REFERRERS,
    REGIONS,
    RESPONSE_DAYS,
    RESPONSE_WEEKS,
    SAT_BROWSE,
    SAT_NOISE,
    SAT_PERSIST,
    SAT_PURCHASE,
    SEG_CHANNEL,
    SEG_ELASTICITY,
    SEG_H0,
    SEG_LINES,
    SEG_P,
    SEG_QTY,
    SEG_RATE,
    SEG_REFERRER,
    SEGMENTS,
    TARGET_SHARE,
    WEEK_US,
)
from cxml.data.synthetic.schema import (
    CONTRACT_TABLES,
    GLOBAL_TABLES,
)
from cxml.data.synthetic.truth import arm_outcomes, campaign_arms

__all__ = [
    "BROWSERS",
    "BUCKETS",
    "BUCKET_HOURS",
    "BUCKET_MULT",
    "CAMPAIGN_TEMPLATES",
    "CATEGORIES",
    "CAT_PRICE",
    "CAT_RETURN",
    "CHANNELS",
    "CHANNEL_LEVEL",
    "CHANNEL_MULT",
    "CONTACT_BASE",
    "CONTACT_CHANNELS",
    "CONTACT_PER_ORDER",
    "CONTRACT_TABLES",
    "CONTROL_SHARE",
    "COUNTRIES",
    "DAY_US",
    "DEFAULT_CHUNK",
    "DEVICES",
    "EVENT_TYPES",
    "GLOBAL_TABLES",
    "HAZARD",
    "HOUR_US",
    "ID_PREFIX",
    "OSES",
    "PERSUADABILITY",
    "PRODUCTS_PER_CAT",
    "RATE_SD",
    "REASONS",
    "REASON_P",
    "REASON_RESOLVE",
    "REFERRERS",
    "REGIONS",
    "RESPONSE_DAYS",
    "RESPONSE_WEEKS",
    "SAT_BROWSE",
    "SAT_NOISE",
    "SAT_PERSIST",
    "SAT_PURCHASE",
    "SEGMENTS",
    "SEG_CHANNEL",
    "SEG_ELASTICITY",
    "SEG_H0",
    "SEG_LINES",
    "SEG_P",
    "SEG_QTY",
    "SEG_RATE",
    "SEG_REFERRER",
    "TARGET_SHARE",
    "WEEK_US",
    "Company",
    "arm_outcomes",
    "campaign_arms",
    "generate_company",
    "write_company",
]
