# Study planning by simulation: power over a grid of sample sizes, scattered by scenario and
# chunk (one job each, e.g. one SLURM job each), then gathered per scenario and for all scenarios.
# Not part of `rule all`: run it with `snakemake power` (see docs/cluster.md).

import re

POWER = config.get("power", {})
POWER_SCENARIOS = list(POWER.get("scenarios", ["default"]))
POWER_CHUNKS = [str(i) for i in range(1, int(POWER.get("chunks", 4)) + 1)]
# Scenario names are exactly those of the config; chunks are numbered 1..chunks.
POWER_SCENARIO_RE = "|".join(map(re.escape, POWER_SCENARIOS))


# Options shared by every chunk: the grid, its seed and the number of chunks.
POWER_OPTIONS = (
    f"--n-per-arm {','.join(str(int(v)) for v in POWER.get('n_per_arm', [50, 100, 200]))} "
    f"--design {POWER.get('design', 'randomised')} --trials {int(POWER.get('trials', 1000))} "
    f"--alpha {POWER.get('alpha', 0.05)} --seed {int(POWER.get('seed', 1))} "
    f"--test {POWER.get('test', 'cox')} --n-chunks {len(POWER_CHUNKS)}"
)
POWER_CHUNK_CSV = "results/power/chunks/{scenario}/{chunk}/power.csv"


rule power_chunk:
    output:
        POWER_CHUNK_CSV,
    log:
        "results/logs/power/chunks/{scenario}/{chunk}.log",
    wildcard_constraints:
        scenario=POWER_SCENARIO_RE,
        chunk="|".join(POWER_CHUNKS),
    conda:
        "../envs/rehab-outcomes.yaml"
    params:
        cli=CLI,
        outdir=lambda wildcards, output: Path(output[0]).parent,
        options=POWER_OPTIONS,
    shell:
        "{params.cli} power --scenario {wildcards.scenario} --chunk {wildcards.chunk} "
        "{params.options} --out {params.outdir} > {log} 2>&1"


rule power_gather_scenario:
    input:
        lambda wildcards: expand(
            POWER_CHUNK_CSV, scenario=wildcards.scenario, chunk=POWER_CHUNKS
        ),
    output:
        "results/power/{scenario}/power.csv",
    log:
        "results/logs/power/{scenario}.log",
    wildcard_constraints:
        scenario=POWER_SCENARIO_RE,
    conda:
        "../envs/rehab-outcomes.yaml"
    params:
        cli=CLI,
        outdir=lambda wildcards, output: Path(output[0]).parent,
        dirs=lambda wildcards, input: " ".join(str(Path(p).parent) for p in input),
    shell:
        "{params.cli} power-gather {params.dirs} --out {params.outdir} > {log} 2>&1"


rule power_gather:
    input:
        expand(POWER_CHUNK_CSV, scenario=POWER_SCENARIOS, chunk=POWER_CHUNKS),
    output:
        "results/power/power.csv",
    log:
        "results/logs/power/power.log",
    conda:
        "../envs/rehab-outcomes.yaml"
    params:
        cli=CLI,
        outdir=lambda wildcards, output: Path(output[0]).parent,
        dirs=lambda wildcards, input: " ".join(str(Path(p).parent) for p in input),
    shell:
        "{params.cli} power-gather {params.dirs} --out {params.outdir} > {log} 2>&1"


# Target of the whole grid: the table of all scenarios and one table per scenario.
rule power:
    input:
        "results/power/power.csv",
        expand("results/power/{scenario}/power.csv", scenario=POWER_SCENARIOS),
    log:
        "results/logs/power/target.log",
    localrule: True
