"""Exact TreeSHAP of a bag of boosters in one pass, from a table of every leaf's root-to-leaf path.

A five-bag champion is 1,500 trees; XGBoost's and LightGBM's own contributions walk them at ~7 µs a tree, one
booster call per bag (~11 ms for one customer, bench/explain.py), and merging the bags into one booster saves only
the per-call part (~0.2 ms a bag): the time is in the trees. :class:`LeafPaths` reads the boosters once (their
best iterations, each leaf's value divided by the number of bags, so it explains the bags' mean margin) into flat
arrays, and :mod:`cxml.models.leaf_paths_kernel` shares each leaf's value among the features on its path by
Gauss–Legendre quadrature of the Shapley integral, in one compiled loop without TreeSHAP's recursion: ~3× faster.

The values are the boosters' own path-dependent TreeSHAP (the same cover weights: XGBoost's hessian sums,
LightGBM's data counts; the same split rules for missing values), computed in float64, so each row adds up to the
bags' mean margin to float rounding. CatBoost's oblivious trees (one split per level) are unfolded into ordinary
binary trees with its leaf weights (training-row counts) as covers, and give CatBoost's own ``ShapValues`` (which
cost ~8 ms a row per bag) from the same table. Categorical splits are not read: cxml's encoder hands the boosters
integer codes, so its boosters have none.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import lightgbm as lgb
import numpy as np
import xgboost as xgb
from scipy.special import logit

from cxml.models.catboost_booster import catboost_json, is_catboost


@dataclass(frozen=True)
class _Nodes:
    """Trees as node arrays: a leaf has feature −1 and children −1; ``base`` is the margin every row starts from."""

    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    nan_left: np.ndarray
    zero_left: np.ndarray  # -1: no zero rule; 0/1: the side |x| <= 1e-35 takes (LightGBM's "Zero" missing type)
    cover: np.ndarray
    value: np.ndarray
    roots: np.ndarray
    base: float


@dataclass(frozen=True)
class LeafPaths:
    """Every node and every leaf's path of a bag of boosters, as flat arrays (see the module docstring)."""

    n_features: int
    base: float
    strict: bool
    node_feature: np.ndarray
    node_threshold: np.ndarray
    node_nan_left: np.ndarray
    node_zero_left: np.ndarray
    leaf_value: np.ndarray
    group_ptr: np.ndarray
    group_feature: np.ndarray
    group_zero: np.ndarray
    split_ptr: np.ndarray
    split_step: np.ndarray
    nodes: np.ndarray
    weights: np.ndarray

    @classmethod
    def of_bags(cls, boosters: list[tuple[Any, int]]) -> LeafPaths:
        """The table of ``boosters`` (each with its best iteration count), explaining their mean margin."""
        if not boosters:
            raise ValueError("no boosters to explain")
        kinds = {_library(b) for b, _ in boosters}
        if len(kinds) > 1:
            raise ValueError(f"the bags mix boosters of {' and '.join(sorted(kinds))}")
        kind = kinds.pop()
        widths = {_width(b) for b, _ in boosters}
        if len(widths) > 1:
            raise ValueError(f"the bags read different numbers of features: {sorted(widths)}")
        read: dict[str, Callable[[Any, int], _Nodes]] = {
            "xgboost": _read_xgboost,
            "lightgbm": _read_lightgbm,
            "catboost": _read_catboost,
        }
        nodes = _joined([read[kind](b, n) for b, n in boosters])
        leaf_node, reach, group_ptr, group_feature, group_zero, split_ptr, split_step = _kernel().leaf_paths(
            nodes.left, nodes.right, nodes.feature, nodes.cover, nodes.roots
        )
        leaf_value = nodes.value[leaf_node] / len(boosters)  # the bags' mean margin
        leaf_value, group_ptr, group_feature, group_zero, split_ptr, split_step = _nonzero_leaves(
            leaf_value, group_ptr, group_feature, group_zero, split_ptr, split_step
        )
        quadrature_nodes, quadrature_weights = _quadrature((int(np.diff(group_ptr).max(initial=0)) + 1) // 2)
        return cls(
            n_features=widths.pop(),
            base=nodes.base / len(boosters) + float(reach @ (nodes.value[leaf_node] / len(boosters))),
            strict=kind == "xgboost",
            node_feature=nodes.feature,
            node_threshold=nodes.threshold,
            node_nan_left=nodes.nan_left,
            node_zero_left=nodes.zero_left,
            leaf_value=leaf_value,
            group_ptr=group_ptr,
            group_feature=group_feature,
            group_zero=group_zero,
            split_ptr=split_ptr,
            split_step=split_step,
            nodes=quadrature_nodes,
            weights=quadrature_weights,
        )

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """TreeSHAP values (n, p + 1) in margin space, last column the base, as ``tree_contributions`` lays them."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected a matrix of {self.n_features} columns, got shape {X.shape}")
        out = np.zeros((X.shape[0], self.n_features + 1))
        _kernel().add_contributions(
            X,
            self.node_feature,
            self.node_threshold,
            self.node_nan_left,
            self.node_zero_left,
            self.strict,
            self.leaf_value,
            self.group_ptr,
            self.group_feature,
            self.group_zero,
            self.split_ptr,
            self.split_step,
            self.nodes,
            self.weights,
            out,
        )
        out[:, -1] = self.base
        return out


def _library(booster: Any) -> str:
    if isinstance(booster, xgb.Booster):
        return "xgboost"
    if isinstance(booster, lgb.Booster):
        return "lightgbm"
    if is_catboost(booster):
        return "catboost"
    raise TypeError("only XGBoost, LightGBM and CatBoost boosters can be read")


def _width(booster: Any) -> int:
    if isinstance(booster, xgb.Booster):
        return int(booster.num_features())
    if isinstance(booster, lgb.Booster):
        return int(booster.num_feature())
    return len(booster.feature_names_)


def _nonzero_leaves(
    leaf_value: np.ndarray,
    group_ptr: np.ndarray,
    group_feature: np.ndarray,
    group_zero: np.ndarray,
    split_ptr: np.ndarray,
    split_step: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """The leaf tables without the leaves whose value is exactly 0: they add 0 to every value, and a third of an
    unfolded CatBoost tree's leaves are empty ones (no training row, value 0), which the kernel would walk anyway."""
    keep = leaf_value != 0.0
    if keep.all():
        return leaf_value, group_ptr, group_feature, group_zero, split_ptr, split_step
    groups_per_leaf, splits_per_group = np.diff(group_ptr), np.diff(split_ptr)
    keep_group = np.repeat(keep, groups_per_leaf)
    keep_split = np.repeat(keep_group, splits_per_group)
    return (
        leaf_value[keep],
        np.concatenate([[0], np.cumsum(groups_per_leaf[keep])]).astype(group_ptr.dtype),
        group_feature[keep_group],
        group_zero[keep_group],
        np.concatenate([[0], np.cumsum(splits_per_group[keep_group])]).astype(split_ptr.dtype),
        split_step[keep_split],
    )


def _kernel() -> Any:
    return importlib.import_module("cxml.models.leaf_paths_kernel")


def _quadrature(max_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes and weights on [0, 1]: row q holds the q-node rule (exact to degree 2q − 1)."""
    size = max(max_nodes, 1)
    nodes, weights = np.zeros((size + 1, size)), np.zeros((size + 1, size))
    for q in range(1, size + 1):
        x, w = np.polynomial.legendre.leggauss(q)
        nodes[q, :q], weights[q, :q] = (x + 1) / 2, w / 2
    return nodes, weights


def _xgboost_base_margin(learner: dict[str, Any]) -> float:
    """The margin every row starts from: XGBoost stores ``base_score`` on the objective's output scale."""
    raw = str(learner["learner_model_param"]["base_score"]).strip("[]")
    base = float(np.float32(raw.split(",")[0]))
    objective = learner["objective"]["name"]
    if objective in ("binary:logistic", "reg:logistic"):
        return float(logit(base))
    if objective == "reg:squarederror":
        return base
    raise ValueError(f"explaining an XGBoost booster with objective {objective!r} is not supported")


def _read_xgboost(booster: xgb.Booster, n_iter: int) -> _Nodes:
    """The first ``n_iter`` iterations' trees (XGBoost: a row goes left when x < split, NaN to the default)."""
    learner = json.loads(booster.save_raw("json"))["learner"]
    model = learner["gradient_booster"]["model"]
    trees = model["trees"][: int(model["iteration_indptr"][n_iter])]
    if any(any(t["split_type"]) or t["categories_nodes"] for t in trees):
        raise ValueError("XGBoost categorical splits are not supported (cxml encodes categories as codes)")
    sizes = np.array([len(t["left_children"]) for t in trees], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)

    def column(name: str, dtype: Any) -> np.ndarray:
        return np.concatenate([np.asarray(t[name], dtype=dtype) for t in trees])

    offset = np.repeat(starts, sizes)
    left, right = column("left_children", np.int64), column("right_children", np.int64)
    leaf = left < 0
    # split_conditions holds the split of an inner node and the value of a leaf, both float32
    condition = column("split_conditions", np.float32).astype(np.float64)
    return _Nodes(
        left=np.where(leaf, -1, left + offset),
        right=np.where(leaf, -1, right + offset),
        feature=np.where(leaf, -1, column("split_indices", np.int64)),
        threshold=np.where(leaf, np.nan, condition),
        nan_left=column("default_left", np.bool_),
        zero_left=np.full(len(left), -1, dtype=np.int8),
        cover=column("sum_hessian", np.float32).astype(np.float64),
        value=np.where(leaf, condition, 0.0),
        roots=starts,
        base=_xgboost_base_margin(learner),
    )


def _read_lightgbm(booster: lgb.Booster, n_iter: int) -> _Nodes:
    """The first ``n_iter`` iterations' trees from the model text (full-precision thresholds and leaf values; per
    tree the inner nodes, then the leaves: a child ``c < 0`` is leaf ``~c``)."""
    text = booster.model_to_string(num_iteration=n_iter)
    if "\naverage_output\n" in text:
        raise ValueError("explaining a LightGBM random forest (average_output) is not supported")
    return _joined([_lightgbm_tree(block) for block in text.split("end of trees")[0].split("\nTree=")[1:]])


def _lightgbm_tree(block: str) -> _Nodes:
    """One tree's nodes, inner nodes then leaves (LightGBM folds its starting score into the first tree)."""
    fields = dict(line.split("=", 1) for line in block.split("\n") if "=" in line)

    def numbers(name: str, dtype: Any) -> np.ndarray:
        return np.array(fields[name].split(), dtype=dtype) if fields.get(name) else np.empty(0, dtype=dtype)

    n_leaves = int(fields["num_leaves"])
    n_inner = n_leaves - 1
    decision = numbers("decision_type", np.int64)
    if (decision & 1).any():
        raise ValueError("LightGBM categorical splits are not supported (cxml encodes categories as codes)")
    threshold = numbers("threshold", np.float64)
    default_left = (decision & 2) > 0
    missing = (decision >> 2) & 3  # 0: None, 1: Zero, 2: NaN
    # LightGBM's NumericalDecision: NaN counts as 0 unless the missing type is NaN; under Zero, 0 takes the default
    nan_left = np.where(missing == 0, threshold >= 0.0, default_left)

    def child(name: str) -> np.ndarray:
        c = numbers(name, np.int64)
        return np.where(c >= 0, c, n_inner + ~c)

    leaf = np.full(n_leaves, -1, dtype=np.int64)
    return _Nodes(
        left=np.concatenate([child("left_child"), leaf]),
        right=np.concatenate([child("right_child"), leaf]),
        feature=np.concatenate([numbers("split_feature", np.int64), leaf]),
        threshold=np.concatenate([threshold, np.full(n_leaves, np.nan)]),
        nan_left=np.concatenate([nan_left, np.zeros(n_leaves, dtype=np.bool_)]),
        zero_left=np.concatenate([np.where(missing == 1, default_left, -1), leaf]).astype(np.int8),
        # a one-leaf tree has no counts: its leaf's weight is the whole tree's
        cover=np.concatenate([numbers("internal_count", np.float64), numbers("leaf_count", np.float64)])
        if n_inner
        else np.ones(1),
        value=np.concatenate([np.zeros(n_inner), numbers("leaf_value", np.float64)]),
        roots=np.zeros(1, dtype=np.int64),
        base=0.0,
    )


def _read_catboost(model: Any, n_iter: int) -> _Nodes:
    """The first ``n_iter`` oblivious trees, unfolded (CatBoost: a row goes right when float32(x) > border; NaN
    goes left unless the model was trained with ``nan_mode="Max"``). Float features only: cxml's encoder hands
    CatBoost integer codes, so its models have no categorical or text features."""
    spec = catboost_json(model)
    features = spec["features_info"]
    if any(features.get(k) for k in ("categorical_features", "text_features", "embedding_features")):
        raise ValueError("CatBoost categorical, text and embedding features are not supported (cxml encodes codes)")
    flat = {f["feature_index"]: f["flat_feature_index"] for f in features.get("float_features", [])}
    nan_right = {
        f["flat_feature_index"] for f in features.get("float_features", []) if f["nan_value_treatment"] == "AsTrue"
    }
    scale, bias = spec["scale_and_bias"]
    bias = float(np.sum(bias))
    trees = [_catboost_tree(t, flat, nan_right, float(scale)) for t in spec["oblivious_trees"][:n_iter]]
    return replace(_joined(trees), base=bias)


def _catboost_tree(tree: dict[str, Any], flat: dict[int, int], nan_right: set[int], scale: float) -> _Nodes:
    """One oblivious tree as a complete binary tree in heap order (node i's children 2i + 1 and 2i + 2).

    CatBoost's leaf index has split j's outcome as bit j; the root takes the last split, as CatBoost's own
    ``ShapValues`` order the levels (the values agree with it to 1e-8, tests/unit/test_leaf_paths.py). A
    leaf's cover is its training weight plus 1e-9, so an empty leaf (common in oblivious trees) never leaves a
    parent without cover (0 / 0)."""
    splits = tree["splits"][::-1]  # level k splits on CatBoost's split depth - 1 - k
    if any(s["split_type"] != "FloatFeature" for s in splits):
        raise ValueError("CatBoost splits on categorical combinations are not supported (cxml encodes codes)")
    values = np.asarray(tree["leaf_values"], dtype=np.float64) * scale
    weights = np.asarray(tree["leaf_weights"], dtype=np.float64) + 1e-9
    n_inner, n_leaves = 2 ** len(splits) - 1, 2 ** len(splits)
    if len(values) != n_leaves:
        raise ValueError("explaining a multi-dimensional CatBoost model is not supported")
    # a bottom-level position's bit depth - 1 - k is level k's outcome, CatBoost's bit depth - 1 - k: the same index
    cover = np.concatenate([np.zeros(n_inner), weights])
    for node in range(n_inner - 1, -1, -1):
        cover[node] = cover[2 * node + 1] + cover[2 * node + 2]
    level = np.floor(np.log2(np.arange(n_inner) + 1)).astype(np.int64)
    border = np.array([s["border"] for s in splits], dtype=np.float32)
    # float32(x) <= border exactly when x <= the midpoint to the next float32 (ties aside): the kernel reads float64
    upper = np.nextafter(border, np.float32(np.inf)).astype(np.float64)
    threshold = (border.astype(np.float64) + upper) / 2
    feature = np.array([flat[s["float_feature_index"]] for s in splits], dtype=np.int64)
    inner = np.arange(n_inner)
    leaf = np.full(n_leaves, -1, dtype=np.int64)
    return _Nodes(
        left=np.concatenate([2 * inner + 1, leaf]),
        right=np.concatenate([2 * inner + 2, leaf]),
        feature=np.concatenate([feature[level], leaf]),
        threshold=np.concatenate([threshold[level], np.full(n_leaves, np.nan)]),
        nan_left=np.concatenate([~np.isin(feature[level], list(nan_right)), np.zeros(n_leaves, dtype=np.bool_)]),
        zero_left=np.full(n_inner + n_leaves, -1, dtype=np.int8),
        cover=cover,
        value=np.concatenate([np.zeros(n_inner), values]),
        roots=np.zeros(1, dtype=np.int64),
        base=0.0,
    )


def _joined(parts: list[_Nodes]) -> _Nodes:
    """Several boosters' or trees' nodes as one set: child and root indices shifted, bases added up."""
    offsets = np.cumsum([0] + [len(p.feature) for p in parts[:-1]])

    def shifted(links: list[np.ndarray]) -> np.ndarray:
        return np.concatenate([np.where(n >= 0, n + o, -1) for n, o in zip(links, offsets, strict=True)])

    return _Nodes(
        left=shifted([p.left for p in parts]),
        right=shifted([p.right for p in parts]),
        feature=np.concatenate([p.feature for p in parts]),
        threshold=np.concatenate([p.threshold for p in parts]),
        nan_left=np.concatenate([p.nan_left for p in parts]),
        zero_left=np.concatenate([p.zero_left for p in parts]),
        cover=np.concatenate([p.cover for p in parts]),
        value=np.concatenate([p.value for p in parts]),
        roots=shifted([p.roots for p in parts]),
        base=sum(p.base for p in parts),
    )
