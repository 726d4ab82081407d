"""The weekly simulation: campaign assignment, purchases, service contacts, churn and browsing."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cxml.data.synthetic.params import (
    BUCKET_MULT,
    BUCKETS,
    CAMPAIGN_TEMPLATES,
    CHANNEL_MULT,
    CHANNELS,
    CONTACT_BASE,
    CONTACT_PER_ORDER,
    CONTROL_SHARE,
    HAZARD,
    HOUR_US,
    REASON_P,
    REASON_RESOLVE,
    REASONS,
    RESPONSE_WEEKS,
    SAT_BROWSE,
    SAT_NOISE,
    SAT_PERSIST,
    SAT_PURCHASE,
    SEG_H0,
    TARGET_SHARE,
    WEEK_US,
)
from cxml.data.synthetic.sampling import _categorical
from cxml.data.synthetic.traits import _Traits
from cxml.data.synthetic.world import _World


def _arm_effect(t: _Traits, campaign: int, arm: int) -> tuple[np.ndarray, np.ndarray]:
    """(multiplier, additive weekly rate) of treatment ``arm`` (1-based) of ``campaign`` per customer."""
    _, kind, strength, _ = CAMPAIGN_TEMPLATES[campaign][4][arm - 1]
    factor = 1.0 + 0.4 * np.abs(t.elasticity) if kind == "discount" else 0.5 + 0.5 * np.clip(t.browse / 0.1, 0.3, 3.0)
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
        arm = np.where(u < CONTROL_SHARE, 0, 1 + np.minimum(((u - CONTROL_SHARE) / (1 - CONTROL_SHARE) * k), k - 1))
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
        lam_cells = (t.rate * np.exp(SAT_PURCHASE * sat))[:, None] * w12 * np.exp(t.elasticity[:, None] * g[None, :])
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
        sc = np.flatnonzero(can & (rng.random(n) < (CONTACT_BASE + CONTACT_PER_ORDER * cnt) * np.exp(-0.5 * sat)))
        reason = rng.choice(len(REASONS), len(sc), p=REASON_P)
        resolved = rng.random(len(sc)) < REASON_RESOLVE[reason]
        score = np.where(
            resolved,
            rng.choice([3, 4, 5], len(sc), p=[0.2, 0.4, 0.4]),
            rng.choice([1, 2, 3], len(sc), p=[0.45, 0.35, 0.2]),
        ).astype(float)
        score[rng.random(len(sc)) < 0.45] = np.nan
        senti = np.where(resolved, 0.35, -0.45) + 0.12 * np.nan_to_num(score - 3.0) + rng.normal(0, 0.3, len(sc))
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
