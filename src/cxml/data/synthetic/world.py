"""The world: products, prices, campaigns and segment elasticities; depends only on seed, start and end."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from cxml.data.synthetic.ids import _ids
from cxml.data.synthetic.params import (
    BUCKET_MULT,
    BUCKETS,
    CAMPAIGN_TEMPLATES,
    CAT_PRICE,
    CATEGORIES,
    CHANNEL_LEVEL,
    CHANNEL_MULT,
    CHANNELS,
    DAY_US,
    PRODUCTS_PER_CAT,
    RESPONSE_DAYS,
    RESPONSE_WEEKS,
    SEG_ELASTICITY,
    SEGMENTS,
    WEEK_US,
)
from cxml.data.synthetic.schema import _str_take, _table


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
    price = np.round(list_price[:, None, None] * CHANNEL_LEVEL[None, :, None] * move[None, :, :] * noise[:, :, None], 2)
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

    cells = [(s, c, b) for s in range(len(SEGMENTS)) for c in range(len(CHANNELS)) for b in range(len(BUCKETS))]
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
