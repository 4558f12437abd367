# Figures (PNG and SVG) drawn from the analysis tables.


rule figures:
    input:
        summary="results/analyse/summary.json",
        tables=rules.analyse.output.tables,
        reported=rules.analyse.output.reported,
    output:
        png=report(
            expand("results/figures/{stem}.png", stem=figure_stems()),
            caption="../report/figures.rst",
            category="Figures",
        ),
        svg=expand("results/figures/{stem}.svg", stem=figure_stems()),
    log:
        "results/logs/figures.log",
    conda:
        "../envs/rehab-outcomes.yaml"
    params:
        cli=CLI,
        analysis=lambda wildcards, input: Path(input.summary).parent,
        outdir=lambda wildcards, output: Path(output.svg[0]).parent,
    shell:
        "{params.cli} figures {params.analysis} --out {params.outdir} > {log} 2>&1"
