"""From a 38-patient pilot to the size of the next trial.

The pilot was not significant; how many patients does a trial need? This
script (1) estimates design parameters from a pilot (here a simulated one
standing in for the real data), (2) shows why the pilot's own effect size is a
poor basis, (3) sizes the trial analytically for recovery and PHQ-9 change and
(4) checks the ANCOVA answer by simulation, with therapist clustering and
attrition. It writes nothing to disk.
"""

from __future__ import annotations

import warnings

import causalpa as cpa
from causalpa.errors import SmallSampleWarning
from causalpa.power import analytic

# 1. a pilot cohort: 38 patients who chose PA or not (simulated stand-in)
pilot = cpa.simulate.cohort(n=38, rng=2023)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    est = cpa.power.from_pilot(pilot.patients, pilot.sessions)
print(est.summary())
print("warning:", [str(w.message)[:90] for w in caught if w.category is SmallSampleWarning])

# 2. the analytic answers (R pwr's formulas)
rec = analytic.two_proportions(p1=0.63, p2=0.36, power=0.8)
phq = analytic.two_sample_t(d=0.43, power=0.8)
anc = analytic.ancova(d=0.43, rho=0.6, power=0.8)
de = analytic.design_effect(icc=0.06, m=10)
print(f"recovery 63% vs 36%: {rec.n_ceil} per group")
print(f"PHQ-9 change, d = 0.43: t test {phq.n_ceil} per group, ANCOVA (rho 0.6) {anc.n_ceil}")
print(f"randomising therapists (ICC 0.06, 10 patients each): design effect {de:.2f} -> "
      f"{analytic.inflate(anc.n, design_effect=de)} per group")
print(f"ANCOVA with 25% attrition: recruit {analytic.inflate(anc.n, attrition=0.25)} per group")
print(f"what the pilot could detect (16 vs 22): d >= "
      f"{analytic.minimum_detectable_effect(16, 22):.2f}")

# 3. plan conservatively: the literature SMD, checked by simulation
design = est.design("randomised", effect="literature", analyses=("ancova", "t-test"))
res = cpa.power.simulate(design, n=anc.n_ceil, n_sims=500, rng=1, progress=False)
print(res.summary())
