"""The encoder's categorical codes: each value's string looked up in the fitted categories, anything else NaN."""

import pickle

import numpy as np
import pandas as pd
import pytest

from cxml.models.encoding import TableEncoder

pytestmark = pytest.mark.unit


@pytest.fixture
def encoder():
    train = pd.DataFrame(
        {
            "spend": [1.5, 2.0, np.nan, 4.0],
            "plan": ["monthly", "annual", "nan", None],  # a literal "nan" is a category; None is not
            "tier": pd.Categorical(["b", "a", "b", "a"]),
            "flag": [True, False, True, False],
        }
    )
    return TableEncoder().fit(train)


def test_codes_follow_the_sorted_categories_and_unknowns_are_missing(encoder):
    rows = pd.DataFrame(
        {
            "flag": [False, True, True, False],  # columns in another order than at fit
            "spend": [0.5, np.nan, 3.0, 1.0],
            "plan": ["annual", "nan", None, "weekly"],
            "tier": pd.Categorical(["a", "b", None, "a"]),
        }
    )
    expected = np.array(
        [[0.5, 0, 0, 0], [np.nan, 2, 1, 1], [3.0, np.nan, np.nan, 1], [1.0, np.nan, 0, 0]], dtype=np.float32
    )
    np.testing.assert_array_equal(encoder.transform(rows), expected)
    assert encoder.categories_["plan"] == ["annual", "monthly", "nan"]


def test_one_row_and_no_rows_encode_like_the_batch(encoder):
    rows = pd.DataFrame({"spend": [2.0, 7.0], "plan": ["monthly", None], "tier": ["b", "c"], "flag": [True, False]})
    batch = encoder.transform(rows)
    np.testing.assert_array_equal(encoder.transform(rows.iloc[[1]]), batch[[1]])
    assert encoder.transform(rows.iloc[:0]).shape == (0, 4)
    restored = pickle.loads(pickle.dumps(encoder))
    np.testing.assert_array_equal(restored.transform(rows), batch)


def test_a_missing_feature_column_is_named(encoder):
    with pytest.raises(ValueError, match=r"missing feature columns: \['tier'\]"):
        encoder.transform(pd.DataFrame({"spend": [1.0], "plan": ["annual"], "flag": [True]}))
