# A simulated cohort with known truth (the default data source).


rule simulate:
    output:
        episodes="results/simulate/episodes.csv",
        visits="results/simulate/visits.csv",
        truth="results/simulate/truth.json",
    log:
        "results/logs/simulate.log",
    conda:
        "../envs/rehab-outcomes.yaml"
    params:
        cli=CLI,
        outdir=lambda wildcards, output: Path(output.truth).parent,
        options=simulate_options(),
    shell:
        "{params.cli} simulate {params.options} --out {params.outdir} > {log} 2>&1"
