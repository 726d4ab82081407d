"""An honest uplift forest in NumPy: trees that split where the *effect* differs, not where the outcome does.

Meta-learners reach the effect through outcome models, so they spend their splits on who responds; on Hillstrom
and on campaigns whose effect moves with a few behaviours, splitting on the effect itself ranks persuadables
better (causalml's uplift random forest beat every boosted meta-learner on Hillstrom visit). Each tree:

- draws ``sample_fraction`` of the rows without replacement, and with ``honest`` halves them: the *structure*
  half chooses the splits, the *estimation* half (never seen by the split search) sets every node's effect, so
  leaf effects are not inflated by the search that found them (Athey & Wager's honesty);
- at a node draws ``max_features`` of the columns and, over quantile bins of each, takes the split with the
  largest gain n_L n_R / n · (tau_L − tau_R)², tau = mean outcome of the arm − mean outcome of control
  (the causal-tree heterogeneity criterion); both children need ``min_leaf`` rows and ``min_leaf // 4`` of each
  arm;
- a node whose estimation rows hold fewer than ``MIN_ESTIMATION`` of either arm keeps its parent's effect.

``criterion="kl"`` is Rzepakowski & Jaroszewicz's divergence split as causalml's uplift random forest runs it: the
gain is the children's KL divergence of the arm's response rate from control's, weighted by their shares, minus the
node's own, divided by their normalisation (which penalises splits that are lopsided or that separate the arms);
every node's rates are pulled toward its parent's by ``N_REG`` pseudo-rows. Grown as there (not honest, ~63 % of
the rows per tree), it matches causalml's forest split by split on Hillstrom visit (bench/RESULTS.md).

The forest's effect is the mean of its trees'. Its explanation is the path decomposition of each tree
(Saabas): every split's change of the node effect goes to the split's feature, so a row's contributions add up
exactly to its effect from the root's (the forest's average effect). Not TreeSHAP, which weighs feature orders.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

SplitCriterion = Literal["ed", "kl"]
SPLIT_CRITERIA: tuple[str, ...] = get_args(SplitCriterion)

MIN_ESTIMATION = 5
"""Estimation rows of each arm a node needs to have its own effect rather than its parent's."""

N_REG = 10
"""``criterion="kl"``: pseudo-rows at the parent's rate added to each arm's rate in a node (causalml's ``n_reg``)."""

MIN_ARM_ROWS = 10
"""``criterion="kl"``: rows of an arm a node needs for its own (smoothed) rate rather than its parent's."""


def quantile_edges(matrix: np.ndarray, max_bins: int) -> list[np.ndarray]:
    """Per column, the inner quantile edges of its finite values (at most ``max_bins`` bins)."""
    edges = []
    for j in range(matrix.shape[1]):
        col = matrix[:, j]
        finite = col[np.isfinite(col)]
        if finite.size == 0:
            edges.append(np.empty(0))
            continue
        qs = np.quantile(finite, np.linspace(0, 1, max_bins + 1)[1:-1])
        edges.append(np.unique(qs))
    return edges


def bin_codes(matrix: np.ndarray, edges: list[np.ndarray]) -> np.ndarray:
    """Bin codes: 0 for a missing value, 1 + the number of edges at or below the value otherwise."""
    codes = np.zeros(matrix.shape, dtype=np.int32)
    for j, e in enumerate(edges):
        col = matrix[:, j]
        finite = np.isfinite(col)
        codes[finite, j] = np.searchsorted(e, col[finite], side="right") + 1
    return codes


@dataclass
class Tree:
    """Flat arrays, one entry per node; ``feature`` is -1 at a leaf; a row goes left when its code ≤ threshold."""

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray


def _effect(n0: float, n1: float, s0: float, s1: float, fallback: float) -> float:
    if n0 < MIN_ESTIMATION or n1 < MIN_ESTIMATION:
        return fallback
    return s1 / n1 - s0 / n0


def _arm_stats(rows: np.ndarray, y: np.ndarray, t: np.ndarray) -> tuple[float, float, float, float]:
    tr = t[rows]
    return float((~tr).sum()), float(tr.sum()), float(y[rows][~tr].sum()), float(y[rows][tr].sum())


def _kl(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """KL divergence of a 0/1 response at rate ``p`` from one at rate ``q`` (q clipped away from 0 and 1); 0 where
    ``q`` is 0, as causalml has it."""
    clipped = np.clip(q, 1e-6, 1 - 1e-6)
    with np.errstate(divide="ignore", invalid="ignore"):
        inner = p * np.log(p / clipped) + (1 - p) * np.log((1 - p) / (1 - clipped))
    kl = np.where(p <= 0, -np.log(1 - clipped), np.where(p >= 1, -np.log(clipped), inner))
    return np.where(q == 0, 0.0, kl)


def _smoothed(n: np.ndarray, s: np.ndarray, parent: np.ndarray) -> np.ndarray:
    """Each arm's response rate pulled toward the parent's by ``N_REG`` pseudo-rows; the parent's rate where the
    arm has at most ``MIN_ARM_ROWS`` rows."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > MIN_ARM_ROWS, (s + N_REG * parent) / (n + N_REG), parent)


def _entropy_term(p: np.ndarray, q: np.ndarray | None = None) -> np.ndarray:
    """-p log p, or -p log q (the cross term causalml's normalisation uses); 0 where the log's argument is 0."""
    arg = p if q is None else q
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(arg > 0, -p * np.log(np.where(arg > 0, arg, 1.0)), 0.0)


def _kl_normalisation(n0: float, n1: float, n0_left: np.ndarray, n1_left: np.ndarray) -> np.ndarray:
    """Rzepakowski & Jaroszewicz's split normalisation for one arm against control, as causalml computes it: large
    for a split that sends the arms to different sides, plus the split's own entropy, plus 1/2."""
    total = n0 + n1
    share1, share0 = n1 / total, n0 / total
    left1, left0 = n1_left / (n1 + 0.1), n0_left / (n0 + 0.1)
    # causalml weighs this term alpha for the arms pooled and 1 - alpha per arm: with one arm the two are one
    imbalance = _entropy_term(np.asarray(share1), np.asarray(share0)) * _kl(left1, left0)
    return imbalance + share1 * _entropy_term(left1) + share0 * _entropy_term(left0) + 0.5


def _best_split(
    codes: np.ndarray,
    y: np.ndarray,
    t: np.ndarray,
    rows: np.ndarray,
    features: np.ndarray,
    n_bins: int,
    min_leaf: int,
    criterion: SplitCriterion = "ed",
    node_rates: np.ndarray | None = None,
) -> tuple[int, int] | None:
    """(feature, threshold) of the largest heterogeneity gain over ``features`` on ``rows``, or None.
    ``node_rates`` (control's and the arm's smoothed response rates in this node) is what ``"kl"`` smooths toward."""
    m = len(features)
    tr = t[rows].astype(np.int64)
    flat = (codes[np.ix_(rows, features)] + (np.arange(m) * n_bins)[None, :]) * 2 + tr[:, None]
    size = m * n_bins * 2
    counts = np.bincount(flat.ravel(), minlength=size).reshape(m, n_bins, 2).astype(np.float64)
    sums = np.bincount(flat.ravel(), weights=np.repeat(y[rows], m), minlength=size).reshape(m, n_bins, 2)
    n_left, s_left = np.cumsum(counts, axis=1)[:, :-1], np.cumsum(sums, axis=1)[:, :-1]
    n_right, s_right = counts.sum(axis=1)[:, None, :] - n_left, sums.sum(axis=1)[:, None, :] - s_left
    min_arm = max(1, min_leaf // 4)
    ok = (
        (n_left.min(axis=2) >= min_arm)
        & (n_right.min(axis=2) >= min_arm)
        & (n_left.sum(axis=2) >= min_leaf)
        & (n_right.sum(axis=2) >= min_leaf)
    )
    if not ok.any():
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        tau_l = s_left[..., 1] / n_left[..., 1] - s_left[..., 0] / n_left[..., 0]
        tau_r = s_right[..., 1] / n_right[..., 1] - s_right[..., 0] / n_right[..., 0]
        nl, nr = n_left.sum(axis=2), n_right.sum(axis=2)
        if criterion == "kl":
            assert node_rates is not None
            left, right = _smoothed(n_left, s_left, node_rates), _smoothed(n_right, s_right, node_rates)
            n_node = n_left[0, 0] + n_right[0, 0]
            share = nl / (nl + nr)
            divergence = share * _kl(left[..., 1], left[..., 0]) + (1 - share) * _kl(right[..., 1], right[..., 0])
            divergence -= _kl(node_rates[1], node_rates[0])
            # causalml normalises by the side at or above the threshold: here the right one
            norm = _kl_normalisation(n_node[0], n_node[1], n_right[..., 0], n_right[..., 1])
            gain = np.where(ok, divergence / norm, -np.inf)
        else:
            gain = np.where(ok, nl * nr / (nl + nr) * (tau_l - tau_r) ** 2, -np.inf)
    k, b = np.unravel_index(int(np.argmax(gain)), gain.shape)
    if not np.isfinite(gain[k, b]) or gain[k, b] <= 0:
        return None
    return int(features[k]), int(b)


def grow_tree(
    codes: np.ndarray,
    y: np.ndarray,
    t: np.ndarray,
    structure: np.ndarray,
    estimation: np.ndarray,
    *,
    n_bins: int,
    max_depth: int,
    min_leaf: int,
    max_features: int,
    rng: np.random.Generator,
    criterion: SplitCriterion = "ed",
) -> Tree:
    """One tree: splits chosen on ``structure`` rows, node effects from ``estimation`` rows (the same rows when
    the forest is not honest)."""
    feature: list[int] = []
    threshold: list[int] = []
    left: list[int] = []
    right: list[int] = []
    value: list[float] = []

    def kl_rates(rows: np.ndarray, parent: np.ndarray | None) -> np.ndarray | None:
        """Control's and the arm's response rates in a node, smoothed toward the parent's (``"kl"`` only)."""
        if criterion != "kl":
            return None
        n0, n1, s0, s1 = _arm_stats(rows, y, t)
        counts, sums = np.array([n0, n1]), np.array([s0, s1])
        return sums / np.maximum(counts, 1.0) if parent is None else _smoothed(counts, sums, parent)

    def node(
        s_rows: np.ndarray, e_rows: np.ndarray, depth: int, parent_value: float, parent_rates: np.ndarray | None
    ) -> int:
        i = len(feature)
        feature.append(-1)
        threshold.append(0)
        left.append(-1)
        right.append(-1)
        own = _effect(*_arm_stats(e_rows, y, t), fallback=parent_value)
        value.append(own)
        rates = kl_rates(s_rows, parent_rates)
        if depth >= max_depth or len(s_rows) < 2 * min_leaf:
            return i
        features = rng.choice(codes.shape[1], size=max_features, replace=False)
        split = _best_split(codes, y, t, s_rows, features, n_bins, min_leaf, criterion, rates)
        if split is None:
            return i
        f, b = split
        feature[i], threshold[i] = f, b
        s_left = codes[s_rows, f] <= b
        e_left = codes[e_rows, f] <= b
        left[i] = node(s_rows[s_left], e_rows[e_left], depth + 1, own, rates)
        right[i] = node(s_rows[~s_left], e_rows[~e_left], depth + 1, own, rates)
        return i

    root = _effect(*_arm_stats(estimation, y, t), fallback=0.0)
    node(structure, estimation, 0, root, None)  # the root's rates are raw: nothing to smooth toward
    return Tree(
        np.asarray(feature, dtype=np.int32),
        np.asarray(threshold, dtype=np.int32),
        np.asarray(left, dtype=np.int32),
        np.asarray(right, dtype=np.int32),
        np.asarray(value, dtype=np.float64),
    )


def tree_paths(tree: Tree, codes: np.ndarray, *, contributions: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Every row's leaf effect, and (``contributions``) the per-feature changes of the effect along its path."""
    n = len(codes)
    at = np.zeros(n, dtype=np.int32)
    phi = np.zeros(codes.shape, dtype=np.float64) if contributions else None
    rows = np.arange(n)
    while True:
        f = tree.feature[at]
        inner = np.flatnonzero(f >= 0)
        if inner.size == 0:
            return tree.value[at], phi
        here, fi = at[inner], f[inner]
        go_left = codes[rows[inner], fi] <= tree.threshold[here]
        nxt = np.where(go_left, tree.left[here], tree.right[here])
        if phi is not None:
            np.add.at(phi, (inner, fi), tree.value[nxt] - tree.value[here])
        at[inner] = nxt


def grow_forest(
    matrix: np.ndarray,
    y: np.ndarray,
    treated: np.ndarray,
    *,
    n_trees: int,
    max_depth: int,
    min_leaf: int,
    max_features: float,
    sample_fraction: float,
    honest: bool,
    max_bins: int,
    seed: int,
    criterion: SplitCriterion = "ed",
) -> tuple[list[np.ndarray], list[Tree]]:
    """The bin edges and trees of one arm against control (``treated`` marks the arm's rows)."""
    edges = quantile_edges(matrix, max_bins)
    codes = bin_codes(matrix, edges)
    n_bins = max_bins + 2
    t = np.asarray(treated, dtype=bool)
    rng = np.random.default_rng(seed)
    m = max(1, min(matrix.shape[1], round(max_features * matrix.shape[1])))
    trees = []
    strata = [np.flatnonzero(t), np.flatnonzero(~t)]  # draw within arms so every tree keeps the arm shares
    for _ in range(n_trees):
        drawn = np.concatenate(
            [rng.choice(g, size=max(2, int(sample_fraction * g.size)), replace=False) for g in strata]
        )
        rng.shuffle(drawn)
        structure, estimation = (drawn[: len(drawn) // 2], drawn[len(drawn) // 2 :]) if honest else (drawn, drawn)
        trees.append(
            grow_tree(
                codes,
                y,
                t,
                structure,
                estimation,
                n_bins=n_bins,
                max_depth=max_depth,
                min_leaf=min_leaf,
                max_features=m,
                rng=rng,
                criterion=criterion,
            )
        )
    return edges, trees


def forest_effect(
    edges: list[np.ndarray], trees: list[Tree], matrix: np.ndarray, *, contributions: bool = False
) -> tuple[np.ndarray, np.ndarray | None, float]:
    """(mean effect over trees, mean path contributions or None, mean root effect: the contributions' base)."""
    codes = bin_codes(matrix, edges)
    effect = np.zeros(len(matrix))
    phi = np.zeros(matrix.shape) if contributions else None
    for tree in trees:
        value, tree_phi = tree_paths(tree, codes, contributions=contributions)
        effect += value
        if phi is not None and tree_phi is not None:
            phi += tree_phi
    k = len(trees)
    base = float(np.mean([tree.value[0] for tree in trees]))
    return effect / k, (phi / k if phi is not None else None), base
