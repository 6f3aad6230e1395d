"""The data-generating model on numpy arrays (the vectorised core of the simulator).

:func:`simulate_arrays` draws one cohort, or ``replicates`` cohorts stacked as
consecutive blocks of patients, from a resolved :class:`~causalpa.simulate.CohortParams`.
The random draws are made in a fixed order (patients, therapists and treatment,
slopes, therapist effects, session noise, drop-out uniforms), so the same generator
gives the same cohort, and asking for fewer arrays (``keys``) skips only arithmetic,
never a draw. The model is described in ``docs/simulator.md``.

Examples
--------
>>> import numpy as np
>>> from causalpa.simulate import CohortParams
>>> from causalpa.simulate._core import simulate_arrays
>>> arr = simulate_arrays(50, np.random.default_rng(1), CohortParams().resolve(50))
>>> arr["phq9_sessions"].shape
(50, 12)
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special

from causalpa.outcomes import OUTCOME_COLUMNS, outcome_arrays
from causalpa.simulate._params import CohortParams

__all__ = ["CALIBRATION", "ARRAY_NAMES", "simulate_arrays", "truth_table"]

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
"""Fixed model constants (documented in docs/simulator.md). They were chosen so that the
control arm at the defaults reproduces the national figures in DOMAIN.md; changing them
changes the calibration."""

_OBSERVED = OUTCOME_COLUMNS  # the outcome flags of the treatment received

ARRAY_NAMES: tuple[str, ...] = (
    "therapist", "pa", "age", "female", "employed", "ltc", "imd_decile", "propensity",
    "selection_index", "phq9_first", "phq9_last", "gad7_first", "gad7_last", "n_sessions",
    "phq9_change", "gad7_change", *OUTCOME_COLUMNS, "phq9_sessions", "gad7_sessions",
    "phq9_change_0", "phq9_change_1", "gad7_change_0", "gad7_change_1", "n_sessions_0",
    "n_sessions_1", "recovered_0", "recovered_1",
)
"""Names of the arrays :func:`simulate_arrays` returns (all of them when ``keys`` is None)."""


# =========================================================================== helpers
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


# =========================================================================== patients
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


def _patients(n: int, rng: np.random.Generator, cases_only: bool) -> dict[str, np.ndarray]:
    """Baseline draws; with ``cases_only``, non-cases at the first score are redrawn."""
    base = _baseline(n, rng, CALIBRATION)
    if cases_only:
        for _ in range(1000):
            bad = np.flatnonzero((base["first_p"] < 10) & (base["first_g"] < 8))
            if bad.size == 0:
                break
            redraw = _baseline(bad.size, rng, CALIBRATION)
            for key, value in redraw.items():
                base[key][bad] = value
    return base


def _selection_index(base: dict[str, np.ndarray]) -> np.ndarray:
    """Return the selection index of recorded covariates, standardised to SD 1."""
    age, female, employed = base["age"], base["female"], base["employed"]
    ltc, imd = base["ltc"], base["imd_decile"]
    first_p, first_g = base["first_p"], base["first_g"]
    return (
        -0.45 * (age - 40.0) / 14.0
        + 0.15 * ~female
        + 0.30 * (employed - 0.55) / 0.5
        - 0.55 * (ltc - 0.30) / 0.46
        + 0.40 * (imd - 4.4) / 2.5
        - 0.15 * (first_p - 15.4) / 5.5
        - 0.10 * (first_g - 14.0) / 4.5
    ) / CALIBRATION["selection_index_sd"]


def _allocate(p: CohortParams, rng: np.random.Generator, n_cohort: int, R: int,
              index: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Therapists (spread evenly at random within each replicate) and treatment.

    Returns ``(therapist, propensity, pa)``.
    """
    n, k = n_cohort * R, int(p.n_therapists)  # type: ignore[arg-type]
    if R == 1:
        therapist = rng.permutation(np.arange(n) % k) + 1
    else:
        slots = np.broadcast_to(np.arange(n_cohort) % k, (R, n_cohort))
        therapist = rng.permuted(slots, axis=1).ravel() + 1
    if p.assignment == "therapist":
        n_pa = min(max(round(p.p_treated * k), 1 if k > 1 else 0), k - 1 if k > 1 else 1)
        if R == 1:
            pa_therapists = rng.permutation(k)[:n_pa] + 1
            propensity = np.isin(therapist, pa_therapists).astype(float)
        else:
            block = np.repeat(np.arange(R), n_cohort)
            ranks = rng.random((R, k)).argsort(axis=1).argsort(axis=1)
            propensity = (ranks < n_pa)[block, therapist - 1].astype(float)
        pa = propensity.astype(np.int64)
        rng.random(n)  # keep the stream aligned with patient assignment
    else:
        scale = math.hypot(p.selection, p.hidden)
        a = _selection_intercept(p.p_treated, scale)
        propensity = special.expit(a + p.selection * index + p.hidden * u)
        pa = (rng.random(n) < propensity).astype(np.int64)
    return therapist, propensity, pa


def _slopes(p: CohortParams, rng: np.random.Generator, base: dict[str, np.ndarray],
            index: np.ndarray, therapist: np.ndarray, n_cohort: int,
            R: int) -> dict[str, np.ndarray]:
    """Log-scale slopes of both scores, the PA effects on them and the therapist drift."""
    c = CALIBRATION
    n, k = n_cohort * R, int(p.n_therapists)  # type: ignore[arg-type]
    span = p.mean_sessions - 1.0 if p.mean_sessions > 1 else 1.0
    u, ltc, employed = base["hidden"], base["ltc"], base["employed"]
    imd, age = base["imd_decile"], base["age"]
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
    tau = math.sqrt(p.icc / (1 - p.icc)) * c["therapist_scale"]
    block = np.repeat(np.arange(R), n_cohort)
    t_eff = (tau / span) * rng.standard_normal((R, k))[block, therapist - 1]
    modifier = 1.0 + p.heterogeneity * index
    return {
        "rate0_p": c["phq9_rate"] + covariate_rate + c["rate_sd"] * zp,
        "rate0_g": c["gad7_rate"] + covariate_rate + c["rate_sd"] * zg,
        "delta_p": p.effect * c["phq9_effect_scale"] / span * modifier,
        "delta_g": p.effect_gad7 * c["gad7_effect_scale"] / span * modifier,  # type: ignore[operator]
        "t_eff": t_eff,
    }


# =========================================================================== trajectories
def _trajectories(p: CohortParams, rng: np.random.Generator, base: dict[str, np.ndarray],
                  slopes: dict[str, np.ndarray], need: dict[str, bool]) -> dict[str, np.ndarray]:
    """Session scores and drop-out of both potential outcomes (the same noise and uniforms).

    Returns per arm ``a``: ``phq9_change_a``, ``n_sessions_a``, ``_last_p_a`` and, as
    needed, ``gad7_change_a``, ``_last_g_a``, ``recovered_a`` and the score matrices
    ``_sp_a`` / ``_sg_a``.
    """
    c = CALIBRATION
    n, M = len(base["first_p"]), p.max_sessions
    first_p, first_g = base["first_p"], base["first_g"]
    need_g = need["gad7"]
    t = np.arange(M, dtype=float)
    e = rng.standard_normal((2, n, M))
    rn = c["noise_corr"]
    noise_p = c["phq9_noise_sd"] * e[0]
    noise_p[:, 0] = first_p - base["level_p"]  # first scores are already drawn
    noise_g = np.empty(0)
    if need_g:
        noise_g = c["gad7_noise_sd"] * (rn * e[0] + math.sqrt(1 - rn * rn) * e[1])
        noise_g[:, 0] = first_g - base["level_g"]
    del e
    stay = rng.random((n, M))
    h0 = _dropout_hazard(p.mean_sessions, p.min_sessions, M)
    work = {
        "t": t, "first_p": first_p, "first_g": first_g, "noise_p": noise_p, "noise_g": noise_g,
        "logit_h0": special.logit(h0) if h0 > 0 else -np.inf,
        "level_p": np.maximum(base["level_p"], 0.5)[:, None],
        "level_g": np.maximum(base["level_g"], 0.5)[:, None],
        # expected control-arm change after t sessions given the first score
        "expected": first_p[:, None] * np.expm1(c["phq9_rate"] * t[None, :-1]),
        # arm-independent parts, computed once
        "drift_p": slopes["t_eff"][:, None] * t,
        "drift_g": (c["gad7_therapist"] * slopes["t_eff"][:, None] * t if need_g
                    else np.empty(0)),
        "stay_late": stay[:, 1:],
        "shortfall": np.empty((n, M - 1)),
        "drop": np.zeros((n, M), dtype=bool),
    }
    result: dict[str, np.ndarray] = {}
    for arm in (0, 1):
        result.update(_arm(p, arm, slopes, work, need))
    return result


def _arm(p: CohortParams, arm: int, slopes: dict[str, np.ndarray], w: dict[str, Any],
         need: dict[str, bool]) -> dict[str, np.ndarray]:
    """One potential outcome: scores, drop-out (missing at random) and the last scores."""
    c = CALIBRATION
    first_p, first_g, t = w["first_p"], w["first_g"], w["t"]
    M = p.max_sessions
    out: dict[str, np.ndarray] = {}
    rate_p = (slopes["rate0_p"] - arm * slopes["delta_p"])[:, None]
    sp = _scores(w["level_p"], rate_p, t, w["drift_p"], w["noise_p"], 27)
    sp[:, 0] = first_p
    if need["gad7"]:
        rate_g = (slopes["rate0_g"] - arm * slopes["delta_g"])[:, None]
        sg = _scores(w["level_g"], rate_g, t, w["drift_g"], w["noise_g"], 21)
        sg[:, 0] = first_g
    # attrition: hazard of not attending session s rises with a shortfall in
    # observed improvement up to session s - 1 (missing at random)
    shortfall, drop = w["shortfall"], w["drop"]
    np.subtract(sp[:, :-1], first_p[:, None], out=shortfall)
    shortfall -= w["expected"]
    shortfall /= c["response_scale"]
    shortfall *= p.attrition
    shortfall += w["logit_h0"]  # now logit_h0 + attrition * shortfall
    hazard = special.expit(shortfall, out=shortfall)
    np.less(w["stay_late"], hazard, out=drop[:, 1:])
    drop[:, :p.min_sessions] = False
    first_drop = drop.argmax(axis=1)  # 0 when no drop-out (drop[:, 0] is False)
    n_sess = np.where(first_drop > 0, first_drop, M)
    rows = np.arange(len(first_p))
    last_p = sp[rows, n_sess - 1]
    out[f"phq9_change_{arm}"] = last_p - first_p
    out[f"n_sessions_{arm}"] = n_sess
    out[f"_last_p_{arm}"] = last_p
    if need["sessions"]:
        out[f"_sp_{arm}"] = sp
    if need["gad7"]:
        last_g = sg[rows, n_sess - 1]
        out[f"gad7_change_{arm}"] = last_g - first_g
        out[f"_last_g_{arm}"] = last_g
        if need["sessions"]:
            out[f"_sg_{arm}"] = sg
        if need["recovered_po"]:
            out[f"recovered_{arm}"] = outcome_arrays(first_p, last_p, first_g, last_g)["recovered"]
    return out


# =========================================================================== assembly
def _assemble(base: dict[str, np.ndarray], alloc: tuple[np.ndarray, np.ndarray, np.ndarray],
              index: np.ndarray, result: dict[str, np.ndarray], need: dict[str, bool],
              M: int) -> dict[str, np.ndarray]:
    """Return the arrays of the treatment actually received and the potential outcomes."""
    therapist, propensity, pa = alloc
    first_p, first_g = base["first_p"], base["first_g"]
    treated = pa.astype(bool)
    n_sessions = np.where(treated, result["n_sessions_1"], result["n_sessions_0"])
    last_p = np.where(treated, result["_last_p_1"], result["_last_p_0"])
    arrays: dict[str, np.ndarray] = {
        "therapist": therapist.astype(np.int64),
        "pa": pa,
        "age": base["age"].astype(np.int64),
        "female": base["female"].astype(np.int64),
        "employed": base["employed"].astype(np.int64),
        "ltc": base["ltc"].astype(np.int64),
        "imd_decile": base["imd_decile"].astype(np.int64),
        "propensity": propensity,
        "selection_index": index,
        "phq9_first": first_p.astype(np.int64),
        "phq9_last": last_p.astype(np.int64),
        "gad7_first": first_g.astype(np.int64),
    }
    if need["gad7"]:
        last_g = np.where(treated, result["_last_g_1"], result["_last_g_0"])
        arrays["gad7_last"] = last_g.astype(np.int64)
    arrays["n_sessions"] = n_sessions.astype(np.int64)
    arrays["phq9_change"] = (last_p - first_p).astype(np.int64)
    if need["gad7"]:
        arrays["gad7_change"] = (last_g - first_g).astype(np.int64)
        if need["observed"]:
            arrays.update(outcome_arrays(first_p, last_p, first_g, last_g))
    if need["sessions"]:
        mask = np.arange(M, dtype=float)[None, :] < n_sessions[:, None]
        phq9_sessions = np.where(treated[:, None], result["_sp_1"], result["_sp_0"])
        arrays["phq9_sessions"] = np.where(mask, phq9_sessions, -1).astype(np.int64)
        if need["gad7"]:
            gad7_sessions = np.where(treated[:, None], result["_sg_1"], result["_sg_0"])
            arrays["gad7_sessions"] = np.where(mask, gad7_sessions, -1).astype(np.int64)
    for key in ("phq9_change", "gad7_change", "n_sessions"):
        for arm in (0, 1):
            if f"{key}_{arm}" in result:
                arrays[f"{key}_{arm}"] = result[f"{key}_{arm}"].astype(np.int64)
    for arm in (0, 1):
        if f"recovered_{arm}" in result:
            arrays[f"recovered_{arm}"] = result[f"recovered_{arm}"]
    return arrays


def simulate_arrays(n: int, rng: np.random.Generator, params: CohortParams, *,
                    replicates: int | None = None,
                    keys: frozenset[str] | None = None) -> dict[str, np.ndarray]:
    """Simulate ``n`` patients (per replicate) with resolved ``params`` (no validation).

    This is :func:`causalpa.simulate.patient_arrays` after its checks; ``params`` must
    be resolved for ``n`` (:meth:`CohortParams.resolve`).
    """
    R = replicates or 1
    base = _patients(n * R, rng, params.cases_only)  # replicates are consecutive blocks
    index = _selection_index(base)
    alloc = _allocate(params, rng, n, R, index, base["hidden"])
    slopes = _slopes(params, rng, base, index, alloc[0], n, R)
    need = _needs(keys)
    result = _trajectories(params, rng, base, slopes, need)
    arrays = _assemble(base, alloc, index, result, need, params.max_sessions)
    if keys is not None:
        arrays = {k: v for k, v in arrays.items() if k in keys}
    if replicates is not None:
        arrays = {key: v.reshape((R, n, *v.shape[1:])) for key, v in arrays.items()}
    return arrays


# =========================================================================== truth
def truth_table(arrays: dict[str, np.ndarray]) -> pd.DataFrame:
    """Sample average effects from both potential outcomes of every patient.

    Index ``phq9_change, gad7_change, recovered``; columns ``ATE``, ``ATT``, ``ATC``,
    ``mean_y0``, ``mean_y1`` and ``smd`` (ATE over the SD of the control potential
    outcome).
    """
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
