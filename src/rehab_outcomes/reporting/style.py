"""Colours, line styles and labels of the arms: one definition for the dashboard, the analysis
figures and the power plot.

Colours are Okabe–Ito (safe for the common colour-vision deficiencies), each arm also has its
own line style, so no figure relies on colour alone. Rest only is vermillion ``#D55E00``: the
Okabe–Ito orange ``#E69F00`` has too little contrast on white (about 2:1) for a line or a
marker. Colours of the site comparison (funnel plot) are deliberately none of the arms'.

>>> arm_label("strength_graded_running"), ARM_COLOURS["rest_only"]
('Strength + graded running', '#D55E00')
>>> arm_label("walk_run")
'Walk run'
"""

from __future__ import annotations

from typing import Final

from rehab_outcomes.contract.schema import ARMS, REFERENCE_ARM

__all__ = [
    "ALL_COLOUR",
    "ARMS",
    "ARM_COLOURS",
    "ARM_DASHES",
    "ARM_LABELS",
    "ARM_LINESTYLES",
    "ARM_MARKERS",
    "ARM_SHORT_LABELS",
    "COMPARISON_COLOURS",
    "EXTRA_COLOURS",
    "FUNNEL",
    "REFERENCE_ARM",
    "arm_label",
    "comparison_colour",
]

ARM_LABELS: Final = {
    "rest_only": "Rest only",
    "stretching_only": "Stretching only",
    "strength_graded_running": "Strength + graded running",
}
#: Labels where space is short (phone-width tables).
ARM_SHORT_LABELS: Final = {
    "rest_only": "Rest",
    "stretching_only": "Stretching",
    "strength_graded_running": "Strength + running",
}
#: Okabe–Ito colours, each at least 3:1 against white.
ARM_COLOURS: Final = {
    "rest_only": "#D55E00",
    "stretching_only": "#0072B2",
    "strength_graded_running": "#009E73",
}
#: Further Okabe–Ito colours for arms outside the contract, in order.
EXTRA_COLOURS: Final = ("#CC79A7", "#E69F00", "#56B4E9", "#000000")
#: Matplotlib line styles of the arms.
ARM_LINESTYLES: Final = {"rest_only": "--", "stretching_only": "-.", "strength_graded_running": "-"}
#: SVG ``stroke-dasharray`` of the arms (solid for strength + graded running).
ARM_DASHES: Final = {"rest_only": "9 4", "stretching_only": "3 3", "strength_graded_running": ""}
#: Marker shapes of the arms in SVG charts.
ARM_MARKERS: Final = {"rest_only": "square", "stretching_only": "triangle",
                      "strength_graded_running": "circle"}
#: Colour of "all treatments together".
ALL_COLOUR: Final = "#3b3b3b"

#: Colours of the site comparison: none of them an arm's colour.
FUNNEL: Final = {
    "within": "#4d5761",
    "above": "#332288",
    "below": "#882255",
    "target": "#1f2328",
    "limit95": "#6e7781",
    "limit998": "#1f2328",
}

#: Colours of the comparisons of the power plot: each arm's colour, black for the overall test.
COMPARISON_COLOURS: Final = {
    "overall": "#000000",
    **{f"{arm} vs {REFERENCE_ARM}": ARM_COLOURS[arm] for arm in ARMS if arm != REFERENCE_ARM},
    "any": "#CC79A7",
}


def arm_label(arm: str) -> str:
    """Readable label of an arm (``"strength_graded_running"`` → ``"Strength + graded running"``)."""
    return ARM_LABELS.get(arm, str(arm).replace("_", " ").capitalize())


def comparison_colour(label: str) -> str:
    """Colour of a comparison of the power plot (grey for one not listed)."""
    return COMPARISON_COLOURS.get(label, "#4d5761")
