"""Parameters of the generative story told in the package docstring; change them together with it."""

from __future__ import annotations

import numpy as np

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
SEG_CHANNEL = np.array([[0.45, 0.3, 0.2, 0.05], [0.3, 0.3, 0.35, 0.05], [0.3, 0.2, 0.4, 0.1], [0.35, 0.15, 0.4, 0.1]])
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
