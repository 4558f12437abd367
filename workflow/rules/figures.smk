# Figures (PNG and SVG) drawn from the analysis tables.


rule figures:
    input:
        summary=f"{OUT}/analyse/summary.json",
        tables=rules.analyse.output.tables,
        reported=rules.analyse.output.reported,
    output:
        png=report(
            [f"{OUT}/figures/{stem}.png" for stem in figure_stems()],
            caption="../report/figures.rst",
            category="Figures",
        ),
        svg=[f"{OUT}/figures/{stem}.svg" for stem in figure_stems()],
    log:
        f"{LOGS}/figures.log",
    conda:
        "../envs/rehab-outcomes.yaml"
    params:
        cli=CLI,
        analysis=lambda wildcards, input: Path(input.summary).parent,
        outdir=lambda wildcards, output: Path(output.svg[0]).parent,
    shell:
        "{params.cli:q} figures {params.analysis:q} --out {params.outdir:q} > {log:q} 2>&1 "
        "|| {{ tail -n 20 {log:q} >&2; exit 1; }}"
