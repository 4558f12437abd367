# rehab-outcomes workflow: set-up only; rules live in workflow/rules/, logic in the package.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
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
