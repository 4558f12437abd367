"""The data contract for anonymised clinic records, its validation and derived outcomes."""

from __future__ import annotations

from rehab_outcomes._lazy import lazy_exports

# Names are imported on first use, so that importing one submodule (or the CLI) stays fast.
_LAZY = {
    "read_table": "rehab_outcomes.contract.io",
    "derive_outcomes": "rehab_outcomes.contract.outcomes",
    "ARMS": "rehab_outcomes.contract.schema",
    "CATEGORIES": "rehab_outcomes.contract.schema",
    "CONTRACT_VERSION": "rehab_outcomes.contract.schema",
    "DIAGNOSES": "rehab_outcomes.contract.schema",
    "EXIT_REASONS": "rehab_outcomes.contract.schema",
    "REFERENCE_ARM": "rehab_outcomes.contract.schema",
    "SEXES": "rehab_outcomes.contract.schema",
    "Episodes": "rehab_outcomes.contract.schema",
    "Visits": "rehab_outcomes.contract.schema",
    "run_validation": "rehab_outcomes.contract.validate",
    "validate_episodes": "rehab_outcomes.contract.validate",
    "validate_visits": "rehab_outcomes.contract.validate",
}

__all__ = [
    "ARMS", "CATEGORIES", "CONTRACT_VERSION", "DIAGNOSES", "EXIT_REASONS", "REFERENCE_ARM",
    "SEXES", "Episodes", "Visits", "derive_outcomes", "read_table", "run_validation",
    "validate_episodes", "validate_visits",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
