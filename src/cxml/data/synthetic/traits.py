"""Per-customer latent and observed traits, drawn for one chunk of customers at a time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cxml.data.synthetic.params import (
    _BROWSER_P,
    _OS_P,
    CHANNELS,
    COUNTRIES,
    DAY_US,
    DEVICES,
    RATE_SD,
    REGIONS,
    SEG_CHANNEL,
    SEG_ELASTICITY,
    SEG_LINES,
    SEG_P,
    SEG_QTY,
    SEG_RATE,
    SEG_REFERRER,
    SEGMENTS,
    WEEK_US,
)
from cxml.data.synthetic.sampling import _categorical, _softmax
from cxml.data.synthetic.world import _World


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
