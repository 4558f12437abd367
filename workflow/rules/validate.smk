# Validation of the episodes (and visits) against the data contract. When validate refuses the
# input or fails (--strict, --max-quarantined-share), the end of its log is shown in Snakemake's
# output.


rule validate:
    input:
        episodes=episodes_input(),
        visits=visits_input(),
        mapping=mapping_input(),
        run_config=RUN_CONFIG,
    output:
        validate_outputs(),
    log:
        f"{LOGS}/validate.log",
    benchmark:
        f"{BENCH}/validate.tsv"
    conda:
        "../envs/rehab-outcomes.yaml"
    threads: 1
    params:
        cli=CLI,
        outdir=lambda wildcards, output: Path(output[0]).parent,
        options=lambda wildcards: validate_args(),
    shell:
        "{params.cli:q} validate {input.episodes:q} --out {params.outdir:q} {params.options:q} "
        "--run-config {input.run_config:q} > {log:q} 2>&1 "
        "|| {{ tail -n 20 {log:q} >&2; exit 1; }}"
