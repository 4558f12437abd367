# Validation of the episodes (and visits and training log, when given) against the data contract.
# When validate refuses the input or fails (--strict, --max-quarantined-share), the end of its log
# is shown in Snakemake's output, and the quarantine file is kept in the logs folder (Snakemake
# removes the outputs of a failed job).


rule validate:
    input:
        episodes=episodes_input(),
        visits=visits_input(),
        sessions=sessions_input(),
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
        quarantine=lambda wildcards, output: Path(output[0]).parent / "quarantine.csv",
        kept=f"{LOGS}/validate.quarantine.csv",
    shell:
        "{params.cli:q} validate {input.episodes:q} --out {params.outdir:q} {params.options:q} "
        "--run-config {input.run_config:q} > {log:q} 2>&1 "
        "|| {{ cp {params.quarantine:q} {params.kept:q} 2>/dev/null; "
        "tail -n 20 {log:q} >&2; exit 1; }}"
