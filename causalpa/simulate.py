"""Cohort simulator with known true effects (shared by tests, docs and the power harness).

:func:`cohort` simulates NHS Talking Therapies patients nested in therapists,
with session-by-session PHQ-9 and GAD-7 scores, self-selection into the
physical-activity (PA) arm on recorded baseline covariates, a treatment effect
on the symptom slope, response-dependent attrition, and the **truth**: ATE and
ATT computed from both potential outcomes of every simulated patient (the same
random draws, only the treatment flipped).

:func:`patient_arrays` is the vectorised core (plain numpy arrays, no
DataFrames); :func:`cohort` is built on it, and the power harness calls it
directly for thousands of replicates.

Sign convention: ``phq9_change = phq9_last - phq9_first``, so an improvement is
a **negative** change and a beneficial PA effect on change is negative, while
``effect`` (the standardised benefit) is positive. A beneficial effect on
``recovered`` is positive.

Examples
--------
>>> from causalpa.simulate import cohort
>>> sim = cohort(n=200, rng=1)
>>> sim.patients.shape[0], sim.sessions["patient"].nunique()
(200, 200)
>>> list(sim.truth.index)
['phq9_change', 'gad7_change', 'recovered']
>>> bool(sim.truth.loc["phq9_change", "ATE"] < 0)  # PA lowers symptoms
True
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import optimize, special

from causalpa._validation import check_number, check_option
from causalpa.errors import SpecificationError
from causalpa.outcomes import outcome_arrays

__all__ = ["SimulatedCohort", "cohort", "cohort_from_arrays", "patient_arrays", "CALIBRATION", "PATIENT_COLUMNS"]

Assignment = Literal["patient", "therapist"]

#: Patient-level columns of :attr:`SimulatedCohort.patients`, in order.
PATIENT_COLUMNS = (
    "patient",
    "therapist",
    "pa",
    "age",
    "sex",
    "employed",
    "ltc",
    "imd_decile",
    "phq9_first",
    "phq9_last",
    "gad7_first",
    "gad7_last",
    "n_sessions",
    "finished",
    "phq9_change",
    "gad7_change",
    "case_first",
    "case_last",
    "recovered",
    "reliable_improvement",
    "reliable_deterioration",
    "reliable_recovery",
)

#: Fixed model constants (documented in docs/simulator.md). They were chosen so
#: that the control arm at the defaults reproduces the national figures in
#: DOMAIN.md; changing them changes the calibration.
CALIBRATION: dict[str, float] = {
    # covariates
    "age_mean": 40.0,
    "age_sd": 14.0,
    "p_female": 0.64,
    "p_employed": 0.55,
    "p_ltc": 0.30,
    # baseline severity (latent person level before selection of cases)
    "phq9_level": 14.1,
    "phq9_level_sd": 5.25,
    "gad7_level": 12.6,
    "gad7_level_sd": 4.9,
    "level_corr": 0.65,
    # session-to-session measurement noise (test-retest r = 0.74)
    "phq9_noise_sd": 2.8,
    "gad7_noise_sd": 2.3,
    "noise_corr": 0.4,
    # symptom trajectory: expected score = level * exp(rate * session); rate is the
    # log-scale slope per session in the control arm (an average course of 7 sessions
    # keeps about exp(6 * rate) of the starting severity)
    "phq9_rate": -0.17,
    "gad7_rate": -0.17,
    "rate_sd": 0.05,
    "rate_corr": 0.7,
    # log-rate per SMD unit (over mean_sessions - 1 sessions) used to turn `effect`
    # into a slope shift; calibrated so that at the defaults the realised
    # standardised effect (truth "smd") is about `effect`
    "phq9_effect_scale": 1.68,
    "gad7_effect_scale": 1.42,
    # therapist effect: SD (points of PHQ-9 change over mean_sessions - 1 sessions) per
    # unit of sqrt(icc / (1 - icc)), calibrated so that `icc` is the therapist share of
    # the variance of PHQ-9 change; GAD-7 drift is this multiple of the PHQ-9 drift
    "therapist_scale": 7.0,
    "gad7_therapist": 0.8,
    # attrition: observed shortfall in improvement scaled by this many points
    "response_scale": 4.0,
    # SD of the selection index before standardisation
    "selection_index_sd": 1.02,
}


@dataclass(frozen=True)
class SimulatedCohort:
    """A simulated cohort with its true effects.

    Attributes
    ----------
    patients : pandas.DataFrame
        One row per patient; columns :data:`PATIENT_COLUMNS` (data contract).
    sessions : pandas.DataFrame or None
        One row per attended session (``patient, therapist, session, pa, phq9,
        gad7``; ``session`` 0 is the first), or None if ``sessions=False``.
    truth : pandas.DataFrame
        Index ``phq9_change, gad7_change, recovered``; columns ``ATE``, ``ATT``,
        ``ATC`` (sample average effects from both potential outcomes of every
        patient), ``mean_y0`` and ``mean_y1`` (means of the potential outcomes
        over all patients), ``smd`` (ATE divided by the SD of the control
        potential outcome).
    params : dict
        The parameters used (including ``rng``).
    """

    patients: pd.DataFrame
    sessions: pd.DataFrame | None
    truth: pd.DataFrame
    params: dict[str, Any]

    def __repr__(self) -> str:
        n = len(self.patients)
        n_pa = int(self.patients["pa"].sum())
        ate = self.truth.loc["phq9_change", "ATE"]
        att = self.truth.loc["phq9_change", "ATT"]
        return (
            f"SimulatedCohort(n={n}, pa={n_pa}, true ATE phq9_change={ate:.2f}, "
            f"ATT={att:.2f}, rng={self.params.get('rng')!r})"
        )


# --------------------------------------------------------------------------- parameters
def _check_params(
    n: int,
    *,
    selection: float,
    effect: float,
    effect_gad7: float | None,
    heterogeneity: float,
    n_therapists: int | None,
    icc: float,
    assignment: str,
    p_treated: float,
    mean_sessions: float,
    max_sessions: int,
    min_sessions: int,
    attrition: float,
    hidden: float,
    cases_only: bool,
) -> dict[str, Any]:
    n = check_number("n", n, low=1, integer=True)
    max_sessions = check_number("max_sessions", max_sessions, low=1, high=200, integer=True)
    min_sessions = check_number("min_sessions", min_sessions, low=1, integer=True)
    if min_sessions > max_sessions:
        raise SpecificationError(
            f"`min_sessions` ({min_sessions}) must be <= `max_sessions` ({max_sessions})"
        )
    mean_sessions = check_number("mean_sessions", mean_sessions, low=1)
    if not (min_sessions <= mean_sessions <= max_sessions) or (
        min_sessions < max_sessions and not (min_sessions < mean_sessions < max_sessions)
    ):
        raise SpecificationError(
            f"`mean_sessions` must lie strictly between `min_sessions` ({min_sessions}) and "
            f"`max_sessions` ({max_sessions}); got {mean_sessions!r}"
        )
    if n_therapists is not None:
        n_therapists = check_number("n_therapists", n_therapists, low=1, integer=True)
    else:
        n_therapists = max(1, round(n / 10))
    assignment = check_option("assignment", assignment, ["patient", "therapist"])
    if assignment == "therapist" and n_therapists < 2:
        raise SpecificationError(
            "`n_therapists` must be >= 2 with assignment='therapist' (cluster randomisation "
            f"needs therapists in both arms); got {n_therapists}"
        )
    if not isinstance(cases_only, bool):
        raise SpecificationError(f"`cases_only` must be True or False; got {cases_only!r}")
    return {
        "n": n,
        "selection": float(check_number("selection", selection)),
        "effect": float(check_number("effect", effect)),
        "effect_gad7": float(
            effect if effect_gad7 is None else check_number("effect_gad7", effect_gad7)
        ),
        "heterogeneity": float(check_number("heterogeneity", heterogeneity, low=0)),
        "n_therapists": n_therapists,
        "icc": float(check_number("icc", icc, low=0, high=1, high_inclusive=False)),
        "assignment": assignment,
        "p_treated": float(
            check_number(
                "p_treated", p_treated, low=0, high=1, low_inclusive=False, high_inclusive=False
            )
        ),
        "mean_sessions": float(mean_sessions),
        "max_sessions": max_sessions,
        "min_sessions": min_sessions,
        "attrition": float(check_number("attrition", attrition)),
        "hidden": float(check_number("hidden", hidden)),
        "cases_only": cases_only,
    }


@functools.lru_cache(maxsize=256)
def _dropout_hazard(mean_sessions: float, min_sessions: int, max_sessions: int) -> float:
    """Constant per-session drop-out hazard giving ``mean_sessions`` on average."""
    k = max_sessions - min_sessions
    target = mean_sessions - min_sessions
    if k == 0 or target >= k:
        return 0.0

    def mean_extra(h: float) -> float:
        q = 1.0 - h
        return float(sum(q**j for j in range(1, k + 1))) - target

    return float(optimize.brentq(mean_extra, 1e-12, 1.0 - 1e-12))


_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(60)
_GH_W = _GH_W / _GH_W.sum()


@functools.lru_cache(maxsize=256)
def _selection_intercept(p_treated: float, scale: float) -> float:
    """Intercept a with E[expit(a + scale * Z)] = p_treated for Z ~ N(0, 1)."""
    if scale == 0:
        return float(special.logit(p_treated))

    def f(a: float) -> float:
        return float(np.dot(_GH_W, special.expit(a + scale * _GH_X))) - p_treated

    return float(optimize.brentq(f, -50.0, 50.0))


# --------------------------------------------------------------------------- core
def _baseline(m: int, rng: np.random.Generator, c: dict[str, float]) -> dict[str, np.ndarray]:
    """Patient-level covariates, latent severity and first-session noise."""
    age = np.clip(np.rint(rng.normal(c["age_mean"], c["age_sd"], m)), 18, 80)
    female = rng.random(m) < c["p_female"]
    imd_p = 13.0 - np.arange(1, 11)
    imd = rng.choice(np.arange(1, 11), size=m, p=imd_p / imd_p.sum())
    imd_c = imd - 4.4
    employed = rng.random(m) < special.expit(
        special.logit(c["p_employed"]) + 0.12 * imd_c - 0.02 * np.maximum(age - 55, 0)
    )
    ltc = rng.random(m) < special.expit(
        special.logit(c["p_ltc"]) + 0.035 * (age - c["age_mean"]) - 0.08 * imd_c
    )
    z = rng.standard_normal((m, 2))
    r = c["level_corr"]
    z2 = r * z[:, 0] + math.sqrt(1 - r * r) * z[:, 1]
    level_p = (
        c["phq9_level"]
        + 1.2 * ltc
        + 0.8 * ~employed
        - 0.25 * imd_c
        - 0.03 * (age - c["age_mean"])
        + c["phq9_level_sd"] * z[:, 0]
    )
    level_g = (
        c["gad7_level"]
        + 0.7 * ltc
        + 0.6 * ~employed
        + 0.7 * female
        - 0.15 * imd_c
        - 0.03 * (age - c["age_mean"])
        + c["gad7_level_sd"] * z2
    )
    e = rng.standard_normal((m, 2))
    rn = c["noise_corr"]
    e0_p = c["phq9_noise_sd"] * e[:, 0]
    e0_g = c["gad7_noise_sd"] * (rn * e[:, 0] + math.sqrt(1 - rn * rn) * e[:, 1])
    first_p = np.clip(np.rint(level_p + e0_p), 0, 27)
    first_g = np.clip(np.rint(level_g + e0_g), 0, 21)
    return {
        "age": age,
        "female": female,
        "employed": employed,
        "ltc": ltc,
        "imd_decile": imd,
        "level_p": level_p,
        "level_g": level_g,
        "first_p": first_p,
        "first_g": first_g,
        "hidden": rng.standard_normal(m),
    }


def patient_arrays(
    n: int,
    rng: np.random.Generator | int | None = None,
    *,
    selection: float = 1.0,
    effect: float = 0.43,
    effect_gad7: float | None = None,
    heterogeneity: float = 0.0,
    n_therapists: int | None = None,
    icc: float = 0.06,
    assignment: Assignment = "patient",
    p_treated: float = 0.42,
    mean_sessions: float = 7.0,
    max_sessions: int = 12,
    min_sessions: int = 2,
    attrition: float = 0.5,
    hidden: float = 0.0,
    cases_only: bool = True,
    replicates: int | None = None,
    keys: Any = None,
) -> dict[str, np.ndarray]:
    """Simulate one cohort as plain numpy arrays (the vectorised core of :func:`cohort`).

    Parameters are those of :func:`cohort`; ``rng`` is a numpy Generator (or a
    seed). No DataFrame is built, so this is the fast path for power
    simulations. With ``replicates=R``, ``R`` independent cohorts of ``n``
    patients are simulated in one vectorised pass and every array gains a
    leading axis of length ``R`` (therapists, their effects and, for
    ``assignment="therapist"``, the randomisation are drawn per replicate).
    ``replicates=None`` (one cohort, no leading axis) is what :func:`cohort` uses.
    ``keys`` (a collection of array names) returns only those arrays and skips
    the work that feeds nothing else (e.g. GAD-7 trajectories); the random
    draws are the same, so the returned values are identical to those of a
    call without ``keys``.

    Returns
    -------
    dict of numpy.ndarray
        Patient-level arrays of length ``n``: ``therapist`` (1..k), ``pa``,
        ``age``, ``female``, ``employed``, ``ltc``, ``imd_decile``,
        ``propensity`` (true probability of choosing PA), ``phq9_first``,
        ``phq9_last``, ``gad7_first``, ``gad7_last``, ``n_sessions``,
        ``phq9_change``, ``gad7_change`` and the outcome columns of
        :func:`causalpa.outcomes.outcome_arrays`, all for the treatment
        actually received; the potential outcomes ``phq9_change_0``,
        ``phq9_change_1``, ``gad7_change_0``, ``gad7_change_1``, ``recovered_0``,
        ``recovered_1``, ``n_sessions_0``, ``n_sessions_1``; and the session
        scores ``phq9_sessions`` / ``gad7_sessions`` of shape ``(n, max_sessions)``
        (integers; entries at or after ``n_sessions`` are -1).

    Examples
    --------
    >>> import numpy as np
    >>> arr = patient_arrays(500, np.random.default_rng(3), selection=0.0)
    >>> arr["phq9_change"].shape
    (500,)
    >>> bool(np.all(arr["phq9_change"] == arr["phq9_last"] - arr["phq9_first"]))
    True
    >>> patient_arrays(200, 1, replicates=50)["recovered"].shape
    (50, 200)
    >>> sorted(patient_arrays(200, 1, keys=["pa", "phq9_change"]))
    ['pa', 'phq9_change']
    """
    p = _check_params(
        n,
        selection=selection,
        effect=effect,
        effect_gad7=effect_gad7,
        heterogeneity=heterogeneity,
        n_therapists=n_therapists,
        icc=icc,
        assignment=assignment,
        p_treated=p_treated,
        mean_sessions=mean_sessions,
        max_sessions=max_sessions,
        min_sessions=min_sessions,
        attrition=attrition,
        hidden=hidden,
        cases_only=cases_only,
    )
    if replicates is not None:
        p["replicates"] = check_number("replicates", replicates, low=1, integer=True)
    if keys is not None:
        if isinstance(keys, str):
            keys = [keys]
        p["keys"] = frozenset(str(k) for k in keys)
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    return _simulate(p, rng)


def _simulate(p: dict[str, Any], rng: np.random.Generator) -> dict[str, np.ndarray]:
    c = CALIBRATION
    n_cohort, M, k = p["n"], p["max_sessions"], p["n_therapists"]
    R = p.get("replicates") or 1
    n = n_cohort * R  # replicates are simulated as consecutive blocks of patients
    block = np.repeat(np.arange(R), n_cohort)

    # -- patients (cases at the first session only, by redrawing non-cases) -------------
    base = _baseline(n, rng, c)
    if p["cases_only"]:
        for _ in range(1000):
            bad = np.flatnonzero((base["first_p"] < 10) & (base["first_g"] < 8))
            if bad.size == 0:
                break
            redraw = _baseline(bad.size, rng, c)
            for key, value in redraw.items():
                base[key][bad] = value
    age, female, employed = base["age"], base["female"], base["employed"]
    ltc, imd = base["ltc"], base["imd_decile"]
    first_p, first_g = base["first_p"], base["first_g"]

    # -- selection index: recorded covariates, standardised to population SD 1 -----------
    index = (
        -0.45 * (age - 40.0) / 14.0
        + 0.15 * ~female
        + 0.30 * (employed - 0.55) / 0.5
        - 0.55 * (ltc - 0.30) / 0.46
        + 0.40 * (imd - 4.4) / 2.5
        - 0.15 * (first_p - 15.4) / 5.5
        - 0.10 * (first_g - 14.0) / 4.5
    ) / c["selection_index_sd"]
    u = base["hidden"]

    # -- therapists and treatment ---------------------------------------------------------
    # patients spread evenly over therapists at random, within each replicate
    if R == 1:
        therapist = rng.permutation(np.arange(n) % k) + 1
    else:
        slots = np.broadcast_to(np.arange(n_cohort) % k, (R, n_cohort))
        therapist = rng.permuted(slots, axis=1).ravel() + 1
    if p["assignment"] == "therapist":
        n_pa = min(max(round(p["p_treated"] * k), 1 if k > 1 else 0), k - 1 if k > 1 else 1)
        if R == 1:
            pa_therapists = rng.permutation(k)[:n_pa] + 1
            propensity = np.isin(therapist, pa_therapists).astype(float)
        else:
            ranks = rng.random((R, k)).argsort(axis=1).argsort(axis=1)
            propensity = (ranks < n_pa)[block, therapist - 1].astype(float)
        pa = propensity.astype(np.int64)
        rng.random(n)  # keep the stream aligned with patient assignment
    else:
        scale = math.hypot(p["selection"], p["hidden"])
        a = _selection_intercept(p["p_treated"], scale)
        propensity = special.expit(a + p["selection"] * index + p["hidden"] * u)
        pa = (rng.random(n) < propensity).astype(np.int64)

    # -- log-scale slopes (rates) ---------------------------------------------------------
    span = p["mean_sessions"] - 1.0 if p["mean_sessions"] > 1 else 1.0
    zs = rng.standard_normal((n, 2))
    rs = c["rate_corr"]
    # `u`: unrecorded prognostic factor (e.g. motivation): higher u, faster improvement
    zp = -0.45 * u + math.sqrt(1 - 0.45**2) * zs[:, 0]
    zg = rs * zp + math.sqrt(1 - rs * rs) * zs[:, 1]
    covariate_rate = (
        0.020 * ltc - 0.012 * employed - 0.004 * (imd - 4.4) - 0.0006 * (age - 40.0)
    )
    # therapists differ in how many points their patients gain per session (an
    # additive drift, so its share of variance is similar with and without PA)
    tau = math.sqrt(p["icc"] / (1 - p["icc"])) * c["therapist_scale"]
    t_eff = (tau / span) * rng.standard_normal((R, k))[block, therapist - 1]
    rate0_p = c["phq9_rate"] + covariate_rate + c["rate_sd"] * zp
    rate0_g = c["gad7_rate"] + covariate_rate + c["rate_sd"] * zg
    modifier = 1.0 + p["heterogeneity"] * index
    delta_p = p["effect"] * c["phq9_effect_scale"] / span * modifier
    delta_g = p["effect_gad7"] * c["gad7_effect_scale"] / span * modifier

    # -- session scores for both potential outcomes (same noise) -------------------------
    # `keys` (optional) names the arrays wanted: work that only feeds other arrays is
    # skipped, every random draw is still made, so the values do not change.
    keys = p.get("keys")
    need = _needs(keys)
    need_g = need["gad7"]
    t = np.arange(M, dtype=float)
    e = rng.standard_normal((2, n, M))
    rn = c["noise_corr"]
    noise_p = c["phq9_noise_sd"] * e[0]
    noise_p[:, 0] = first_p - base["level_p"]  # first scores are already drawn
    if need_g:
        noise_g = c["gad7_noise_sd"] * (rn * e[0] + math.sqrt(1 - rn * rn) * e[1])
        noise_g[:, 0] = first_g - base["level_g"]
    del e
    stay = rng.random((n, M))
    h0 = _dropout_hazard(p["mean_sessions"], p["min_sessions"], M)
    logit_h0 = special.logit(h0) if h0 > 0 else -np.inf
    drift = t_eff[:, None]
    level_p = np.maximum(base["level_p"], 0.5)[:, None]
    level_g = np.maximum(base["level_g"], 0.5)[:, None]
    # expected control-arm change after t sessions given the first score
    expected = first_p[:, None] * np.expm1(c["phq9_rate"] * t[None, :-1])
    # arm-independent parts, computed once (same operations as in the arm loop before)
    drift_p = drift * t
    drift_g = c["gad7_therapist"] * drift * t if need_g else np.empty(0)  # unused unless need_g
    stay_late = stay[:, 1:]
    rows = np.arange(n)
    first_p_col = first_p[:, None]
    min_s = p["min_sessions"]

    shortfall = np.empty((n, M - 1))
    drop = np.zeros((n, M), dtype=bool)
    result: dict[str, np.ndarray] = {}
    for arm in (0, 1):
        rate_p = (rate0_p - arm * delta_p)[:, None]
        sp = _scores(level_p, rate_p, t, drift_p, noise_p, 27)
        sp[:, 0] = first_p
        if need_g:
            rate_g = (rate0_g - arm * delta_g)[:, None]
            sg = _scores(level_g, rate_g, t, drift_g, noise_g, 21)
            sg[:, 0] = first_g
        # attrition: hazard of not attending session s rises with a shortfall in
        # observed improvement up to session s - 1 (missing at random)
        np.subtract(sp[:, :-1], first_p_col, out=shortfall)
        shortfall -= expected
        shortfall /= c["response_scale"]
        shortfall *= p["attrition"]
        shortfall += logit_h0  # now logit_h0 + attrition * shortfall
        hazard = special.expit(shortfall, out=shortfall)
        np.less(stay_late, hazard, out=drop[:, 1:])
        drop[:, :min_s] = False
        first_drop = drop.argmax(axis=1)  # 0 when no drop-out (drop[:, 0] is False)
        n_sess = np.where(first_drop > 0, first_drop, M)
        last_p = sp[rows, n_sess - 1]
        result[f"phq9_change_{arm}"] = last_p - first_p
        result[f"n_sessions_{arm}"] = n_sess
        result[f"_last_p_{arm}"] = last_p
        if need["sessions"]:
            result[f"_sp_{arm}"] = sp
        if need_g:
            last_g = sg[rows, n_sess - 1]
            result[f"gad7_change_{arm}"] = last_g - first_g
            result[f"_last_g_{arm}"] = last_g
            if need["sessions"]:
                result[f"_sg_{arm}"] = sg
            if need["recovered_po"]:
                out = outcome_arrays(first_p, last_p, first_g, last_g)
                result[f"recovered_{arm}"] = out["recovered"]

    treated = pa.astype(bool)
    n_sessions = np.where(treated, result["n_sessions_1"], result["n_sessions_0"])
    last_p = np.where(treated, result["_last_p_1"], result["_last_p_0"])
    arrays: dict[str, np.ndarray] = {
        "therapist": therapist.astype(np.int64),
        "pa": pa,
        "age": age.astype(np.int64),
        "female": female.astype(np.int64),
        "employed": employed.astype(np.int64),
        "ltc": ltc.astype(np.int64),
        "imd_decile": imd.astype(np.int64),
        "propensity": propensity,
        "selection_index": index,
        "phq9_first": first_p.astype(np.int64),
        "phq9_last": last_p.astype(np.int64),
        "gad7_first": first_g.astype(np.int64),
    }
    if need_g:
        last_g = np.where(treated, result["_last_g_1"], result["_last_g_0"])
        arrays["gad7_last"] = last_g.astype(np.int64)
    arrays["n_sessions"] = n_sessions.astype(np.int64)
    arrays["phq9_change"] = (last_p - first_p).astype(np.int64)
    if need_g:
        arrays["gad7_change"] = (last_g - first_g).astype(np.int64)
        if need["observed"]:
            arrays.update(outcome_arrays(first_p, last_p, first_g, last_g))
    if need["sessions"]:
        mask = t[None, :] < n_sessions[:, None]
        phq9_sessions = np.where(treated[:, None], result["_sp_1"], result["_sp_0"])
        arrays["phq9_sessions"] = np.where(mask, phq9_sessions, -1).astype(np.int64)
        if need_g:
            gad7_sessions = np.where(treated[:, None], result["_sg_1"], result["_sg_0"])
            arrays["gad7_sessions"] = np.where(mask, gad7_sessions, -1).astype(np.int64)
    for key in ("phq9_change", "gad7_change", "n_sessions"):
        for arm in (0, 1):
            if f"{key}_{arm}" in result:
                arrays[f"{key}_{arm}"] = result[f"{key}_{arm}"].astype(np.int64)
    for arm in (0, 1):
        if f"recovered_{arm}" in result:
            arrays[f"recovered_{arm}"] = result[f"recovered_{arm}"]
    if keys is not None:
        arrays = {k: v for k, v in arrays.items() if k in keys}
    if p.get("replicates") is not None:
        arrays = {key: v.reshape((R, n_cohort, *v.shape[1:])) for key, v in arrays.items()}
    return arrays


_OBSERVED = ("case_first", "case_last", "recovered", "reliable_improvement",
             "reliable_deterioration", "reliable_recovery")


def _needs(keys: Any) -> dict[str, bool]:
    """Which groups of work the requested arrays need (all of them when ``keys`` is None)."""
    if keys is None:
        return {"gad7": True, "sessions": True, "observed": True, "recovered_po": True}
    observed = any(k in keys for k in _OBSERVED)
    recovered_po = "recovered_0" in keys or "recovered_1" in keys
    gad7 = observed or recovered_po or any(
        k in keys for k in ("gad7_last", "gad7_change", "gad7_change_0", "gad7_change_1",
                            "gad7_sessions"))
    sessions = "phq9_sessions" in keys or "gad7_sessions" in keys
    return {"gad7": gad7, "sessions": sessions, "observed": observed,
            "recovered_po": recovered_po}


def _scores(level: np.ndarray, rate: np.ndarray, t: np.ndarray, drift_t: np.ndarray,
            noise: np.ndarray, top: float) -> np.ndarray:
    """``clip(rint(level * exp(rate * t) + drift_t + noise), 0, top)`` with one buffer."""
    out = np.multiply(rate, t)
    np.exp(out, out=out)
    np.multiply(level, out, out=out)
    out += drift_t
    out += noise
    np.rint(out, out=out)
    np.clip(out, 0, top, out=out)
    return out


def _truth(arrays: dict[str, np.ndarray]) -> pd.DataFrame:
    treated = arrays["pa"] == 1
    rows = {}
    for outcome in ("phq9_change", "gad7_change", "recovered"):
        y0 = arrays[f"{outcome}_0"].astype(float)
        y1 = arrays[f"{outcome}_1"].astype(float)
        d = y1 - y0
        ok = ~np.isnan(d)

        def avg(sel: np.ndarray, d: np.ndarray = d, ok: np.ndarray = ok) -> float:
            sel = sel & ok
            return float(d[sel].mean()) if sel.any() else float("nan")

        sd0 = float(np.std(y0[ok], ddof=1)) if ok.sum() > 1 else float("nan")
        ate = avg(np.ones_like(ok))
        rows[outcome] = {
            "ATE": ate,
            "ATT": avg(treated),
            "ATC": avg(~treated),
            "mean_y0": float(y0[ok].mean()) if ok.any() else float("nan"),
            "mean_y1": float(y1[ok].mean()) if ok.any() else float("nan"),
            "smd": ate / sd0 if sd0 > 0 else float("nan"),
        }
    columns = ["ATE", "ATT", "ATC", "mean_y0", "mean_y1", "smd"]
    return pd.DataFrame(
        np.array([[r[c] for c in columns] for r in rows.values()], dtype=float),
        index=pd.Index(list(rows), name="outcome"),
        columns=columns,
    )


def cohort(
    n: int = 38,
    rng: int | np.random.SeedSequence | np.random.Generator | None = None,
    *,
    selection: float = 1.0,
    effect: float = 0.43,
    effect_gad7: float | None = None,
    heterogeneity: float = 0.0,
    n_therapists: int | None = None,
    icc: float = 0.06,
    assignment: Assignment = "patient",
    p_treated: float = 0.42,
    mean_sessions: float = 7.0,
    max_sessions: int = 12,
    min_sessions: int = 2,
    attrition: float = 0.5,
    hidden: float = 0.0,
    cases_only: bool = True,
    sessions: bool = True,
) -> SimulatedCohort:
    """Simulate an NHS Talking Therapies cohort with self-selection into PA.

    Parameters
    ----------
    n : int
        Number of patients.
    rng : None, int, SeedSequence or Generator
        Randomness (SPEC 7): an integer seed gives the same cohort every time.
    selection : float
        Strength of self-selection into PA on recorded covariates: the log-odds
        of choosing PA change by ``selection`` per SD of a selection index in
        which younger, male, employed, less deprived patients without a
        long-term condition and with lower baseline PHQ-9/GAD-7 are more likely
        to choose PA. ``0`` = randomised (independent of covariates).
    effect : float
        Benefit of PA on PHQ-9 as a standardised mean difference of change
        (positive = PA reduces symptoms more; default 0.43, Singh et al. 2023).
        Implemented as a steeper symptom slope. Expected scores follow
        ``level * exp(rate * session)``; PA changes the log-scale slope ``rate``
        by ``-effect * 1.68 / (mean_sessions - 1)`` per session (-0.120 at the
        defaults). The scale 1.68 is calibrated so that at the default settings
        the realised effect, ``truth.loc["phq9_change", "smd"]``, is about
        ``-effect`` (-0.429 for 0.43). The exact realised effects are in
        :attr:`SimulatedCohort.truth`.
    effect_gad7 : float, optional
        The same for GAD-7 (scale 1.42); defaults to ``effect``.
    heterogeneity : float
        Effect modification: each patient's slope effect is multiplied by
        ``1 + heterogeneity * index`` where ``index`` is the standardised
        selection index, so those most inclined to choose PA also benefit
        most and ATT differs from ATE under selection. ``0`` = constant effect.
    n_therapists : int, optional
        Number of therapists (patients are spread evenly at random);
        default ``max(1, round(n / 10))``.
    icc : float
        Therapist share of the variance of PHQ-9 change without PA (the control
        potential outcome; 0.06, Firth 2015, Saxon et al. 2016). Therapists
        differ in how many points their patients gain per session (an additive
        drift). Because PA pushes more scores to the floor of 0, the share is
        slightly smaller among PA patients (about 0.05 at the defaults).
    assignment : {"patient", "therapist"}
        ``"patient"``: each patient chooses (self-selection). ``"therapist"``:
        cluster randomised, ``round(p_treated * n_therapists)`` therapists offer
        PA to all their patients (``selection`` and ``hidden`` are ignored).
    p_treated : float
        Expected share of patients in PA (0.42, i.e. 16 of 38).
    mean_sessions : float
        Mean number of attended sessions when drop-out does not depend on
        response (about 7, NHS Digital).
    max_sessions : int
        Maximum number of sessions (12).
    min_sessions : int
        Minimum number of sessions (2: the cohort consists of patients who
        finished treatment, as the national recovery rate does; 1 includes
        patients with a single session).
    attrition : float
        Dependence of drop-out on early response: log-odds of missing the next
        session per 4 PHQ-9 points of shortfall in improvement so far relative
        to the average patient (0.5). ``0`` = drop-out unrelated to response.
        Drop-out depends on observed scores only (missing at random).
    hidden : float
        Selection on an *unrecorded* prognostic factor (e.g. motivation) that
        also speeds improvement: adds ``hidden * U`` to the log-odds of
        choosing PA. ``0`` = no unmeasured confounding.
    cases_only : bool
        Keep only patients who are a case at their first score (as the
        national recovery statistic), so ``recovered`` is always defined.
    sessions : bool
        Build the long session-level frame (False skips it; faster).

    Returns
    -------
    SimulatedCohort
        ``patients``, ``sessions``, ``truth`` and ``params``.

    Notes
    -----
    ``phq9_change = phq9_last - phq9_first``: a benefit is a **negative** ATE on
    change and a positive ATE on ``recovered``. The truth is the sample
    average of individual effects, each computed from both potential outcomes
    (same covariates, noise and drop-out draws; only ``pa`` flipped). Because PA
    also changes early response, it changes drop-out and hence the number of
    sessions; the truth includes that.

    Examples
    --------
    >>> sim = cohort(n=1000, rng=7, selection=0.0)
    >>> sim.patients[["phq9_first", "gad7_first"]].mean().round(0).tolist()
    [15.0, 14.0]
    >>> bool(sim.truth.loc["recovered", "ATE"] > 0)
    True
    """
    ss = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    arrays = patient_arrays(
        n,
        ss,
        selection=selection,
        effect=effect,
        effect_gad7=effect_gad7,
        heterogeneity=heterogeneity,
        n_therapists=n_therapists,
        icc=icc,
        assignment=assignment,
        p_treated=p_treated,
        mean_sessions=mean_sessions,
        max_sessions=max_sessions,
        min_sessions=min_sessions,
        attrition=attrition,
        hidden=hidden,
        cases_only=cases_only,
    )
    if not isinstance(sessions, bool):
        raise SpecificationError(f"`sessions` must be True or False; got {sessions!r}")
    params = {
        "n": len(arrays["pa"]),
        "rng": rng if not isinstance(rng, np.random.Generator) else None,
        "selection": selection,
        "effect": effect,
        "effect_gad7": effect if effect_gad7 is None else effect_gad7,
        "heterogeneity": heterogeneity,
        "n_therapists": (max(1, round(len(arrays["pa"]) / 10)) if n_therapists is None
                         else n_therapists),
        "icc": icc,
        "assignment": assignment,
        "p_treated": p_treated,
        "mean_sessions": mean_sessions,
        "max_sessions": max_sessions,
        "min_sessions": min_sessions,
        "attrition": attrition,
        "hidden": hidden,
        "cases_only": cases_only,
    }
    return cohort_from_arrays(arrays, params, sessions=sessions)


def cohort_from_arrays(arrays: dict[str, np.ndarray], params: dict[str, Any], *,
                       sessions: bool = True) -> SimulatedCohort:
    """Build a :class:`SimulatedCohort` from one cohort's :func:`patient_arrays` output.

    :func:`cohort` is ``patient_arrays`` followed by this; the power harness
    uses it on one replicate sliced from ``patient_arrays(..., replicates=R)``.

    Parameters
    ----------
    arrays : dict of numpy.ndarray
        One cohort's arrays (no replicate axis).
    params : dict
        Stored as :attr:`SimulatedCohort.params`.
    sessions : bool
        Build the session-level frame.

    Returns
    -------
    SimulatedCohort

    Examples
    --------
    >>> arr = patient_arrays(30, 4, replicates=3)
    >>> sim = cohort_from_arrays({k: v[1] for k, v in arr.items()}, {"n": 30})
    >>> sim.patients.shape
    (30, 22)
    """
    n = len(arrays["pa"])
    patient_id = np.arange(1, n + 1, dtype=np.int64)
    cols: dict[str, Any] = {
        "patient": patient_id,
        "therapist": arrays["therapist"],
        "pa": arrays["pa"],
        "age": arrays["age"],
        "sex": np.where(arrays["female"] == 1, "female", "male"),
        "employed": arrays["employed"],
        "ltc": arrays["ltc"],
        "imd_decile": arrays["imd_decile"],
        "phq9_first": arrays["phq9_first"],
        "phq9_last": arrays["phq9_last"],
        "gad7_first": arrays["gad7_first"],
        "gad7_last": arrays["gad7_last"],
        "n_sessions": arrays["n_sessions"],
        "finished": (arrays["n_sessions"] >= 2).astype(np.int64),
        "phq9_change": arrays["phq9_change"],
        "gad7_change": arrays["gad7_change"],
    }
    for name in (
        "case_first",
        "case_last",
        "recovered",
        "reliable_improvement",
        "reliable_deterioration",
        "reliable_recovery",
    ):
        cols[name] = arrays[name]
    patients = pd.DataFrame(cols, columns=list(PATIENT_COLUMNS))
    sess = None
    if sessions:
        M = arrays["phq9_sessions"].shape[1]
        mask = np.arange(M)[None, :] < arrays["n_sessions"][:, None]
        i, s = np.nonzero(mask)
        sess = pd.DataFrame(
            {
                "patient": patient_id[i],
                "therapist": arrays["therapist"][i],
                "session": s.astype(np.int64),
                "pa": arrays["pa"][i],
                "phq9": arrays["phq9_sessions"][i, s],
                "gad7": arrays["gad7_sessions"][i, s],
            }
        )
    return SimulatedCohort(patients=patients, sessions=sess, truth=_truth(arrays),
                           params=dict(params))
