# Reference results for tests/test_multistate_r.py: Aalen-Johansen state occupation, R survfit.
# Usage: Rscript multistate_reference.R intervals.csv outdir milestones(comma separated)
# intervals.csv: id, arm, tstart, tstop, from_state, to_state ("censored" = no transition),
# weight. For each call below writes <case>.csv (every time R reports) and <case>_at.csv
# (summary(fit, times = milestones)), long format: arm, time, state, pstate, std_err, lower,
# upper.
#   default:   survfit(Surv(tstart, tstop, to) ~ arm, data = d, id = id, istate = from)
#   loglog:    the same with conf.type = "log-log"
#   plain:     the same with conf.type = "plain"
#   weighted:  the same with weights = weight
#   influence: the same with influence = TRUE (adds the variance of the initial distribution)
suppressPackageStartupMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
out <- args[2]
milestones <- as.numeric(strsplit(args[3], ",")[[1]])
states <- c("in_care", "running_pain_free", "reinjured")
arms <- c("rest_only", "stretching_only", "strength_graded_running")
d$arm <- factor(d$arm, levels = arms[arms %in% d$arm])
d$to <- factor(d$to_state, levels = c("censored", states[-1]))
d$from <- factor(d$from_state, levels = states)
writeLines(as.character(packageVersion("survival")), file.path(out, "version.txt"))

long <- function(arm, time, p, se, lo, hi, fit_states) {
  idx <- match(states, fit_states)
  do.call(rbind, lapply(seq_along(states), function(j) {
    data.frame(arm = arm, time = time, state = states[j], pstate = p[, idx[j]],
               std_err = se[, idx[j]], lower = lo[, idx[j]], upper = hi[, idx[j]])
  }))
}
write_fit <- function(fit, case) {
  stopifnot(all(states %in% fit$states))
  arm <- rep(sub("arm=", "", names(fit$strata)), fit$strata)
  write.csv(long(arm, fit$time, fit$pstate, fit$std.err, fit$lower, fit$upper, fit$states),
            file.path(out, paste0(case, ".csv")), row.names = FALSE)
  s <- summary(fit, times = milestones)
  write.csv(long(sub("arm=", "", as.character(s$strata)), s$time, s$pstate, s$std.err,
                 s$lower, s$upper, fit$states),
            file.path(out, paste0(case, "_at.csv")), row.names = FALSE)
}
f <- Surv(tstart, tstop, to) ~ arm
write_fit(survfit(f, data = d, id = id, istate = from), "default")
write_fit(survfit(f, data = d, id = id, istate = from, conf.type = "log-log"), "loglog")
write_fit(survfit(f, data = d, id = id, istate = from, conf.type = "plain"), "plain")
write_fit(survfit(f, data = d, id = id, istate = from, weights = weight), "weighted")
write_fit(survfit(f, data = d, id = id, istate = from, influence = TRUE), "influence")
