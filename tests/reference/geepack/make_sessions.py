"""Generate the simulated session-level data used by the geepack, glmer and panel references.

Run from the repository root: ``python tests/reference/geepack/make_sessions.py``.
Writes ``sessions.csv`` (40 patients, unbalanced: drop-out after 2-8 sessions).
"""

from pathlib import Path

import numpy as np
import pandas as pd


def main() -> None:
    rng = np.random.default_rng(20261125)
    n = 40
    rows = []
    for i in range(n):
        age = rng.normal(40, 12)
        severity = rng.normal(0, 1)
        pa = int(rng.random() < 1 / (1 + np.exp(-(-0.3 + 0.04 * (age - 40) - 0.5 * severity))))
        # patient-level inverse-probability-style weight (a stand-in for cpa.weight(...).weights)
        ps = 1 / (1 + np.exp(-(-0.2 + 0.03 * (age - 40))))
        w = 1 / ps if pa else 1 / (1 - ps)
        u = rng.normal(0, 3)
        n_sess = int(rng.integers(2, 9))
        e_prev = 0.0
        for s in range(n_sess):
            e = 0.5 * e_prev + rng.normal(0, 2.5)
            e_prev = e
            phq9 = 16 + 2 * severity + u - (0.6 + 0.5 * pa) * s + 0.05 * (age - 40) + e
            rows.append(
                dict(patient=f"P{i + 1:02d}", session=s, pa=pa, age=round(age, 1),
                     phq9=round(phq9, 3), case=int(phq9 >= 10), w=round(w, 6))
            )
    df = pd.DataFrame(rows)
    df.to_csv(Path(__file__).with_name("sessions.csv"), index=False)
    print(df.shape, df["case"].mean(), df.groupby("patient").size().describe())


if __name__ == "__main__":
    main()
