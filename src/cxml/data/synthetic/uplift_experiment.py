"""A randomised two-arm campaign whose effect differs by customer, with every customer's true effect known.

The case uplift modelling exists for, and the shape issue #18 describes: the offer's effect on the response
*rises with recent browsing and with lapsing* (days since the last order), *turns negative after repeated
service calls* (three or more in 90 days: the sleeping dogs), and *partly moves with the baseline response*,
so a response model ranks some persuadables first but also the customers who would respond anyway.

Generative story (per customer, vectorised; ``seed`` fixes everything)::

    sessions_30d        ~ NegBin(mean 4, dispersion 1.5)       recent browsing
    days_since_order    ~ Gamma(1.3, 70), capped at 720          lapsing
    service_calls_90d   ~ Poisson(0.35 + 1.25 · complaint-prone) complaint-prone ~ Bernoulli(0.2)
    orders_12m          ~ Poisson(exp(0.9 + 0.6 · loyalty − days_since_order / 365))
    tenure_months, avg_order_value, channel, region, noise_1, noise_2: context and pure noise

    baseline logit  b = −2.3 + 0.35 log1p(orders_12m) + 0.12 log1p(sessions_30d) − 0.8 · days_since_order / 365
                        + 0.3 · [channel = app] + 0.4 · loyalty
    p0 = expit(b)                                            P(respond | control)
    tau = shape.base + shape.browsing · s + shape.lapsing · l − shape.service · [service_calls_90d ≥ 3]
          + shape.baseline · (p0 − mean p0)
        s = min(sessions_30d, 15) / 15, l = min(days_since_order, 365) / 365
    p1 = clip(p0 + tau, 0.002, 0.98);  true_effect = p1 − p0 (after clipping)
    arm ~ Bernoulli(treated_share): ``offer`` or ``control``;  responded ~ Bernoulli(p1 if offer else p0)

:data:`SHAPES` holds the shapes the quality test and ``bench/uplift_peers.py`` use.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit

TREATMENT = "arm"
CONTROL_VALUE = "control"
OFFER = "offer"
TARGET = "responded"


@dataclass(frozen=True)
class EffectShape:
    """Coefficients of the true effect (probability points) in the generative story above."""

    base: float
    browsing: float
    lapsing: float
    service: float
    baseline: float


SHAPES: dict[str, EffectShape] = {
    # the campaign: browsing and lapsing drive it, service calls reverse it, half tied to the baseline
    "browse-lapse": EffectShape(base=-0.01, browsing=0.07, lapsing=0.06, service=0.08, baseline=0.5),
    # the effect follows the baseline response closely: the response model's best case
    "baseline-heavy": EffectShape(base=0.0, browsing=0.04, lapsing=0.03, service=0.06, baseline=1.0),
    # many sleeping dogs: service calls cut deeper, lapsing matters most
    "sleeping-dogs": EffectShape(base=0.0, browsing=0.04, lapsing=0.08, service=0.12, baseline=0.3),
}


def simulate_uplift_experiment(
    n_customers: int = 40_000, *, shape: str | EffectShape = "browse-lapse", treated_share: float = 0.5, seed: int = 0
) -> tuple[pd.DataFrame, pd.Series]:
    """The experiment as one table (features, ``arm``, ``responded``) and each customer's true effect of the
    offer (indexed like the table by ``customer_id``); the table carries no truth column."""
    if n_customers < 100:
        raise ValueError(f"n_customers must be at least 100, got {n_customers}")
    if not 0 < treated_share < 1:
        raise ValueError(f"treated_share must be in (0, 1), got {treated_share}")
    if isinstance(shape, str):
        if shape not in SHAPES:
            raise ValueError(f"unknown shape {shape!r}; choose one of {sorted(SHAPES)}")
        shape = SHAPES[shape]
    rng = np.random.default_rng(seed)
    n = n_customers
    loyalty = rng.normal(size=n)
    complaint_prone = rng.random(n) < 0.2
    sessions = rng.negative_binomial(1.5, 1.5 / (1.5 + 4.0), size=n)
    days = np.minimum(rng.gamma(1.3, 70.0, size=n), 720.0).round()
    calls = rng.poisson(0.35 + 1.25 * complaint_prone, size=n)
    orders = rng.poisson(np.exp(0.9 + 0.6 * loyalty - days / 365.0))
    channel = rng.choice(np.array(["web", "app", "store"]), size=n, p=[0.5, 0.3, 0.2])
    region = rng.choice(np.array(["north", "south", "east", "west"]), size=n)
    tenure = rng.integers(1, 73, size=n)
    aov = np.round(np.exp(rng.normal(3.6 + 0.1 * loyalty, 0.5)), 2)

    b = (
        -2.3
        + 0.35 * np.log1p(orders)
        + 0.12 * np.log1p(sessions)
        - 0.8 * days / 365.0
        + 0.3 * (channel == "app")
        + 0.4 * loyalty
    )
    p0 = expit(b)
    s, lapse = np.minimum(sessions, 15) / 15.0, np.minimum(days, 365.0) / 365.0
    tau = (
        shape.base
        + shape.browsing * s
        + shape.lapsing * lapse
        - shape.service * (calls >= 3)
        + shape.baseline * (p0 - p0.mean())
    )
    p1 = np.clip(p0 + tau, 0.002, 0.98)
    treated = rng.random(n) < treated_share
    responded = (rng.random(n) < np.where(treated, p1, p0)).astype(int)
    index = pd.Index([f"C{i:06d}" for i in range(n)], name="customer_id")
    table = pd.DataFrame(
        {
            "sessions_30d": sessions,
            "days_since_order": days.astype(int),
            "service_calls_90d": calls,
            "orders_12m": orders,
            "tenure_months": tenure,
            "avg_order_value": aov,
            "channel": channel,
            "region": region,
            "noise_1": rng.normal(size=n).round(3),
            "noise_2": rng.random(n).round(3),
            TREATMENT: np.where(treated, OFFER, CONTROL_VALUE),
            TARGET: responded,
        },
        index=index,
    )
    return table, pd.Series(p1 - p0, index=index, name="true_effect")
