# rehab-outcomes workflow: set-up only; rules live in workflow/rules/, logic in the package.
# Settings: config/config.yaml (generated defaults) overlaid with --configfile FILE (e.g. `make run
# CONFIG=my.yaml`); every output goes under the config's outdir.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/run_config.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/validate.smk"
include: "workflow/rules/analyse.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/dashboard.smk"
include: "workflow/rules/power.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
