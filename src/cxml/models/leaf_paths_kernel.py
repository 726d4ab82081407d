"""The compiled loops of :mod:`cxml.models.leaf_paths`: reading trees into leaf paths, and exact TreeSHAP over them.

Kept in its own module because importing numba costs ~0.5 s: :mod:`cxml.models.leaf_paths` imports this one on
the first explanation, never with the models. ``cache=True`` keeps the compiled code beside the module (or in
numba's user cache), so only the first process after an install pays the few seconds of compilation.

Nodes are global indices over all trees; a leaf has feature −1. For one leaf whose path tests d distinct features,
feature k has a zero fraction z_k (the share of the training cover that follows the path's splits on k) and a one
fraction o_k (1 when the row follows them all, else 0). The leaf's value v is shared as the Shapley values of that
product game, φ_k = v (o_k − z_k) ∫₀¹ Π_{j≠k} (z_j + t (o_j − z_j)) dt: the integrand is a polynomial of degree
d − 1, which Gauss–Legendre quadrature with ⌈d/2⌉ nodes integrates exactly. This is the sum TreeSHAP's recursion
computes (Lundberg et al. 2020, Algorithm 2), also O(d²) per leaf, but in d·⌈d/2⌉ multiply-adds over flat arrays:
no recursion, no path copies, no extend/unwind, and each split decided once per row instead of once per leaf
below it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
import numpy as np


def _compiled(function: Callable[..., Any]) -> Any:
    """``numba.njit`` with its on-disk cache where there is a writable place for it (a read-only install without
    a writable home has none, and numba refuses ``cache=True`` there): otherwise compiled anew in each process."""
    try:
        return numba.njit(cache=True, nogil=True)(function)
    except RuntimeError:
        return numba.njit(nogil=True)(function)


ZERO = 1e-35
"""LightGBM's kZeroThreshold: |x| <= ZERO counts as zero for a split whose missing type is "Zero"."""


@_compiled
def _leaf_depths(left: np.ndarray, right: np.ndarray, roots: np.ndarray) -> np.ndarray:
    depth = np.zeros(left.shape[0], dtype=np.int64)
    stack = np.empty(left.shape[0], dtype=np.int64)
    for root in roots:
        top = 0
        stack[0] = root
        depth[root] = 0
        while top >= 0:
            node = stack[top]
            top -= 1
            if left[node] >= 0:
                for child in (left[node], right[node]):
                    depth[child] = depth[node] + 1
                    top += 1
                    stack[top] = child
    return depth


@_compiled
def leaf_paths(
    left: np.ndarray, right: np.ndarray, feature: np.ndarray, cover: np.ndarray, roots: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every leaf's path, its splits grouped by feature (TreeSHAP merges a feature's splits into one player).

    Returns leaf node, leaf reach (the product of its zero fractions: its weight in the tree's mean), group
    pointers per leaf, group feature and zero fraction, split pointers per group, and each split's step: its node
    × 2 + 1 when the path goes left (one int32 read per split: the loop over a row is bound by memory).
    """
    depth = _leaf_depths(left, right, roots)
    is_leaf = left < 0
    n_leaves = int(is_leaf.sum())
    total = int(depth[is_leaf].sum())
    leaf_node = np.empty(n_leaves, dtype=np.int64)
    reach = np.empty(n_leaves)
    group_ptr = np.zeros(n_leaves + 1, dtype=np.int64)
    group_feature = np.empty(total, dtype=np.int32)
    group_zero = np.empty(total)
    split_ptr = np.zeros(total + 1, dtype=np.int32)
    split_step = np.empty(total, dtype=np.int32)
    max_depth = int(depth.max()) + 1
    path_node = np.empty(max_depth, dtype=np.int64)
    path_left = np.empty(max_depth, dtype=np.bool_)
    path_zero = np.empty(max_depth)
    path_group = np.empty(max_depth, dtype=np.int64)
    stack = np.empty(left.shape[0], dtype=np.int64)
    n_leaf, n_group, n_split = 0, 0, 0
    for root in roots:
        top = 0
        stack[0] = root
        while top >= 0:
            node = stack[top]
            top -= 1
            d = depth[node]
            if d > 0:  # the parent's split, on the way here (LIFO: every ancestor's entry is already in place)
                parent = path_node[d - 1]
                path_left[d - 1] = left[parent] == node
                path_zero[d - 1] = cover[node] / cover[parent]
            if left[node] >= 0:
                path_node[d] = node
                top += 1
                stack[top] = right[node]
                top += 1
                stack[top] = left[node]
                continue
            first_group = n_group
            for k in range(d):
                path_group[k] = -1
            for k in range(d):
                if path_group[k] >= 0:
                    continue
                f = feature[path_node[k]]
                zero = 1.0
                for j in range(k, d):
                    if feature[path_node[j]] == f:
                        path_group[j] = n_group
                        zero *= path_zero[j]
                        split_step[n_split] = path_node[j] * 2 + (1 if path_left[j] else 0)
                        n_split += 1
                group_feature[n_group] = f
                group_zero[n_group] = zero
                n_group += 1
                split_ptr[n_group] = n_split
            product = 1.0
            for g in range(first_group, n_group):
                product *= group_zero[g]
            leaf_node[n_leaf] = node
            reach[n_leaf] = product
            n_leaf += 1
            group_ptr[n_leaf] = n_group
    return (
        leaf_node,
        reach,
        group_ptr,
        group_feature[:n_group],
        group_zero[:n_group],
        split_ptr[: n_group + 1],
        split_step[:n_split],
    )


@_compiled
def add_contributions(
    X: np.ndarray,
    node_feature: np.ndarray,
    node_threshold: np.ndarray,
    node_nan_left: np.ndarray,
    node_zero_left: np.ndarray,
    strict: bool,
    leaf_value: np.ndarray,
    group_ptr: np.ndarray,
    group_feature: np.ndarray,
    group_zero: np.ndarray,
    split_ptr: np.ndarray,
    split_step: np.ndarray,
    nodes: np.ndarray,
    weights: np.ndarray,
    out: np.ndarray,
) -> None:
    """Add each row's contributions of every leaf to ``out`` (n, p); ``node_zero_left`` −1 = no zero rule."""
    goes_left = np.empty(node_feature.shape[0], dtype=np.int32)
    one = np.empty(nodes.shape[1] * 2)
    zero = np.empty(nodes.shape[1] * 2)
    product = np.empty(nodes.shape[1])
    for r in range(X.shape[0]):
        x = X[r]
        for i in range(node_feature.shape[0]):
            f = node_feature[i]
            if f < 0:
                continue
            value = x[f]
            if np.isnan(value):
                left = node_nan_left[i]
            elif node_zero_left[i] >= 0 and abs(value) <= ZERO:
                left = node_zero_left[i] == 1
            elif strict:
                left = value < node_threshold[i]
            else:
                left = value <= node_threshold[i]
            goes_left[i] = 1 if left else 0
        for leaf in range(leaf_value.shape[0]):
            g0 = group_ptr[leaf]
            d = group_ptr[leaf + 1] - g0
            if d == 0:  # a one-leaf tree: its value is all base
                continue
            for k in range(d):
                g = g0 + k
                follows = 1
                for s in range(split_ptr[g], split_ptr[g + 1]):  # no early exit: a branch the CPU cannot guess
                    follows &= 1 ^ goes_left[split_step[s] >> 1] ^ (split_step[s] & 1)
                one[k] = follows
                zero[k] = group_zero[g]
            q_count = (d + 1) // 2
            for q in range(q_count):
                t = nodes[q_count, q]
                p = 1.0
                for k in range(d):
                    p *= zero[k] + t * (one[k] - zero[k])
                product[q] = p
            v = leaf_value[leaf]
            for k in range(d):
                diff = one[k] - zero[k]
                if diff == 0.0:
                    continue
                share = 0.0
                for q in range(q_count):
                    share += weights[q_count, q] * product[q] / (zero[k] + nodes[q_count, q] * diff)
                out[r, group_feature[g0 + k]] += v * diff * share
