"""Errors and warnings of the toolkit, in one place.

Every error the command line reports on one line derives from :class:`RehabOutcomesError`; its
``exit_code`` is the process exit status. Statistical concerns are warnings
(:class:`StatisticalWarning`), not log lines, so callers can filter or escalate them.
"""

from __future__ import annotations


class RehabOutcomesError(Exception):
    """Base class of the toolkit's errors (exit status 1)."""

    exit_code: int = 1


class InputRefusedError(RehabOutcomesError):
    """A whole input file was refused: unreadable, empty, wrong columns, or identifying data.

    Nothing is written when this is raised (exit status 2).
    """

    exit_code = 2


class ConfigError(RehabOutcomesError):
    """A configuration or mapping file is invalid (exit status 1)."""


class StrictValidationError(RehabOutcomesError):
    """``--strict`` was given and at least one row was quarantined (exit status 1)."""


class QuarantineLimitError(RehabOutcomesError):
    """No episode is valid, or more than the allowed share was quarantined (exit status 1).

    Raised after the outputs are written, so the quarantine file can be read.
    """


class AnalysisError(RehabOutcomesError):
    """An analysis cannot be carried out on the data given (exit status 1)."""


class StatisticalWarning(UserWarning):
    """A result is computed but deserves caution (few events, non-proportional hazards, ...)."""
