# The landing page of the Snakemake report: the bottom line and the claims table, from the
# analysis outputs (the same sentences as the dashboard's bottom line, never recomputed).


rule report_landing:
    input:
        summary=f"{OUT}/analyse/summary.json",
        claims=f"{OUT}/analyse/claims.csv",
        km_summary=f"{OUT}/analyse/km_summary.csv",
        rmst=f"{OUT}/analyse/rmst.csv",
    output:
        REPORT_LANDING,
    log:
        f"{LOGS}/report_landing.log",
    localrule: True
    conda:
        "../envs/rehab-outcomes.yaml"
    params:
        cli=CLI,
        analysis=lambda wildcards, input: Path(input.summary).parent,
    shell:
        "{params.cli:q} report-landing {params.analysis:q} --out {output:q} > {log:q} 2>&1 "
        "|| {{ tail -n 20 {log:q} >&2; exit 1; }}"
