"""Reporting: figures, tables and the clinic dashboard.

- :mod:`rehab_outcomes.reporting.figures` – Kaplan–Meier, forest, cumulative incidence, Love and
  pain trajectory plots, written deterministically as PNG and SVG,
- :mod:`rehab_outcomes.reporting.suppression` – small-number suppression for published tables.
"""
