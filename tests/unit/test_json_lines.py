"""The --json line is strict JSON: undefined metrics are null, never NaN or Infinity."""

import json
import math

import numpy as np
import pytest

from cxml.json_lines import json_line

pytestmark = pytest.mark.unit


def test_non_finite_numbers_become_null_and_numpy_scalars_numbers():
    line = json_line({"c": np.float64(0.8), "n": np.int64(3), "bad": [math.nan, math.inf, -np.inf], "ok": (1.5,)})
    assert json.loads(line, parse_constant=lambda name: pytest.fail(f"{name} in {line}")) == {
        "c": 0.8,
        "n": 3,
        "bad": [None, None, None],
        "ok": [1.5],
    }


def test_other_objects_are_written_as_text_on_one_line(tmp_path):
    line = json_line({"path": tmp_path, "nested": {"when": np.datetime64("2026-01-01")}})
    assert "\n" not in line and json.loads(line)["path"] == str(tmp_path)
