# Reference results from R's survival package for tests/test_cox_counting_r.py.
# Usage: Rscript cox_counting_reference.R weeks.csv outdir
# weeks.csv: one row per episode-week in counting-process form (start, stop] with columns
# episode_id, site, start, stop, event, run_change, strength, age_years, w (non-integer weights).
suppressPackageStartupMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
out <- args[2]
put <- function(x, name) write.csv(x, file.path(out, name), row.names = FALSE)
writeLines(as.character(packageVersion("survival")), file.path(out, "version.txt"))

cox_rows <- function(fit, tag) {
  robust <- if (is.null(fit$naive.var)) NA else sqrt(diag(fit$var))
  se <- if (is.null(fit$naive.var)) sqrt(diag(fit$var)) else sqrt(diag(fit$naive.var))
  data.frame(model = tag, term = names(coef(fit)), coef = unname(coef(fit)), se = se,
             robust_se = robust, loglik = fit$loglik[2], n = fit$n, nevent = fit$nevent)
}
f <- Surv(start, stop, event) ~ run_change + strength + age_years
fs <- Surv(start, stop, event) ~ run_change + strength + age_years + strata(site)
# full: Efron ties, strata, non-integer case weights, clustered by episode
m_full <- coxph(fs, data = d, cluster = episode_id, weights = w, ties = "efron")
# strata and cluster, no weights
m_sc <- coxph(fs, data = d, cluster = episode_id, ties = "efron")
# weights and cluster, no strata
m_wc <- coxph(f, data = d, cluster = episode_id, weights = w, ties = "efron")
# plain counting-process fit
m_plain <- coxph(f, data = d, ties = "efron")
put(rbind(cox_rows(m_full, "full"), cox_rows(m_sc, "strata_cluster"),
          cox_rows(m_wc, "weights_cluster"), cox_rows(m_plain, "plain")), "cox.csv")
put(as.data.frame(residuals(m_full, type = "score")), "score_full.csv")
# proportional-hazards score tests, transform = "km" (the default), per term and GLOBAL
zph_rows <- function(fit, tag) {
  z <- cox.zph(fit)$table
  data.frame(model = tag, term = rownames(z), chisq = z[, "chisq"], df = z[, "df"],
             p = z[, "p"])
}
put(rbind(zph_rows(m_full, "full"), zph_rows(m_sc, "strata_cluster"),
          zph_rows(m_wc, "weights_cluster"), zph_rows(m_plain, "plain")), "zph.csv")
