"""rehab-outcomes: a study toolkit for rehabilitation outcomes in runner's knee.

The package is split by domain:

- :mod:`rehab_outcomes.contract` – the data contract for anonymised clinic records and its validation,
- :mod:`rehab_outcomes.simulation` – simulated cohorts with known truth,
- :mod:`rehab_outcomes.survival` – survival analysis of time to pain-free running and re-injury,
- :mod:`rehab_outcomes.reporting` – tables, figures and the clinic dashboard,
- :mod:`rehab_outcomes.cli` – the ``rehab-outcomes`` command line.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rehab-outcomes")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
