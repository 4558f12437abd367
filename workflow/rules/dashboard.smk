# The clinic outcome dashboard: a folder of self-contained HTML pages (index.html, one page per
# site, data/*.csv), small numbers suppressed and audited; the bottom line read from the analysis.


rule dashboard:
    input:
        episodes=f"{OUT}/validate/episodes.valid.parquet",
        validation=f"{OUT}/validate/validation.json",
        summary=f"{OUT}/analyse/summary.json",
        claims=f"{OUT}/analyse/claims.csv",
        km_summary=f"{OUT}/analyse/km_summary.csv",
        rmst=f"{OUT}/analyse/rmst.csv",
        # every table of the analysis folder that the dashboard may read
        tables=rules.analyse.output.tables,
        run_config=RUN_CONFIG,
    output:
        index=report(
            f"{OUT}/dashboard/index.html",
            caption="../report/dashboard.rst",
            category="Dashboard",
        ),
        data=directory(f"{OUT}/dashboard/data"),
    log:
        f"{LOGS}/dashboard.log",
    benchmark:
        f"{BENCH}/dashboard.tsv"
    conda:
        "../envs/rehab-outcomes.yaml"
    threads: 1
    params:
        cli=CLI,
        analysis=lambda wildcards, input: Path(input.summary).parent,
        threshold=str(SETTINGS.dashboard.threshold),
    shell:
        "{params.cli:q} dashboard {input.episodes:q} --validation {input.validation:q} "
        "--analysis {params.analysis:q} --run-config {input.run_config:q} "
        "--threshold {params.threshold:q} --out {output.index:q} "
        "> {log:q} 2>&1 "
        "|| {{ tail -n 20 {log:q} >&2; exit 1; }}"
