# Reference results from R's survival package for tests/test_survival_r.py.
# Usage: Rscript survival_reference.R cohort.csv outdir
# The cohort CSV has pain_free_weeks, pain_free_event, reinjury_weeks, reinjury_event, arm, sex,
# site, age_years, bmi, symptom_weeks, weekly_km_before_injury, w (non-integer case weights).
suppressPackageStartupMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
out <- args[2]
d$arm <- factor(d$arm, levels = c("rest_only", "stretching_only", "strength_graded_running"))
d$sex <- factor(d$sex, levels = c("female", "male", "other"))
put <- function(x, name) write.csv(x, file.path(out, name), row.names = FALSE)
writeLines(as.character(packageVersion("survival")), file.path(out, "version.txt"))

# Kaplan-Meier per arm, three CI types
km_rows <- function(fit, tag) {
  arm <- rep(sub("arm=", "", names(fit$strata)), fit$strata)
  data.frame(arm = arm, time = fit$time, n_risk = fit$n.risk, n_event = fit$n.event,
             n_censor = fit$n.censor, surv = fit$surv, lower = fit$lower, upper = fit$upper,
             conf_type = tag)
}
km <- do.call(rbind, lapply(c("log", "log-log", "plain"), function(ct)
  km_rows(survfit(Surv(pain_free_weeks, pain_free_event) ~ arm, data = d, conf.type = ct), ct)))
put(km, "km.csv")
fit_km <- survfit(Surv(pain_free_weeks, pain_free_event) ~ arm, data = d)
tab <- summary(fit_km, rmean = 26)$table
put(data.frame(arm = sub("arm=", "", rownames(tab)), records = tab[, "records"],
               events = tab[, "events"], rmean = tab[, "rmean"], se_rmean = tab[, "se(rmean)"],
               median = tab[, "median"], lcl = tab[, "0.95LCL"], ucl = tab[, "0.95UCL"]),
    "km_table.csv")
s <- summary(fit_km, times = c(4, 8, 12, 26, 52))
put(data.frame(arm = sub("arm=", "", as.character(s$strata)), time = s$time, surv = s$surv,
               lower = s$lower, upper = s$upper), "km_at.csv")
fit_kmw <- survfit(Surv(pain_free_weeks, pain_free_event) ~ arm, data = d, weights = w,
                   robust = FALSE)
put(km_rows(fit_kmw, "log"), "km_weighted.csv")
dre <- d[!is.na(d$reinjury_weeks), ]
put(km_rows(survfit(Surv(reinjury_weeks, reinjury_event) ~ arm, data = dre), "log"),
    "km_reinjury.csv")

# Log-rank
lr <- function(f, data, test, a = "", b = "") {
  sd <- survdiff(f, data = data)
  expected <- if (is.matrix(sd$exp)) rowSums(sd$exp) else sd$exp
  data.frame(test = test, group_a = a, group_b = b, chisq = sd$chisq,
             df = sum(expected > 0) - 1)
}
lv <- levels(d$arm)
rows <- list(lr(Surv(pain_free_weeks, pain_free_event) ~ arm, d, "overall"))
for (i in 1:2) for (j in (i + 1):3) {
  sub <- d[d$arm %in% lv[c(i, j)], ]
  rows[[length(rows) + 1]] <- lr(Surv(pain_free_weeks, pain_free_event) ~ arm, sub,
                                 "pairwise", lv[i], lv[j])
}
rows[[length(rows) + 1]] <- lr(Surv(pain_free_weeks, pain_free_event) ~ arm + strata(site), d,
                               "stratified_site")
put(do.call(rbind, rows), "logrank.csv")

# Cox models (Efron ties, complete cases on bmi)
cox_rows <- function(fit, tag) {
  robust <- if (is.null(fit$naive.var)) NA else sqrt(diag(fit$var))
  se <- if (is.null(fit$naive.var)) sqrt(diag(fit$var)) else sqrt(diag(fit$naive.var))
  data.frame(model = tag, term = names(coef(fit)), coef = unname(coef(fit)), se = se,
             robust_se = robust, loglik = fit$loglik[2], n = fit$n, nevent = fit$nevent)
}
covs <- "arm + sex + age_years + bmi + symptom_weeks"
f_pf <- as.formula(paste("Surv(pain_free_weeks, pain_free_event) ~", covs))
m_pf <- coxph(f_pf, data = d, cluster = site, ties = "efron")
m_st <- coxph(as.formula(paste("Surv(pain_free_weeks, pain_free_event) ~",
                               "arm + sex + age_years + bmi + strata(site)")),
              data = d, cluster = site, ties = "efron")
m_w <- coxph(f_pf, data = d, cluster = site, weights = w, ties = "efron")
m_re <- coxph(Surv(reinjury_weeks, reinjury_event) ~ arm + weekly_km_before_injury + age_years,
              data = dre, cluster = site, ties = "efron")
m_nc <- coxph(f_pf, data = d, ties = "efron")
put(rbind(cox_rows(m_pf, "pain_free"), cox_rows(m_st, "strata"), cox_rows(m_w, "weighted"),
          cox_rows(m_re, "reinjury"), cox_rows(m_nc, "no_cluster")), "cox.csv")
put(as.data.frame(residuals(m_pf, type = "score")), "score_pf.csv")
put(as.data.frame(residuals(m_st, type = "score")), "score_strata.csv")
put(as.data.frame(residuals(m_w, type = "score")), "score_weighted.csv")

zph_rows <- function(fit, tag) {
  z <- cox.zph(fit, transform = "km")$table
  data.frame(model = tag, term = rownames(z), chisq = z[, "chisq"], df = z[, "df"],
             p = z[, "p"])
}
put(rbind(zph_rows(m_pf, "pain_free"), zph_rows(m_st, "strata"), zph_rows(m_w, "weighted"),
          zph_rows(m_re, "reinjury")), "zph.csv")
