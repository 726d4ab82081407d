"""Order lines: simulated weekly order counts turned into timestamped, priced and discounted lines."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from cxml.data.synthetic.ids import _ids
from cxml.data.synthetic.params import (
    BUCKET_HOURS,
    BUCKETS,
    CAMPAIGN_TEMPLATES,
    CAT_RETURN,
    CHANNELS,
    DAY_US,
    HOUR_US,
    PRODUCTS_PER_CAT,
    RESPONSE_DAYS,
    WEEK_US,
)
from cxml.data.synthetic.sampling import _categorical
from cxml.data.synthetic.schema import _str_take, _table, _ts_array
from cxml.data.synthetic.simulate import _Sim
from cxml.data.synthetic.traits import _Traits
from cxml.data.synthetic.world import _World


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
    within = np.minimum((rng.random(len(cat))[:, None] > world.prod_cum[cat]).sum(axis=1), PRODUCTS_PER_CAT - 1)
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
