# rehab-outcomes workflow: set-up only; rules live in workflow/rules/, logic in the package.
# Settings: config/config.yaml (generated defaults) overlaid with --configfile FILE (e.g. `make run
# CONFIG=my.yaml`); every output goes under the config's outdir.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"


# The report's landing page: the bottom line and the claims table, written by the rule
# report_landing from the analysis outputs (workflow/report/workflow.rst before a run).
report: REPORT_LANDING if Path(REPORT_LANDING).is_file() else "workflow/report/workflow.rst"


include: "workflow/rules/run_config.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/validate.smk"
include: "workflow/rules/analyse.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/dashboard.smk"
include: "workflow/rules/power.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
