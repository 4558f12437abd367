# Validation of the episodes (and visits) against the data contract.


rule validate:
    input:
        episodes=episodes_input(),
        visits=visits_input(),
    output:
        validate_outputs(),
    log:
        "results/logs/validate.log",
    conda:
        "../envs/rehab-outcomes.yaml"
    params:
        cli=CLI,
        outdir=lambda wildcards, output: Path(output[0]).parent,
        options=validate_options(),
    shell:
        "{params.cli} validate {input.episodes} --out {params.outdir} {params.options} > {log} 2>&1"
