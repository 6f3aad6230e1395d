"""Small-sample degrees of freedom for linear mixed models: Satterthwaite and Kenward-Roger.

* :func:`satterthwaite` -- as lmerTest: ``varpar = c(theta, sigma)``, the Hessian of the
  unprofiled deviance and the Jacobian of ``vcov(beta)`` in ``varpar`` by
  Richardson-extrapolated central differences (numDeriv's, :mod:`causalpa._numdiff`); the df of a
  contrast (``contest1D``) and the F test of several (``contestMD``).
* :func:`kenward_roger` -- as pbkrtest: the adjusted covariance ``vcovAdj``, the df of a
  contrast (``Lb_ddf``) and the scaled F test (``KRmodcomp``), computed cluster by cluster
  (patients, or therapists when nested) in the space of the cluster's random effects via
  the Woodbury identity, so no ``n x n`` (or even cluster-size) matrix is formed.

Both return a frozen record (read-only arrays) of what the df of any contrast need, so a
fitted model computes it once and every contrast reuses it.

Examples
--------
>>> import numpy as np
>>> from causalpa.longitudinal._lmm_fit import LmmProblem
>>> rng = np.random.default_rng(1)
>>> g = np.repeat(np.arange(20), 5)
>>> t = np.tile(np.arange(5.0), 20)
>>> y = 10 + 0.5 * t + rng.normal(size=20)[g] + rng.normal(size=100)
>>> prob = LmmProblem(y, np.column_stack([np.ones(100), t]), np.ones((100, 1)), g)
>>> fit = prob.fit()
>>> L = np.array([0.0, 1.0])
>>> round(satterthwaite(prob, fit).df(L), 1), round(kenward_roger(prob, fit).df(L), 1)
(79.0, 79.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from causalpa._numdiff import derivatives
from causalpa.longitudinal._lmm_fit import LmmFit, LmmProblem, single_thread

__all__ = ["Satterthwaite", "KenwardRoger", "satterthwaite", "kenward_roger", "independent_rows",
           "KR_MAX_RE"]

KR_MAX_RE = 6000
"""Random effects of one cluster (a therapist's block when nested) Kenward-Roger accepts."""


def _readonly(*arrays: np.ndarray) -> None:
    for a in arrays:
        a.setflags(write=False)


# =========================================================================== Satterthwaite
@dataclass(frozen=True)
class Satterthwaite:
    """LmerTest's ingredients of the Satterthwaite df (frozen; arrays read-only).

    Attributes
    ----------
    vcov : ndarray
        ``vcov(beta)`` of the fit.
    vcov_varpar : ndarray
        Covariance of ``varpar = (theta, sigma)`` (twice the inverse Hessian of the
        deviance, on its positive eigenvalues).
    jac : ndarray
        Jacobian of ``vcov(beta)`` in ``varpar``, shape ``(k + 1, p, p)``.
    hessian : ndarray
        Hessian of the unprofiled deviance in ``varpar``.
    notes : tuple of str
        Caveats (a Hessian that is not positive semi-definite).
    """

    vcov: np.ndarray
    vcov_varpar: np.ndarray
    jac: np.ndarray
    hessian: np.ndarray
    notes: tuple[str, ...]

    def __post_init__(self) -> None:
        _readonly(self.vcov, self.vcov_varpar, self.jac, self.hessian)

    def df(self, L: np.ndarray) -> float:
        """Satterthwaite df of the contrast ``L beta`` (lmerTest's ``contest1D``)."""
        var_con = float(L @ self.vcov @ L)
        grad = np.einsum("i,kij,j->k", L, self.jac, L)
        denom = float(grad @ self.vcov_varpar @ grad)
        if denom <= 0:
            return math.inf
        return 2.0 * var_con**2 / denom

    def ftest(self, L: np.ndarray, beta: np.ndarray) -> tuple[float, float, float]:
        """F test of ``L beta = 0`` as lmerTest's ``contestMD``: (F, q, denominator df)."""
        PtL, d = independent_rows(L, self.vcov)
        q = len(d)
        t2 = (PtL @ beta) ** 2 / d
        F = float(np.sum(t2) / q)
        nu = np.array([self.df(PtL[m]) for m in range(q)])
        if q == 1 or np.all(np.abs(np.diff(nu)) < 1e-8):
            ddf = float(np.mean(nu))
        elif np.any(nu <= 2):
            ddf = 2.0
        else:
            E = float(np.sum(nu / (nu - 2)))
            ddf = 2 * E / (E - q)
        return F, float(q), ddf


def independent_rows(L: np.ndarray, vcov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Independent rows spanning the hypothesis ``L beta = 0``, as lmerTest's ``contestMD``.

    The eigenvectors ``P`` of ``L vcov L'`` with eigenvalues ``d`` above
    ``sqrt(eps) * max(d)`` give the ``q = rank(L)`` rows ``P'L``, whose estimates are
    uncorrelated with variances ``d``: linearly dependent rows of ``L`` are dropped.

    Returns
    -------
    PtL : ndarray
        The ``(q, p)`` independent rows.
    d : ndarray
        Their variances ``(q,)``, largest first.

    Examples
    --------
    >>> PtL, d = independent_rows(np.array([[0.0, 1.0], [0.0, 2.0]]), np.eye(2))
    >>> PtL.shape, np.round(d, 12).tolist()
    ((1, 2), [5.0])
    """
    L2 = np.atleast_2d(L)
    VL = L2 @ vcov @ L2.T
    d, Pm = np.linalg.eigh(VL)
    order = np.argsort(d)[::-1]
    d, Pm = d[order], Pm[:, order]
    tol = max(np.sqrt(np.finfo(float).eps) * d[0], 0.0)
    q = int(np.sum(d > tol))
    return (Pm.T @ L2)[:q], d[:q]


def satterthwaite(prob: LmmProblem, fit: LmmFit) -> Satterthwaite:
    """Return the Hessian-based ``vcov(varpar)`` and the Jacobian of ``vcov(beta)``, as lmerTest.

    lmerTest differentiates ``devfun_vp(varpar)`` and ``vcov(beta)(varpar)`` numerically
    in ``varpar = (theta, sigma)``. Here the ``sigma`` derivatives are analytic and the
    ``theta`` derivatives of the three ingredients (``log|L|^2 [+ log|RX|^2]``, the
    penalised RSS and ``(X'V*^-1X)^-1``) come from one set of Richardson-extrapolated
    central differences (numDeriv's ``d = 0.1``, ``r = 4``).
    """
    with single_thread():
        theta, sigma = fit.theta, fit.sigma
        k = len(theta)
        p = prob.p
        reml = fit.reml

        def ingredients(th: np.ndarray) -> np.ndarray:
            ev = prob.evaluate(th)
            a = ev.logdet_m + (ev.logdet_x if reml else 0.0)
            return np.concatenate([[a, ev.r2], np.linalg.inv(ev.xvx).ravel()])

        f0, grad, hess = derivatives(ingredients, theta, n_second=2)
        r2 = f0[1]
        c = prob.n - (p if reml else 0)
        s2 = sigma * sigma
        H = np.empty((k + 1, k + 1))
        H[:k, :k] = hess[0] + hess[1] / s2
        H[:k, k] = H[k, :k] = -2.0 * grad[1] / sigma**3
        H[k, k] = 6.0 * r2 / s2**2 - 2.0 * c / s2
        evals, evecs = np.linalg.eigh(H)
        tol = 1e-8
        pos = evals > tol
        notes = []
        if np.any(evals < -tol):
            notes.append(
                f"the Hessian of the deviance has {int(np.sum(evals < -tol))} negative "
                "eigenvalue(s): the model may not have converged; Satterthwaite df are unreliable"
            )
        h_inv = (evecs[:, pos] / evals[pos]) @ evecs[:, pos].T
        A = 2.0 * h_inv
        vinv = f0[2:].reshape(p, p)
        jac = np.empty((k + 1, p, p))
        jac[:k] = s2 * grad[2:].T.reshape(k, p, p)
        jac[k] = 2.0 * sigma * vinv
        jac = 0.5 * (jac + np.transpose(jac, (0, 2, 1)))
        return Satterthwaite(np.array(fit.vcov), A, jac, H, tuple(notes))


# =========================================================================== Kenward-Roger
@dataclass(frozen=True)
class KenwardRoger:
    """Pbkrtest's ``vcovAdj`` and the matrices its df need (frozen; arrays read-only).

    Attributes
    ----------
    vcov : ndarray
        ``vcov(beta)`` of the fit.
    vcov_adj : ndarray
        Kenward-Roger adjusted covariance of the fixed effects.
    P : ndarray
        Derivatives of ``vcov(beta)^-1`` in the covariance parameters, ``(g, p, p)``.
    W : ndarray
        Covariance of the covariance parameters (twice the inverse expected information).
    condi : float
        Smallest absolute eigenvalue of the expected information.
    """

    vcov: np.ndarray
    vcov_adj: np.ndarray
    P: np.ndarray
    W: np.ndarray
    condi: float
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _readonly(self.vcov, self.vcov_adj, self.P, self.W)

    def moments(self, L: np.ndarray) -> tuple[float, float, float]:
        """Pbkrtest's ``Lb_ddf`` moments for ``L``: (q, denominator df, A2)."""
        L2 = np.atleast_2d(L)
        vcov, P, W = self.vcov, self.P, self.W
        Theta = L2.T @ np.linalg.solve(L2 @ vcov @ L2.T, L2)
        ThetaV = Theta @ vcov
        ng = len(P)
        us = [ThetaV @ P[i] @ vcov for i in range(ng)]
        A1 = A2 = 0.0
        for i in range(ng):
            for j in range(i, ng):
                e = 1.0 if i == j else 2.0
                A1 += e * W[i, j] * (np.trace(us[i]) * np.trace(us[j]))
                A2 += e * W[i, j] * np.sum(us[i] * us[j].T)
        q = float(np.linalg.matrix_rank(L2))
        B = (1 / (2 * q)) * (A1 + 6 * A2)
        g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
        c1 = g / (3 * q + 2 * (1 - g))
        c2 = (q - g) / (3 * q + 2 * (1 - g))
        c3 = (q + 2 - g) / (3 * q + 2 * (1 - g))
        V0 = 1 + c1 * B
        V1 = 1 - c2 * B
        V2 = 1 - c3 * B
        V0 = 0.0 if abs(V0) < 1e-10 else V0
        x, y = 1 - A2 / q, V1
        ratio = 1.0 if (abs(x) < 1e-14 and abs(y) < 1e-14) else x / y
        rho = 1 / q * ratio**2 * V0 / V2
        return q, float(4 + (q + 2) / (q * rho - 1)), float(A2)

    def df(self, L: np.ndarray) -> float:
        """Pbkrtest's ``Lb_ddf`` for one contrast ``L``."""
        return self.moments(L)[1]

    def ftest(self, L: np.ndarray, beta: np.ndarray) -> tuple[float, float, float]:
        """F test of ``L beta = 0`` as pbkrtest's ``KRmodcomp``: (scaled F, q, denominator df).

        Linearly dependent rows of ``L`` are first reduced to independent ones as for
        Satterthwaite (:func:`independent_rows`); the test does not depend on the basis.
        """
        L2 = np.atleast_2d(L)
        if np.linalg.matrix_rank(L2 @ self.vcov @ L2.T) < L2.shape[0]:
            L2 = independent_rows(L2, self.vcov)[0]
        q, df2, A2 = self.moments(L2)
        scaling = 1.0 if abs(df2 - 2) < 1e-2 else df2 * (1 - A2 / q) / (df2 - 2)
        Lb = L2 @ beta
        wald = float(Lb @ np.linalg.solve(L2 @ self.vcov_adj @ L2.T, Lb))
        return scaling * wald / q, q, float(df2)


def kenward_roger(prob: LmmProblem, fit: LmmFit) -> KenwardRoger:
    """Return pbkrtest's ``vcovAdj`` with its ``P`` and ``W`` matrices (REML fits).

    Everything is computed in the random-effects space of each independent cluster (a
    patient, or a therapist when nested): with ``Sigma_c = s (I + Z L L'Z')`` and
    ``M = I + L'Z'Z L``, ``Sigma_c^-1 = (I - Z L M^-1 L'Z') / s``, so ``P``, ``Q`` and the
    traces of pbkrtest need only ``Z'Z``, ``Z'X`` and ``Q x Q`` algebra (``Q`` random
    effects per cluster).

    Raises
    ------
    MemoryError
        A therapist's dense block of random effects exceeds :data:`KR_MAX_RE`.
    """
    Li, Lt = prob.factors(fit.theta)
    s2 = fit.sigma**2
    pairs_i = [(a, b) for b in range(prob.q) for a in range(b, prob.q)]
    pairs_t = [(a, b) for b in range(prob.qt) for a in range(b, prob.qt)] if prob.nested else []
    ng = len(pairs_i) + len(pairs_t) + 1  # covariance parameters, then the residual variance
    p = prob.p
    acc: dict[str, Any] = {
        "P": np.zeros((ng - 1, p, p)), "Q": np.zeros((ng - 1, ng - 1, p, p)),
        "K": np.zeros((ng - 1, ng - 1)), "Qres": np.zeros((ng - 1, p, p)),
        "Kres": np.zeros(ng - 1), "AA": np.zeros((p, p)), "FLF": np.zeros((p, p)),
        "tr": 0.0, "tr2": 0.0,
    }
    Lo = prob.M @ Li  # relative factor for the original (unscaled) covariates
    Zo = prob.Z_orig
    ZZo = prob._group_sum(Zo[:, :, None] * Zo[:, None, :])  # (m, q, q)
    ZXo = prob._group_sum(Zo[:, :, None] * prob.X[:, None, :])  # (m, q, p)
    if not prob.nested:
        index = [(np.array([a]), np.array([b])) for a, b in pairs_i]
        _kr_batch(ZZo, ZXo, Lo, s2, index, acc)
    else:
        assert Lt is not None
        _kr_nested(prob, ZZo, ZXo, Lo, Lt, s2, pairs_i, pairs_t, acc)
    P, Q, K = _kr_information_parts(prob, acc, s2, ng)
    vcov_adj, W, condi = _kr_adjust(np.asarray(fit.vcov), P, Q, K)
    return KenwardRoger(np.array(fit.vcov), vcov_adj, P, W, condi)


def _kr_nested(
    prob: LmmProblem, ZZo: np.ndarray, ZXo: np.ndarray, Lo: np.ndarray, Lt: np.ndarray,
    s2: float, pairs_i: list[tuple[int, int]], pairs_t: list[tuple[int, int]],
    acc: dict[str, Any],
) -> None:
    """Accumulate over therapists: one dense block per therapist (its patients, then itself)."""
    assert prob.Zt is not None
    q, qt, p = prob.q, prob.qt, prob.p
    Zo, Zt = prob.Z_orig, prob.Zt
    ZZt = prob._group_sum(Zo[:, :, None] * Zt[:, None, :])  # (m, q, qt)
    tstarts = prob._row_top_starts()
    ZtZt = np.add.reduceat(Zt[:, :, None] * Zt[:, None, :], tstarts, axis=0)
    ZtX = np.add.reduceat(Zt[:, :, None] * prob.X[:, None, :], tstarts, axis=0)
    counts = np.diff(np.r_[prob.top_starts, prob.m])
    for mt in np.unique(counts):
        Q_ = q * mt + qt
        if Q_ > KR_MAX_RE:
            raise MemoryError(
                f"Kenward-Roger works on one dense block of random effects per "
                f"therapist; one has {Q_} (> {KR_MAX_RE})"
            )
        tops = np.flatnonzero(counts == mt)
        chunk = max(1, int(4_000_000 // (Q_ * Q_)))
        Lam = np.zeros((Q_, Q_))
        for i in range(mt):
            Lam[i * q : (i + 1) * q, i * q : (i + 1) * q] = Lo
        Lam[q * mt :, q * mt :] = Lt
        index = [(np.arange(mt) * q + a, np.arange(mt) * q + b) for a, b in pairs_i]
        index += [(np.array([q * mt + a]), np.array([q * mt + b])) for a, b in pairs_t]
        for c0 in range(0, len(tops), chunk):
            tt = tops[c0 : c0 + chunk]
            ZZc = np.zeros((len(tt), Q_, Q_))
            ZXc = np.zeros((len(tt), Q_, p))
            for k, t in enumerate(tt):
                g0 = prob.top_starts[t]
                for i in range(mt):
                    sl = slice(i * q, (i + 1) * q)
                    ZZc[k, sl, sl] = ZZo[g0 + i]
                    ZZc[k, sl, q * mt :] = ZZt[g0 + i]
                    ZZc[k, q * mt :, sl] = ZZt[g0 + i].T
                    ZXc[k, sl] = ZXo[g0 + i]
                ZZc[k, q * mt :, q * mt :] = ZtZt[t]
                ZXc[k, q * mt :] = ZtX[t]
            _kr_batch(ZZc, ZXc, Lam, s2, index, acc)


def _kr_information_parts(
    prob: LmmProblem, acc: dict[str, Any], s2: float, ng: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Assemble pbkrtest's ``P``, ``Q`` and ``K`` (the residual variance last)."""
    p = prob.p
    P = np.zeros((ng, p, p))
    Q = np.zeros((ng, ng, p, p))
    K = np.zeros((ng, ng))
    nre = ng - 1
    P[:nre] = acc["P"]
    P[nre] = -(prob.XX / s2**2 + acc["AA"])
    AA_total = -P[nre]
    for r in range(nre):
        for t in range(r, nre):
            Q[r, t] = acc["Q"][r, t]
            K[r, t] = acc["K"][r, t]
        Q[r, nre] = acc["Qres"][r]
        K[r, nre] = acc["Kres"][r]
    Q[nre, nre] = (AA_total - acc["FLF"]) / s2
    K[nre, nre] = (prob.n - 2 * acc["tr"]) / s2**2 + acc["tr2"] / s2**2
    for r in range(ng):
        P[r] = 0.5 * (P[r] + P[r].T)
        for s in range(r):
            K[r, s] = K[s, r]
    return P, Q, K


def _kr_adjust(
    Phi: np.ndarray, P: np.ndarray, Q: np.ndarray, K: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """Return the adjusted covariance ``vcovAdj``, ``W`` (from the expected information), ``condi``."""
    ng, p = len(P), Phi.shape[0]
    IE2 = np.zeros((ng, ng))
    for i in range(ng):
        PhiPi = Phi @ P[i]
        for j in range(i, ng):
            IE2[i, j] = IE2[j, i] = (
                K[i, j] - 2 * np.sum(Phi * Q[i, j]) + np.sum(PhiPi * (P[j] @ Phi))
            )
    ev = np.linalg.eigvalsh(IE2)
    condi = float(np.min(np.abs(ev)))
    W = 2 * np.linalg.inv(IE2) if condi > 1e-10 else 2 * np.linalg.pinv(IE2)
    W = 0.5 * (W + W.T)
    UU = np.zeros((p, p))
    for i in range(ng - 1):
        for j in range(i + 1, ng):
            UU += W[i, j] * (Q[i, j] - P[i] @ Phi @ P[j])
    UU = UU + UU.T
    for i in range(ng):
        UU += W[i, i] * (Q[i, i] - P[i] @ Phi @ P[i])
    PhiA = Phi + 2 * Phi @ UU @ Phi
    return PhiA, W, condi


def _apply_e(Y: np.ndarray, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
    """``E_r Y`` for the selector ``E_r = e_a e_b' + e_b e_a'`` (or ``e_a e_a'``), batched."""
    out = np.zeros_like(Y)
    out[:, ia] = Y[:, ib]
    if not np.array_equal(ia, ib):
        out[:, ib] += Y[:, ia]
    return out


def _kr_batch(
    ZZ: np.ndarray, ZX: np.ndarray, Lam: np.ndarray, s: float,
    index: list[tuple[np.ndarray, np.ndarray]], acc: dict[str, Any],
) -> None:
    """Accumulate pbkrtest's P, Q and traces over a batch of clusters (random-effects space).

    ``ZZ`` (b, Q, Q) and ``ZX`` (b, Q, p) are the clusters' cross-products, ``Lam`` the
    relative covariance factor (Q, Q), ``s`` the residual variance and ``index[r]`` the
    positions (rows ``a`` and ``b``) selected by the r-th covariance parameter, whose
    ``G_r = Z E_r Z'`` with ``E_r = sum (e_a e_b' + e_b e_a')`` (or ``e_a e_a'``).
    """
    Qn = ZZ.shape[1]
    eye = np.eye(Qn)
    N = Lam.T @ ZZ @ Lam
    Minv = np.linalg.inv(eye + N)
    LML = Lam @ Minv @ Lam.T  # (b, Q, Q)
    T = eye - LML @ ZZ
    Tt = np.transpose(T, (0, 2, 1))
    C = ZZ @ T / s  # Z' Sigma^-1 Z
    F = Tt @ ZX / s  # Z' Sigma^-1 X
    U = LML @ ZX
    ZZU = ZZ @ U
    H = Tt @ (ZX - ZZU) / s**2  # Z' Sigma^-2 X
    BB = Tt @ ZZ @ T / s**2  # Z' Sigma^-2 Z
    ZXt = np.transpose(ZX, (0, 2, 1))
    Ut = np.transpose(U, (0, 2, 1))
    acc["AA"] += np.sum(-Ut @ ZX - ZXt @ U + Ut @ ZZU, axis=0) / s**2
    Ft = np.transpose(F, (0, 2, 1))
    acc["FLF"] += np.sum(Ft @ LML @ F, axis=0)
    trMinv = np.trace(Minv, axis1=1, axis2=2)
    acc["tr"] += float(np.sum(Qn - trMinv))
    IM = eye - Minv
    acc["tr2"] += float(np.sum(IM * np.transpose(IM, (0, 2, 1))))
    EF = [_apply_e(F, ia, ib) for ia, ib in index]
    EC = [_apply_e(C, ia, ib) for ia, ib in index]
    nre = len(index)
    for r in range(nre):
        EFt = np.transpose(EF[r], (0, 2, 1))
        acc["P"][r] -= np.sum(Ft @ EF[r], axis=0)
        acc["Qres"][r] += np.sum(EFt @ H, axis=0)
        acc["Kres"][r] += float(np.trace(_apply_e(BB, *index[r]), axis1=1, axis2=2).sum())
        for t in range(r, nre):
            acc["Q"][r, t] += np.sum(EFt @ C @ EF[t], axis=0)
            acc["K"][r, t] += float(np.sum(EC[r] * np.transpose(EC[t], (0, 2, 1))))
