"""The data contract for anonymised clinic records, its validation and derived outcomes."""

from rehab_outcomes.contract.io import read_table
from rehab_outcomes.contract.outcomes import derive_outcomes
from rehab_outcomes.contract.schema import (
    ARMS,
    CATEGORIES,
    CONTRACT_VERSION,
    DIAGNOSES,
    EXIT_REASONS,
    REFERENCE_ARM,
    SEXES,
    Episodes,
    Visits,
)
from rehab_outcomes.contract.validate import run_validation, validate_episodes, validate_visits

__all__ = [
    "ARMS", "CATEGORIES", "CONTRACT_VERSION", "DIAGNOSES", "EXIT_REASONS", "REFERENCE_ARM",
    "SEXES", "Episodes", "Visits", "derive_outcomes", "read_table", "run_validation",
    "validate_episodes", "validate_visits",
]
