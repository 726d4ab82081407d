"""A flat table brought by the user: identifiers and names never become features (nor reach MLflow)."""

import numpy as np
import pandas as pd
import pytest

from cxml.data.sources import read_flat_table
from cxml.datasets.tables import prepare_table
from tests.conftest import shared_data

pytestmark = pytest.mark.unit


def test_the_bank_tables_identifiers_and_surnames_are_left_out_with_a_note():
    frame = read_flat_table(shared_data("bank_churn", "Churn_Modelling.csv"))
    X, y, notes = prepare_table(frame, "Exited")
    assert {"RowNumber", "CustomerId", "Surname"}.isdisjoint(X.columns)
    assert {"CreditScore", "Geography", "Tenure", "Balance", "NumOfProducts"} <= set(X.columns)  # kept
    left_out = [n.split(":")[0] for n in notes if "left out" in n]
    assert left_out == ["RowNumber", "CustomerId", "Surname"] and y.mean() == pytest.approx(0.2037)


def test_small_or_genuine_columns_are_kept():
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame(
        {
            "balance": rng.normal(1000, 200, n),  # floats, all distinct: a measurement, not an identifier
            "age": rng.integers(18, 90, n),  # integers, repeated
            "city": rng.choice(["Lyon", "Bonn", "Pisa"], n),
            "email": [f"user{i}@example.com" for i in range(n)],
            "left": rng.integers(0, 2, n),
        }
    )
    X, _, notes = prepare_table(frame, "left")
    assert list(X.columns) == ["balance", "age", "city"] and any(n.startswith("email: left out") for n in notes)
    X_few, _, notes_few = prepare_table(frame.head(20), "left")  # too few rows for the identifier rules,
    assert list(X_few.columns) == ["balance", "age", "city"]  # but personal data are found at any size
    assert [n.split(":")[0] for n in notes_few] == ["email"] and "e-mail" in notes_few[0]
