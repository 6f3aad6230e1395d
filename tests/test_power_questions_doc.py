"""docs/power-questions.md states figures that causalpa reproduces.

The page's full code block takes minutes; these tests re-run its cheap parts with the
page's own seeds and replicate counts and look for the resulting figures in the page, so
the page fails here as soon as a change in causalpa makes it stale.
"""

from __future__ import annotations

import math
import pathlib
import re

import pytest

from causalpa import power
from causalpa.power import analytic

PAGE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "power-questions.md"


@pytest.fixture(scope="module")
def page() -> str:
    return PAGE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def block(page: str) -> str:
    """The "How these numbers were produced" code block."""
    tail = page.split("## How these numbers were produced", 1)[1]
    return re.search(r"```python\n(.*?)```", tail, re.S).group(1)


@pytest.fixture(scope="module")
def trial() -> power.RandomisedTrial:
    return power.RandomisedTrial.from_smd(0.43, analyses=("t-test", "ancova"))


def _power(res: power.PowerResult, analysis: str) -> str:
    t = res.tidy()
    row = t[t["analysis"] == analysis].iloc[0]
    return f"{row['power']:.3f} [{row['power_low']:.3f}, {row['power_high']:.3f}]"


def test_block_contains_the_calls_rerun_here(block: str) -> None:
    for call in (
        'power.RandomisedTrial.from_smd(0.43, analyses=("t-test", "ancova"))',
        "power.simulate(trial, n=n, n_sims=4000, rng=31, n_jobs=2) for n in (86, 54)}",
        "power.simulate(trial, n=90, n_sims=2000, rng=13, n_jobs=2)",
        'attrition=a), n=n, n_sims=4000,\n                          rng=14, n_jobs=2)',
        "for a, n in ((0.2, 68), (0.3, 78))}",
        "power.sample_size(cluster, target=0.8, n_sims=1000, rng=12, n_min=40, n_jobs=2)",
    ):
        assert call in block, call


def test_analytic_figures(page: str) -> None:
    assert f"{analytic.two_sample_t(d=0.43, power=0.8).n:.1f} -> **86**" in page
    assert f"{analytic.ancova(d=0.43, rho=0.5, power=0.8).n:.1f} -> 65" in page
    assert f"{analytic.ancova(d=0.43, rho=0.618, power=0.8).n:.1f} -> **54**" in page
    assert f"{analytic.two_proportions(p1=0.63, p2=0.36, power=0.8).n:.1f} -> **53**" in page
    assert f"86 x 1.54 -> **{analytic.inflate(86, design_effect=1.54)}**" in page
    assert f"54 x 1.54 -> **{analytic.inflate(54, design_effect=1.54)}**" in page
    for a, t_n, a_n in ((0.8, 108, 68), (0.7, 123, 78)):
        assert analytic.inflate(86, attrition=1 - a) == t_n
        assert analytic.inflate(54, attrition=1 - a) == a_n
        assert f"86 / {a} -> {t_n}" in page and f"54 / {a} -> {a_n}" in page
    combined = analytic.inflate(54, design_effect=1.54, attrition=0.25)
    assert f"`inflate(54, design_effect=1.54, attrition=0.25)` = {combined} per arm" in page
    d_cluster = 0.43 / math.sqrt(1.54 / 10)
    per_arm = analytic.two_sample_t(d=d_cluster, power=0.8).n
    assert f"{per_arm:.1f} therapists per arm" in page


def test_exact_recovery_powers(block: str, page: str) -> None:
    namespace: dict = {}
    code = block.split("# 2. individually randomised trial", 1)[0]
    exec(compile(code, "power-questions.md", "exec"), namespace)  # the page's own function
    got = namespace["recovery"]
    assert f"exact power at 53 per arm | power {got[53]:.3f}" in page
    assert f"same, 54 per arm | power {got[54]:.3f}" in page
    assert f"55 per arm gives {got[55]:.3f} and 56 gives {got[56]:.3f}" in page


def test_trial_figures(trial: power.RandomisedTrial, page: str) -> None:
    at86 = power.simulate(trial, n=86, n_sims=4000, rng=31, progress=False)
    at54 = power.simulate(trial, n=54, n_sims=4000, rng=31, progress=False)
    assert f"{_power(at86, 't-test')} for the t test at 86" in page
    assert f"{_power(at54, 'ancova')} for ANCOVA at 54" in page
    both = power.simulate(trial, n=90, n_sims=2000, rng=13, progress=False)
    assert f"power at 90 per arm | {_power(both, 't-test')}" in page
    for a, n in ((0.2, 68), (0.3, 78)):
        lost = power.simulate(trial.with_(analyses=("ancova",), attrition=a), n=n, n_sims=4000,
                              rng=14, progress=False)
        assert f"{n} per arm: power {_power(lost, 'ancova')}" in page


def test_cluster_search_result_at_141(page: str) -> None:
    # sample_size() reports the simulation at the n it found: same seed, same replicates
    cluster = power.ClusterTrial.from_smd(0.43, cluster_size=10, analyses=("cluster-t",))
    res = power.simulate(cluster, n=141, n_sims=1000, rng=12, progress=False)
    assert f"**141** (power {_power(res, 'cluster-t')})" in page
