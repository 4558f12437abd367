# Reference results for tests/test_trajectories_r.py: the pain trajectory mixed model in lme4.
# Usage: Rscript trajectories_reference.R visits.csv grid.csv outdir df first
# visits.csv: episode_id, arm, week, pain_nrs; grid.csv: week (prediction weeks).
# Model (first = 1): lmer(pain_nrs ~ (first + ns(week, df = df)) * arm
#                         + (1 + week10 | episode_id), REML = TRUE)
# with first = (week == 0); first = 0 drops the first-visit term. week10 = week / 10, arm
# reference rest_only. Writes
#   fixef.csv   term, estimate, se                (fixef(m), sqrt(diag(vcov(m))))
#   varcorr.csv component, estimate               (VarCorr in week10 units, residual variance)
#   pred.csv    arm, week, fit, se                (X %*% fixef, sqrt(diag(X vcov X')), re.form=NA)
#   knots.csv   knot                              (interior then boundary knots of ns)
#   basis.csv   x, b1..bdf                        (predict(ns(week, df), x), x also outside)
#   fit.csv     reml_criterion, converged_message_count
suppressPackageStartupMessages({library(lme4); library(splines)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
grid <- read.csv(args[2])$week
out <- args[3]
k <- as.integer(args[4])
with_first <- as.integer(args[5]) == 1
arms <- c("rest_only", "stretching_only", "strength_graded_running")
d$arm <- factor(d$arm, levels = arms[arms %in% d$arm])
d$week10 <- d$week / 10
d$first <- as.numeric(d$week == 0)
time_terms <- if (with_first) sprintf("(first + ns(week, df = %d))", k) else
  sprintf("ns(week, df = %d)", k)
f <- as.formula(sprintf("pain_nrs ~ %s * arm + (1 + week10 | episode_id)", time_terms))
m <- lmer(f, data = d, REML = TRUE)
write.csv(data.frame(term = names(fixef(m)), estimate = unname(fixef(m)),
                     se = unname(sqrt(diag(as.matrix(vcov(m)))))),
          file.path(out, "fixef.csv"), row.names = FALSE)
G <- VarCorr(m)$episode_id
write.csv(data.frame(component = c("intercept_var", "intercept_week10_cov", "week10_var",
                                   "residual_var"),
                     estimate = c(G[1, 1], G[1, 2], G[2, 2], sigma(m)^2)),
          file.path(out, "varcorr.csv"), row.names = FALSE)
tt <- delete.response(terms(m))
nd <- expand.grid(week = grid, arm = levels(d$arm))
nd$first <- as.numeric(nd$week == 0)
X <- model.matrix(tt, nd)
V <- as.matrix(vcov(m))
write.csv(data.frame(arm = as.character(nd$arm), week = nd$week, fit = drop(X %*% fixef(m)),
                     se = sqrt(rowSums((X %*% V) * X))),
          file.path(out, "pred.csv"), row.names = FALSE)
b <- ns(d$week, df = k)
write.csv(data.frame(knot = c(attr(b, "knots"), attr(b, "Boundary.knots"))),
          file.path(out, "knots.csv"), row.names = FALSE)
x <- sort(c(-1.5, grid + 0.37, max(d$week), max(d$week) + 4))
write.csv(data.frame(x = x, unclass(predict(b, x))), file.path(out, "basis.csv"),
          row.names = FALSE)
write.csv(data.frame(reml_criterion = unname(REMLcrit(m)),
                     messages = length(m@optinfo$conv$lme4$messages)),
          file.path(out, "fit.csv"), row.names = FALSE)
