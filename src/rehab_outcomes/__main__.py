"""``python -m rehab_outcomes`` runs the command line."""

from rehab_outcomes.cli import main

main()
