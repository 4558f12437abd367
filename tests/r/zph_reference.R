# cox.zph(fit) (transform = "km") for tests/test_cox_counting_r.py.
# Usage: Rscript zph_reference.R data.csv out.csv
# data.csv: columns time, event, x1, x2, site, w, id and, for counting-process data, start
# ((start, time] rows); without start the data are right-censored.
suppressPackageStartupMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
y <- if ("start" %in% names(d)) "Surv(start, time, event)" else "Surv(time, event)"
f <- as.formula(paste(y, "~ x1 + x2"))
fs <- as.formula(paste(y, "~ x1 + x2 + strata(site)"))
fits <- list(
  plain = coxph(f, data = d, ties = "efron"),
  full = coxph(fs, data = d, weights = w, cluster = id, ties = "efron")
)
rows <- lapply(names(fits), function(tag) {
  z <- cox.zph(fits[[tag]])$table
  data.frame(model = tag, term = rownames(z), chisq = z[, "chisq"], df = z[, "df"],
             p = z[, "p"])
})
write.csv(do.call(rbind, rows), args[2], row.names = FALSE)
