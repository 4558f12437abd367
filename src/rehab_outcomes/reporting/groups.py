"""Kaplan–Meier curves of every group the dashboard shows (network, treatment, site, site ×
treatment), with the package's product-limit estimate and R's confidence intervals."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from rehab_outcomes.contract import ARMS

__all__ = ["ALL", "NET", "PAIN_FREE_WEEKS", "Group", "KMCurve", "group_curves"]

#: Horizon of the pain-free share (weeks), one of the analysis' summary times.
PAIN_FREE_WEEKS: Final = 12.0
#: Key of the network (all sites) and of all treatments in group keys ``(site, arm)``.
NET: Final = "__network__"
ALL: Final = "all"


@dataclass(frozen=True)
class KMCurve:
    """One group's Kaplan–Meier curve (arrays of :func:`rehab_outcomes.survival.km.km_arrays`)."""

    n: int
    time: np.ndarray
    n_risk: np.ndarray
    n_event: np.ndarray
    surv: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    def _idx(self, t: float) -> int:
        return int(np.searchsorted(self.time, t, side="right")) - 1

    def share(self, t: float) -> tuple[float, float, float]:
        """``1 - S(t)`` with its interval (from the survival interval)."""
        i = self._idx(t)
        if i < 0:
            return 0.0, 0.0, 0.0
        return (float(1 - self.surv[i]), float(1 - self.upper[i]), float(1 - self.lower[i]))

    def events_by(self, t: float) -> int:
        return int(round(self.n_event[self.time <= t].sum()))

    def at_risk(self, t: float) -> int:
        i = int(np.searchsorted(self.time, t, side="left"))
        return int(round(self.n_risk[i])) if i < self.time.size else 0

    def median(self) -> tuple[float | None, float | None, float | None]:
        """Median with its interval by R's rule (as the analysis' ``km_summary``)."""
        from rehab_outcomes.survival.km import first_below_half

        vals = [first_below_half(a, self.time) for a in (self.surv, self.lower, self.upper)]
        out = [None if not math.isfinite(v) else float(v) for v in vals]
        return out[0], out[1], out[2]

    def horizon(self, threshold: int) -> float:
        """Last time at which at least ``threshold`` people are at risk (``nan`` if never)."""
        ok = self.n_risk >= threshold
        return float(self.time[ok][-1]) if ok.any() else float("nan")


def _km_groups(time: np.ndarray, event: np.ndarray, codes: np.ndarray, n_groups: int,
               conf_type: str, alpha: float) -> list[KMCurve | None]:
    from rehab_outcomes.survival.km import confint, km_arrays

    ok = np.isfinite(time) & (codes >= 0)
    t, e, c = time[ok], event[ok].astype(float), codes[ok]
    order = np.argsort(c, kind="stable")
    bounds = np.searchsorted(c[order], np.arange(n_groups + 1))
    out: list[KMCurve | None] = []
    for k in range(n_groups):
        rows = order[bounds[k]:bounds[k + 1]]
        if rows.size == 0:
            out.append(None)
            continue
        cur = km_arrays(t[rows], e[rows], np.ones(rows.size))
        lo, hi = confint(cur["surv"], np.sqrt(cur["var_cumhaz"]), conf_type, alpha)  # type: ignore[arg-type]
        out.append(KMCurve(int(rows.size), cur["time"], cur["n_risk"], cur["n_event"],
                           cur["surv"], np.nan_to_num(lo, nan=0.0), np.nan_to_num(hi, nan=0.0)))
    return out


@dataclass
class Group:
    """Everything computed for one group of episodes (network arm, site, site × arm)."""

    key: tuple[str, str]  # (site or NET, arm or ALL)
    n: int
    lost: int
    n_returned: int
    pf: KMCurve | None
    re: KMCurve | None


def group_curves(df: pd.DataFrame, sites: list[str], conf_type: str, alpha: float
            ) -> dict[tuple[str, str], Group]:
    arms = list(ARMS)
    site_code = pd.Categorical(df["site"], categories=sites).codes.astype(np.int64)
    arm_code = pd.Categorical(df["arm"], categories=arms).codes.astype(np.int64)
    keys: list[tuple[str, str]] = [(s, a) for s in sites for a in arms]
    keys += [(s, ALL) for s in sites] + [(NET, a) for a in arms] + [(NET, ALL)]
    n_s, n_a = len(sites), len(arms)
    codings = [site_code * n_a + arm_code, n_s * n_a + site_code,
               n_s * n_a + n_s + arm_code, np.full(len(df), n_s * n_a + n_s + n_a)]
    pf_t = df["pain_free_weeks"].to_numpy(dtype=float)
    pf_e = df["pain_free_event"].to_numpy(dtype=np.int64)
    re_t = df["reinjury_weeks"].to_numpy(dtype=float)
    re_e = df["reinjury_event"].fillna(0).to_numpy(dtype=np.int64)
    lost = (df["exit_reason"].astype(str) == "lost_to_follow_up").to_numpy()
    pf: list[KMCurve | None] = [None] * len(keys)
    re_: list[KMCurve | None] = [None] * len(keys)
    n = np.zeros(len(keys), dtype=np.int64)
    n_lost = np.zeros(len(keys), dtype=np.int64)
    n_ret = np.zeros(len(keys), dtype=np.int64)
    for codes in codings:
        present = np.unique(codes)
        lo, hi = int(present.min()), int(present.max()) + 1
        local = codes - lo
        for k, curve in enumerate(_km_groups(pf_t, pf_e, local, hi - lo, conf_type, alpha)):
            if curve is not None:
                pf[lo + k] = curve
        for k, curve in enumerate(_km_groups(re_t, re_e, local, hi - lo, conf_type, alpha)):
            if curve is not None:
                re_[lo + k] = curve
        n[lo:hi] += np.bincount(local, minlength=hi - lo)
        n_lost[lo:hi] += np.bincount(local, weights=lost, minlength=hi - lo).astype(np.int64)
        n_ret[lo:hi] += np.bincount(local, weights=pf_e, minlength=hi - lo).astype(np.int64)
    return {key: Group(key, int(n[i]), int(n_lost[i]), int(n_ret[i]), pf[i], re_[i])
            for i, key in enumerate(keys)}


