# Reference results for tests/test_weighted_km_r.py: weighted Kaplan-Meier as R's survfit.
# Usage: Rscript weighted_km_reference.R cohort.csv outdir
# cohort.csv: time, event, arm, w (non-integer weights), wi (integer weights).
# Writes km_<case>_<conf>.csv with arm, time, n_risk, n_event, surv, std_err, lower, upper
# and robust (whether R chose the robust variance), for the calls
#   nonint:  survfit(Surv(time, event) ~ arm, weights = w, conf.type = conf)   (R default)
#   integer: survfit(Surv(time, event) ~ arm, weights = wi, conf.type = conf)  (R default)
#   forced:  survfit(Surv(time, event) ~ arm, robust = TRUE, conf.type = conf) (no weights)
suppressPackageStartupMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
out <- args[2]
d$arm <- factor(d$arm, levels = c("rest_only", "stretching_only", "strength_graded_running"))
writeLines(as.character(packageVersion("survival")), file.path(out, "version.txt"))
rows <- function(fit) {
  arm <- rep(sub("arm=", "", names(fit$strata)), fit$strata)
  data.frame(arm = arm, time = fit$time, n_risk = fit$n.risk, n_event = fit$n.event,
             surv = fit$surv, std_err = fit$std.err, lower = fit$lower, upper = fit$upper,
             logse = fit$logse)
}
for (ct in c("log", "log-log", "plain")) {
  f <- survfit(Surv(time, event) ~ arm, data = d, weights = w, conf.type = ct)
  write.csv(rows(f), file.path(out, sprintf("km_nonint_%s.csv", ct)), row.names = FALSE)
  f <- survfit(Surv(time, event) ~ arm, data = d, weights = wi, conf.type = ct)
  write.csv(rows(f), file.path(out, sprintf("km_integer_%s.csv", ct)), row.names = FALSE)
  f <- survfit(Surv(time, event) ~ arm, data = d, robust = TRUE, conf.type = ct)
  write.csv(rows(f), file.path(out, sprintf("km_forced_%s.csv", ct)), row.names = FALSE)
}
