"""Symptom trajectories in the pilot sessions data with a linear mixed model.

Fits PHQ-9 ~ session * pa with correlated random intercepts and slopes per patient, prints
the summary (fixed effects with Satterthwaite df, fit statistics, variance components), the
arm difference at session 7 under each df method, the joint F test of the arm terms, and
saves a trajectory plot to the temporary directory.
"""

import tempfile
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import causalpa as cpa  # noqa: E402

sessions = cpa.datasets.load_pilot("sessions")  # synthetic pilot cohort, 38 patients
print(f"{sessions['patient'].nunique()} patients, {len(sessions)} session scores")

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", cpa.errors.CausalpaWarning)
    fit = cpa.mixed(sessions, "phq9 ~ session * pa", groups="patient", re_formula="~session")
for w in caught:
    print("warning:", w.message)

print(fit.summary())  # fixed effects (Satterthwaite df), fit statistics, variance components

last = 7  # a typical course length; only 7 pilot patients got this far
contrast = {"pa": 1, "session:pa": last}
for df in ["satterthwaite", "kenward-roger", "residual", "normal"]:
    row = fit.contrast(contrast, df=df).tidy().iloc[0]
    print(f"arm difference at session {last} ({df:>13}): {row.estimate:6.2f} "
          f"[{row.conf_low:6.2f}, {row.conf_high:6.2f}]  df = {row.df:7.1f}  p = {row.p_value:.3f}")

joint = fit.test({"level": {"pa": 1}, "slope": {"session:pa": 1}}).tidy().iloc[0]
print(f"do the arms differ in level or slope? F({joint.num_df:.0f}, {joint.den_df:.1f}) = "
      f"{joint.statistic:.2f}, p = {joint.p_value:.3f}")

ax = fit.plot()
out = Path(tempfile.gettempdir()) / "pilot_trajectories.png"
ax.figure.savefig(out, dpi=80)
print("plot saved to", out)
