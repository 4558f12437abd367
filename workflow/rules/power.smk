# Study planning by simulation: power over a grid of sample sizes, scattered by scenario and
# chunk (one job each, e.g. one SLURM job each), then gathered per scenario and for all scenarios.
# Not part of `rule all`: run it with `snakemake power` (see docs/cluster.md).

import re

POWER = SETTINGS.power
# Scenario names are the config's (validated against the simulator's presets); chunks are
# numbered 1..chunks.
POWER_SCENARIOS = list(POWER.scenarios)
POWER_CHUNKS = [str(i) for i in range(1, POWER.chunks + 1)]
POWER_SCENARIO_RE = "|".join(map(re.escape, POWER_SCENARIOS))

# Options shared by every chunk: the grid, its seed and the number of chunks.
POWER_ARGS = [
    "--n-per-arm",
    ",".join(str(n) for n in POWER.n_per_arm),
    "--design",
    POWER.design,
    "--trials",
    str(POWER.trials),
    "--alpha",
    repr(POWER.alpha),
    "--seed",
    str(POWER.seed),
    "--test",
    POWER.test,
    "--n-chunks",
    str(len(POWER_CHUNKS)),
]
POWER_CHUNK_CSV = f"{OUT}/power/chunks/{{scenario}}/{{chunk}}/power.csv"


rule power_chunk:
    output:
        POWER_CHUNK_CSV,
    log:
        f"{LOGS}/power/chunks/{{scenario}}/{{chunk}}.log",
    benchmark:
        f"{BENCH}/power/chunks/{{scenario}}/{{chunk}}.tsv"
    wildcard_constraints:
        scenario=POWER_SCENARIO_RE,
        chunk="|".join(POWER_CHUNKS),
    conda:
        "../envs/rehab-outcomes.yaml"
    threads: 2
    params:
        cli=CLI,
        outdir=lambda wildcards, output: Path(output[0]).parent,
        options=POWER_ARGS,
    shell:
        "{params.cli:q} power --scenario {wildcards.scenario:q} --chunk {wildcards.chunk:q} "
        "{params.options:q} --out {params.outdir:q} > {log:q} 2>&1 "
        "|| {{ tail -n 20 {log:q} >&2; exit 1; }}"


rule power_gather_scenario:
    input:
        lambda wildcards: expand(
            POWER_CHUNK_CSV, scenario=wildcards.scenario, chunk=POWER_CHUNKS
        ),
    output:
        f"{OUT}/power/{{scenario}}/power.csv",
    log:
        f"{LOGS}/power/{{scenario}}.log",
    wildcard_constraints:
        scenario=POWER_SCENARIO_RE,
    conda:
        "../envs/rehab-outcomes.yaml"
    params:
        cli=CLI,
        outdir=lambda wildcards, output: Path(output[0]).parent,
        dirs=lambda wildcards, input: [str(Path(p).parent) for p in input],
    shell:
        "{params.cli:q} power-gather {params.dirs:q} --out {params.outdir:q} > {log:q} 2>&1 "
        "|| {{ tail -n 20 {log:q} >&2; exit 1; }}"


rule power_gather:
    input:
        expand(POWER_CHUNK_CSV, scenario=POWER_SCENARIOS, chunk=POWER_CHUNKS),
    output:
        f"{OUT}/power/power.csv",
    log:
        f"{LOGS}/power/power.log",
    conda:
        "../envs/rehab-outcomes.yaml"
    params:
        cli=CLI,
        outdir=lambda wildcards, output: Path(output[0]).parent,
        dirs=lambda wildcards, input: [str(Path(p).parent) for p in input],
    shell:
        "{params.cli:q} power-gather {params.dirs:q} --out {params.outdir:q} > {log:q} 2>&1 "
        "|| {{ tail -n 20 {log:q} >&2; exit 1; }}"


# Target of the whole grid: the table of all scenarios and one table per scenario.
rule power:
    input:
        f"{OUT}/power/power.csv",
        expand(f"{OUT}/power/{{scenario}}/power.csv", scenario=POWER_SCENARIOS),
    log:
        f"{LOGS}/power/target.log",
    localrule: True
