"""Speed-ups must not change numbers: design-matrix cache, formula cache, block seeding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import causalpa as cpa
from causalpa._spec import make_spec


def _formulaic_design(rhs, data):
    """The construction without numpy plans (formulaic every time)."""
    import formulaic

    mm = formulaic.model_matrix(rhs, data, na_action="raise")
    return np.asarray(mm, dtype=float), [str(c) for c in mm.columns]


SIMPLE = {"pa ~ age + C(sex) + employed + ltc + imd_decile + phq9_first + gad7_first": True,
          "pa ~ C(imd_decile) + age": True,
          "pa ~ C(sex)": True,
          "pa ~ age + I(age ** 2) + C(sex)": False,  # not simple: always formulaic
          "pa ~ age:phq9_first + C(sex)": False}


@pytest.mark.parametrize("formula", list(SIMPLE))
def test_spec_plan_equals_formulaic(formula: str) -> None:
    first = make_spec(cpa.simulate.cohort(120, rng=0, sessions=False).patients, formula)
    assert (first._encoding.plan is not None) == SIMPLE[formula]
    for seed in range(3):
        pts = cpa.simulate.cohort(120, rng=seed, sessions=False).patients
        X0, n0 = _formulaic_design(first.rhs, pts)
        for spec in (make_spec(pts, formula), first.bind(pts), make_spec(pts, first)):
            X1, n1 = spec.design()
            X2, n2 = spec.design(pts)
            assert n0 == n1 == n2
            np.testing.assert_array_equal(X0, X1)
            np.testing.assert_array_equal(X0, X2)
            # same memory layout too: BLAS/LAPACK results depend on it in the last bits
            for X in (X1, X2):
                assert X.flags.f_contiguous == X0.flags.f_contiguous
                assert X.flags.c_contiguous == X0.flags.c_contiguous
            assert not X1.flags.writeable  # the spec's own matrix cannot be changed


def test_fits_are_bit_identical_with_and_without_a_spec_template() -> None:
    pts = cpa.simulate.cohort(150, rng=3, sessions=False).patients
    other = cpa.simulate.cohort(150, rng=4, sessions=False).patients
    f = "pa ~ age + C(sex) + employed + ltc + imd_decile + phq9_first + gad7_first"
    template = make_spec(other, f)
    assert template._encoding.plan is not None
    first = cpa.propensity(pts, f)  # formulaic
    again = cpa.propensity(pts, template)  # the template's numpy plan
    assert first.coef.to_numpy().tobytes() == again.coef.to_numpy().tobytes()
    assert first.scores.to_numpy().tobytes() == again.scores.to_numpy().tobytes()
    w_first = cpa.weight(pts, f).estimate("phq9_change")
    w_again = cpa.weight(pts, template).estimate("phq9_change")
    assert (w_first.estimate, w_first.std_error) == (w_again.estimate, w_again.std_error)


def test_binding_rederives_levels_and_prediction_keeps_them() -> None:
    df = pd.DataFrame({"pa": [0, 1, 0, 1, 0, 1], "g": list("abcabc"), "x": [1.0, 2, 3, 4, 5, 6]})
    spec = make_spec(df, "pa ~ x + C(g)")
    sub = df[df["g"] != "a"]  # fewer levels
    bound = spec.bind(sub)  # a model of `sub`: its own levels, as make_spec(sub, ...)
    X, names = bound.design()
    assert names == ["Intercept", "x", "C(g)[T.c]"]
    Xf, nf = _formulaic_design("x + C(g)", sub)
    assert nf == names
    np.testing.assert_array_equal(X, Xf)
    # prediction for new data keeps the levels learnt from `df`
    Xp, names_p = spec.design(sub)
    assert names_p == ["Intercept", "x", "C(g)[T.b]", "C(g)[T.c]"]
    np.testing.assert_array_equal(Xp[:, 2], (sub["g"] == "b").to_numpy(dtype=float))
    # missing values raise a DataError, never a silent matrix
    bad = df.assign(x=[1.0, np.nan, 3, 4, 5, 6])
    with pytest.raises(cpa.DataError):
        spec.design(bad)


def test_cached_formula_parse_keeps_messages() -> None:
    df = pd.DataFrame({"pa": [0, 1, 0, 1], "x": [1.0, 2, 3, 4]})
    for _ in range(2):
        with pytest.raises(cpa.errors.SpecificationError, match="could not parse"):
            make_spec(df, "pa ~ x +* (")
        with pytest.raises(cpa.errors.DataError, match="missing values in column 'x'"):
            make_spec(df.assign(x=[1.0, None, 3, 4]), "pa ~ x")


@pytest.mark.parametrize("kw", [{}, {"selection": 0.0, "attrition": 0.0},
                                {"assignment": "therapist", "n_therapists": 6}])
@pytest.mark.parametrize("replicates", [None, 5])
def test_patient_arrays_keys_give_the_same_values(kw, replicates) -> None:
    from causalpa.simulate import patient_arrays

    full = patient_arrays(80, 3, replicates=replicates, **kw)
    for keys in (["pa", "phq9_change", "phq9_first", "phq9_change_0", "phq9_change_1"],
                 ["recovered", "gad7_change_1"], ["phq9_sessions"], ["gad7_sessions", "pa"]):
        part = patient_arrays(80, 3, replicates=replicates, keys=keys, **kw)
        assert set(part) == set(keys)
        for k in keys:
            np.testing.assert_array_equal(part[k], full[k])
            assert part[k].dtype == full[k].dtype


# ----------------------------------------------------------------------------- block seeding
def test_generator_block_size_is_fixed_by_the_design_size() -> None:
    from causalpa.power.designs import GENERATOR_PATIENTS, replicates_per_draw

    assert replicates_per_draw(200) == 64
    assert replicates_per_draw(600) == GENERATOR_PATIENTS // 600 == 54
    assert replicates_per_draw(10**7) == 1


def test_replicate_data_do_not_depend_on_n_sims_or_task_size() -> None:
    d = cpa.power.RandomisedTrial(effect=0.4, analyses=("ancova",), attrition=0.1)
    # n = 300 per arm: 54 replicates per generator block, so 130 replicates span 3 blocks
    big = cpa.power.simulate(d, n=300, n_sims=130, rng=9, progress=False)
    small = cpa.power.simulate(d, n=300, n_sims=60, rng=9, progress=False, block_size=7)
    odd = cpa.power.simulate(d, n=300, n_sims=130, rng=9, progress=False, block_size=50)
    pd.testing.assert_frame_equal(big.replicates, odd.replicates)
    pd.testing.assert_frame_equal(big.replicates.iloc[:60].reset_index(drop=True),
                                  small.replicates)


def test_general_path_slices_the_same_blocks_as_the_batched_path() -> None:
    d = cpa.power.RandomisedTrial(effect=0.4, analyses=("t-test",), attrition=0.2)
    a = cpa.power.simulate(d, n=300, n_sims=60, rng=4, progress=False, path="batched")
    b = cpa.power.simulate(d, n=300, n_sims=60, rng=4, progress=False, path="general",
                           block_size=13)
    cols = ["estimate", "std_error", "p_value", "truth"]
    np.testing.assert_allclose(a.replicates[cols].to_numpy(), b.replicates[cols].to_numpy(),
                               rtol=1e-10, equal_nan=True)
    # one replicate seed gives that replicate's data on its own
    seeds = np.random.SeedSequence(4).spawn(60)
    one = d.generate(300, seeds[57]).patients
    y, arm = one["phq9_change"], one["pa"]
    ok = y.notna()
    diff = y[ok & (arm == 1)].mean() - y[ok & (arm == 0)].mean()
    assert b.replicates["estimate"].iloc[57] == pytest.approx(diff, rel=1e-12)


def test_integer_seed_still_simulates_one_cohort() -> None:
    d = cpa.power.RandomisedTrial(effect=0.4, analyses=("t-test",))
    sim = d.generate(30, 5)
    rng_sim, _ = d._rngs(5)
    ref = cpa.simulate.cohort(60, rng_sim, sessions=False, params=d.cohort_params(30))
    pd.testing.assert_frame_equal(sim.patients, ref.patients)


# ----------------------------------------------------------------------------- spec template
@pytest.mark.parametrize("analysis", ["psm", "ipw", "aipw"])
def test_general_path_identical_with_and_without_the_spec_template(analysis, monkeypatch) -> None:
    """The analyses reuse one treatment-model Spec per context; numbers are unchanged."""
    import warnings

    from causalpa.power import analyses

    design = cpa.power.ObservationalStudy(effect=0.6, analyses=(analysis,), attrition=0.1)
    kw = dict(n=120, n_sims=12, rng=5, progress=False, block_size=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with_template = cpa.power.simulate(design, **kw)
        monkeypatch.setattr(analyses.AnalysisContext, "treatment_spec",
                            lambda self, data: self.formula)
        with_formula = cpa.power.simulate(design, **kw)
    pd.testing.assert_frame_equal(with_template.replicates, with_formula.replicates,
                                  check_exact=True)
    assert with_template.n_failed == 0


def test_the_template_is_made_once_per_context_and_rebound() -> None:
    d = cpa.power.ObservationalStudy(effect=0.6, analyses=("ipw",))
    ctx = d.context("phq9_change")
    a = d.generate(100, 1).patients
    b = d.generate(100, 2).patients
    spec = ctx.treatment_spec(a)
    assert ctx.treatment_spec(b) is spec  # the memo lives in the context
    assert d.context("phq9_change").treatment_spec(b) is not spec  # not a module global
    assert spec.formula == "pa ~ " + " + ".join(d.covariates)
    X_b, _ = make_spec(b, spec).design()
    X_f, _ = make_spec(b, ctx.formula).design()
    np.testing.assert_array_equal(X_b, X_f)


# ----------------------------------------------------------------------------- inference
def test_kernel_intervals_and_p_values_are_coef_tables() -> None:
    """The batched kernels' t_summary is coef_table, vectorised, to the last bit."""
    from causalpa.inference import coef_table
    from causalpa.power._kernels import t_summary

    rng = np.random.default_rng(3)
    est = rng.normal(size=40)
    se = rng.random(40) + 0.1
    se[[3, 7]] = [0.0, np.nan]
    df = rng.choice([np.inf, 12.0, 37.0, 198.0], size=40)
    for level in (0.95, 0.8):
        got = t_summary(est, se, df, level)
        ref = coef_table(est, se, df, level)
        for col in ("conf_low", "conf_high", "p_value"):
            np.testing.assert_array_equal(got[col], ref[col].to_numpy(), err_msg=col)
