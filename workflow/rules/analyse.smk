# Survival analysis of the validated cohort (with the time-varying tables when a training log
# was validated).


rule analyse:
    input:
        episodes=f"{OUT}/validate/episodes.valid.parquet",
        validation=f"{OUT}/validate/validation.json",
        visits=f"{OUT}/validate/visits.valid.parquet" if has_visits() else [],
        sessions=sessions_valid(),
        policy_truth=policy_truth_input(),
        run_config=RUN_CONFIG,
    output:
        summary=report(
            f"{OUT}/analyse/summary.json",
            caption="../report/summary.rst",
            category="Analysis",
        ),
        claims=report(
            f"{OUT}/analyse/claims.csv",
            caption="../report/claims.rst",
            category="Analysis",
        ),
        reported=[
            report(
                f"{OUT}/analyse/{table}.csv",
                caption=f"../report/{table}.rst",
                category="Tables",
            )
            for table in REPORTED_TABLES
        ],
        tables=[
            f"{OUT}/analyse/{table}.csv"
            for table in analyse_tables()
            if table not in ["claims", *REPORTED_TABLES]
        ],
        parquet=analyse_parquet(),
    log:
        f"{LOGS}/analyse.log",
    benchmark:
        f"{BENCH}/analyse.tsv"
    conda:
        "../envs/rehab-outcomes.yaml"
    threads: 1
    params:
        cli=CLI,
        outdir=lambda wildcards, output: Path(output.summary).parent,
        options=lambda wildcards: analyse_args(),
    shell:
        "{params.cli:q} analyse {input.episodes:q} --validation {input.validation:q} "
        "{params.options:q} --run-config {input.run_config:q} --out {params.outdir:q} "
        "> {log:q} 2>&1 "
        "|| {{ tail -n 20 {log:q} >&2; exit 1; }}"
