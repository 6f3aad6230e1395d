#!/usr/bin/env bash
# Regenerate every reference value under tests/reference from established software.
# Needs R 4.2 with Debian's packages:
#   apt-get update && apt-get install -y r-base-core r-cran-matchit r-cran-lme4 \
#     r-cran-lmertest r-cran-pbkrtest r-cran-pwr r-cran-survey r-cran-geepack \
#     r-cran-sandwich r-cran-jsonlite
# The test suite itself never needs R: it reads the JSON/CSV outputs committed here.
# Usage (from the repository root):  bash tests/reference/regenerate.sh [--with-data]
#   --with-data  also re-export the input data sets made in Python first (simulated
#                session data, NHEFS from the `causaldata` package); without it, the
#                committed inputs are reused, so only the R outputs change.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
ref="$root/tests/reference"
py="${PYTHON:-$root/.venv/bin/python}"

if [[ "${1:-}" == "--with-data" ]]; then
  (cd "$root" && "$py" tests/reference/datasets/nhefs_export.py)
  (cd "$root" && "$py" tests/reference/geepack/make_sessions.py)
  (cd "$ref/lme4" && "$py" make_sessions.py)
fi

# scripts that run from the repository root
for s in datasets/lalonde.R geepack/geeglm_sessions.R glmer/glmer_cases.R panel/panel_fe.R \
         pwr/pwr_cases.R; do
  echo "== $s"; (cd "$root" && Rscript "tests/reference/$s")
done
# scripts that run from their own folder
for s in lme4/lme4_cases.R matchit/lalonde_matching.R matchit/lalonde_estimation.R \
         matchit/lalonde_balance_weighted.R matchit/nhefs_matching.R \
         propensity/lalonde_glm_firth.R weightit/nhefs_weighting.R aipw/nhefs_aipw.R \
         sensitivity/rosenbaum_evalue.R; do
  echo "== $s"; (cd "$ref/$(dirname "$s")" && Rscript "$(basename "$s")")
done
echo "done: review 'git diff tests/reference' (outputs should change only with package versions)"
