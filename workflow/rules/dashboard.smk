# The clinic outcome dashboard: one self-contained HTML page with small numbers suppressed.


rule dashboard:
    input:
        episodes="results/validate/episodes.valid.parquet",
        validation="results/validate/validation.json",
    output:
        report(
            "results/dashboard/index.html",
            caption="../report/dashboard.rst",
            category="Dashboard",
        ),
    log:
        "results/logs/dashboard.log",
    conda:
        "../envs/rehab-outcomes.yaml"
    params:
        cli=CLI,
        threshold=config.get("dashboard", {}).get("threshold", 11),
        config_file=config_file(),
    shell:
        "{params.cli} dashboard {input.episodes} --validation {input.validation} "
        "--config {params.config_file} --threshold {params.threshold} --out {output} > {log} 2>&1"
