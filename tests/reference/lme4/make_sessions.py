"""Write the unbalanced simulated sessions data used by lme4_cases.R (seeded, reproducible).

38 patients in 8 therapists, PHQ-9 measured at sessions 0..11 with drop-out that depends on
the arm and at random, so the panel is unbalanced. Run from this folder:
``python make_sessions.py`` (writes sessions_unbalanced.csv).
"""

import numpy as np
import pandas as pd


def make(seed: int = 20261125, n: int = 38) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    therapist = rng.integers(0, 8, size=n)
    pa = rng.binomial(1, 0.45, size=n)
    age = np.round(rng.normal(40, 12, size=n), 0)
    n_sess = np.clip(rng.poisson(6, size=n) + 2, 2, 12)
    t_eff = rng.normal(0, 1.2, size=8)
    rows = []
    for i in range(n):
        b0, b1 = rng.multivariate_normal([0, 0], [[16.0, -0.6], [-0.6, 0.25]])
        for s in range(int(n_sess[i])):
            mu = 16 + t_eff[therapist[i]] + b0 + 0.03 * (age[i] - 40) + (-0.6 + b1 - 0.3 * pa[i]) * s
            rows.append((f"p{i:02d}", f"t{therapist[i]}", s, pa[i], age[i], mu + rng.normal(0, 2.5)))
    return pd.DataFrame(rows, columns=["patient", "therapist", "session", "pa", "age", "phq9"])


if __name__ == "__main__":
    make().to_csv("sessions_unbalanced.csv", index=False, float_format="%.12g")
