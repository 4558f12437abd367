# A simulated cohort with known truth (the default data source): the Weibull model, or the
# load-capacity model (simulate.model), which also writes a training log and its policy truth.


rule simulate:
    input:
        params=simulate_params_input(),
    output:
        episodes=f"{OUT}/simulate/episodes.csv",
        visits=f"{OUT}/simulate/visits.csv",
        truth=f"{OUT}/simulate/truth.json",
        # the load-capacity model's training log and policy truth
        sessions=f"{OUT}/simulate/sessions.csv" if is_load_capacity() else [],
        policy_truth=policy_truth_input(),
    log:
        f"{LOGS}/simulate.log",
    benchmark:
        f"{BENCH}/simulate.tsv"
    conda:
        "../envs/rehab-outcomes.yaml"
    threads: 1
    params:
        cli=CLI,
        outdir=lambda wildcards, output: Path(output.truth).parent,
        options=lambda wildcards: simulate_args(),
    shell:
        "{params.cli:q} simulate {params.options:q} --out {params.outdir:q} > {log:q} 2>&1 "
        "|| {{ tail -n 20 {log:q} >&2; exit 1; }}"
