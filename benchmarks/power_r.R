# Power of the arm-only Cox model by simulation, the plain R way: simulate one trial, fit it
# with survival::coxph (Efron ties), repeat. Same model as `rehab-outcomes power --test cox`:
# covariates as the simulator draws them, site frailties, calibrated Weibull pain-free times,
# loss to follow-up, administrative end and data cut, times in whole days / 7.
#
# Usage: Rscript power_r.R PARAMS_FILE N_PER_ARM TRIALS SEED OUT_CSV
# PARAMS_FILE has one parameter per line: a name followed by its value(s), separated by spaces
# (written by benchmarks/bench_power.py from the package's calibrated parameters).

suppressPackageStartupMessages(library(survival))

args <- commandArgs(trailingOnly = TRUE)
lines <- strsplit(readLines(args[1]), " +")
P <- setNames(lapply(lines, function(x) as.numeric(x[-1])), vapply(lines, `[`, "", 1))
n_per_arm <- as.integer(args[2])
trials <- as.integer(args[3])
set.seed(as.integer(args[4]))

clip <- function(x, lo, hi) pmin(pmax(x, lo), hi)

simulate_trial <- function(n) {
  N <- 3 * n
  arm <- rep(0:2, each = n)
  age <- clip(round(rnorm(N, P$age_mean, P$age_sd)), P$age_min, P$age_max)
  sex <- sample.int(3, N, replace = TRUE, prob = P$sex_shares) - 1
  bmi <- round(clip(rnorm(N, P$bmi_mean, P$bmi_sd), P$bmi_min, P$bmi_max), 1)
  km <- round(clip(rlnorm(N, log(P$km_median), P$km_sigma), P$km_min, P$km_max), 1)
  sym <- clip(round(rlnorm(N, log(P$sym_median), P$sym_sigma)), P$sym_min, P$sym_max)
  pain <- clip(round(rnorm(N, P$pain_mean, P$pain_sd)), P$pain_min, P$pain_max)
  site <- sample.int(length(P$site_shares), N, replace = TRUE, prob = P$site_shares)
  b <- P$beta  # stretching, strength, age, male, other, bmi, km, symptom weeks, pain
  lp <- b[1] * (arm == 1) + b[2] * (arm == 2) + b[3] * (age - P$centre_age) +
    b[4] * (sex == 1) + b[5] * (sex == 2) + b[6] * (bmi - P$centre_bmi) +
    b[7] * (km - P$centre_km) + b[8] * (sym - P$centre_sym) + b[9] * (pain - P$centre_pain) +
    log(P$frailty[site])
  t <- (rexp(N) / (P$rate * exp(lp)))^(1 / P$shape)
  d_pf <- pmax(ceiling(pmin(7 * t, 1e7)), 1)
  d_drop <- floor(pmin(7 * rexp(N, P$lost_rate), 1e7))
  first <- sample.int(P$recruitment_days, N, replace = TRUE) - 1
  censor <- pmin(d_drop, P$admin_days, P$cut_day - first)
  event <- as.integer(d_pf <= censor)
  data.frame(time = ifelse(event == 1, d_pf, censor) / 7, event = event,
             arm = factor(arm, levels = 0:2))
}

start <- proc.time()[["elapsed"]]
rejections <- c(0, 0)
for (i in seq_len(trials)) {
  d <- simulate_trial(n_per_arm)
  fit <- coxph(Surv(time, event) ~ arm, data = d, ties = "efron")
  z <- coef(fit) / sqrt(diag(vcov(fit)))
  rejections <- rejections + (2 * pnorm(-abs(z)) < P$alpha)
}
elapsed <- proc.time()[["elapsed"]] - start
write.csv(data.frame(comparison = c("stretching_only vs rest_only",
                                    "strength_graded_running vs rest_only"),
                     trials = trials, rejections = rejections, power = rejections / trials,
                     loop_seconds = elapsed),
          args[5], row.names = FALSE)
