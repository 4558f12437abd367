# Two commands: `make run` (pipeline on a simulated cohort) and `make test` (every test).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= all

.PHONY: run test test-fast lint bench lab example-data docs clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

.venv: $(STAMP)

run: .venv
	$(BIN)/snakemake --cores $(CORES)
	@$(MAKE) --no-print-directory results/report.html

# The Snakemake report (figures and tables with captions), rebuilt only when an output changed.
results/report.html: $(wildcard results/analyse/*.csv results/figures/*.png results/dashboard/index.html)
	$(BIN)/snakemake --report $@

test: .venv
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -m "slow or not slow"

test-fast: .venv
	$(BIN)/python -m pytest

lint: .venv
	$(BIN)/ruff check .
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint

bench: .venv
	$(BIN)/python benchmarks/run_all.py --out results/bench

lab: .venv
	$(BIN)/jupyter lab notebooks/

example-data: .venv
	$(BIN)/python scripts/make_example_data.py

docs: .venv
	$(BIN)/rehab-outcomes contract --markdown > docs/data-contract.md

clean:
	rm -rf results/* .snakemake
	touch results/.gitkeep
