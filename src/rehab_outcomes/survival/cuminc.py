"""Cumulative incidence of re-injury per arm.

In the data contract the re-injury clock (from return to pain-free running) has no competing
event: follow-up ends only by re-injury or censoring. So the cumulative incidence is simply
``1 - KM``, with limits ``1 - upper`` and ``1 - lower`` of the Kaplan–Meier curve (no
Aalen–Johansen estimator is needed; it would coincide with ``1 - KM`` here).
"""

from __future__ import annotations

import pandas as pd

from rehab_outcomes.survival.km import ConfType, KaplanMeier

COLUMNS = ["arm", "time", "n_at_risk", "cum_incidence", "lower", "upper"]


def cumulative_incidence(
    df: pd.DataFrame,
    duration_col: str = "reinjury_weeks",
    event_col: str = "reinjury_event",
    group_col: str | None = "arm",
    weights_col: str | None = None,
    conf_type: ConfType = "log",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Cumulative incidence ``1 - KM`` per group at each distinct time.

    Returns
    -------
    pandas.DataFrame
        ``arm, time, n_at_risk, cum_incidence, lower, upper``.
    """
    km = KaplanMeier(conf_type=conf_type, alpha=alpha).fit(
        df, duration_col, event_col, group_col=group_col, weights_col=weights_col
    )
    tab = km.table_
    return pd.DataFrame(
        {
            "arm": tab["arm"],
            "time": tab["time"],
            "n_at_risk": tab["n_at_risk"],
            "cum_incidence": 1.0 - tab["survival"],
            "lower": 1.0 - tab["upper"],
            "upper": 1.0 - tab["lower"],
        }
    )[COLUMNS]
