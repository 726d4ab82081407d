"""Personal-data columns in a flat table a user brings, found by name and by content at any table size.

A column is personal data when its name says so (a person's name, e-mail, phone, postal address, national id,
bank account, IP address or date of birth; case, separators and qualifiers such as ``customer_`` or ``home_``
ignored) or when its values do (e-mail addresses, phone numbers, IBANs, IP addresses, US social security numbers,
or names and other free text with more distinct values than a category has). ``personal_data_columns`` says which
and why; ``cxml.datasets.tables`` leaves them out with a warning, so they never reach a model or MLflow.

What is *not* personal data, so that genuine features stay: numbers (identifiers among them are the identifier
rule's business), categories with few levels (Geography, Gender, Telco's contract fields), text with digits such as
product codes, and flags (a column named ``mobile`` or ``email`` that only says yes or no).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pandas as pd


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# the column's name, once split into lower-case words and joined without separators (``E-Mail`` → ``email``,
# ``DateOfBirth`` → ``dateofbirth``), after dropping qualifiers in front (``customer_``, ``home_``) and numbers after
NAME_KINDS: dict[str, frozenset[str]] = {
    kind: _words(names)
    for kind, names in {
        "a person's name": "name names fullname firstname lastname surname surnames forename forenames givenname "
        "familyname middlename maidenname nickname fname lname username",
        "an e-mail address": "email emails emailaddress emailaddr emailid mailaddress",
        "a phone number": "phone phones phonenumber phoneno phonenr telephone telephonenumber tel telno mobile "
        "mobilephone mobilenumber mobileno cell cellphone cellnumber fax faxnumber msisdn",
        "a postal address": "address addresses addr streetaddress street streetname housenumber addressline zip "
        "zipcode postcode postalcode plz",
        "a national id": "ssn socialsecuritynumber socialsecurityno nationalid nationalidnumber nino "
        "nationalinsurancenumber passport passportnumber passportno taxid driverslicense driverlicense "
        "driverslicence",
        "a bank account": "iban bankaccount bankaccountnumber accountnumber creditcard creditcardnumber cardnumber",
        "an IP address": "ip ipaddress ipaddr ipv4 ipv6 ipv4address ipv6address",
        "a date of birth": "dob dateofbirth birthdate birthday birthdt",
    }.items()
}
QUALIFIERS = _words(
    "customer customers cust client contact user member person holder primary secondary alt alternate other home "
    "work personal private billing shipping mailing residential business main registered the my your"
)
# a row or customer number: an identifier by name even when a resample repeats it (``RowNumber``, ``CustomerId``)
IDENTIFIER_NAMES = _words(
    "id ids rownumber rownum rowid row index unnamed0 uuid guid accountid accountno customernumber customerno "
    "clientnumber clientno membernumber memberno"
)
# kinds whose values always carry digits: a column so named without a digit in it is something else (Hillstrom's
# ``zip_code`` holds Urban / Surburban / Rural)
NUMBERED_KINDS = frozenset({"a phone number", "a national id", "a bank account", "an IP address", "a date of birth"})
NUMBERED_NAMES = frozenset({"zip", "zipcode", "postcode", "postalcode", "plz", "housenumber"})

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$")
IBAN = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$")
IPV4 = re.compile(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$")
SSN = re.compile(r"^\d{3}-\d{2}-\d{4}$")
PHONE_CHARS = re.compile(r"^(\+|00)?[\d\s().\-/]+$")
PHONE_SEPARATED = re.compile(r"\d[\s().\-/]+\d")
DATE_LIKE = re.compile(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}$|^\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}$")
WORDS = re.compile(r"^[^\W\d_]+(?:[\s'’\-.,&]+[^\W\d_]+)*[.]?$")

PATTERN_SHARE = 0.5
"""A column is flagged by a value pattern when at least this share of its distinct non-blank values match it."""
FREE_TEXT_SHARE = 0.9
"""...and as free text when at least this share of its distinct values are words (letters, no digits)..."""
FREE_TEXT_LEVELS = 250
"""...and it has more distinct values than this: more than there are countries, more than a category has."""
MAX_VALUES_CHECKED = 20_000


def name_words(column: object) -> list[str]:
    """``CustomerEmail_2`` → ``["customer", "email", "2"]``: camel case and separators split, lower case."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(column))
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", text)
    return [w for w in re.split(r"[^0-9a-zA-Z]+", text.lower()) if w]


def _name_key(column: object) -> str:
    words = name_words(column)
    while words and words[-1].isdigit():
        words.pop()
    while len(words) > 1 and words[0] in QUALIFIERS:
        words.pop(0)
    return "".join(words)


def kind_by_name(column: object) -> str | None:
    """The kind of personal data a column's name announces (``"a person's name"`` for ``Surname``), or None."""
    key = _name_key(column)
    return next((kind for kind, names in NAME_KINDS.items() if key in names), None)


def identifier_by_name(column: object, s: pd.Series) -> str | None:
    """Why a column is a row or customer identifier by its name (``CustomerId``, ``RowNumber``), or None."""
    words = name_words(column)
    if "".join(words) not in IDENTIFIER_NAMES and _name_key(column) not in IDENTIFIER_NAMES:
        return None
    if int(s.nunique(dropna=True)) <= 2:
        return None
    return f"named like a row or customer identifier ({int(s.nunique(dropna=True)):,} distinct values)"


def _is_text(s: pd.Series) -> bool:
    return bool(
        pd.api.types.is_string_dtype(s) or pd.api.types.is_object_dtype(s) or isinstance(s.dtype, pd.CategoricalDtype)
    )


def _distinct_text(s: pd.Series) -> pd.Series:
    values = pd.Series(s.dropna().unique()).astype(str).str.strip()
    values = values[values != ""]
    return values.head(MAX_VALUES_CHECKED)


def _share(values: pd.Series, test: Callable[[str], bool]) -> float:
    return float(values.map(test).mean()) if len(values) else 0.0


def _is_phone(value: str) -> bool:
    if not PHONE_CHARS.match(value) or DATE_LIKE.match(value) or IPV4.match(value):
        return False
    digits = sum(c.isdigit() for c in value)
    international = value.startswith(("+", "00"))
    return 7 <= digits <= 15 and (international or "(" in value or bool(PHONE_SEPARATED.search(value)))


def _is_ipv4(value: str) -> bool:
    m = IPV4.match(value)
    return m is not None and all(int(part) <= 255 for part in m.groups())


def _is_iban(value: str) -> bool:
    return bool(IBAN.match(value.replace(" ", "").upper()))


CONTENT_PATTERNS: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("e-mail addresses", lambda v: bool(EMAIL.match(v))),
    ("IBANs", _is_iban),
    ("IP addresses", _is_ipv4),
    ("social security numbers", lambda v: bool(SSN.match(v))),
    ("phone numbers", _is_phone),
)


def kind_by_content(s: pd.Series) -> str | None:
    """Why a column's values are personal data (``"93% of its values are e-mail addresses"``), or None."""
    if not _is_text(s):
        return None
    values = _distinct_text(s)
    if values.empty:
        return None
    for what, test in CONTENT_PATTERNS:
        share = _share(values, test)
        if share >= PATTERN_SHARE:
            return f"{share:.0%} of its distinct values are {what}"
    distinct = int(s.nunique(dropna=True))
    if distinct > FREE_TEXT_LEVELS and _share(values, lambda v: bool(WORDS.match(v))) >= FREE_TEXT_SHARE:
        return f"free text such as names: {distinct:,} distinct values of words without digits"
    return None


def _name_vetoed(kind: str, column: object, s: pd.Series) -> bool:
    """A flag (two values at most) is no one's data; a 'zip' without digits is not a postcode."""
    if int(s.nunique(dropna=True)) <= 2:
        return True
    if kind in NUMBERED_KINDS or _name_key(column) in NUMBERED_NAMES:
        values = _distinct_text(s)
        return not values.str.contains(r"\d", regex=True).any()
    return False


def personal_data_columns(X: pd.DataFrame) -> dict[str, str]:
    """Columns of ``X`` that hold personal data, each with why (by name, by content or both); at any size."""
    found = {}
    for col in X.columns:
        s = X[col]
        reasons = []
        kind = kind_by_name(col)
        if kind is not None and not _name_vetoed(kind, col, s):
            reasons.append(f"named like {kind}")
        content = kind_by_content(s)
        if content is not None:
            reasons.append(content)
        if reasons:
            found[str(col)] = "; ".join(reasons)
    return found
