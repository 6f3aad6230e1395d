"""Entropy balancing (registry entry ``"entropy"``) and its estimating equations.

Entropy balancing (Hainmueller 2012) finds the weights closest to uniform in
Kullback-Leibler divergence that give *exact* equality of covariate means. The ATT
reweights the controls to the treated means (treated weight 1), the ATC the treated to
the control means, the ATE each arm to the full-sample means. It is solved by damped
Newton steps on the convex dual, on standardised covariates; the weights are
``exp(lambda' c_i)``, scaled to mean 1 within each reweighted arm.

The stacked M-estimation sandwich uses the estimating equations of the target means and
the dual parameters (:func:`entropy_nuisance`), as WeightIt's ``vcov = "asympt"`` for
``method = "ebal"``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from causalpa._numdiff import central_jacobian
from causalpa.errors import DataError, SpecificationError
from causalpa.weighting._base import (
    MethodFit,
    Nuisance,
    WeightProblem,
    arm_constants,
    covariate_matrix,
    register_method,
)

__all__ = ["entropy_weights", "entropy_nuisance", "entropy_balancing"]


def _standardise(C: np.ndarray) -> np.ndarray:
    sd = C.std(axis=0)
    sd[sd == 0] = 1.0
    return (C - C.mean(axis=0)) / sd


def _ebal_dual(C: np.ndarray, target: np.ndarray, max_iter: int = 200) -> tuple[np.ndarray, bool]:
    """Solve min_l log sum_i exp(l'(c_i - target)) by damped Newton; return (lambda, converged)."""
    D = C - target
    lam = np.zeros(C.shape[1])

    def f(lv: np.ndarray) -> float:
        return float(special.logsumexp(D @ lv))

    fv = f(lam)
    for _ in range(max_iter):
        a = D @ lam
        p = np.exp(a - special.logsumexp(a))
        g = p @ D
        if np.max(np.abs(g)) < 1e-11:
            return lam, True
        H = (D * p[:, None]).T @ D - np.outer(g, g)
        try:
            step = -np.linalg.solve(H + 1e-12 * np.eye(len(g)), g)
        except np.linalg.LinAlgError:
            step = -np.linalg.lstsq(H, g, rcond=None)[0]
        s = 1.0
        for _ in range(50):
            new = lam + s * step
            fn = f(new)
            if fn <= fv + 1e-4 * s * (g @ step):
                break
            s /= 2
        lam, fv = new, fn
    a = D @ lam
    p = np.exp(a - special.logsumexp(a))
    return lam, bool(np.max(np.abs(p @ D)) < 1e-8)


def entropy_weights(C: np.ndarray, t: np.ndarray, estimand: str) -> tuple[np.ndarray, dict]:
    """Entropy-balancing weights giving exact mean balance on the columns of ``C``.

    Parameters
    ----------
    C : ndarray, shape (n, k)
        Covariate matrix (no intercept).
    t : ndarray
        0/1 treatment.
    estimand : {"ATE", "ATT", "ATC"}
        Target population.

    Returns
    -------
    (ndarray, dict)
        Weights (mean 1 within each reweighted arm) and the dual solutions
        (``"lambda"``: arm -> parameters, ``"target"``: standardised target means).

    Raises
    ------
    DataError
        No weights give exact balance (the target lies outside the covariates' range).

    Examples
    --------
    >>> C = np.array([[1.0], [2], [3], [2], [4], [6]])
    >>> w, _ = entropy_weights(C, np.array([1, 1, 1, 0, 0, 0]), "ATT")
    >>> round(float(np.average(C[3:, 0], weights=w[3:])), 6)
    2.0
    """
    Cs = _standardise(C)
    w = np.ones(len(t))
    if estimand == "ATT":
        arms, target = [0], Cs[t == 1].mean(axis=0)
    elif estimand == "ATC":
        arms, target = [1], Cs[t == 0].mean(axis=0)
    else:
        arms, target = [0, 1], Cs.mean(axis=0)
    lams = {}
    for arm in arms:
        m = t == arm
        lam, ok = _ebal_dual(Cs[m], target)
        if not ok or not np.all(np.isfinite(lam)):
            raise DataError(
                f"entropy balancing found no weights giving exact balance for the "
                f"{'treated' if arm == 1 else 'control'} arm: the target means lie outside (or on "
                "the edge of) the range of its covariates. Remove or coarsen covariates with "
                "little overlap, or use method='ps'."
            )
        a = Cs[m] @ lam
        wa = np.exp(a - a.max())
        w[m] = wa / wa.mean()
        lams[arm] = lam
    return w, {"lambda": lams, "target": target}


def entropy_nuisance(C: np.ndarray, t: np.ndarray, estimand: str, info: dict[str, Any],
                     stabilize: bool) -> Nuisance:
    """Estimating equations of entropy balancing: target means and dual parameters.

    ``theta = (m, lambda_arm...)`` with ``psi_m = f_i (c_i - m)`` (``f`` the units defining
    the target) and ``psi_lambda = 1[arm] exp(lambda'(c_i - m)) (c_i - m)``, on the
    standardised covariates. The weight of a reweighted unit is proportional to
    ``exp(lambda'(c_i - m))``; its arm-level scale does not affect the effect estimate and
    is held fixed. The Jacobian and the derivative of the weights are central differences.

    Parameters
    ----------
    C : ndarray
        Covariate matrix (no intercept; standardised here as by :func:`entropy_weights`).
    t : ndarray
        0/1 treatment.
    estimand : {"ATE", "ATT", "ATC"}
        Target population.
    info : dict
        The dual solution returned by :func:`entropy_weights`.
    stabilize : bool
        Whether the weights were stabilised.

    Returns
    -------
    Nuisance
    """
    Cs = _standardise(C)
    n, k = Cs.shape
    arms = sorted(info["lambda"])
    src = {"ATT": t == 1, "ATC": t == 0}.get(estimand, np.ones(n, dtype=bool)).astype(float)
    c = arm_constants(t, stabilize)
    theta0 = np.concatenate([info["target"], *[info["lambda"][a] for a in arms]])
    # scale so that weights equal the returned ones at theta0
    scale = {}
    for a in arms:
        m = t == a
        expo = np.exp((Cs[m] - info["target"]) @ info["lambda"][a])
        scale[a] = 1.0 / expo.mean()

    def parts(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = theta[:k]
        D = Cs - m
        cols = [D * src[:, None]]
        w = np.ones(n)
        for j, a in enumerate(arms):
            lam = theta[k * (j + 1): k * (j + 2)]
            ex = np.exp(np.clip(D @ lam, -700, 700))
            ind = (t == a).astype(float)
            cols.append(D * (ind * ex)[:, None])
            w = np.where(t == a, ex * scale[a], w)
        return np.hstack(cols), w * c

    psi0, _ = parts(theta0)
    jac, dw = _central_differences(parts, theta0, n)
    return Nuisance(psi=psi0, jac=jac, dw=dw, label="entropy balancing")


def _central_differences(parts: Any, theta0: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Jacobian of ``sum(psi)`` and derivative of the weights by central differences."""
    def stacked(theta: np.ndarray) -> np.ndarray:
        psi, w = parts(theta)
        return np.concatenate([psi.sum(axis=0), w])

    J = central_jacobian(stacked, theta0, rel_step=1e-6, floor=1.0)
    p = len(theta0)
    return J[:p], J[p:]


def _weights(C: np.ndarray, t: np.ndarray, estimand: str, stabilize: bool) -> np.ndarray:
    return entropy_weights(C, t, estimand)[0] * arm_constants(t, stabilize)


@register_method("entropy")
def entropy_balancing(problem: WeightProblem) -> MethodFit:
    """Entropy-balancing weights (registry entry ``"entropy"``).

    Raises
    ------
    SpecificationError
        ``estimand="ATO"`` (use ``method="ps"``) or a model without covariates.

    Examples
    --------
    >>> import causalpa as cpa
    >>> df = cpa.datasets.load_pilot()
    >>> fit = entropy_balancing(WeightProblem.from_formula(df, "pa ~ age", "ATT"))
    >>> ctrl = (df["pa"] == 0).to_numpy()
    >>> bool(np.isclose(np.average(df["age"][ctrl], weights=fit.weights[ctrl]),
    ...                 df["age"][~ctrl].mean()))
    True
    """
    p = problem
    if p.estimand == "ATO":
        raise SpecificationError(
            "method='entropy' supports estimand 'ATE', 'ATT' or 'ATC'; for overlap weights "
            "use method='ps', estimand='ATO'"
        )
    C = covariate_matrix(p.spec)
    if C.shape[1] == 0:
        raise SpecificationError("method='entropy' needs at least one covariate")
    w, info = entropy_weights(C, p.treatment, p.estimand)
    w = w * arm_constants(p.treatment, p.stabilize)
    t, estimand, stabilize = p.treatment, p.estimand, p.stabilize
    return MethodFit(weights=w, label="entropy balancing",
                     nuisance=entropy_nuisance(C, t, estimand, info, stabilize),
                     refit=lambda idx: _weights(C[idx], t[idx], estimand, stabilize), info=info)
