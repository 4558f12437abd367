"""Detection and masking of identifying values (e-mail, phone, NHS number, US SSN) and names.

Nothing in this module ever returns or logs an identifying value in clear: use :func:`mask`,
:func:`mask_series`, :func:`scrub_text` or :func:`masked_file_name` before printing anything.
The rules below are also described for users in ``docs/privacy.md``.

What counts as an identifying value
-----------------------------------

Every cell is searched *anywhere* in its text (``"Leeds zoe.x@example.org"`` is caught), for:

- **e-mail**: ``local@domain.tld`` (a top-level domain of at least two letters).
- **NHS number**: 10 digits, bare (``4010232137``) or grouped 3-3-4 by spaces or hyphens
  (``401 023 2137``), whose modulus-11 check digit is valid.
- **US SSN**: ``NNN-NN-NNNN`` or ``NNN NN NNNN``, or 9 bare digits; area not 000, 666 or 9xx,
  group not 00, serial not 0000.
- **phone number**, one of:

  * international: a leading ``+`` then 10–15 digits (first digit not 0), separators allowed;
  * international with ``00``: ``00`` then a non-zero digit, 11–17 digits in all;
  * trunk form (UK and most of Europe): ``0`` then a non-zero digit, 10 or 11 digits in all;
    when written with separators the first group has 2–6 digits and no group has only one
    (``07700 900123``, ``020 7946 0958``, ``01 23 45 67 89``);
  * North American, *formatted only*: ``(212) 555-0199``, ``212-555-0199``,
    ``212.555.0199``, ``1-212-555-0199`` (area and exchange codes starting with 2–9).

  Separators are spaces, hyphens, dots and parentheses. A bare 10-digit number is never taken
  for a North American phone number (too many harmless codes look like one).

A number only counts when it stands on its own: it must not be glued to letters or other
digits (``K07700900123`` and ``EP4010232137`` are codes, ``EP_4010232137`` and
``Leeds 07700 900123`` are not) and must not be part of a decimal number (``4010232137.5``).
Only ASCII digits are recognised.

*Bare* numbers (digits only, no ``+``, no separators) are ambiguous, so they are judged per
column:

- bare NHS numbers: a column holding at least :data:`CODE_COLUMN_MIN` bare 10-digit numbers
  of which no more pass the check digit than chance explains (1 in 11, plus four standard
  deviations) is a column of codes: its check-digit hits are not counted. A column of NHS
  numbers (all pass) is still caught; a single NHS number among other values is caught.
- bare SSNs (9 digits) and bare phone numbers (``07700900123``, ``00447700900123``):
  in the contract's text columns (:func:`identifying_kind`) every one is counted; in an extra
  column (:func:`identifying_column_kind`) they count only if they make up at least
  ``bare_share`` of the column's non-empty cells, so a column of harmless numbers (10-digit
  lab codes, Unix timestamps, large integer IDs, floats such as ``1234567890.5``) cannot trip
  the phone rule, while a column of bare phone numbers or SSNs is caught.

Everything else (e-mails, grouped NHS numbers and SSNs, formatted phone numbers) counts in
every cell, with no share threshold.

Speed: a vectorised pass over the Arrow strings (one RE2 regex, :data:`_PREFILTER`, looser than
the rules above) picks the few candidate cells; cells that are digits only are judged vectorised
on the Arrow buffers; a column with few distinct values is scanned once per distinct value; only
the remaining candidates are examined one by one in Python.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# ----------------------------------------------------------------------------------------------
# identifying values

#: An e-mail address anywhere in a text (valid for Python ``re`` and for RE2/Arrow).
EMAIL_RE = r"[^\s@]+@[^\s@]+\.[A-Za-z]{2,}"
_EMAIL = re.compile(r"[^\s@<>()\[\],;:\"']+@[^\s@<>()\[\],;:\"']+\.[^\W\d_]{2,}")

#: Kinds of identifying value, in the order they are reported when a cell holds several.
KINDS = ("e-mail", "NHS number", "SSN", "phone number")
_EMAIL_K, _NHS_K, _SSN_K, _PHONE_K = 1, 2, 3, 4
_KIND_NAMES = np.array([None, *KINDS], dtype=object)

#: A bare-number column needs at least this many bare 10-digit values to count as codes.
CODE_COLUMN_MIN = 10
#: Default share of non-empty cells of an extra column that bare SSN/phone numbers must reach.
BARE_SHARE = 0.5

# Arrow (RE2) prefilter: every cell the exact rules below could flag matches it (a test checks
# this on random text); it is looser than them, and far cheaper than examining cells one by one.
_B = r"(?:^|[^\pL\pN])"  # not glued to a letter or digit
_S = r"[\s\pZ\x{1c}-\x{1f}\x{85}\-.()]*"  # separators (any Unicode space)
_PREFILTER = "|".join([
    r"@[^\s@]+\.",  # e-mail
    _B + r"[0-9]{3}[ -]?[0-9]{2,3}[ -]?[0-9]{4}(?:$|[^0-9])",  # NHS and SSN shapes
    r"\+\(?[1-9](?:" + _S + r"[0-9]){9}",  # international, +
    _B + r"\(?0(?:" + _S + r"[0-9]){9}",  # international with 00, trunk
    _B + r"(?:1[ .\-]?)?(?:\([2-9][0-9]{2}\)[\s\pZ]?|[2-9][0-9]{2}[ .\-])[2-9][0-9]{2}[ .\-][0-9]{4}",
])
_BOUNDARY_L = r"(?<![^\W_])(?<![0-9][.,])"
_BOUNDARY_R = r"(?![^\W_])(?![.,][0-9])"
_NHS = re.compile(_BOUNDARY_L + r"([0-9]{3})([ -]?)([0-9]{3})([ -]?)([0-9]{4})" + _BOUNDARY_R)
_SSN = re.compile(_BOUNDARY_L + r"([0-9]{3})([ -]?)([0-9]{2})\2([0-9]{4})" + _BOUNDARY_R)
_NUM_TOKEN = re.compile(r"\+?\(?[0-9][0-9\s\-.()]*[0-9]")
_NANP = re.compile(
    r"(?:\+?1[ .\-]?)?(?:\([2-9][0-9]{2}\)\s?|[2-9][0-9]{2}[ .\-])[2-9][0-9]{2}[ .\-][0-9]{4}"
)
_NOT_DIGIT = re.compile(r"[^0-9]+")
_NON_SPACE = re.compile(r"\S+")
_NHS_WEIGHTS = np.arange(10, 1, -1)


def _nhs_valid(digits: str) -> bool:
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(digits[9])


def _ssn_valid(area: str, group: str, serial: str) -> bool:
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _phone_form(span: str) -> tuple[bool, bool]:
    """``(is a phone number, is bare)`` for a digit span (optional ``+``/``(``, separators)."""
    digits = _NOT_DIGIT.sub("", span)
    nd = len(digits)
    if nd < 10 or nd > 17:
        return False, False
    plus = span.startswith("+")
    body = span[1:] if plus else span
    groups = [g for g in _NOT_DIGIT.split(body) if g]
    bare = not plus and len(groups) == 1  # digits only (parentheses around them allowed)
    if plus:
        return digits[0] != "0" and nd <= 15 and len(groups[-1]) >= 2, False
    if digits.startswith("00"):
        return digits[2] != "0" and 11 <= nd <= 17, bare
    if digits[0] == "0":
        if digits[1] == "0" or nd > 11:
            return False, False
        if bare:
            return True, True
        return 2 <= len(groups[0]) <= 6 and all(len(g) >= 2 for g in groups), False
    return _NANP.fullmatch(span.strip()) is not None, False


@dataclass
class _Scan:
    """Per-cell findings of one column (numpy arrays, one entry per cell)."""

    strong: np.ndarray  # int8 kind code of an e-mail/grouped/formatted hit, 0 if none
    bare10: np.ndarray  # bool: holds a bare 10-digit number
    bare_nhs: np.ndarray  # bool: ... that passes the NHS check digit
    bare_other: np.ndarray  # int8 kind code of a bare SSN or bare phone number, 0 if none
    present: np.ndarray  # bool: non-empty cell

    def nhs_is_code_column(self) -> bool:
        """True if the bare 10-digit numbers pass the NHS check no more often than chance."""
        n = int(self.bare10.sum())
        if n < CODE_COLUMN_MIN:
            return False
        hits = int(self.bare_nhs.sum())
        return hits <= n / 11 + 4 * math.sqrt(n * 10 / 121)


def _scan_cell(text: str) -> tuple[int, bool, bool, int]:
    """Findings of one candidate cell: ``(strong, bare10, bare_nhs, bare_other)``."""
    strong = bare_other = 0
    bare10 = bare_nhs = False
    if "@" in text and _EMAIL.search(text):
        strong = _EMAIL_K
    for m in _NHS.finditer(text):
        grouped = bool(m.group(2) or m.group(4))
        valid = _nhs_valid(m.group(1) + m.group(3) + m.group(5))
        if grouped:
            if valid and not strong:
                strong = _NHS_K
        else:
            bare10 = True
            bare_nhs = bare_nhs or valid
    for m in _SSN.finditer(text):
        if _ssn_valid(m.group(1), m.group(3), m.group(4)):
            if m.group(2):
                strong = strong or _SSN_K
            else:
                bare_other = bare_other or _SSN_K
    if strong:
        return strong, bare10, bare_nhs, bare_other
    for m in _NUM_TOKEN.finditer(text):
        start, end, token = m.start(), m.end(), m.group(0)
        # a number glued to a letter or digit, or part of a decimal number, is not one
        glued = token[0].isdigit() and start > 0 and (
            text[start - 1].isalnum()
            or (text[start - 1] in ".," and start > 1 and text[start - 2].isdigit())
        )
        glued_right = end < len(text) and (
            text[end].isalnum()
            or (text[end] in ".," and end + 1 < len(text) and text[end + 1].isdigit())
        )
        # the whole token, and every run of its whitespace-separated groups
        parts = [(p.start(), p.end()) for p in _NON_SPACE.finditer(token)]
        for i in range(len(parts)):
            if i == 0 and glued:
                continue
            for j in range(i, len(parts)):
                if j == len(parts) - 1 and glued_right:
                    break
                span = token[parts[i][0]:parts[j][1]]
                if len(span) > 40:
                    break
                ok, bare = _phone_form(span)
                if ok and not bare:
                    return _PHONE_K, bare10, bare_nhs, bare_other
                if ok and bare:
                    bare_other = bare_other or _PHONE_K
    return strong, bare10, bare_nhs, bare_other


def as_arrow_text(values: pd.Series) -> pa.ChunkedArray:
    """The column as Arrow strings (integral floats written as integers, like a CSV would)."""
    dtype = values.dtype
    if isinstance(dtype, pd.StringDtype) and getattr(values.array, "_pa_array", None) is not None:
        return values.array._pa_array
    if pd.api.types.is_float_dtype(dtype):
        arr = values.to_numpy(dtype=float, na_value=np.nan)
        integral = np.isfinite(arr) & (arr == np.round(arr)) & (np.abs(arr) < 2**63)
        text = values.astype(object).where(~integral, None)
        as_int = pd.Series(np.where(integral, arr, 0).astype("int64"), index=values.index)
        text = text.where(~integral, as_int.astype(str))
        values = text.astype(object).where(pd.notna(text), None)
    elif pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype):
        return pa.chunked_array([pa.nulls(len(values), pa.string())])
    s = values.astype("string[pyarrow]")
    return s.array._pa_array


def _empty_scan(n: int, present: np.ndarray) -> _Scan:
    return _Scan(np.zeros(n, dtype=np.int8), np.zeros(n, dtype=bool), np.zeros(n, dtype=bool),
                 np.zeros(n, dtype=np.int8), present)


def _scan(values: pd.Series) -> _Scan:
    """Findings for every cell of a column."""
    n = len(values)
    if n == 0:
        return _empty_scan(0, np.zeros(0, dtype=bool))
    arr = as_arrow_text(values)
    if n >= 20_000 and len(pc.unique(arr.slice(0, 4096))) <= 256:
        # few distinct values (site, category columns): scan each distinct value once
        uniq = pc.unique(arr)
        if len(uniq) <= n // 16:
            u = _scan_arrow(uniq)
            present = pc.is_valid(arr).to_numpy(zero_copy_only=False)
            if not (u.strong.any() or u.bare10.any() or u.bare_other.any()):
                return _empty_scan(n, present)
            pos = pc.fill_null(pc.index_in(arr, value_set=uniq), len(uniq))
            pos = pos.to_numpy(zero_copy_only=False)
            return _Scan(*(np.append(a, np.zeros(1, dtype=a.dtype))[pos]
                           for a in (u.strong, u.bare10, u.bare_nhs, u.bare_other)), present)
    return _scan_arrow(arr)


def _scan_arrow(arr: pa.Array | pa.ChunkedArray) -> _Scan:
    n = len(arr)
    present = pc.is_valid(arr).to_numpy(zero_copy_only=False)
    scan = _empty_scan(n, present)
    cand = pc.fill_null(pc.match_substring_regex(arr, _PREFILTER), False)
    idx = np.flatnonzero(cand.to_numpy(zero_copy_only=False))
    if not len(idx):
        return scan
    sub = arr if len(idx) == n else pc.take(arr, pa.array(idx))
    # cells of ASCII digits only (no spaces): judged on the Arrow buffers
    digits_only = pc.fill_null(pc.ascii_is_decimal(sub), False).to_numpy(zero_copy_only=False)
    if digits_only.any():
        _scan_bare_digits(pc.filter(sub, pa.array(digits_only)), idx[digits_only],
                          scan.bare10, scan.bare_nhs, scan.bare_other)
    rest = idx[~digits_only]
    for i, text in zip(rest, pc.take(arr, pa.array(rest)).to_pylist(), strict=True):
        scan.strong[i], scan.bare10[i], scan.bare_nhs[i], scan.bare_other[i] = _scan_cell(text)
    return scan


def _scan_bare_digits(digits: pa.ChunkedArray, rows: np.ndarray, bare10: np.ndarray,
                      bare_nhs: np.ndarray, bare_other: np.ndarray) -> None:
    """Vectorised findings for cells that are ASCII digits only (same rules as
    :func:`_scan_cell`), read straight from the Arrow buffers."""
    arr = digits.combine_chunks() if isinstance(digits, pa.ChunkedArray) else digits
    off_type = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    _, off_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(off_buf, dtype=off_type)[arr.offset: arr.offset + len(arr) + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8)
    starts, length = offsets[:-1], np.diff(offsets)

    def matrix(sel: np.ndarray, width: int) -> np.ndarray:
        return (data[starts[sel][:, None] + np.arange(width)] - 48).astype(np.int64)

    # NHS: exactly 10 digits, modulus-11 check digit
    ten = length == 10
    if ten.any():
        bare10[rows[ten]] = True
        d = matrix(ten, 10)
        check = 11 - (d[:, :9] * _NHS_WEIGHTS).sum(axis=1) % 11
        check = np.where(check == 11, 0, check)
        bare_nhs[rows[ten]] = (check != 10) & (check == d[:, 9])
    # phone: trunk 0[1-9] with 10-11 digits; 00[1-9] with 11-17 digits
    long_ = length >= 10
    if long_.any():
        first3 = np.zeros((len(length), 3), dtype=np.int64)
        first3[long_] = matrix(long_, 3)
        trunk = long_ & (length <= 11) & (first3[:, 0] == 0) & (first3[:, 1] != 0)
        intl = long_ & (length >= 11) & (length <= 17) & (first3[:, 0] == 0) & (first3[:, 1] == 0) \
            & (first3[:, 2] != 0)
        bare_other[rows[trunk | intl]] = _PHONE_K
    # SSN: exactly 9 digits; area not 000, 666 or 9xx, group not 00, serial not 0000
    nine = length == 9
    if nine.any():
        d = matrix(nine, 9)
        area = d[:, 0] * 100 + d[:, 1] * 10 + d[:, 2]
        group = d[:, 3] * 10 + d[:, 4]
        serial = d[:, 5:].sum(axis=1)
        ok = (area != 0) & (area != 666) & (area < 900) & (group != 0) & (serial != 0)
        bare_other[rows[nine][ok]] = _SSN_K


def _kind_codes(scan: _Scan, count_bare_other: bool) -> np.ndarray:
    code = scan.strong.copy()
    if not scan.nhs_is_code_column():
        code = np.where((code == 0) & scan.bare_nhs, _NHS_K, code).astype(np.int8)
    if count_bare_other:
        code = np.where(code == 0, scan.bare_other, code).astype(np.int8)
    return code


def identifying_kind(values: pd.Series) -> pd.Series:
    """Kind of identifying value each cell holds (``e-mail``, ``NHS number``, ``SSN``,
    ``phone number``), or ``<NA>``; the rule for the contract's text columns (row by row).

    Every cell is scanned anywhere in its text. Bare numbers count in every cell, except bare
    10-digit numbers of a column of codes (see the module docstring).
    """
    if len(values) == 0:
        return pd.Series([], index=values.index, dtype="string[pyarrow]")
    code = _kind_codes(_scan(values), count_bare_other=True)
    return pd.Series(_KIND_NAMES[code], index=values.index, dtype="string[pyarrow]")


def looks_identifying(values: pd.Series) -> pd.Series:
    """True where a cell holds an e-mail, phone number, NHS number or SSN (row by row)."""
    if len(values) == 0:
        return pd.Series([], index=values.index, dtype=bool)
    code = _kind_codes(_scan(values), count_bare_other=True)
    return pd.Series(code != 0, index=values.index)


def identifying_column_kind(values: pd.Series, bare_share: float = BARE_SHARE) -> str | None:
    """The kind of identifying value found in an extra (non-contract) column, or ``None``.

    Any e-mail, NHS number (valid check digit; see the code-column rule), grouped SSN or
    formatted phone number anywhere in any cell counts. Bare SSNs and bare phone numbers count
    only when they are at least ``bare_share`` of the non-empty cells.
    """
    if len(values) == 0:
        return None
    scan = _scan(values)
    code = _kind_codes(scan, count_bare_other=False)
    if not code.any():
        n_present = int(scan.present.sum())
        n_bare = int((scan.bare_other != 0).sum())
        if n_present and n_bare / n_present >= bare_share:
            code = scan.bare_other
    if not code.any():
        return None
    counts = np.bincount(code[code != 0], minlength=len(KINDS) + 1)
    return str(_KIND_NAMES[int(np.argmax(counts))])


_FORMULA_FIRST = pa.array(["=", "+", "-", "@", "\t", "\r"])


def formula_prefix(values: pd.Series) -> pd.Series:
    """True where a value begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
    (a spreadsheet would run it as a formula)."""
    if len(values) == 0:
        return pd.Series([], index=values.index, dtype=bool)
    first = pc.utf8_slice_codeunits(as_arrow_text(values), 0, 1)
    hit = pc.is_in(first, value_set=_FORMULA_FIRST)
    return pd.Series(pc.fill_null(hit, False).to_numpy(zero_copy_only=False), index=values.index)


def describe_kind(kind: str, plural: bool = False) -> str:
    """``an e-mail address`` / ``e-mail addresses`` for a kind of :data:`KINDS`."""
    one, many = {
        "e-mail": ("an e-mail address", "e-mail addresses"),
        "NHS number": ("an NHS number", "NHS numbers"),
        "SSN": ("a US social security number", "US social security numbers"),
        "phone number": ("a phone number", "phone numbers"),
    }.get(kind, (f"a {kind}", f"{kind}s"))
    return many if plural else one


# ----------------------------------------------------------------------------------------------
# identifying column names

#: Matched anywhere in the normalised name (lower case, letters only, accents removed).
IDENTIFYING_NAME_SUBSTRINGS = frozenset({
    # personal names
    "firstname", "lastname", "surname", "fullname", "givenname", "familyname", "middlename",
    "maidenname", "nickname", "forename", "username", "patientname", "clientname", "personname",
    "vorname", "nachname", "familienname", "geburtsname", "prenom", "nomdefamille",
    "nomdenaissance", "nomdusage", "apellido", "nombrecompleto", "nombrepaciente",
    "nombredelpaciente", "cognome", "nomecompleto", "sobrenome", "apelido", "voornaam", "achternaam",
    "familienaam", "tussenvoegsel", "fornavn", "efternavn", "etternavn", "fornamn", "efternamn",
    "etunimi", "sukunimi", "nazwisko",
    # e-mail and phone
    "email", "courriel", "correo", "phone", "telefon", "telefoon", "mobile", "mobiel",
    "cellulare", "telemovel", "puhelin", "handynummer", "mobilnummer", "contactnumber",
    "contactdetails", "contactinfo",
    # address
    "address", "adres", "anschrift", "direccion", "domicilio", "indirizzo", "endereco",
    "morada", "osoite", "street", "strasse", "straat", "housenumber", "hausnummer",
    "huisnummer", "postcode", "postalcode", "zipcode", "codepostal", "codigopostal",
    "postleitzahl", "postnummer", "kodpocztowy", "postinumero",
    # birth and death
    "dateofbirth", "birth", "geburt", "naissance", "nacimiento", "nascita", "nascimento",
    "geboorte", "urodzenia", "fodelse", "fodsel", "syntyma", "dateofdeath", "deathdate",
    # identity, health and insurance numbers
    "nhsnumber", "chinumber", "hospitalnumber", "hospitalno", "hospitalid", "medicalrecord",
    "socialsecurity", "securitesociale", "seguridadsocial",
    "sozialversicherung", "versicherungsnummer", "versichertennummer", "insurancenumber",
    "nationalinsurance", "numerosecu", "burgerservicenummer", "personnummer", "personnr",
    "fodselsnummer", "cprnummer", "henkilotunnus", "pesel", "codicefiscale", "tesserasanitaria",
    "cartaocidadao", "cartaodecidadao", "passport", "passeport", "pasaporte", "passaport", "paspoort",
    "reisepass", "personalausweis", "drivinglicence", "driverslicense", "driverslicence",
    "nextofkin",
})
#: Matched only as the whole normalised name, as one word of it, or as adjacent words joined
#: (``post_code``): short words that occur inside harmless words (``hotel``, ``capacity``).
IDENTIFYING_NAME_WORDS = frozenset({
    "name", "names", "nom", "noms", "nome", "naam", "navn", "namn", "nimi", "imie", "initials",
    "mail", "epost", "tel", "telno", "telnr", "tlf", "mob", "mobno", "mobil", "movil", "cell",
    "celular", "handy", "portable", "fax", "gsm", "rue", "calle", "rua", "zip", "plz", "cap",
    "cep", "dob", "ddn", "yob", "nhs", "nhsno", "chi", "chino", "mrn", "hospno", "ssn", "ssno",
    "nino", "nir", "bsn", "cpr", "hetu", "dni", "nie", "nif", "nss", "cpf", "niss", "ip",
    "ipaddr", "login",
})
#: Only as the whole normalised name (``nombre`` is Spanish for name but French for number).
IDENTIFYING_NAME_WHOLE = frozenset({"nombre", "nombres"})
#: Words that refer to an identifying number when followed by ``no``, ``number``, ``id``...
#: (not ``patient``: a clinic's "Patient ID" is what a mapping file renames to ``patient_key``,
#: whose values are then checked like every key)
_ID_WORDS = frozenset({"nhs", "chi", "hospital", "hosp", "tel", "phone", "mobile",
                       "mob", "cell", "fax", "insurance", "passport", "ssn", "ni", "social",
                       "medicare", "medicaid"})
_NUMBER_WORDS = frozenset({"no", "nr", "num", "number", "nbr", "nummer", "numero", "numer",
                           "id", "ident"})
#: Words of ambiguous meaning (a person's name, or the NHS as an organisation)...
_QUALIFIABLE = frozenset({"name", "names", "nom", "noms", "nome", "naam", "navn", "namn",
                          "nimi", "nhs"})
#: ...that are harmless next to one of these words (``site_name``, ``nhs_trust``).
_NEUTRAL_QUALIFIERS = frozenset({
    "site", "clinic", "file", "drug", "medication", "medicine", "exercise", "programme",
    "program", "study", "trial", "test", "sheet", "product", "device", "shoe", "brand", "model",
    "team", "club", "event", "race", "hospital", "centre", "center", "practice", "ward", "unit",
    "trust", "region", "board", "organisation", "organization", "org", "arm", "diagnosis",
    "variable", "column", "field", "group", "category", "condition", "injury", "surgery",
    "procedure", "protocol", "stage", "scale", "item", "measure", "outcome", "questionnaire",
    "score", "treatment", "intervention", "therapy", "service", "department", "location",
    "country", "sport", "activity", "muscle", "joint",
})
#: English examples of identifying column names (the docs list these).
IDENTIFYING_NAME_TOKENS = frozenset({
    "name", "firstname", "surname", "email", "phone", "mobile", "address", "postcode", "zip",
    "dob", "dateofbirth", "birth", "nhs", "nhsnumber", "chi", "mrn", "ssn", "passport",
})

_TRANSLIT = str.maketrans({"ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE",
                           "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "þ": "th", "Þ": "TH",
                           "ß": "ss"})
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+")


def _ascii_letters(name: str) -> str:
    text = unicodedata.normalize("NFKD", str(name).translate(_TRANSLIT))
    return "".join(c if ("a" <= c <= "z" or "A" <= c <= "Z") else " "
                   for c in text if not unicodedata.combining(c))


def normalise_column_name(name: object) -> str:
    """Lower case, accents removed, every non-letter stripped: ``Date-of Birth`` -> ``dateofbirth``."""
    return _ascii_letters(str(name)).replace(" ", "").lower()


def _name_words(name: object) -> list[str]:
    return [w.lower() for w in _CAMEL.findall(_ascii_letters(str(name)))]


def is_identifying_column_name(name: object) -> bool:
    """True if a column's name says it holds identifying data, in English or a main European
    language (``email``, ``date_of_birth``, ``NHSNo``, ``Vorname``, ``teléfono``...).

    The name is normalised (lower case, accents removed, non-letters stripped). Long, distinctive
    terms (:data:`IDENTIFYING_NAME_SUBSTRINGS`) match anywhere in it; short words
    (:data:`IDENTIFYING_NAME_WORDS`: ``tel``, ``zip``, ``nom``...) only as the whole name, as a
    word of it (split at non-letters and camelCase) or as adjacent words joined (``post_code``),
    so ``hotel``, ``capacity`` and ``nominal`` are harmless. ``name`` and ``nhs`` are harmless
    next to a word such as ``site`` or ``trust`` (``site_name``, ``nhs_trust``).
    """
    compact = normalise_column_name(name)
    if not compact:
        return False
    if compact in IDENTIFYING_NAME_WHOLE or compact in IDENTIFYING_NAME_WORDS:
        return True
    if any(term in compact for term in IDENTIFYING_NAME_SUBSTRINGS):
        return True
    words = _name_words(name)
    neutral = any(w in _NEUTRAL_QUALIFIERS for w in words)
    for i, w in enumerate(words):
        for j in range(i + 1, min(i + 4, len(words)) + 1):
            joined = "".join(words[i:j])
            if joined in IDENTIFYING_NAME_WORDS and not (joined in _QUALIFIABLE and neutral):
                return True
        if w in _ID_WORDS and i + 1 < len(words) and words[i + 1] in _NUMBER_WORDS:
            return True
    return False


def column_name_kind(name: object) -> str | None:
    """Kind of identifying value a column's *name* itself looks like (an e-mail address, a
    phone number...), or ``None``. Such a name must never be echoed."""
    kind = identifying_kind(pd.Series([str(name)], dtype="string[pyarrow]")).iloc[0]
    return None if pd.isna(kind) else str(kind)


# ----------------------------------------------------------------------------------------------
# masking


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
    if "@" in text:
        return (text[:1] or "*") + "***@***"
    if sum(c.isdigit() for c in text) >= 9 or looks_identifying(pd.Series([text])).iloc[0]:
        return text[:1] + "***"
    if len(text) > max_len:
        return text[: max_len - 3] + "..."
    return text


def mask_series(values: pd.Series, max_len: int = 40) -> pd.Series:
    """Vectorised :func:`mask`: values with an ``@`` or nine digits or more are masked (every
    identifying kind has one or the other), others shortened to ``max_len``."""
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


#: File-name endings kept in clear by :func:`masked_file_name`.
_KNOWN_SUFFIXES = frozenset({".csv", ".tsv", ".txt", ".parquet", ".pq", ".xlsx", ".xls",
                             ".json", ".yaml", ".yml", ".gz", ".zip", ".bz2", ".xz", ".log"})


def masked_file_name(path: str | Path) -> str:
    """The file's name (no folders) with any identifying content masked, fit for logs and
    ``validation.json``.

    Known endings (``.csv``, ``.parquet``, ``.xlsx``...) are kept; in the rest, anything with an
    ``@`` becomes its first character and ``***@***``, and any run of nine digits or more
    (spaces, hyphens, dots and parentheses allowed) its first character and ``***``.

    >>> masked_file_name("/data/jane.doe@example.org.csv")
    'j***@***.csv'
    >>> masked_file_name("0770 0900123 export.csv")
    '0*** export.csv'
    >>> masked_file_name("episodes.csv")
    'episodes.csv'
    """
    name = Path(str(path)).name
    suffix = ""
    while True:
        dot = name.rfind(".")
        if dot <= 0 or name[dot:].lower() not in _KNOWN_SUFFIXES:
            break
        suffix = name[dot:] + suffix
        name = name[:dot]
    return scrub_text(name) + suffix
