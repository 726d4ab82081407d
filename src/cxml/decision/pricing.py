"""Recommended price per cell: maximise expected margin under guardrails. Pure and vectorised: frames in, out.

Around its current price ``p0`` and volume ``q0`` a cell's demand has constant elasticity ``e``::

    q(p) = q0 · (p / p0) ** e,        margin(p) = (p − c) · q(p)        (c: unit cost)

For ``e < −1`` the margin peaks at the Lerner price ``p* = c · e / (1 + e)``; for ``e ≥ −1`` it rises with the
price, so the price goes to the highest allowed. The guardrails, in order of precedence:

1. floor: the gross margin rate ``(p − c) / p`` is at least ``min_margin``, i.e. ``p ≥ c / (1 − min_margin)``;
2. maximum change: ``|p / p0 − 1| ≤ max_change`` (when the floor lies above ``p0 · (1 + max_change)`` the floor
   wins and the row says ``floor_over_max_change``);
3. fairness: within a fairness group (e.g. one product × channel × time bucket, rows being segments) the highest
   recommended price is at most ``1 + fairness_spread`` times the lowest. Groups whose optima are further apart
   get the band ``[L, L · (1 + spread)]`` that maximises their total expected margin, each row priced at its best
   point inside it. When max change and floor leave no common band the rows keep their own prices, say
   ``fairness_infeasible`` (unless ``floor_over_max_change``) and have ``fairness_met`` false.

Expected volume, revenue and margin changes come with intervals from the elasticity's interval: at a fixed price
they are monotone in ``e``, so the interval ends are the values at the elasticity's ends.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

_GRID = 201


class PricingGuardrails(BaseModel):
    """Guardrails for recommended prices (``pipelines/price.yaml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_change: float = Field(0.10, gt=0, lt=1, description="largest relative change vs the current price")
    min_margin: float = Field(0.05, ge=0, lt=1, description="lowest gross margin rate (p − cost) / p")
    fairness_spread: float | None = Field(
        0.15, ge=0, description="largest relative spread between segments' prices in a fairness group; null: none"
    )


def _column(cells: pd.DataFrame, name: str, *, positive: bool = False, nonnegative: bool = False) -> np.ndarray:
    if name not in cells.columns:
        raise ValueError(f"recommend_prices needs the column {name!r}; the frame has {list(cells.columns)[:20]}")
    values = pd.to_numeric(cells[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if positive:
        bad |= values <= 0
    if nonnegative:
        bad |= values < 0
    if bad.any():
        rule = "positive" if positive else "non-negative" if nonnegative else "finite"
        rows = cells.index[np.flatnonzero(bad)[:5]].tolist()
        raise ValueError(f"column {name!r} must be {rule}; {int(bad.sum())} rows are not, e.g. rows {rows}")
    return values


def lerner_price(elasticity: np.ndarray, unit_cost: np.ndarray) -> np.ndarray:
    """Margin-maximising price under constant elasticity: ``c·e/(1+e)`` for ``e < −1``, else ``+inf``."""
    e = np.asarray(elasticity, dtype=np.float64)
    c = np.asarray(unit_cost, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(e < -1, c * e / (1 + e), np.inf)


def _at(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(np.isclose(a, b, rtol=1e-9, atol=1e-12))


def _margin(p: np.ndarray, p0: np.ndarray, q0: np.ndarray, c: np.ndarray, e: np.ndarray) -> np.ndarray:
    return (p - c) * q0 * (p / p0) ** e


def _fair_band(
    codes: np.ndarray,
    pos: np.ndarray,
    best: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    margin_args: tuple[np.ndarray, ...],
    spread: float,
) -> tuple[np.ndarray, np.ndarray]:
    """For rows of groups that break the spread: the margin-maximising band's price per row, and feasibility."""
    n_groups, width = int(codes.max()) + 1, int(pos.max()) + 1

    def padded(values: np.ndarray, fill: float) -> np.ndarray:
        out = np.full((n_groups, width), fill)
        out[codes, pos] = values
        return out

    B, LO, HI = padded(best, np.nan), padded(lo, -np.inf), padded(hi, np.inf)
    P0, Q0, C, E = (padded(a, np.nan) for a in margin_args)
    l_min = np.nanmax(np.where(np.isfinite(LO), LO, np.nan), axis=1) / (1 + spread)
    l_max = np.nanmin(np.where(np.isfinite(HI), HI, np.nan), axis=1)
    feasible = l_min <= l_max * (1 + 1e-12)
    l_max = np.maximum(l_max, l_min)
    steps = np.linspace(0.0, 1.0, _GRID)[None, :]
    grid = np.exp(np.log(l_min)[:, None] + steps * (np.log(l_max) - np.log(l_min))[:, None])
    breaks = np.concatenate([B, B / (1 + spread), LO / (1 + spread), HI], axis=1)
    breaks = np.clip(np.where(np.isfinite(breaks), breaks, l_min[:, None]), l_min[:, None], l_max[:, None])
    cand = np.concatenate([grid, breaks], axis=1)  # (groups, candidates)
    bottom = np.maximum(LO[:, None, :], cand[:, :, None])
    top = np.minimum(HI[:, None, :], cand[:, :, None] * (1 + spread))
    price = np.clip(B[:, None, :], bottom, top)  # (groups, candidates, rows)
    total = np.nansum(_margin(price, P0[:, None, :], Q0[:, None, :], C[:, None, :], E[:, None, :]), axis=2)
    choice = np.argmax(total, axis=1)
    chosen = price[np.arange(n_groups), choice]
    return chosen[codes, pos], feasible[codes]


def recommend_prices(
    cells: pd.DataFrame,
    guardrails: PricingGuardrails,
    *,
    fairness_group: Sequence[str] = (),
    price: str = "price",
    unit_cost: str = "unit_cost",
    volume: str = "quantity",
    elasticity: str = "elasticity",
    lower: str | None = "elasticity_lower",
    upper: str | None = "elasticity_upper",
) -> pd.DataFrame:
    """The margin-maximising price of each cell under ``guardrails``, and its expected effects with intervals.

    ``fairness_group`` names the columns of one fairness group (rows inside it are compared, e.g. segments of
    one product × channel × time bucket); empty means all rows form one group. ``lower``/``upper`` name the
    elasticity's interval ends (``None``: point intervals). Returns a frame indexed like ``cells``.
    """
    p0 = _column(cells, price, positive=True)
    c = _column(cells, unit_cost, nonnegative=True)
    q0 = _column(cells, volume, nonnegative=True)
    e = _column(cells, elasticity)
    e_lo = e if lower is None else _column(cells, lower)
    e_hi = e if upper is None else _column(cells, upper)
    wrong = (e_lo > e + 1e-12) | (e_hi < e - 1e-12)
    if wrong.any():
        raise ValueError(f"elasticity must lie inside [{lower}, {upper}], e.g. rows {cells.index[wrong][:5].tolist()}")
    missing = [k for k in fairness_group if k not in cells.columns]
    if missing:
        raise ValueError(f"fairness_group names columns that are not in the frame: {missing}")

    floor = c / (1 - guardrails.min_margin)
    lo = np.maximum(p0 * (1 - guardrails.max_change), floor)
    hi = p0 * (1 + guardrails.max_change)
    over = floor > hi
    hi = np.where(over, floor, hi)
    own = np.clip(lerner_price(e, c), lo, hi)
    rec = own.copy()
    fair_hit = np.zeros(len(cells), dtype=bool)
    infeasible = np.zeros(len(cells), dtype=bool)
    spread = guardrails.fairness_spread
    if spread is not None and len(cells) > 1:
        if fairness_group:
            codes = cells.groupby(list(fairness_group), sort=False, observed=True).ngroup().to_numpy()
        else:
            codes = np.zeros(len(cells), dtype=np.int64)
        frame = pd.DataFrame({"g": codes, "p": own})
        stats = frame.groupby("g")["p"].agg(["min", "max"])
        breaks = (stats["max"] > stats["min"] * (1 + spread) * (1 + 1e-9)).reindex(codes).to_numpy()
        if breaks.any():
            rows = np.flatnonzero(breaks)
            sub_codes = pd.factorize(codes[rows])[0]
            sub_pos = pd.Series(sub_codes).groupby(sub_codes).cumcount().to_numpy()
            args = (p0[rows], q0[rows], c[rows], e[rows])
            banded, ok = _fair_band(sub_codes, sub_pos, own[rows], lo[rows], hi[rows], args, spread)
            rec[rows] = np.where(ok, banded, own[rows])
            fair_hit[rows] = ok & ~np.isclose(banded, own[rows], rtol=1e-9, atol=0.0)
            infeasible[rows] = ~ok

    constraint = np.select(
        [
            over,
            infeasible,
            fair_hit,
            _at(rec, floor) & (floor >= p0 * (1 - guardrails.max_change)),
            _at(rec, p0 * (1 + guardrails.max_change)),
            _at(rec, p0 * (1 - guardrails.max_change)),
        ],
        ["floor_over_max_change", "fairness_infeasible", "fairness", "floor", "max_increase", "max_decrease"],
        "optimum",
    )
    out = pd.DataFrame(index=cells.index)
    out["current_price"] = p0
    out["recommended_price"] = rec
    out["price_change"] = rec / p0 - 1
    out["floor_price"] = floor
    out["constraint"] = pd.Series(constraint, index=cells.index, dtype="str")
    out["fairness_met"] = ~infeasible
    ratio = {name: (rec / p0) ** el for name, el in (("point", e), ("a", e_lo), ("b", e_hi))}
    out["expected_volume"] = q0 * ratio["point"]
    base = {"volume": q0, "revenue": p0 * q0, "margin": (p0 - c) * q0}
    scale = {"volume": np.ones_like(rec), "revenue": rec, "margin": rec - c}
    for name in ("volume", "revenue", "margin"):
        change = {k: scale[name] * q0 * r - base[name] for k, r in ratio.items()}
        out[f"{name}_change"] = change["point"]
        out[f"{name}_change_lower"] = np.minimum(change["a"], change["b"])
        out[f"{name}_change_upper"] = np.maximum(change["a"], change["b"])
    return out
