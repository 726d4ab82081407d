"""Partial pooling of the elasticity model's terms: empirical-Bayes shrinkage block by block (random effects).

The elasticity is ``theta(X) = D(X) · beta`` (see :mod:`cxml.models.dml`): an intercept, the levels of each
categorical column against its reference, and pairwise interactions. A cell's estimate is only as good as the
price variation on its rows. On 20,000 simulated customers (seed 0, the demo's company) one channel's price moved
by 0.5 % all year: its cells came out between −12 and +2 (standard errors 3-9) where the truth is −0.4 to −3.4,
and the family's held-out elasticity MAE was 0.53. Each block of effects is treated as a random effect, in ANOVA
terms so that no level is special::

    d_g = C_g · beta ~ N(0, tau_g² I)    d_g: a column's marginal means centred over its levels, or a pair's
                                          double-centred (the interaction beyond both main effects)

``tau_g²`` maximises the likelihood of ``d̂_g ~ N(0, tau_g² I + C_g V C_g')`` (or, ``estimator="moments"``,
``(|d̂_g|² − tr(C_g V C_g')) / df_g``, floored at 0), and the posterior of ``beta`` given the estimate
``beta_hat ~ N(beta, V)`` is, in Woodbury form (finite at ``tau² = 0``)::

    beta_post = beta_hat − V C' (T + C V C')⁺ C beta_hat
    V_post    = V − V C' (T + C V C')⁺ C V                 T = blockdiag(tau_g² I)

A level or cell whose estimate is noisy (large se against ``tau``) moves to the pooled value (the mean over its
block's levels, given the other terms), a well-measured one stays, and a block with ``tau² = 0`` is pooled fully
(its effects are all zero). ``V_post`` is the posterior covariance, so intervals built from it are those of the
shrunk estimates (the uncertainty of ``tau²`` itself is ignored: when a block is pooled fully on little evidence
they can be too narrow). Numeric columns and their products are left as estimated: one slope is no population of
effects to pool.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import minimize_scalar

if TYPE_CHECKING:  # the design is only read; dml imports this module to pool its final stage
    from cxml.models.dml import LinearDesign

MIN_BLOCK_DF = 2
"""Blocks with fewer free effects are left alone: a variance of effects from one centred value is pure noise."""


@dataclass(frozen=True)
class Block:
    """One pooled block: its name, the map ``C`` from the coefficients to its centred effects, and its df."""

    name: str
    contrast: np.ndarray
    df: int
    parents: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pooled:
    """The shrunk coefficients, their posterior covariance and each block's ``tau²`` (NaN: not estimable)."""

    coef: np.ndarray
    cov: np.ndarray
    tau2: dict[str, float]


def _centring(k: int) -> np.ndarray:
    return np.eye(k) - np.full((k, k), 1.0 / k)


def _marginal_means(design: LinearDesign, columns: list[str]) -> np.ndarray:
    """Design rows of the mean elasticity over every other column, one per level combination of ``columns``
    (in ``itertools.product`` order): other categorical columns average their levels, numeric ones sit at their
    mean (0 once centred). Linear in ``beta``, so ``rows @ beta`` are the marginal means whatever the coding."""
    sizes = [len(design.levels_[c]) for c in columns]
    n = int(np.prod(sizes))
    codes = np.indices(sizes).reshape(len(columns), n)
    blocks: dict[str, np.ndarray] = {}
    for col in design.columns_:
        if col in columns:
            code = codes[columns.index(col)]
            blocks[col] = (code[:, None] == np.arange(1, len(design.levels_[col]))[None, :]).astype(np.float64)
        elif col in design.levels_:
            k = len(design.levels_[col])
            blocks[col] = np.full((n, k - 1), 1.0 / k)
        else:
            blocks[col] = np.zeros((n, 1))
    parts = [np.ones((n, 1)), *blocks.values()]
    parts += [(blocks[a][:, :, None] * blocks[b][:, None, :]).reshape(n, -1) for a, b in design.pairs_]
    return np.hstack(parts)


def design_blocks(design: LinearDesign) -> list[Block]:
    """The categorical blocks of a fitted ``LinearDesign`` in ANOVA terms: each column's marginal means centred
    over its levels, and each categorical pair's double-centred (its interaction beyond both main effects); each
    with at least ``MIN_BLOCK_DF`` free effects. Reference coding would not do: with interactions a "main effect"
    is the effect at the reference level of the other columns, as noisy as that level's cells."""
    blocks = []
    for col, levels in design.levels_.items():
        k = len(levels)
        blocks.append(Block(col, _centring(k) @ _marginal_means(design, [col]), k - 1))
    for a, b in design.pairs_:
        if a in design.levels_ and b in design.levels_:
            ka, kb = len(design.levels_[a]), len(design.levels_[b])
            centre = np.kron(_centring(ka), _centring(kb))
            blocks.append(Block(f"{a}:{b}", centre @ _marginal_means(design, [a, b]), (ka - 1) * (kb - 1), (a, b)))
    return [b for b in blocks if b.df >= MIN_BLOCK_DF]


def _spectrum(coef: np.ndarray, cov: np.ndarray, block: Block) -> tuple[np.ndarray, np.ndarray]:
    """The block's centred effects in the eigenbasis of their noise covariance on its free directions: squared
    effects ``f²`` and noise variances ``lam``, so that ``f_i ~ N(0, tau² + lam_i)`` independently."""
    basis = np.linalg.svd(block.contrast, full_matrices=False)[0][:, : block.df]
    lam, u = np.linalg.eigh(basis.T @ block.contrast @ cov @ block.contrast.T @ basis)
    return (u.T @ basis.T @ block.contrast @ coef) ** 2, np.maximum(lam, 1e-300)


def maximum_likelihood(coef: np.ndarray, cov: np.ndarray, block: Block) -> float:
    """``tau²`` maximising the likelihood of the block's centred effects, ``d ~ N(0, tau² I + C V C')`` on its free
    directions (restricted ML: the grand mean is not among them). Precise effects weigh more than noisy ones; the
    method of moments weighs them alike, so one level measured from almost no price variation (seed 0's app
    channel) inflates its ``tau²`` (20,000 customers: 48-cell MAE 0.44 by moments, 0.26 by likelihood)."""
    f2, lam = _spectrum(coef, cov, block)

    def nll(tau2: float) -> float:
        v = tau2 + lam
        return float(np.sum(np.log(v) + f2 / v))

    top = float(max(f2.max(), 1e-12))  # the optimum is below the largest squared effect
    best = minimize_scalar(nll, bounds=(0.0, top), method="bounded", options={"xatol": 1e-6 * top})
    return 0.0 if nll(0.0) <= nll(float(best.x)) else float(best.x)


def method_of_moments(coef: np.ndarray, cov: np.ndarray, block: Block) -> float:
    """``tau²`` of a block: its effects' squared size beyond their sampling noise, per free effect (≥ 0)."""
    d = block.contrast @ coef
    noise = float(np.trace(block.contrast @ cov @ block.contrast.T))
    return max(0.0, (float(d @ d) - noise) / block.df)


ESTIMATORS = {"likelihood": maximum_likelihood, "moments": method_of_moments}


def partial_pool(
    coef: np.ndarray,
    cov: np.ndarray,
    blocks: list[Block],
    tau2: Mapping[str, float] | None = None,
    estimator: str = "likelihood",
) -> Pooled:
    """Shrink ``coef`` (covariance ``cov``) block by block toward the pooled values. ``tau2`` by block name
    overrides the estimate (0: pool that block fully); ``estimator`` is ``likelihood`` or ``moments``."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {sorted(ESTIMATORS)}, got {estimator!r}")
    coef, cov = np.asarray(coef, dtype=np.float64), np.asarray(cov, dtype=np.float64)
    if cov.shape != (len(coef), len(coef)):
        raise ValueError(f"cov must be {len(coef)} × {len(coef)} like coef, got {cov.shape}")
    if not blocks:
        return Pooled(coef.copy(), cov.copy(), {})
    given = dict(tau2 or {})
    unknown = sorted(set(given) - {b.name for b in blocks})
    if unknown:
        raise ValueError(f"tau2 names blocks that are not pooled: {unknown}; blocks: {[b.name for b in blocks]}")
    estimated = {b.name: ESTIMATORS[estimator](coef, cov, b) for b in blocks if b.name not in given}
    taus = {b.name: float(given.get(b.name, estimated.get(b.name, 0.0))) for b in blocks}
    for b in blocks:  # heredity: an interaction spreads no more than the main effects it modifies
        if b.name in estimated and b.parents:
            taus[b.name] = min([taus[b.name], *(taus.get(p, np.inf) for p in b.parents)])
    bad = {name: t for name, t in taus.items() if not t >= 0}
    if bad:
        raise ValueError(f"tau² must be a non-negative number, got {bad}")
    C = np.vstack([b.contrast for b in blocks])
    T = np.diag(np.concatenate([np.full(len(b.contrast), taus[b.name]) for b in blocks]))
    VC = cov @ C.T
    gain = VC @ np.linalg.pinv(T + C @ VC, hermitian=True)
    post = cov - gain @ VC.T
    return Pooled(coef - gain @ (C @ coef), (post + post.T) / 2, taus)
