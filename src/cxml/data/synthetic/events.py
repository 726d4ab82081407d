"""Identities (hashed emails, phones, cards, cookies, devices) and the web/app events that use them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from cxml.data.synthetic.ids import _hash_ids
from cxml.data.synthetic.params import (
    _BROWSER_P,
    _EV_CART,
    _EV_SEARCH,
    _EV_VIEW,
    _EV_VISIT,
    _OS_P,
    BROWSERS,
    COUNTRIES,
    DAY_US,
    DEVICES,
    EVENT_TYPES,
    HOUR_US,
    ID_PREFIX,
    OSES,
    REFERRERS,
    WEEK_US,
)
from cxml.data.synthetic.sampling import _categorical
from cxml.data.synthetic.schema import _str_take, _table
from cxml.data.synthetic.simulate import _Sim
from cxml.data.synthetic.traits import _Traits
from cxml.data.synthetic.world import _World


@dataclass
class _Identities:
    table: pa.Table
    strings: list[str]
    cookie_pos: np.ndarray  # (n, 3) position in ``strings`` of each customer's cookie
    device_pos: np.ndarray  # (n, 2)
    anon_pos: np.ndarray  # positions of never-linked cookies


def _identities(rng: np.random.Generator, t: _Traits, seed: int, offset: int, cust_ids: list[str]) -> _Identities:
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
    country = np.where(rng.random(len(cust)) < 0.95, t.country[ci], rng.integers(0, len(COUNTRIES), len(cust)))

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
