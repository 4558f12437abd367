# The clinic outcome dashboard: one self-contained HTML page with small numbers suppressed.


rule dashboard:
    input:
        episodes=f"{OUT}/validate/episodes.valid.parquet",
        validation=f"{OUT}/validate/validation.json",
        run_config=RUN_CONFIG,
    output:
        report(
            f"{OUT}/dashboard/index.html",
            caption="../report/dashboard.rst",
            category="Dashboard",
        ),
    log:
        f"{LOGS}/dashboard.log",
    benchmark:
        f"{BENCH}/dashboard.tsv"
    conda:
        "../envs/rehab-outcomes.yaml"
    threads: 1
    params:
        cli=CLI,
        threshold=str(SETTINGS.dashboard.threshold),
    shell:
        "{params.cli:q} dashboard {input.episodes:q} --validation {input.validation:q} "
        "--run-config {input.run_config:q} --threshold {params.threshold:q} --out {output:q} "
        "> {log:q} 2>&1 "
        "|| {{ tail -n 20 {log:q} >&2; exit 1; }}"
