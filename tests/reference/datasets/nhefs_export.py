"""Export the NHEFS complete-case sample (1,566 rows) to causalpa/datasets/data/nhefs.csv.

Source: the ``causaldata`` Python package (0.1.5, N. Huntington-Klein), data set
``nhefs_complete``: the NHEFS data of Hernan & Robins, *Causal Inference: What
If*, restricted to the 1,566 participants with a recorded 1982 weight (used in
chapter 12). The categorical codes stored by causaldata as strings ("0", "1",
...) are written back as the integers of the book's ``nhefs.csv``; every other
value is unchanged. Run from the repository root:

    .venv/bin/python tests/reference/datasets/nhefs_export.py

The script also prints the stabilised IPW estimate of chapter 12 (Program 12.4:
3.44 kg, 95% CI 2.41 to 4.47) as a check.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from causaldata import nhefs_complete

data = nhefs_complete.load_pandas().data.copy()
assert len(data) == 1566
for col in data.columns:
    if isinstance(data[col].dtype, pd.CategoricalDtype):
        data[col] = data[col].astype(str).astype(np.int64)
    elif data[col].notna().all() and np.all(data[col] == np.round(data[col])):
        data[col] = data[col].astype(np.int64)
data.to_csv("causalpa/datasets/data/nhefs.csv", index=False)

ps = smf.logit(
    "qsmk ~ sex + race + age + I(age**2) + C(education) + smokeintensity"
    " + I(smokeintensity**2) + smokeyrs + I(smokeyrs**2) + C(exercise) + C(active)"
    " + wt71 + I(wt71**2)",
    data,
).fit(disp=0)
p1 = ps.predict(data)
pn = data["qsmk"].mean()
sw = np.where(data["qsmk"] == 1, pn / p1, (1 - pn) / (1 - p1))
fit = smf.wls("wt82_71 ~ qsmk", data, weights=sw).fit(cov_type="HC0")
print(f"rows {len(data)}; stabilised IPW estimate {fit.params['qsmk']:.4f}"
      f" (95% CI {fit.conf_int().loc['qsmk', 0]:.2f} to {fit.conf_int().loc['qsmk', 1]:.2f});"
      f" mean weight {sw.mean():.3f}")
