"""Identifier strings: sequential ids and seeded pseudo-hashes."""

from __future__ import annotations

import numpy as np


def _splitmix(x: np.ndarray) -> np.ndarray:
    """A bijection on uint64, so distinct keys give distinct pseudo-hashes."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _hash_ids(prefix: str, keys: np.ndarray, salt: int) -> list[str]:
    hashed = _splitmix(keys.astype(np.uint64) ^ np.uint64(salt & 0xFFFFFFFFFFFF) << np.uint64(16))
    return [f"{prefix}{h:016x}" for h in hashed.tolist()]


def _ids(prefix: str, start: int, n: int, width: int) -> list[str]:
    return [f"{prefix}{i:0{width}d}" for i in range(start, start + n)]
