"""Assembling every per-customer table (contract and truth) of one chunk of customers."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from cxml.data.contract import CONTROL_ARM
from cxml.data.synthetic.events import _event_table, _identities
from cxml.data.synthetic.ids import _ids
from cxml.data.synthetic.orders import _order_tables
from cxml.data.synthetic.params import (
    CAMPAIGN_TEMPLATES,
    CATEGORIES,
    CHANNELS,
    CONTACT_CHANNELS,
    DAY_US,
    HOUR_US,
    PERSUADABILITY,
    REASONS,
    REFERRERS,
    REGIONS,
    SEGMENTS,
    WEEK_US,
)
from cxml.data.synthetic.schema import _str_take, _table, _ts_array
from cxml.data.synthetic.simulate import _Sim, _simulate
from cxml.data.synthetic.traits import _traits
from cxml.data.synthetic.world import _World


def _contact_table(rng: np.random.Generator, world: _World, sim: _Sim, k: int, cust_ids: list[str]) -> pa.Table:
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
