"""State occupation over the whole cohort from the first visit: an Aalen–Johansen estimator.

Every episode starts ``in_care`` at its first visit (week 0), moves to ``running_pain_free`` at
the pain-free running date and from there to ``reinjured`` at the re-injury date; follow-up ends
(censoring) at the last contact. :func:`multistate_intervals` turns an episodes table into
counting-process rows ``(tstart, tstop]`` with the state held during the interval and the state
entered at its end, and :class:`AalenJohansen` estimates, per arm, the probability of being in
each state at each time with standard errors and pointwise confidence intervals. The estimates
are those of R's

.. code-block:: r

    survfit(Surv(tstart, tstop, state) ~ arm, data = d, id = id, istate = from_state)

(``pstate``, ``std.err``, ``lower``, ``upper``): the Aalen–Johansen product of transition
matrices, and R's infinitesimal-jackknife (IJ) standard error, which is the only variance R
offers for multi-state curves. Confidence intervals use R's default ``conf.type = "log"``:
``p exp(±z se / p)``, the upper limit capped at 1 (undefined where ``p`` is 0); ``"log-log"``
and ``"plain"`` are available as for :class:`~rehab_outcomes.survival.km.KaplanMeier`.

Ties follow R: all transitions at one time enter one transition matrix, and episodes censored
at a time are still at risk for the transitions at that time (events before censoring).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from rehab_outcomes.contract.outcomes import DAYS_PER_WEEK, derive_outcomes
from rehab_outcomes.exceptions import AnalysisError
from rehab_outcomes.survival._util import as_float, levels
from rehab_outcomes.survival.km import ConfType, confint

#: States in order: the initial state first.
STATES: tuple[str, ...] = ("in_care", "running_pain_free", "reinjured")
#: ``to_state`` of an interval that ends without a transition (end of follow-up).
CENSORED = "censored"
#: Weeks from the first visit always reported (in addition to every event time).
MILESTONES: tuple[float, ...] = (12, 26, 52)

INTERVAL_COLUMNS = ["id", "arm", "tstart", "tstop", "from_state", "to_state", "weight"]
COLUMNS = ["arm", "time", "state", "probability", "se", "lower", "upper"]


def multistate_intervals(
    episodes: pd.DataFrame,
    group_col: str = "arm",
    id_col: str = "episode_id",
    weights_col: str | None = None,
) -> pd.DataFrame:
    """Counting-process rows of the illness–recovery path of each episode, weeks from the first
    visit.

    Times come from :func:`~rehab_outcomes.contract.outcomes.derive_outcomes`; the re-injury
    time there counts from the pain-free date and is converted to weeks from the first visit
    (through whole days, so that equal dates give equal times).

    - not pain-free: ``(0, last contact]``, ``in_care`` → ``censored``;
    - pain-free at week ``p > 0``: ``(0, p]``, ``in_care`` → ``running_pain_free``, then
      ``(p, re-injury]`` → ``reinjured`` or ``(p, last contact]`` → ``censored``;
    - pain-free at the first visit (``p = 0``): the episode starts in ``running_pain_free``.

    Intervals of zero length are left out: an episode whose last contact is its first visit
    (and is not pain-free then) has no follow-up and no row; one last seen on its pain-free
    date has no second row.

    Parameters
    ----------
    episodes
        Validated episodes: ``first_visit_date, pain_free_run_date, reinjury_date,
        last_contact_date``, the id and the group column.
    group_col, id_col
        Column of the arm and of the episode identifier.
    weights_col
        Optional column of positive case weights (e.g. IPTW), copied to ``weight``.

    Returns
    -------
    pandas.DataFrame
        ``id, arm, tstart, tstop, from_state, to_state, weight``, one to two rows per episode,
        sorted by id and time.

    Examples
    --------
    >>> ep = pd.DataFrame({
    ...     "episode_id": ["a", "b"], "arm": ["rest_only", "rest_only"],
    ...     "first_visit_date": pd.to_datetime(["2024-01-01", "2024-01-01"]),
    ...     "pain_free_run_date": pd.to_datetime(["2024-01-15", None]),
    ...     "reinjury_date": pd.to_datetime(["2024-02-12", None]),
    ...     "last_contact_date": pd.to_datetime(["2024-03-01", "2024-01-29"])})
    >>> multistate_intervals(ep)[["id", "tstart", "tstop", "from_state", "to_state"]]
      id  tstart  tstop         from_state           to_state
    0  a     0.0    2.0            in_care  running_pain_free
    1  a     2.0    6.0  running_pain_free          reinjured
    2  b     0.0    4.0            in_care           censored
    """
    need = [id_col, group_col, "first_visit_date", "pain_free_run_date", "reinjury_date",
            "last_contact_date"] + ([weights_col] if weights_col else [])
    missing = [c for c in need if c not in episodes.columns]
    if missing:
        raise AnalysisError(f"column(s) missing from the episodes: {missing}")
    if episodes[id_col].duplicated().any():
        raise AnalysisError(f"{id_col!r} is not unique")
    if episodes[group_col].isna().any():
        raise AnalysisError(f"{group_col!r} has missing values")
    d = derive_outcomes(episodes)
    pf_weeks = as_float(d["pain_free_weeks"])
    if not np.all(np.isfinite(pf_weeks)):
        raise AnalysisError("first_visit_date or last_contact_date is missing for some episodes")
    if np.any(pf_weeks < 0):
        raise AnalysisError("an episode ends (or is pain-free) before its first visit")
    pf_event = as_float(d["pain_free_event"]) == 1
    pf_days = np.rint(pf_weeks * DAYS_PER_WEEK)
    re_weeks = as_float(d["reinjury_weeks"])
    end_days = np.where(pf_event, np.rint((pf_weeks + np.nan_to_num(re_weeks)) * DAYS_PER_WEEK),
                        pf_days)
    re_event = pf_event & (as_float(d["reinjury_event"]) == 1)
    if np.any(pf_event & (end_days < pf_days)):
        raise AnalysisError("a re-injury or last contact precedes the pain-free date")
    if weights_col is None:
        weight = np.ones(len(d))
    else:
        weight = as_float(d[weights_col])
        if not np.all(np.isfinite(weight) & (weight > 0)):
            raise AnalysisError(f"case weights {weights_col!r} must be positive and present")
    ids = d[id_col].astype(str).to_numpy()
    arm = d[group_col].astype(str).to_numpy()

    # first interval: (0, pf] to running_pain_free, or (0, last] censored; none if of length 0
    first = pf_days > 0
    second = pf_event & (end_days > pf_days)
    n1, n2 = int(first.sum()), int(second.sum())
    rows = pd.DataFrame({
        "id": np.concatenate([ids[first], ids[second]]),
        "arm": np.concatenate([arm[first], arm[second]]),
        "tstart": np.concatenate([np.zeros(n1), pf_days[second] / DAYS_PER_WEEK]),
        "tstop": np.concatenate([pf_days[first], end_days[second]]) / DAYS_PER_WEEK,
        "from_state": np.concatenate([
            np.full(n1, STATES[0], dtype=object),
            np.full(n2, STATES[1], dtype=object),
        ]),
        "to_state": np.concatenate([
            np.where(pf_event[first], STATES[1], CENSORED),
            np.where(re_event[second], STATES[2], CENSORED),
        ]).astype(object),
        "weight": np.concatenate([weight[first], weight[second]]),
    })
    # an episode pain-free at its first visit starts in running_pain_free: its second row is
    # its first, starting at 0
    return rows.sort_values(["id", "tstart"], kind="mergesort").reset_index(drop=True)


def _check_intervals(iv: pd.DataFrame, states: Sequence[str]) -> None:
    missing = [c for c in INTERVAL_COLUMNS if c not in iv.columns]
    if missing:
        raise AnalysisError(f"interval column(s) missing: {missing}")
    if iv.empty:
        raise AnalysisError("no follow-up: every episode has zero length")
    bad_from = set(iv["from_state"]) - set(states)
    bad_to = set(iv["to_state"]) - set(states) - {CENSORED}
    if bad_from or bad_to:
        raise AnalysisError(f"unknown state(s): {sorted(bad_from | bad_to)}")
    start, stop = iv["tstart"].to_numpy(float), iv["tstop"].to_numpy(float)
    if not np.all(np.isfinite(start) & np.isfinite(stop)) or np.any(stop <= start):
        raise AnalysisError("every interval needs finite times with tstop > tstart")
    if (iv["from_state"] == iv["to_state"]).any():
        raise AnalysisError("an interval ends in the state it started in")
    s = iv.sort_values(["id", "tstart"], kind="mergesort")
    same = s["id"].to_numpy()[1:] == s["id"].to_numpy()[:-1]
    prev_stop, next_start = s["tstop"].to_numpy()[:-1], s["tstart"].to_numpy()[1:]
    prev_to, next_from = s["to_state"].to_numpy()[:-1], s["from_state"].to_numpy()[1:]
    if np.any(same & ((prev_stop != next_start) | (prev_to != next_from))):
        raise AnalysisError("an episode's intervals are not contiguous or skip a state")
    if (s.groupby("id", sort=False)["arm"].nunique() > 1).any():
        raise AnalysisError("an episode changes arm")


def _aj_curve(
    iv: pd.DataFrame, states: Sequence[str], initial_variance: bool
) -> dict[str, np.ndarray]:
    """Aalen–Johansen estimate and IJ standard errors of one group (R's ``survfitci.c``).

    Returns arrays over the distinct times with at least one transition: ``time``,
    ``pstate`` and ``se`` (times × states), ``n_risk`` (at risk per state just before),
    ``n_event`` (transitions into each state); and ``p0``, ``se0`` (before the first
    transition) and ``last_time`` (end of follow-up of the group).
    """
    ns_ = len(states)
    code = {s: i for i, s in enumerate(states)}
    pid, _ = pd.factorize(iv["id"], sort=True)
    n_person = int(pid.max()) + 1
    entry = iv["tstart"].to_numpy(float)
    etime = iv["tstop"].to_numpy(float)
    from_s = iv["from_state"].map(code).to_numpy(np.intp)
    to_raw = iv["to_state"].to_numpy()
    moved = to_raw != CENSORED
    to_s = np.where(moved, pd.Series(to_raw).map(code).fillna(-1).to_numpy(), -1).astype(np.intp)
    wt = iv["weight"].to_numpy(float)

    # initial distribution: those at risk at the first transition (R's docurve2)
    t0 = etime.max() if not moved.any() else etime[moved].min()
    at0 = (entry < t0) & (etime >= t0)
    wsum = wt[at0].sum()
    p = np.bincount(from_s[at0], weights=wt[at0], minlength=ns_) / wsum
    u = np.zeros((n_person, ns_))
    if initial_variance and np.all(p < 1):
        u[pid[at0]] = (np.eye(ns_)[from_s[at0]] - p) / wsum
    # each person's state and weight as the rows are entered (first row: its from_state)
    order = np.lexsort((entry, pid))
    _, first = np.unique(pid[order], return_index=True)
    cstate = np.empty(n_person, dtype=np.intp)
    cstate[pid[order[first]]] = from_s[order[first]]
    wtp = np.zeros(n_person)
    wtp[pid[at0]] = wt[at0]
    p0 = p.copy()
    se0 = np.sqrt(((wtp[:, None] * u) ** 2).sum(axis=0))

    # People who entered their current state at the same time, from the same earlier history,
    # share one influence row u (every update is the same for all of them), so u is kept per
    # such class ("cu", with the sum of squared weights "cw2" of its members at risk): the cost
    # is O(classes x times), not O(people x times). People whose follow-up has ended only
    # change by u <- u @ hmat; their part of the variance is one Gram matrix, updated as
    # hmat' G hmat. The result equals the per-person recursion of R's survfitci.c exactly.
    n_max = 4 * (len(np.unique(etime)) + ns_ + 2) + ns_
    cu = np.zeros((n_max, ns_))
    cw2 = np.zeros(n_max)
    cstate_of = np.zeros(n_max, dtype=np.intp)
    init_u = u[pid[at0]] if at0.any() else np.zeros((0, ns_))
    for st in range(ns_):  # classes 0..ns_-1: people at risk at the first transition, by state
        cstate_of[st] = st
        mine = np.flatnonzero(from_s[at0] == st)
        if mine.size:
            cu[st] = init_u[mine[0]]
    n_cls = ns_
    cls = np.full(n_person, -1, dtype=np.intp)
    in_at0 = np.zeros(n_person, dtype=bool)
    in_at0[pid[at0]] = True
    new_class_at: dict[tuple[float, int], int] = {}
    gram = np.zeros((ns_, ns_))

    def _grow(need: int) -> None:
        nonlocal cu, cw2, cstate_of, n_max
        if need <= n_max:
            return
        extra = max(need, 2 * n_max) - n_max
        cu = np.vstack([cu, np.zeros((extra, ns_))])
        cw2 = np.concatenate([cw2, np.zeros(extra)])
        cstate_of = np.concatenate([cstate_of, np.zeros(extra, dtype=np.intp)])
        n_max += extra

    by_entry = np.argsort(entry, kind="mergesort")
    entry_sorted = entry[by_entry]
    by_stop = np.argsort(etime, kind="mergesort")
    stops = etime[by_stop]
    utimes = np.unique(stops)
    bounds = np.searchsorted(stops, utimes, side="right")
    last_stop = np.zeros(n_person)
    np.maximum.at(last_stop, pid, etime)
    atrisk = np.zeros(n_person, dtype=bool)
    ws = np.zeros(ns_)
    nrisk = np.zeros(ns_, dtype=np.int64)
    out_t, out_p, out_se, out_nr, out_ne = [], [], [], [], []
    eptr = 0
    lo = 0
    for ctime, hi in zip(utimes, bounds, strict=True):
        e_hi = int(np.searchsorted(entry_sorted, ctime, side="left"))
        if e_hi > eptr:  # rows entering the risk set before this time
            ks = by_entry[eptr:e_hi]
            persons = pid[ks]
            st = cstate[persons]
            np.add.at(ws, st, wt[ks])
            np.add.at(nrisk, st, 1)
            fresh = cls[persons] < 0
            if fresh.any():  # first rows: the class of those at risk at the start, or a new one
                fp, fk = persons[fresh], ks[fresh]
                start = in_at0[fp]
                cls[fp[start]] = cstate[fp[start]]
                late, lk = fp[~start], fk[~start]
                for key in sorted({(float(entry[k]), int(cstate[q])) for q, k in zip(late, lk, strict=True)}):
                    if key not in new_class_at:
                        _grow(n_cls + 1)
                        cstate_of[n_cls] = key[1]
                        new_class_at[key] = n_cls
                        n_cls += 1
                if late.size:
                    cls[late] = [new_class_at[(float(entry[k]), int(cstate[q]))]
                                 for q, k in zip(late, lk, strict=True)]
                np.add.at(cw2, cls[fp], wt[fk] ** 2)
            again = ~fresh
            if again.any():
                ap, ak = persons[again], ks[again]
                np.add.at(cw2, cls[ap], wt[ak] ** 2 - wtp[ap] ** 2)
            wtp[persons] = wt[ks]
            atrisk[persons] = True
            eptr = e_hi
        rows = by_stop[lo:hi]
        mv = rows[moved[rows]]
        if mv.size:
            old_m, new_m = cstate[pid[mv]], to_s[mv]
            hmat = np.zeros((ns_, ns_))
            np.add.at(hmat, (old_m, new_m), wt[mv])
            occupied = nrisk > 0
            hmat[occupied] /= ws[occupied, None]
            hmat[np.diag_indices(ns_)] = np.where(occupied, 1.0 - hmat.sum(axis=1), 1.0)
            step_of = np.where(occupied, p / np.where(occupied, ws, 1.0), 0.0)
            act = slice(0, n_cls)
            sc = cstate_of[act]
            # every class member at risk: u <- u hmat - hmat[s] step_s + step_s e_s
            cu[act] = cu[act] @ hmat - hmat[sc] * step_of[sc][:, None]
            cu[np.arange(n_cls), sc] += step_of[sc]
            gram = hmat.T @ gram @ hmat
            # movers: a new class per (class, destination), u differing by step_s (e_d - e_s)
            movers = pid[mv]
            src = cls[movers]
            keys = src * ns_ + new_m
            ukeys, inv = np.unique(keys, return_inverse=True)
            _grow(n_cls + len(ukeys))
            for j, key in enumerate(ukeys):
                c_src, d = divmod(int(key), ns_)
                c = n_cls
                n_cls += 1
                s_src = cstate_of[c_src]
                cu[c] = cu[c_src]
                cu[c, s_src] -= step_of[s_src]
                cu[c, d] += step_of[s_src]
                cstate_of[c] = d
                who = movers[inv == j]
                w2 = float((wtp[who] ** 2).sum())
                cw2[c_src] -= w2
                cw2[c] += w2
                cls[who] = c
            out_nr.append(nrisk.copy())
            out_ne.append(np.bincount(new_m, minlength=ns_))
            p = p @ hmat
            out_t.append(ctime)
            out_p.append(p.copy())
            var = (cw2[:n_cls, None] * cu[:n_cls] ** 2).sum(axis=0) + np.diag(gram)
            out_se.append(np.sqrt(np.maximum(var, 0.0)))
        # the rows ending now leave the risk set; transitions update the person's state
        persons = pid[rows]
        np.subtract.at(ws, cstate[persons], wt[rows])
        np.subtract.at(nrisk, cstate[persons], 1)
        jumped = moved[rows]
        cstate[persons[jumped]] = to_s[rows[jumped]]
        atrisk[persons] = False
        gone = pid[rows]
        gone = np.unique(gone[last_stop[gone] <= ctime])
        if gone.size:  # follow-up over: from their class into the Gram matrix
            w2 = wtp[gone] ** 2
            np.subtract.at(cw2, cls[gone], w2)
            per = np.bincount(cls[gone], weights=w2, minlength=n_cls)
            used = np.flatnonzero(per)
            gram += (cu[used] * per[used, None]).T @ cu[used]
        lo = hi
    shape = (len(out_t), ns_)
    return {
        "time": np.asarray(out_t, dtype=float),
        "pstate": np.asarray(out_p, dtype=float).reshape(shape),
        "se": np.asarray(out_se, dtype=float).reshape(shape),
        "n_risk": np.asarray(out_nr, dtype=float).reshape(shape),
        "n_event": np.asarray(out_ne, dtype=float).reshape(shape),
        "p0": p0,
        "se0": se0,
        "last_time": np.asarray(etime.max()),
    }


class AalenJohansen:
    """State-occupation probabilities per arm (Aalen–Johansen) with IJ standard errors.

    Parameters
    ----------
    milestones
        Weeks reported in addition to every event time (default 12, 26, 52).
    conf_type
        ``"log"`` (default, as R's ``survfit``), ``"log-log"`` or ``"plain"``.
    alpha
        One minus the confidence level.
    initial_variance
        Include the sampling variability of the initial state distribution (only matters when
        some episodes are already pain-free at their first visit). ``False`` (default) gives
        R's ``std.err`` from ``survfit(...)``; ``True`` gives R's from
        ``survfit(..., influence = TRUE)``, where R adds that term.

    Attributes
    ----------
    state_occupation_ : pandas.DataFrame
        ``arm, time, state, probability, se, lower, upper``: one row per state at every time
        with a transition in the arm and at every milestone (``NaN`` after the arm's last
        follow-up), sorted by arm, time and state (in :data:`STATES` order).
    intervals_ : pandas.DataFrame
        The counting-process rows analysed (see :func:`multistate_intervals`).
    curves_ : dict
        Per arm: the arrays of the estimate (``time``, ``pstate``, ``se``, ``n_risk``,
        ``n_event``, ``p0``, ``se0``, ``last_time``).
    n_episodes_ : dict
        Per arm: episodes with some follow-up.
    n_no_follow_up_ : int
        Episodes left out because their follow-up has length zero.

    Examples
    --------
    >>> iv = pd.DataFrame({"id": ["a", "a", "b", "c"], "arm": "x",
    ...                    "tstart": [0.0, 1.0, 0.0, 0.0], "tstop": [1.0, 3.0, 2.0, 4.0],
    ...                    "from_state": ["in_care", "running_pain_free", "in_care", "in_care"],
    ...                    "to_state": ["running_pain_free", "reinjured", "censored",
    ...                                 "running_pain_free"], "weight": 1.0})
    >>> aj = AalenJohansen(milestones=()).fit_intervals(iv)
    >>> [round(aj.probability_at("x", s, 3.5), 4) for s in STATES]
    [0.6667, 0.0, 0.3333]
    >>> [round(aj.probability_at("x", s, 4), 4) for s in STATES]
    [0.0, 0.6667, 0.3333]
    """

    def __init__(
        self,
        milestones: Sequence[float] = MILESTONES,
        conf_type: ConfType = "log",
        alpha: float = 0.05,
        initial_variance: bool = False,
    ) -> None:
        confint(np.ones(1), np.zeros(1), conf_type)  # validates conf_type
        self.milestones = tuple(float(m) for m in milestones)
        self.conf_type = conf_type
        self.alpha = alpha
        self.initial_variance = initial_variance

    def fit(
        self,
        episodes: pd.DataFrame,
        group_col: str = "arm",
        id_col: str = "episode_id",
        weights_col: str | None = None,
    ) -> AalenJohansen:
        """Build the intervals of ``episodes`` (:func:`multistate_intervals`) and fit them.

        Parameters
        ----------
        episodes
            Validated episodes with dates, the arm and the id.
        group_col, id_col, weights_col
            See :func:`multistate_intervals`.

        Returns
        -------
        AalenJohansen
            ``self``, fitted.
        """
        iv = multistate_intervals(episodes, group_col, id_col, weights_col)
        self.fit_intervals(iv, arm_order=levels(episodes[group_col], group_col))
        self.n_no_follow_up_ = int(len(episodes) - iv["id"].nunique())
        return self

    def fit_intervals(
        self, intervals: pd.DataFrame, arm_order: Sequence[str] | None = None
    ) -> AalenJohansen:
        """Fit counting-process rows ``id, arm, tstart, tstop, from_state, to_state, weight``.

        ``to_state`` is the state entered at ``tstop`` or ``"censored"``; an episode's rows
        must be contiguous. ``arm_order`` orders the arms (default: contract order).
        """
        iv = intervals.copy()
        if "weight" not in iv.columns:
            iv["weight"] = 1.0
        _check_intervals(iv, STATES)
        if not np.all(np.isfinite(iv["weight"]) & (iv["weight"] > 0)):
            raise AnalysisError("interval weights must be positive")
        iv["arm"] = iv["arm"].astype(str)
        present = levels(iv["arm"], "arm")
        arms = [a for a in (arm_order or present) if a in set(present)]
        self.intervals_ = iv
        self.arms_ = arms
        self.curves_: dict[str, dict[str, np.ndarray]] = {}
        self.n_episodes_: dict[str, int] = {}
        self.n_no_follow_up_ = 0
        for arm in arms:
            sub = iv[iv["arm"] == arm]
            self.curves_[arm] = _aj_curve(sub, STATES, self.initial_variance)
            self.n_episodes_[arm] = int(sub["id"].nunique())
        frames = []
        for arm, cur in self.curves_.items():
            times = np.union1d(cur["time"], np.asarray(self.milestones, dtype=float))
            frames.append(self._rows(arm, times))
        self.state_occupation_ = pd.concat(frames, ignore_index=True)[COLUMNS]
        return self

    def _values(self, arm: str, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and standard errors (times × states) of one arm, step function."""
        cur = self.curves_[arm]
        idx = np.searchsorted(cur["time"], times, side="right") - 1
        if cur["time"].size:
            prob = np.where((idx >= 0)[:, None], cur["pstate"][np.clip(idx, 0, None)], cur["p0"])
            se = np.where((idx >= 0)[:, None], cur["se"][np.clip(idx, 0, None)], cur["se0"])
        else:
            prob = np.tile(cur["p0"], (times.size, 1))
            se = np.tile(cur["se0"], (times.size, 1))
        beyond = times > cur["last_time"]
        prob[beyond] = np.nan
        se[beyond] = np.nan
        return prob, se

    def _rows(self, arm: str, times: np.ndarray) -> pd.DataFrame:
        prob, se = self._values(arm, times)
        p, s = prob.ravel(), se.ravel()
        with np.errstate(divide="ignore", invalid="ignore"):
            se_log = np.where(s == 0, 0.0, s / p)
        lo, hi = confint(p, se_log, self.conf_type, self.alpha)
        return pd.DataFrame({
            "arm": arm,
            "time": np.repeat(times, len(STATES)),
            "state": np.tile(STATES, times.size),
            "probability": p,
            "se": s,
            "lower": lo,
            "upper": hi,
        })

    def at(self, times: Sequence[float]) -> pd.DataFrame:
        """State occupation at ``times`` in every arm (columns as :attr:`state_occupation_`)."""
        ts = np.asarray(times, dtype=float)
        return pd.concat([self._rows(a, ts) for a in self.curves_], ignore_index=True)[COLUMNS]

    def probability_at(self, arm: str, state: str, time: float) -> float:
        """Probability of being in ``state`` at ``time`` weeks in ``arm`` (``NaN`` after the
        arm's last follow-up)."""
        if arm not in self.curves_:
            raise AnalysisError(f"arm {arm!r} was not fitted; arms: {self.arms_}")
        if state not in STATES:
            raise AnalysisError(f"state must be one of {STATES}, not {state!r}")
        prob, _ = self._values(arm, np.asarray([float(time)]))
        return float(prob[0, STATES.index(state)])

    @property
    def summary(self) -> pd.DataFrame:
        """State occupation at the milestones only (columns as :attr:`state_occupation_`)."""
        return self.at(self.milestones)
