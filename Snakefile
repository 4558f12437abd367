# rehab-outcomes workflow: set-up only; rules live in workflow/rules/, logic in the package.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/validate.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
