"""Detection and masking of identifying values (e-mail, phone, NHS number, US SSN).

All detectors are vectorised over a pandas Series of strings and return a boolean Series.
Nothing in this module ever returns or logs an identifying value in clear: use :func:`mask`.

Rules (documented in ``docs/data-contract.md``):

- **e-mail**: ``local@domain.tld``.
- **NHS number**: 10 digits (optionally grouped 3-3-4 by spaces or hyphens) whose modulus-11 check
  digit is valid.
- **US SSN**: ``NNN-NN-NNNN``, or 9 digits, with area not 000/666/9xx.
- **phone number**: 10 to 13 digits once spaces, hyphens, dots and parentheses are removed, written
  in international form (leading ``+`` or ``00``), UK trunk form (leading ``0``), or as a North
  American number (area and exchange codes starting with 2–9, optional leading ``1``).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

EMAIL_RE = r"[^@\s]+@[^@\s]+\.[^@\s]+"
_SEPARATORS = r"[\s\-\.\(\)]"
SSN_SHAPE_RE = r"\d{3}-?\d{2}-?\d{4}"
NHS_SHAPE_RE = r"\d{3}[ -]?\d{3}[ -]?\d{4}"
PHONE_DIGITS_RE = r"(?:\+|00)\d{9,13}|0\d{9,10}|1?[2-9]\d{2}[2-9]\d{6}"

#: Column names that hold identifying data (matched on lower-cased name tokens).
IDENTIFYING_NAME_TOKENS = frozenset(
    {
        "name", "names", "firstname", "forename", "surname", "lastname", "fullname",
        "email", "mail", "phone", "telephone", "tel", "mobile", "cell",
        "address", "street", "postcode", "zipcode", "zip", "dob", "birthdate",
        "nhs", "nhsnumber", "ssn", "mrn", "chi",
    }
)
_IDENTIFYING_NAME_PHRASES = ("date_of_birth", "birth_date", "e_mail", "first_name", "last_name",
                             "full_name", "post_code", "zip_code", "social_security",
                             "nhs_number", "hospital_number", "medical_record")

_NHS_WEIGHTS = np.arange(10, 1, -1)


def _as_str(values: pd.Series) -> pd.Series:
    s = values.astype("string[pyarrow]") if values.dtype != "string[pyarrow]" else values
    return s


def looks_like_email(values: pd.Series) -> pd.Series:
    """True where a value looks like an e-mail address."""
    s = _as_str(values)
    return s.str.fullmatch(EMAIL_RE).fillna(False).astype(bool)


def looks_like_ssn(values: pd.Series) -> pd.Series:
    """True where a value looks like a US social security number."""
    s = _as_str(values).str.strip()
    shaped = s.str.fullmatch(SSN_SHAPE_RE).fillna(False).astype(bool)
    digits = s.where(shaped, "").str.replace("-", "", regex=False)
    area, group, serial = digits.str.slice(0, 3), digits.str.slice(3, 5), digits.str.slice(5, 9)
    ok = (area != "000") & (area != "666") & ~area.str.startswith("9") & (group != "00") & (serial != "0000")
    return (shaped & ok.fillna(False)).astype(bool)


def _nhs_check_digit_valid(digits: pd.Series) -> np.ndarray:
    """Modulus-11 check of 10-digit strings (all other entries give False)."""
    ok = np.zeros(len(digits), dtype=bool)
    mask = digits.str.len().fillna(0).to_numpy() == 10
    if not mask.any():
        return ok
    sub = digits[mask].to_numpy(dtype=object)
    arr = np.frombuffer("".join(sub).encode("ascii"), dtype=np.uint8).reshape(-1, 10) - 48
    total = (arr[:, :9] * _NHS_WEIGHTS).sum(axis=1)
    check = 11 - total % 11
    check = np.where(check == 11, 0, check)
    ok[np.flatnonzero(mask)] = (check != 10) & (check == arr[:, 9])
    return ok


def looks_like_nhs_number(values: pd.Series) -> pd.Series:
    """True where a value is a 10-digit NHS number with a valid check digit."""
    s = _as_str(values).str.strip()
    shaped = s.str.fullmatch(NHS_SHAPE_RE).fillna(False).astype(bool)
    out = np.zeros(len(s), dtype=bool)
    if shaped.any():
        digits = s[shaped].str.replace(r"[ -]", "", regex=True)
        out[np.flatnonzero(shaped.to_numpy())] = _nhs_check_digit_valid(digits)
    return pd.Series(out, index=values.index)


def looks_like_phone(values: pd.Series) -> pd.Series:
    """True where a value looks like a telephone number."""
    s = _as_str(values).str.strip()
    candidate = s.str.fullmatch(r"\+?[\d\s\-\.\(\)]{10,20}").fillna(False).astype(bool)
    out = np.zeros(len(s), dtype=bool)
    if candidate.any():
        compact = s[candidate].str.replace(_SEPARATORS, "", regex=True)
        out[np.flatnonzero(candidate.to_numpy())] = (
            compact.str.fullmatch(PHONE_DIGITS_RE).fillna(False).astype(bool).to_numpy()
        )
    return pd.Series(out, index=values.index)


#: Shape every identifying value has: an e-mail, or only digits and separators (9 to 24 chars).
_CANDIDATE_RE = r"[^@\s]+@[^@\s]+\.[^@\s]+|\+?[\d\s\-\.\(\)]{9,24}"


def identifying_kind(values: pd.Series) -> pd.Series:
    """Name of the identifying kind each value looks like, or ``<NA>`` (vectorised)."""
    kind = pd.Series(pd.NA, index=values.index, dtype="string[pyarrow]")
    if len(values) == 0:
        return kind
    s = _as_str(values).str.strip()
    # one cheap pass first: identifying values are e-mails or digits with separators only
    maybe = s.str.fullmatch(_CANDIDATE_RE).fillna(False).to_numpy(dtype=bool)
    if not maybe.any():
        return kind
    sub = s[maybe]
    for name, detector in (
        ("e-mail", looks_like_email),
        ("NHS number", looks_like_nhs_number),
        ("SSN", looks_like_ssn),
        ("phone number", looks_like_phone),
    ):
        hit = detector(sub).to_numpy()
        idx = sub.index[hit]
        fill = kind.loc[idx].isna()
        kind.loc[idx[fill.to_numpy()]] = name
    return kind


def looks_identifying(values: pd.Series) -> pd.Series:
    """True where a value looks like an e-mail, phone number, NHS number or SSN."""
    return identifying_kind(values).notna()


def is_identifying_column_name(name: str) -> bool:
    """True if a column's name says it holds identifying data (``email``, ``date_of_birth``...)."""
    norm = re.sub(r"[^a-z0-9]+", "_", str(name).lower()).strip("_")
    if any(p in norm for p in _IDENTIFYING_NAME_PHRASES):
        return True
    tokens = set(norm.split("_"))
    return bool(tokens & IDENTIFYING_NAME_TOKENS) or norm.replace("_", "") in IDENTIFYING_NAME_TOKENS


def mask(value: object, max_len: int = 40) -> str:
    """Return a value fit to print: identifying values are masked, long values shortened.

    >>> mask("jane.doe@example.org")
    'j***@***'
    >>> mask("943 476 5919")
    '9***'
    >>> mask("rest_only")
    'rest_only'
    """
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    text = str(value)
    s = pd.Series([text])
    if looks_like_email(s).iloc[0] or "@" in text:
        return (text[:1] or "*") + "***@***"
    if looks_identifying(s).iloc[0] or sum(c.isdigit() for c in text) >= 9:
        return text[:1] + "***"
    if len(text) > max_len:
        return text[: max_len - 3] + "..."
    return text


def mask_series(values: pd.Series, max_len: int = 40) -> pd.Series:
    """Vectorised :func:`mask`: identifying values masked, others shortened to ``max_len``."""
    s = values.astype("string[pyarrow]").fillna("")
    n_digits = s.str.count(r"\d").to_numpy()
    has_at = s.str.contains("@", regex=False).to_numpy(dtype=bool)
    first = s.str.slice(0, 1)
    out = s.where(s.str.len() <= max_len, s.str.slice(0, max_len - 3) + "...")
    out = out.where(~(n_digits >= 9), first + "***")
    out = out.where(~has_at, first + "***@***")
    return out.astype(object)


def mask_key(values: pd.Series) -> pd.Series:
    """Mask pseudonymous keys: the first two characters and ``***``."""
    s = values.astype("string[pyarrow]").fillna("")
    return (s.str.slice(0, 2) + "***").astype(object)


_SCRUB_EMAIL = re.compile(r"[^@\s'\"(),;:<>\[\]]+@[^@\s'\"(),;:<>\[\]]+")
_SCRUB_DIGITS = re.compile(r"\+?\d[\d\s\-\.\(\)]{7,}\d")


def scrub_text(text: str) -> str:
    """Mask anything in free text that could be an e-mail or a phone/NHS/SSN number.

    Used on every error message before it is printed.

    >>> scrub_text("bad value 'jane@example.org' and 943 476 5919 in row 3")
    "bad value 'j***@***' and 9*** in row 3"
    """
    text = _SCRUB_EMAIL.sub(lambda m: m.group(0)[:1] + "***@***", text)
    return _SCRUB_DIGITS.sub(
        lambda m: m.group(0) if sum(c.isdigit() for c in m.group(0)) < 9 else m.group(0)[:1] + "***",
        text,
    )
