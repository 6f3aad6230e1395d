"""Calibration of propensity-score matching on simulated self-selection (known truth).

cpa.simulate.cohort draws patients who choose PA more often when younger, less
severe, employed, ...; its `truth` is the sample ATT from the potential outcomes.
Seeds are fixed; tolerances come from the Monte-Carlo error of R replicates.
"""

import warnings

import numpy as np
import pytest

import causalpa.simulate as S
from causalpa.matching import match

F = "pa ~ age + C(sex) + employed + ltc + imd_decile + phq9_first + gad7_first"


def replicate(n, seed, **kw):
    sim = S.cohort(n=n, rng=seed, sessions=False)
    p = sim.patients
    truth = sim.truth.loc["phq9_change", "ATT"]
    naive = p.phq9_change[p.pa == 1].mean() - p.phq9_change[p.pa == 0].mean()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        e = match(p, F, **kw).estimate("phq9_change")
    return naive - truth, e.estimate - truth, e.conf_low <= truth <= e.conf_high


@pytest.mark.slow
def test_n1000_caliper_matching_unbiased_and_covers():
    R = 150
    out = np.array([replicate(1000, 10_000 + s, caliper=0.2) for s in range(R)])
    naive, psm, cover = out[:, 0], out[:, 1], out[:, 2]
    mc = lambda x: x.std(ddof=1) / np.sqrt(R)  # noqa: E731
    assert naive.mean() > 4 * mc(naive)  # self-selection biases the naive comparison
    assert abs(psm.mean()) < 3 * mc(psm)  # matching removes the bias
    assert abs(psm.mean()) < 0.25 * naive.mean()
    assert abs(cover.mean() - 0.95) < 3 * np.sqrt(0.95 * 0.05 / R)


@pytest.mark.slow
def test_n38_default_inference_not_anticonservative():
    # n = 38 (about 16 PA / 22 control): Firth PS (ML separates in some samples), 1:1
    # nearest matching, default inference = CR2 cluster SE with t(G - 1) (SmallSampleWarning)
    R = 300
    out = np.array([replicate(38, 20_000 + s, ps_model="firth") for s in range(R)])
    coverage = out[:, 2].mean()
    # >= 93% required; allow the Monte-Carlo error of R replicates at 95% (2 SE)
    assert coverage >= 0.93 - 2 * np.sqrt(0.95 * 0.05 / R)
    assert coverage <= 0.995
