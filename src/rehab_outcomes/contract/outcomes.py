"""Derived outcomes: the one definition of the survival times used everywhere."""

from __future__ import annotations

import numpy as np
import pandas as pd

DAYS_PER_WEEK = 7.0


def derive_outcomes(episodes: pd.DataFrame) -> pd.DataFrame:
    """Add the survival outcomes to validated episodes (a copy is returned).

    - ``pain_free_weeks``: (pain_free_run_date, or last_contact_date if not reached, minus
      first_visit_date) in days / 7; ``pain_free_event`` is 1 when the pain-free date is present.
    - ``reinjury_weeks``: for episodes with a pain-free date only, (reinjury_date, or
      last_contact_date, minus pain_free_run_date) / 7; ``reinjury_event`` is 1 when a re-injury
      date is present. Both are missing (``NaN`` / ``<NA>``) for episodes never pain-free.

    Examples
    --------
    >>> df = pd.DataFrame({
    ...     "first_visit_date": pd.to_datetime(["2024-01-01", "2024-01-01"]),
    ...     "pain_free_run_date": pd.to_datetime(["2024-01-15", None]),
    ...     "reinjury_date": pd.to_datetime([None, None]),
    ...     "last_contact_date": pd.to_datetime(["2024-03-01", "2024-02-26"]),
    ... })
    >>> derive_outcomes(df)[["pain_free_weeks", "pain_free_event", "reinjury_weeks"]]
       pain_free_weeks  pain_free_event  reinjury_weeks
    0              2.0                1        6.571429
    1              8.0                0             NaN
    """
    out = episodes.copy()
    first = out["first_visit_date"]
    pf = out["pain_free_run_date"]
    last = out["last_contact_date"]
    re = out["reinjury_date"]
    has_pf = pf.notna()
    end_pf = pf.where(has_pf, last)
    out["pain_free_weeks"] = (end_pf - first).dt.days.astype(float) / DAYS_PER_WEEK
    out["pain_free_event"] = has_pf.astype("int64")
    end_re = re.where(re.notna(), last)
    weeks_re = (end_re - pf).dt.days.astype(float) / DAYS_PER_WEEK
    out["reinjury_weeks"] = weeks_re.where(has_pf, np.nan)
    out["reinjury_event"] = pd.array(np.where(re.notna(), 1, 0), dtype="Int64")
    out.loc[~has_pf.to_numpy(), "reinjury_event"] = pd.NA
    return out
