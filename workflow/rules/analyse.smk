# Survival analysis of the validated cohort.


rule analyse:
    input:
        episodes="results/validate/episodes.valid.parquet",
        validation="results/validate/validation.json",
        visits="results/validate/visits.valid.parquet" if has_visits() else [],
    output:
        summary=report(
            "results/analyse/summary.json",
            caption="../report/summary.rst",
            category="Analysis",
        ),
        claims=report(
            "results/analyse/claims.csv",
            caption="../report/claims.rst",
            category="Analysis",
        ),
        reported=[
            report(
                f"results/analyse/{table}.csv",
                caption=f"../report/{table}.rst",
                category="Tables",
            )
            for table in REPORTED_TABLES
        ],
        tables=expand(
            "results/analyse/{table}.csv",
            table=[
                t for t in analyse_tables() if t not in ["claims", *REPORTED_TABLES]
            ],
        ),
    log:
        "results/logs/analyse.log",
    conda:
        "../envs/rehab-outcomes.yaml"
    params:
        cli=CLI,
        outdir=lambda wildcards, output: Path(output.summary).parent,
        options=analyse_options(),
    shell:
        "{params.cli} analyse {input.episodes} --validation {input.validation} "
        "{params.options} --out {params.outdir} > {log} 2>&1"
