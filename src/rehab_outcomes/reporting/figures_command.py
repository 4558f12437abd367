"""``rehab-outcomes figures``: the analysis figures (PNG and SVG) from the tables of ``analyse``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

log = logging.getLogger(__name__)

#: Figure stem -> (table it is drawn from, what it shows). Optional tables may be absent.
FIGURES = {
    "km_pain_free": ("km_pain_free", "Kaplan–Meier curves of time to pain-free running by arm"),
    "km_reinjury": ("km_reinjury", "Kaplan–Meier curves of time to re-injury after return, by arm"),
    "forest_pain_free": ("cox_pain_free", "Hazard ratios of pain-free running (Cox)"),
    "forest_reinjury": ("cox_reinjury", "Hazard ratios of re-injury (Cox)"),
    "cuminc_reinjury": ("cuminc_reinjury", "Cumulative incidence of re-injury after return, by arm"),
    "love": ("balance", "Covariate balance before and after inverse probability weighting"),
    "iptw_km_pain_free": ("iptw_km_pain_free", "Weighted Kaplan–Meier curves of pain-free running"),
    "trajectories": ("trajectories_predicted", "Pain (NRS 0–10) recorded at clinic visits over "
                     "the weeks of care, by arm: model mean beside the observed weekly means"),
}


def expected_figures(adjust: str = "none", visits: bool = False) -> list[str]:
    """Figure stems written for an analysis with these settings."""
    stems = ["km_pain_free", "km_reinjury", "forest_pain_free", "forest_reinjury", "cuminc_reinjury"]
    if adjust == "iptw":
        stems += ["love", "iptw_km_pain_free"]
    if visits:
        stems.append("trajectories")
    return stems


#: Every file ``figures`` may write: a run removes those of an earlier run it did not draw.
MANAGED_OUTPUTS: tuple[str, ...] = tuple(f"{stem}.{ext}" for stem in FIGURES for ext in ("png", "svg"))


def draw_figures(analysis_dir: Path, out: Path) -> list[Path]:
    """Draw every figure whose table exists (and is not empty) in ``analysis_dir`` into ``out``.

    Writes straight into ``out`` (created if needed); :func:`figures` calls it with a temporary
    folder of :class:`~rehab_outcomes.outputs.AtomicOutputs`.
    """
    import pandas as pd

    from rehab_outcomes.exceptions import AnalysisError
    from rehab_outcomes.reporting import figures as fg

    out.mkdir(parents=True, exist_ok=True)

    def table(name: str) -> pd.DataFrame | None:
        path = analysis_dir / f"{name}.csv"
        if not path.is_file():
            return None
        df = pd.read_csv(path)
        return df if len(df) else None

    drawers = {
        "km_pain_free": lambda d, s: fg.plot_km(d, "Not yet running pain-free", s),
        "km_reinjury": lambda d, s: fg.plot_km(d, "Free of re-injury", s, xlabel="Weeks since return"),
        "forest_pain_free": lambda d, s: fg.plot_forest(d, s, "Pain-free running: hazard ratios"),
        "forest_reinjury": lambda d, s: fg.plot_forest(d, s, "Re-injury: hazard ratios"),
        "cuminc_reinjury": lambda d, s: fg.plot_cumulative_incidence(
            d, s, outcome_label="Re-injured", xlabel="Weeks since return"),
        "love": lambda d, s: fg.plot_love(d, s),
        "iptw_km_pain_free": lambda d, s: fg.plot_km(d, "Not yet running pain-free (weighted)", s),
        "trajectories": lambda d, s: fg.plot_trajectories(d, s, observed=table("trajectories_observed")),
    }
    written: list[Path] = []
    for stem, (name, _what) in FIGURES.items():
        df = table(name)
        if df is None:
            continue
        try:
            written.extend(drawers[stem](df, out / stem))
        except AnalysisError as exc:
            log.warning("figure %s not drawn: %s", stem, exc)
    return written


def figures(
    analysis_dir: Annotated[Path, typer.Argument(help="Folder written by `rehab-outcomes analyse`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder for PNG and SVG files.")],
) -> None:
    """Draw the analysis figures: Kaplan–Meier curves with numbers at risk, forest plots of
    hazard ratios, cumulative incidence of re-injury, covariate balance (IPTW) and pain
    trajectories (with visits), each as PNG and SVG.

    All figures are moved into OUT together once drawn (a failed run changes nothing), and
    figures of an earlier run that this run does not draw are removed."""
    from rehab_outcomes.exceptions import InputRefusedError
    from rehab_outcomes.outputs import AtomicOutputs, guard_inputs

    if not (analysis_dir / "summary.json").is_file():
        raise InputRefusedError(f"{analysis_dir.name or analysis_dir} is not an analysis folder "
                                "(no summary.json)")
    guard_inputs([analysis_dir], out, MANAGED_OUTPUTS)
    with AtomicOutputs(out, managed=MANAGED_OUTPUTS) as tmp:
        written = draw_figures(analysis_dir, tmp)
    typer.echo(f"{len(written) // 2} figures -> {out}")
