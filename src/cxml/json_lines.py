"""The one JSON line a ``--json`` command prints: strict JSON that ``jq`` and every parser accept.

Python's ``json`` writes ``NaN`` and ``Infinity`` for non-finite floats, which are not JSON; a metric that is
undefined (a calibration horizon past the data, a median survival never reached) becomes ``null`` instead.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np


def _finite(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def json_line(obj: Any) -> str:
    """``obj`` as one line of strict JSON: non-finite floats as null, numpy scalars as numbers, the rest as text."""
    return json.dumps(_finite(obj), default=str, allow_nan=False)
