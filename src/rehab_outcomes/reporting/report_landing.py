"""The landing page of the Snakemake report: the bottom line and the claims table, in
reStructuredText, taken from the analysis outputs (never recomputed; the same sentences as the
dashboard's bottom line)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

INTRO = (
    "rehab-outcomes: validation of anonymised episode records (or a simulated cohort with known "
    "truth), survival analysis of time to pain-free running and of re-injury after return to "
    "running, figures and the clinic outcome dashboard. The tables, figures and the dashboard "
    "are listed by category in the menu; every number below comes from them."
)


def _rst_text(text: object) -> str:
    """Plain text safe in reStructuredText (no markup characters acted upon)."""
    s = " ".join(str(text).split())
    for ch in ("\\", "*", "`", "|", "_"):
        s = s.replace(ch, "\\" + ch)
    return s


def _interval(est: object, lo: object, hi: object) -> str:
    try:
        e, lo_, hi_ = float(est), float(lo), float(hi)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "—"
    if any(v != v for v in (e, lo_, hi_)):
        return "—"
    return f"{e:.2f} ({lo_:.2f} to {hi_:.2f})".replace("-", "−")


def _p(value: object) -> str:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "—"
    if v != v:
        return "—"
    return "< 0.001" if v < 0.001 else f"{v:.3f}"


def landing_rst(analysis_dir: str | Path) -> str:
    """The landing page for the analysis folder ``analysis_dir``."""
    from rehab_outcomes.contract import ARMS
    from rehab_outcomes.reporting.bottom_line import AnalysisOutputs, bottom_line, verdict_words

    analysis = AnalysisOutputs.read(analysis_dir)
    answers = bottom_line(analysis, {a: True for a in ARMS}, analysis.tau)
    out = [INTRO, "", "**The bottom line**", ""]
    for a in answers:
        out += [f"*{_rst_text(a['question'])}*", "", f"**{_rst_text(a['answer'])}**"]
        if a.get("detail"):
            out += ["", _rst_text(a["detail"])]
        for v in a.get("verdicts", []) or []:
            words = v.get("words") or verdict_words(v.get("verdict", ""))
            claim = v.get("claim") or ""
            p_adj = f" (Holm-adjusted p {v['p_adjusted']})" if v.get("p_adjusted") else ""
            out += ["", f"- {_rst_text(words)}: claim {_rst_text(v.get('claim_id', ''))}, "
                        f"\"{_rst_text(claim)}\"{p_adj}"]
        if a.get("estimand"):
            out += ["", f"What this estimates: {_rst_text(a['estimand'])}"]
        out.append("")
    c = analysis.claims
    has_p = "p_adjusted" in c.columns
    out += ["**The clinics' claims**", "",
            "Verdicts follow the rules of docs/claims.md; p-values are Holm-adjusted over the "
            "family of claim tests.", "",
            ".. list-table::", "   :header-rows: 1", "",
            "   * - Claim", "     - Quantity", "     - Estimate (interval)",
            "     - Adjusted p", "     - Verdict"]
    for _, r in c.iterrows():
        out += [f"   * - {_rst_text(r.get('claim_id', ''))}. {_rst_text(r.get('claim', ''))}",
                f"     - {_rst_text(r.get('quantity', ''))}",
                f"     - {_interval(r.get('estimate'), r.get('lower'), r.get('upper'))}",
                f"     - {_p(r.get('p_adjusted')) if has_p else '—'}",
                f"     - {_rst_text(verdict_words(r.get('verdict', '')))}"]
    return "\n".join(out) + "\n"


def report_landing(
    analysis_dir: Annotated[Path, typer.Argument(help="Folder written by `rehab-outcomes analyse`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="reStructuredText file to write.")],
) -> None:
    """Write the Snakemake report's landing page: the bottom line and the claims table."""
    from rehab_outcomes.outputs import AtomicOutputs, guard_inputs

    guard_inputs([analysis_dir], out.parent, managed=[out.name], out_file=out)
    text = landing_rst(analysis_dir)
    with AtomicOutputs(out.parent, managed=[]) as tmp:
        (tmp / out.name).write_text(text, encoding="utf-8")
    typer.echo(f"report landing page -> {out}")
