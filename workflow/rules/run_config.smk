# Provenance: the merged config that runs (every key, defaults filled in), written through the
# CLI; validate, analyse and dashboard take it as an input and record it (--run-config).


rule run_config:
    output:
        RUN_CONFIG,
    log:
        f"{LOGS}/run_config.log",
    localrule: True
    conda:
        "../envs/rehab-outcomes.yaml"
    params:
        cli=CLI,
        config=lambda wildcards: run_config_json(),
    shell:
        "{params.cli:q} config snapshot --json {params.config:q} --out {output:q} > {log:q} 2>&1 "
        "|| {{ tail -n 20 {log:q} >&2; exit 1; }}"
