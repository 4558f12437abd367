# Reference results from R (stats::glm) for tests/test_msm_r.py.
# Usage: Rscript msm_reference.R weeks.csv outdir
# weeks.csv: episode-weeks with episode_id, week, site, at_risk (0/1), step_up (0/1), pain_prev,
# next_worse, run_min, w (non-integer case weights).
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
out <- args[2]
put <- function(x, name) write.csv(x, file.path(out, name), row.names = FALSE)
d$site <- factor(d$site)  # levels sorted: the first is the reference, as in build_design

rows <- function(fit, tag, warned) {
  s <- summary(fit)$coefficients
  data.frame(model = tag, term = rownames(s), coef = s[, "Estimate"], se = s[, "Std. Error"],
             deviance = deviance(fit), warned = warned)
}
# glm with R's warning captured: "non-integer #successes in a binomial glm!"
fit_glm <- function(f, data, w = NULL) {
  warned <- FALSE
  if (!is.null(w)) data$wt_ <- data[[w]]
  fit <- withCallingHandlers(
    if (is.null(w)) glm(f, family = binomial, data = data,
                        control = glm.control(epsilon = 1e-14, maxit = 100))
    else glm(f, family = binomial, data = data, weights = wt_,
             control = glm.control(epsilon = 1e-14, maxit = 100)),
    warning = function(cnd) {
      if (grepl("non-integer #successes", conditionMessage(cnd))) warned <<- TRUE
      invokeRestart("muffleWarning")
    })
  list(fit = fit, warned = warned)
}
r <- d[d$at_risk == 1, ]
f_den <- step_up ~ week + site + pain_prev + next_worse + run_min
f_num <- step_up ~ week + site
g_w <- fit_glm(f_den, r, "w")  # weighted, non-integer weights
r$wi <- round(r$w * 2)  # integer weights: no warning
g_i <- fit_glm(f_den, r, "wi")
g_den <- fit_glm(f_den, r)
g_num <- fit_glm(f_num, r)
put(rbind(rows(g_w$fit, "weighted", g_w$warned), rows(g_i$fit, "integer", g_i$warned),
          rows(g_den$fit, "denominator", g_den$warned),
          rows(g_num$fit, "numerator", g_num$warned)), "glm.csv")

# stabilised weights: cumulative product within episode over weeks, truncated at 1st/99th
# percentiles (quantile type 7)
pn <- predict(g_num$fit, newdata = d, type = "response")
pd <- predict(g_den$fit, newdata = d, type = "response")
f <- ifelse(d$step_up == 1, pn / pd, (1 - pn) / (1 - pd))
f[d$at_risk == 0] <- 1
o <- order(d$episode_id, d$week)
sw <- numeric(nrow(d))
sw[o] <- ave(f[o], d$episode_id[o], FUN = cumprod)
q <- quantile(sw, c(0.01, 0.99), type = 7)
put(data.frame(p_weighted = predict(g_w$fit, newdata = d, type = "response"), sw = sw,
               sw_trunc = pmin(pmax(sw, q[1]), q[2])), "weights.csv")
