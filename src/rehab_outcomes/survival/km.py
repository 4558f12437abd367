"""Kaplan–Meier curves per arm, as R's ``survfit(Surv(time, event) ~ arm)``.

Numbers at risk and events are weighted sums of case weights. The variance follows R's
``survfit(Surv(time, event) ~ arm, weights = w)`` default (survival 3.x, ``survfitKM``):

- no weights, or integer weights (frequency weights): Greenwood's formula on the (weighted)
  counts, giving the standard error of ``log S``;
- any non-integer weight (e.g. inverse-probability weights): the robust infinitesimal-jackknife
  (IJ) variance ``Var S(t) = Σ_i (w_i ∂S(t)/∂w_i)²``, each row its own cluster. R reports this
  as the standard error of ``S`` itself and forms the log interval with ``se(S) / S``.

``variance="greenwood"`` or ``"robust"`` forces one or the other (``"greenwood"`` with
non-integer weights is R's ``robust = FALSE``; ``"robust"`` without weights is R's
``robust = TRUE``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from rehab_outcomes.exceptions import AnalysisError
from rehab_outcomes.survival._util import (
    group_codes,
    outcome_name,
    revcumsum,
    survival_arrays,
)

ConfType = Literal["log", "log-log", "plain"]
Variance = Literal["auto", "greenwood", "robust"]

#: Time points (weeks) of the per-arm summary.
SUMMARY_WEEKS: tuple[int, ...] = (4, 8, 12, 26, 52)

TABLE_COLUMNS = ["arm", "time", "n_at_risk", "n_events", "n_censored", "survival", "lower", "upper"]
SUMMARY_COLUMNS = ["outcome", "arm", "n", "events", "median", "median_lower", "median_upper"] + [
    f"surv_{w}w" for w in SUMMARY_WEEKS
]


def km_arrays(
    time: np.ndarray, event: np.ndarray, weights: np.ndarray, robust: bool = False
) -> dict[str, np.ndarray]:
    """Product-limit estimate at each distinct time of one group.

    Parameters
    ----------
    time, event, weights
        One group's rows (event 0/1, positive case weights).
    robust
        Also compute the infinitesimal-jackknife variance of ``S`` (R's ``robust = TRUE``).

    Returns
    -------
    dict
        ``time, n_risk, n_event, n_censor, surv, var_cumhaz`` (Greenwood sum
        ``Σ d / (n (n - d))``, the variance of ``log S``) and ``se_surv``, the standard error
        of ``S`` (Greenwood: ``S sqrt(var_cumhaz)``; robust: the IJ standard error).

    Notes
    -----
    The IJ influence of row ``i`` (time index ``k_i``, event ``e_i``) on ``S(t_j)`` is
    ``w_i S(t_j) [C_{min(j, k_i)} - e_i 1{k_i <= j} g_{k_i}]`` with ``g_k = 1 / (n_k (1 - h_k))``,
    ``h_k = d_k / n_k`` and ``C_j = Σ_{k <= j} h_k g_k`` (sums over event times). The variance
    sums the squares over rows; it is 0 once ``S`` reaches 0, as in R's ``survfitkm.c``.
    """
    utime, inv = np.unique(time, return_inverse=True)
    n_event = np.bincount(inv, weights=weights * event, minlength=utime.size)
    n_all = np.bincount(inv, weights=weights, minlength=utime.size)
    n_risk = revcumsum(n_all)
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(1.0 - n_event / n_risk)
        gw = np.where(n_event > 0, n_event / (n_risk * (n_risk - n_event)), 0.0)
    var_cumhaz = np.cumsum(gw)
    if robust:
        se_surv = np.sqrt(_ij_variance(inv, event, weights, n_risk, n_event, surv))
    else:
        with np.errstate(invalid="ignore"):  # NaN where S is 0 (Greenwood sum infinite)
            se_surv = surv * np.sqrt(var_cumhaz)
    return {
        "time": utime,
        "n_risk": n_risk,
        "n_event": n_event,
        "n_censor": n_all - n_event,
        "surv": surv,
        "var_cumhaz": var_cumhaz,
        "se_surv": se_surv,
    }


def _ij_variance(
    inv: np.ndarray,
    event: np.ndarray,
    weights: np.ndarray,
    n_risk: np.ndarray,
    n_event: np.ndarray,
    surv: np.ndarray,
) -> np.ndarray:
    """Infinitesimal-jackknife variance of ``S`` at each distinct time (see :func:`km_arrays`)."""
    h = np.divide(n_event, n_risk, out=np.zeros_like(n_event), where=n_event > 0)
    live = (n_event > 0) & (h < 1)
    g = np.zeros_like(h)
    g[live] = 1.0 / (n_risk[live] * (1.0 - h[live]))
    c = np.cumsum(h * g)
    w2 = weights**2
    # rows whose own time is at or before t_j: a fixed influence from then on
    own = c[inv] - event * g[inv]
    done = np.cumsum(np.bincount(inv, weights=w2 * own**2, minlength=h.size))
    # rows still at risk after t_j: influence C_j each
    w2_later = revcumsum(np.bincount(inv, weights=w2, minlength=h.size))
    w2_later = np.append(w2_later[1:], 0.0)
    var = surv**2 * (done + c**2 * w2_later)
    return np.where(surv > 0, var, 0.0)


def confint(
    surv: np.ndarray, se_log: np.ndarray, conf_type: ConfType = "log", alpha: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise limits of a survival curve from the standard error of ``log S`` (R's rules).

    ``log``: ``S exp(±z se)`` capped at 1; ``log-log``: ``exp(-exp(log(-log S) ± z se / log S))``
    (undefined where S is 0 or 1); ``plain``: ``S ± z se S`` clipped to [0, 1].
    """
    z = stats.norm.ppf(1 - alpha / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        if conf_type == "log":
            p = np.where(surv == 0, np.nan, surv)
            return p * np.exp(-z * se_log), np.minimum(p * np.exp(z * se_log), 1.0)
        if conf_type == "log-log":
            p = np.where((surv == 0) | (surv == 1), np.nan, surv)
            lp = np.log(-np.log(p))
            se2 = z * se_log / np.log(p)
            return np.exp(-np.exp(lp - se2)), np.exp(-np.exp(lp + se2))
        if conf_type == "plain":
            se2 = z * se_log * surv
            return np.maximum(surv - se2, 0.0), np.minimum(surv + se2, 1.0)
    raise AnalysisError(f"conf_type must be 'log', 'log-log' or 'plain', not {conf_type!r}")


def first_below_half(values: np.ndarray, time: np.ndarray) -> float:
    """First time a curve reaches 0.5 or less (R's ``survmean`` rule, including the midpoint
    rule when the curve sits exactly at 0.5 over an interval); ``NaN`` if it never does."""
    tol = np.sqrt(np.finfo(float).eps)
    keep = ~np.isnan(values) & (values < 0.5 + tol)
    if not keep.any():
        return float("nan")
    x, y = time[keep], values[keep]
    if abs(y[0] - 0.5) < tol and np.any(y < y[0]):
        return float((x[0] + x[np.argmax(y < y[0])]) / 2)
    return float(x[0])


class KaplanMeier:
    """Kaplan–Meier survival curves per group with pointwise confidence intervals.

    Parameters
    ----------
    conf_type
        ``"log"`` (default, as R), ``"log-log"`` or ``"plain"``.
    alpha
        One minus the confidence level.
    variance
        ``"auto"`` (default, R's rule): Greenwood without weights or with integer weights, the
        robust infinitesimal-jackknife variance when any weight is non-integer.
        ``"greenwood"`` or ``"robust"`` force one (see the module notes).

    Attributes
    ----------
    table_ : pandas.DataFrame
        ``arm, time, n_at_risk, n_events, n_censored, survival, lower, upper``.
    robust_ : bool
        Whether the fitted standard errors are the robust (IJ) ones.

    Examples
    --------
    >>> df = pd.DataFrame({"t": [1, 2, 2, 3, 4], "e": [1, 1, 0, 1, 0], "arm": ["a"] * 5})
    >>> KaplanMeier().fit(df, "t", "e").table_["survival"].round(3).tolist()
    [0.8, 0.6, 0.3, 0.3]
    """

    def __init__(
        self, conf_type: ConfType = "log", alpha: float = 0.05, variance: Variance = "auto"
    ) -> None:
        confint(np.ones(1), np.zeros(1), conf_type)  # validates conf_type
        if variance not in ("auto", "greenwood", "robust"):
            raise AnalysisError(
                f"variance must be 'auto', 'greenwood' or 'robust', not {variance!r}"
            )
        self.conf_type = conf_type
        self.alpha = alpha
        self.variance = variance

    def fit(
        self,
        df: pd.DataFrame,
        duration_col: str = "pain_free_weeks",
        event_col: str = "pain_free_event",
        group_col: str | None = "arm",
        weights_col: str | None = None,
        outcome: str | None = None,
    ) -> KaplanMeier:
        """Fit one curve per level of ``group_col`` (one curve ``all`` if ``None``).

        Rows with a missing time or event are left out (e.g. re-injury times of episodes that
        never became pain-free). With ``variance="auto"`` the robust variance is used when any
        analysed weight is non-integer (R decides on all rows of the call, as here).
        """
        time, event, weights, ok = survival_arrays(df, duration_col, event_col, weights_col)
        if not ok.any():
            raise AnalysisError(f"no rows with an observed {duration_col!r}")
        if self.variance == "auto":
            w_ok = weights[ok]
            self.robust_ = weights_col is not None and bool(np.any(w_ok != np.floor(w_ok)))
        else:
            self.robust_ = self.variance == "robust"
        codes, labels = group_codes(df, group_col, ok)
        self.outcome_ = outcome_name(duration_col, outcome)
        self.groups_ = labels
        self.curves_: dict[str, dict[str, np.ndarray]] = {}
        self.n_: dict[str, int] = {}
        t, e, w = time[ok], event[ok], weights[ok]
        parts = []
        for k, lab in enumerate(labels):
            sel = codes == k
            cur = km_arrays(t[sel], e[sel], w[sel], robust=self.robust_)
            lo, hi = confint(cur["surv"], _se_log(cur, self.robust_), self.conf_type, self.alpha)
            cur["lower"], cur["upper"] = lo, hi
            self.curves_[lab] = cur
            self.n_[lab] = int(sel.sum())
            parts.append(
                pd.DataFrame(
                    {
                        "arm": lab,
                        "time": cur["time"],
                        "n_at_risk": cur["n_risk"],
                        "n_events": cur["n_event"],
                        "n_censored": cur["n_censor"],
                        "survival": cur["surv"],
                        "lower": lo,
                        "upper": hi,
                    }
                )
            )
        self.table_ = pd.concat(parts, ignore_index=True)[TABLE_COLUMNS]
        return self

    def survival_at(self, times: Sequence[float]) -> pd.DataFrame:
        """Survival and its limits at ``times`` per group (``NaN`` after a group's last time).

        Returns
        -------
        pandas.DataFrame
            Columns ``arm, time, survival, lower, upper``.
        """
        ts = np.asarray(times, dtype=float)
        rows = []
        for lab, cur in self.curves_.items():
            idx = np.searchsorted(cur["time"], ts, side="right") - 1
            beyond = ts > cur["time"][-1]
            vals = {}
            for key, one in (("survival", "surv"), ("lower", "lower"), ("upper", "upper")):
                v = np.where(idx >= 0, cur[one][np.clip(idx, 0, None)], 1.0)
                vals[key] = np.where(beyond, np.nan, v)
            rows.append(pd.DataFrame({"arm": lab, "time": ts, **vals}))
        return pd.concat(rows, ignore_index=True)

    @property
    def se_table(self) -> pd.DataFrame:
        """Standard errors per group and time: ``arm, time, survival, se, se_log``.

        ``se`` is the standard error of ``S`` (R's ``summary(fit)$std.err``); ``se_log`` that
        of ``log S`` used for the log and log-log intervals. R's ``fit$std.err`` is ``se_log``
        for Greenwood fits and ``se`` for robust ones.
        """
        parts = [
            pd.DataFrame({"arm": lab, "time": cur["time"], "survival": cur["surv"],
                          "se": cur["se_surv"], "se_log": _se_log(cur, self.robust_)})
            for lab, cur in self.curves_.items()
        ]
        return pd.concat(parts, ignore_index=True)

    @property
    def summary(self) -> pd.DataFrame:
        """Per group: records, events, median with CI (from the CI curves, as R's print) and
        survival at 4, 8, 12, 26 and 52 weeks."""
        at = self.survival_at(SUMMARY_WEEKS)
        rows = []
        for lab, cur in self.curves_.items():
            s = at.loc[at["arm"] == lab, "survival"].to_numpy()
            rows.append(
                {
                    "outcome": self.outcome_,
                    "arm": lab,
                    "n": self.n_[lab],
                    "events": float(cur["n_event"].sum()),
                    "median": first_below_half(cur["surv"], cur["time"]),
                    "median_lower": first_below_half(cur["lower"], cur["time"]),
                    "median_upper": first_below_half(cur["upper"], cur["time"]),
                    **{f"surv_{w}w": v for w, v in zip(SUMMARY_WEEKS, s, strict=True)},
                }
            )
        return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _se_log(cur: dict[str, np.ndarray], robust: bool) -> np.ndarray:
    """Standard error of ``log S``: Greenwood's, or R's ``se(S) / S`` (0 where ``se`` is 0)."""
    if not robust:
        return np.sqrt(cur["var_cumhaz"])
    se = cur["se_surv"]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(se == 0, 0.0, se / cur["surv"])


def survival_at(km: KaplanMeier, times: Sequence[float]) -> pd.DataFrame:
    """Survival of a fitted :class:`KaplanMeier` at ``times`` (see :meth:`KaplanMeier.survival_at`)."""
    return km.survival_at(times)
