"""Personal data in a flat table are found by name and by content at any size, and genuine features are kept."""

import numpy as np
import pandas as pd
import pytest

from cxml.datasets.personal_data import kind_by_content, kind_by_name, personal_data_columns
from cxml.datasets.tables import TableError, table_features

pytestmark = pytest.mark.unit

STEMS = ["Har", "On", "Mit", "Bar", "Nwa", "Chu", "Lee", "Ols", "Kow", "Ram"]
ENDINGS = (
    "grave io chell tlett chukwu ston berg ski irez ley wood ford man sen ova ini ez ard ton er ick ant oux ado ell"
)
SURNAMES = [a + b for a in STEMS for b in [*ENDINGS.split(), "ing", "dal"]]  # 270 made-up surnames


@pytest.mark.parametrize(
    ("column", "kind"),
    [
        ("Surname", "a person's name"),
        ("first_name", "a person's name"),
        ("LastName", "a person's name"),
        ("CUSTOMER NAME", "a person's name"),
        ("E-Mail", "an e-mail address"),
        ("email", "an e-mail address"),
        ("customerEmailAddress", "an e-mail address"),
        ("Phone", "a phone number"),
        ("mobile_no", "a phone number"),
        ("Tel.", "a phone number"),
        ("home_phone_2", "a phone number"),
        ("Address", "a postal address"),
        ("street", "a postal address"),
        ("ZIP", "a postal address"),
        ("post-code", "a postal address"),
        ("SSN", "a national id"),
        ("IBAN", "a bank account"),
        ("ip_address", "an IP address"),
        ("IP", "an IP address"),
        ("DateOfBirth", "a date of birth"),
        ("dob", "a date of birth"),
    ],
)
def test_personal_columns_are_named_so_whatever_the_case_and_separators(column, kind):
    assert kind_by_name(column) == kind


@pytest.mark.parametrize(
    "column",
    ["Geography", "Gender", "Tenure", "tenure", "PhoneService", "MultipleLines", "PaymentMethod", "product_name",
     "plan_name", "email_opens", "HasCrCard", "Age", "StockCode", "shipping_cost", "zip_code_type"],
)  # fmt: skip
def test_feature_names_are_not_personal(column):
    assert kind_by_name(column) is None


def test_every_kind_is_found_by_name_on_a_three_row_table():
    frame = pd.DataFrame(
        {
            "Surname": ["Hargrave", "Onio", "Chu"],
            "Mobile": ["0612345678", "0698765432", "0611122233"],
            "date_of_birth": pd.to_datetime(["1980-01-02", "1975-05-06", "1990-11-12"]),
            "Geography": ["France", "Spain", "France"],
            "Tenure": [1, 5, 7],
        }
    )
    found = personal_data_columns(frame)
    assert list(found) == ["Surname", "Mobile", "date_of_birth"]
    assert found["Surname"].startswith("named like a person's name")


@pytest.mark.parametrize(
    "values",
    [
        ["+44 20 7946 0958", "+33 1 42 68 53 00", "+1-212-555-0147", "+49 (0)30 1234567"],
        ["(555) 123-4567", "(555) 987-6543", "(212) 555-0199", "(415) 555-0123"],
        ["555-123-4567", "555.987.6543", "212 555 0199", "06 12 34 56 78"],
        ["0044 20 7946 0958", "0033 1 42 68 53 00", "0049 30 1234567", "0039 06 1234 5678"],
    ],
)
def test_phone_numbers_in_several_formats_are_found_by_content(values):
    assert "phone numbers" in (kind_by_content(pd.Series(values)) or "")
    frame = pd.DataFrame({"contact": values, "score": [1.0, 2.0, 3.0, 4.0]})
    assert list(personal_data_columns(frame)) == ["contact"]


def test_e_mails_ibans_ips_and_ssns_are_found_by_content_under_any_name():
    frame = pd.DataFrame(
        {
            "c1": ["ann.lee@example.com", "bo@mail.example.org", "x_y+z@firma.de", "unknown"],
            "c2": ["GB82 WEST 1234 5698 7654 32", "DE89370400440532013000", "FR14 2004 1010 0505 0001 3M02 606", ""],
            "c3": ["192.168.0.1", "10.0.0.254", "172.16.5.4", "8.8.8.8"],
            "c4": ["123-45-6789", "987-65-4321", "111-22-3333", None],
        }
    )
    found = personal_data_columns(frame)
    assert found == {
        "c1": "75% of its distinct values are e-mail addresses",
        "c2": "100% of its distinct values are IBANs",
        "c3": "100% of its distinct values are IP addresses",
        "c4": "100% of its distinct values are social security numbers",
    }


def test_free_text_with_many_distinct_values_is_found_whatever_the_share_of_rows():
    rng = np.random.default_rng(0)
    names = SURNAMES
    assert len(set(names)) > 250
    notes = pd.Series(rng.choice([f"called about {w} bill" for w in names], 30_000))  # 270 texts in 30,000 rows
    assert "free text" in (kind_by_content(pd.Series(rng.choice(names, 30_000))) or "")
    assert "free text" in (kind_by_content(notes) or "")


def test_categories_codes_numbers_and_flags_are_not_personal():
    rng = np.random.default_rng(1)
    n = 30_000
    frame = pd.DataFrame(
        {
            "Geography": rng.choice(["France", "Spain", "Germany"], n),
            "Gender": rng.choice(["Female", "Male"], n),
            "Contract": rng.choice(["Month-to-month", "One year", "Two year"], n),
            "PaymentMethod": rng.choice(["Electronic check", "Mailed check", "Bank transfer (automatic)"], n),
            "Tenure": rng.integers(0, 11, n),
            "Balance": rng.normal(1e5, 3e4, n),
            "EstimatedSalary": rng.uniform(10, 2e5, n),
            "product": rng.choice([f"SKU-{i:05d}" for i in range(3_000)], n),  # product codes: digits, many levels
            "StockCode": rng.choice([f"{85_000 + i}{c}" for i in range(500) for c in "AB"], n),
            "order_date": rng.choice(pd.date_range("2024-01-01", periods=400).strftime("%Y-%m-%d"), n),
            "mobile": rng.choice(["Yes", "No"], n),  # a flag named like a phone: two values are no one's number
            "zip_code": rng.choice(["Urban", "Surburban", "Rural"], n),  # Hillstrom's: no digit, not a postcode
            "Country": rng.choice([f"Country{c}" for c in "ABCDEFGHIJ"], n),
        }
    )
    assert personal_data_columns(frame) == {}
    X, notes = table_features(frame, [], None)  # and nothing is left out of the features
    assert list(X.columns) == list(frame.columns) and notes == []


def test_a_personal_id_column_is_refused_since_ids_reach_the_holdout():
    frame = pd.DataFrame({"email": [f"u{i}@example.com" for i in range(60)], "x": range(60)})
    with pytest.raises(TableError, match=r"--id email holds personal data \(named like an e-mail address"):
        table_features(frame, [], "email")


def test_surnames_in_a_resampled_table_are_left_out_with_a_warning_naming_them():
    rng = np.random.default_rng(2)
    surnames = [*SURNAMES, "O'Brien", "Smith-Jones"]
    n = 5_000
    frame = pd.DataFrame(
        {
            "RowNumber": rng.integers(1, 1_000, n),  # resampled: repeated, yet still a row number
            "Surname": rng.choice(surnames, n),  # 272 distinct in 5,000 rows: far under a fifth
            "Geography": rng.choice(["France", "Spain"], n),
            "Age": rng.integers(18, 90, n),
        }
    )
    X, notes = table_features(frame, [], None)
    assert list(X.columns) == ["Geography", "Age"]
    assert [n.split(":")[0] for n in notes] == ["RowNumber", "Surname"]
    assert notes[1].startswith("Surname: left out as personal data (named like a person's name; free text")
