# Two commands: `make run` (pipeline on a simulated cohort) and `make test` (every test).
# `make run CONFIG=my.yaml` runs the workflow with the settings of my.yaml laid over the defaults.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= all
CONFIG ?= config/config.yaml

.PHONY: run report config test test-fast lint bench lab example-data docs clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

.venv: $(STAMP)

run: .venv
	$(BIN)/snakemake --cores $(CORES) --configfile "$(CONFIG)"
	@$(MAKE) --no-print-directory report CONFIG="$(CONFIG)"

# The Snakemake report (figures and tables with captions) at <outdir>/report.html, rebuilt only
# when an output of the run is newer than it.
report: .venv
	@out="$$($(BIN)/rehab-outcomes --quiet config get outdir --config "$(CONFIG)")" && \
	if [ -f "$$out/report.html" ] && [ -z "$$(find "$$out/config" "$$out/analyse" "$$out/report" \
	    "$$out/figures" "$$out/dashboard" -newer "$$out/report.html" -print -quit 2>/dev/null)" ]; \
	then echo "$$out/report.html is up to date"; \
	else $(BIN)/snakemake --configfile "$(CONFIG)" --report "$$out/report.html"; fi

# The config's JSON Schema and documented defaults, generated from src/rehab_outcomes/settings.py.
config: .venv
	$(BIN)/rehab-outcomes config schema --out workflow/schemas/config.schema.yaml
	$(BIN)/rehab-outcomes config defaults --out config/config.yaml

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
