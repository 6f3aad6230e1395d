"""Fitting linear mixed models: profiled (RE)ML as in lme4, on block sufficient statistics.

The model is ``y = X beta + Z b + e`` with ``e ~ N(0, sigma^2 I)`` and random effects in one
small block per *inner* group (a patient; ``q`` effects, covariance ``sigma^2 Li Li'``) and,
optionally, one block per *top* group (a therapist; ``qt`` effects, covariance
``sigma^2 Lt Lt'``) in which the inner groups are nested. ``theta`` holds the lower triangles of
``Li`` and ``Lt`` column by column (lme4's order). The deviance is profiled over ``beta`` and
``sigma`` exactly as lme4 does; everything is computed from per-group cross-products
(``Z_i'Z_i``, ``Z_i'[X y]``, ...), so no ``n x n`` matrix is ever formed. The nested case uses
the arrow structure of ``Lambda' Z'Z Lambda + I`` (patient blocks plus one therapist block) and
a Schur complement per therapist.

This module holds the deviance, its optimisation and the random effects;
:mod:`causalpa.longitudinal._lmm_ddf` the small-sample degrees of freedom (Satterthwaite as
lmerTest, Kenward-Roger as pbkrtest) and :mod:`causalpa._numdiff` the
numerical derivatives. It is private; :func:`causalpa.longitudinal.mixed` is the public
interface and :class:`LmmProblem` the fast path for repeated fits (see
:meth:`LmmProblem.refit`).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize

from causalpa._numdiff import central_jacobian, gradient, hessian

__all__ = ["LmmProblem", "LmmFit", "n_theta", "single_thread"]

LOG2PI = math.log(2 * math.pi)
_LBFGSB = {"maxiter": 500, "ftol": 1e-10, "gtol": 1e-5}
_CONTROLLER: list[Any] = []


def single_thread() -> Any:
    """Context limiting BLAS to one thread.

    Every matrix here is tiny (q, p <= a few dozen), and on a loaded machine OpenBLAS
    threads waiting for work make each small call (including L-BFGS-B's) several times
    slower, so the engine runs single-threaded.
    """
    if not _CONTROLLER:
        try:
            from threadpoolctl import ThreadpoolController

            _CONTROLLER.append(ThreadpoolController())
        except Exception:  # threadpoolctl missing or failing: run as is
            _CONTROLLER.append(None)
    ctl = _CONTROLLER[0]
    return contextlib.nullcontext() if ctl is None else ctl.limit(limits=1, user_api="blas")


def n_theta(q: int) -> int:
    """Return the number of Cholesky parameters of a ``q x q`` covariance block."""
    return q * (q + 1) // 2


_TRIL: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _tril_colmajor(q: int) -> tuple[np.ndarray, np.ndarray]:
    if q not in _TRIL:
        rows, cols = np.tril_indices(q)
        order = np.lexsort((rows, cols))  # column-major
        _TRIL[q] = (rows[order], cols[order])
    return _TRIL[q]


def _lower(par: np.ndarray, q: int) -> np.ndarray:
    """Fill a lower-triangular ``q x q`` matrix column by column (lme4's theta order)."""
    L = np.zeros((q, q))
    L[_tril_colmajor(q)] = par
    return L


def _diag_index(q: int) -> list[int]:
    """Positions of the diagonal elements of ``_lower`` within its parameter vector."""
    rows, cols = _tril_colmajor(q)
    return [int(k) for k in np.flatnonzero(rows == cols)]


@dataclass
class _Eval:
    """Everything the deviance evaluation computes at one theta."""

    logdet_m: float
    xvx: np.ndarray
    xvy: np.ndarray
    yvy: float
    beta: np.ndarray
    r2: float
    logdet_x: float


@dataclass(frozen=True)
class LmmFit:
    """Result of :meth:`LmmProblem.fit` (frozen; its arrays are read-only).

    ``theta`` is in the engine's (scaled) parameterisation, ``theta_lme4`` in lme4's.
    """

    theta: np.ndarray
    beta: np.ndarray
    sigma: float
    reml: bool
    deviance: float
    vcov: np.ndarray
    converged: bool
    singular: bool
    message: str
    n_evals: int
    grad_max: float
    theta_lme4: np.ndarray

    def __post_init__(self) -> None:
        for name in ("theta", "beta", "vcov", "theta_lme4"):
            getattr(self, name).setflags(write=False)


class LmmProblem:
    """A linear mixed model on arrays, with per-group sufficient statistics.

    Parameters
    ----------
    y : (n,) array
        Response.
    X : (n, p) array
        Fixed-effects design (full column rank).
    Z : (n, q) array
        Random-effects covariates of the inner grouping (e.g. ``[1, session]``).
    inner : (n,) int array
        Inner group code of each row, ``0 .. m-1``.
    top : (m,) int array, optional
        Top-level group code (``0 .. T-1``) of each inner group, for nested models.
    Zt : (n, qt) array, optional
        Random-effects covariates of the top grouping (default: an intercept).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> g = np.repeat(np.arange(20), 5)
    >>> t = np.tile(np.arange(5.0), 20)
    >>> y = 10 + 0.5 * t + rng.normal(size=20)[g] + rng.normal(size=100)
    >>> X = np.column_stack([np.ones(100), t])
    >>> prob = LmmProblem(y, X, np.ones((100, 1)), g)
    >>> fit = prob.fit()
    >>> fit.converged, round(float(fit.beta[1]), 2)
    (True, 0.56)
    """

    def __init__(
        self,
        y: np.ndarray,
        X: np.ndarray,
        Z: np.ndarray,
        inner: np.ndarray,
        top: np.ndarray | None = None,
        Zt: np.ndarray | None = None,
    ) -> None:
        y = np.asarray(y, dtype=float)
        X = np.asarray(X, dtype=float)
        Z = np.asarray(Z, dtype=float)
        inner = np.asarray(inner, dtype=np.int64)
        n, p = X.shape
        self.n, self.p, self.q = n, p, Z.shape[1]
        m = int(inner.max()) + 1
        self.m = m
        self.nested = top is not None
        if self.nested:
            top = np.asarray(top, dtype=np.int64)
            if Zt is None:
                Zt = np.ones((n, 1))
            Zt = np.asarray(Zt, dtype=float)
            # renumber inner groups so that they are sorted by top group
            order_g = np.lexsort((np.arange(m), top))
            new_code = np.empty(m, dtype=np.int64)
            new_code[order_g] = np.arange(m)
            inner = new_code[inner]
            top = top[order_g]
            self.inner_perm = order_g  # new code k corresponds to original inner group order_g[k]
            self.T = int(top.max()) + 1
            self.qt = Zt.shape[1]
        else:
            self.inner_perm = np.arange(m)
            self.T, self.qt = 0, 0
        self.top = top
        # sort rows by inner group (stable) for reduceat
        order = np.argsort(inner, kind="stable")
        self.row_order = order
        self.X, self.inner = X[order], inner[order]
        # optimise in a better-conditioned but equivalent parameterisation: centred and scaled
        # random-effect covariates (the unstructured covariance makes the model invariant)
        self.Z_orig = Z[order]
        self.M = _scaling(self.Z_orig)
        self.Z = self.Z_orig @ self.M
        self.Zt = Zt[order] if Zt is not None else None
        self.starts = np.flatnonzero(np.r_[True, np.diff(self.inner) != 0])
        self.sizes = np.diff(np.r_[self.starts, n])
        if len(self.starts) != m:
            raise ValueError("inner group codes must be 0..m-1 without gaps")
        if self.nested:
            assert self.top is not None
            self.top_starts = np.flatnonzero(np.r_[True, np.diff(self.top) != 0])
            if len(self.top_starts) != self.T:
                raise ValueError("top group codes must be 0..T-1 without gaps")
            self.row_top = self.top[self.inner]
        self.nti, self.ntt = n_theta(self.q), n_theta(self.qt) if self.nested else 0
        self.ntheta = self.nti + self.ntt
        self.lower_bounds = np.full(self.ntheta, -np.inf)
        self.lower_bounds[_diag_index(self.q)] = 0.0
        if self.nested:
            self.lower_bounds[[self.nti + k for k in _diag_index(self.qt)]] = 0.0
        self._design_stats()
        consts = [j for j in range(p) if n and np.ptp(self.X[:, j]) == 0 and self.X[0, j] != 0]
        self.const_col: int | None = consts[0] if consts else None
        self.set_y(y)

    # ------------------------------------------------------------------ statistics
    def _group_sum(self, a: np.ndarray) -> np.ndarray:
        return np.add.reduceat(a, self.starts, axis=0)

    def _design_stats(self) -> None:
        X, Z = self.X, self.Z
        self.ZZ = self._group_sum(Z[:, :, None] * Z[:, None, :])  # (m, q, q)
        self.ZX = self._group_sum(Z[:, :, None] * X[:, None, :])  # (m, q, p)
        self.XX = X.T @ X
        if self.nested:
            assert self.Zt is not None
            Zt = self.Zt
            self.ZZt = self._group_sum(Z[:, :, None] * Zt[:, None, :])  # (m, q, qt)
            tstarts = self._row_top_starts()
            self.ZtZt = np.add.reduceat(Zt[:, :, None] * Zt[:, None, :], tstarts, axis=0)
            self.ZtX = np.add.reduceat(Zt[:, :, None] * X[:, None, :], tstarts, axis=0)

    def _row_top_starts(self) -> np.ndarray:
        # rows are sorted by inner group, inner groups by top group, so rows are sorted by top
        return np.flatnonzero(np.r_[True, np.diff(self.row_top) != 0])

    def set_y(self, y: np.ndarray) -> None:
        """Set (or replace) the response; only the ``y`` cross-products are recomputed."""
        y = np.asarray(y, dtype=float)[self.row_order]
        # with a constant column in X, shifting y only moves that coefficient: centre y so
        # that y'V^-1y does not swamp the penalised residual sum of squares in rounding
        self.beta_shift = np.zeros(self.p)
        if self.const_col is not None:
            shift = float(y.mean())
            y = y - shift
            self.beta_shift[self.const_col] = shift / self.X[0, self.const_col]
        self.y = y
        self.Zy = self._group_sum(self.Z * y[:, None])  # (m, q)
        self.Xy = self.X.T @ y
        self.yy = float(y @ y)
        self.ZW = np.concatenate([self.ZX, self.Zy[:, :, None]], axis=2)  # (m, q, p+1)
        WW = np.empty((self.p + 1, self.p + 1))
        WW[: self.p, : self.p] = self.XX
        WW[: self.p, self.p] = WW[self.p, : self.p] = self.Xy
        WW[self.p, self.p] = self.yy
        self.WW = WW
        if self.nested:
            assert self.Zt is not None
            tstarts = self._row_top_starts()
            Zty = np.add.reduceat(self.Zt * y[:, None], tstarts, axis=0)
            self.ZtW = np.concatenate([self.ZtX, Zty[:, :, None]], axis=2)

    # ------------------------------------------------------------------ core
    def factors(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Relative covariance factors ``Li`` (q x q) and ``Lt`` (qt x qt, or None)."""
        theta = np.asarray(theta, dtype=float)
        Li = _lower(theta[: self.nti], self.q)
        Lt = _lower(theta[self.nti :], self.qt) if self.nested else None
        return Li, Lt

    def _solve_small(self, A: np.ndarray, R: np.ndarray) -> tuple[np.ndarray, float]:
        """Solve ``A_m x = R_m`` for a stack of small SPD blocks; also return ``sum log|A_m|``."""
        q = A.shape[-1]
        if q == 1:
            a = A[:, 0, 0]
            if np.any(a <= 0):
                raise np.linalg.LinAlgError("not positive definite")
            return R / a[:, None, None], float(np.log(a).sum())
        if q == 2:
            a, b, d = A[:, 0, 0], A[:, 0, 1], A[:, 1, 1]
            det = a * d - b * b
            if np.any(det <= 0) or np.any(a <= 0):
                raise np.linalg.LinAlgError("not positive definite")
            r0, r1 = R[:, 0, :], R[:, 1, :]
            out = np.empty_like(R)
            out[:, 0, :] = (d[:, None] * r0 - b[:, None] * r1) / det[:, None]
            out[:, 1, :] = (a[:, None] * r1 - b[:, None] * r0) / det[:, None]
            return out, float(np.log(det).sum())
        cA = np.linalg.cholesky(A)
        logdet = float(2.0 * np.log(np.diagonal(cA, axis1=1, axis2=2)).sum())
        return np.linalg.solve(A, R), logdet

    def theta_original(self, theta: np.ndarray) -> np.ndarray:
        """Map internal ``theta`` to lme4's parameterisation (unscaled covariates)."""
        Li, Lt = self.factors(theta)
        out = [_lower_params(_lower_factor(self.M @ Li))]
        if Lt is not None:
            out.append(_lower_params(Lt))
        return np.concatenate(out)

    def _blocks(self, theta: np.ndarray) -> dict[str, Any]:
        Li, Lt = self.factors(theta)
        q = self.q
        R = Li.T @ self.ZW  # Li' Z_i'W, (m, q, p+1)
        A = Li.T @ self.ZZ @ Li + np.eye(q)
        AinvR, logdet = self._solve_small(A, R)
        k = R.shape[2]
        G = R.reshape(-1, k).T @ AinvR.reshape(-1, k)
        out: dict[str, Any] = {"Li": Li, "Lt": Lt, "A": A, "R": R, "AinvR": AinvR}
        if self.nested:
            assert Lt is not None
            qt = self.qt
            B = Li.T @ self.ZZt @ Lt  # (m, q, qt)
            AinvB, _ = self._solve_small(A, B)
            D = Lt.T @ self.ZtZt @ Lt + np.eye(qt)
            BT = np.transpose(B, (0, 2, 1))
            S = D - np.add.reduceat(BT @ AinvB, self.top_starts, axis=0)
            Rt = Lt.T @ self.ZtW - np.add.reduceat(BT @ AinvR, self.top_starts, axis=0)
            SinvRt, ld = self._solve_small(S, Rt)
            logdet += ld
            G = G + Rt.reshape(-1, k).T @ SinvRt.reshape(-1, k)
            out.update(B=B, AinvB=AinvB, S=S, Rt=Rt, SinvRt=SinvRt)
        out["logdet"] = logdet
        out["G"] = 0.5 * (G + G.T)
        return out

    def evaluate(self, theta: np.ndarray) -> _Eval:
        """Profiled quantities at ``theta``: ``log|L|^2``, ``X'V*^-1X``, ``beta``, PRSS."""
        bl = self._blocks(theta)
        p = self.p
        WVW = self.WW - bl["G"]
        xvx = 0.5 * (WVW[:p, :p] + WVW[:p, :p].T)
        xvy = WVW[:p, p]
        yvy = float(WVW[p, p])
        cX = np.linalg.cholesky(xvx)
        beta = np.linalg.solve(xvx, xvy)
        r2 = float(yvy - xvy @ beta)
        logdet_x = float(2.0 * np.log(np.diag(cX)).sum())
        return _Eval(bl["logdet"], xvx, xvy, yvy, beta, max(r2, 1e-300), logdet_x)

    def deviance(self, theta: np.ndarray, reml: bool = True) -> float:
        """Profiled deviance (``-2 log L``; REML criterion if ``reml``), as lme4's devfun."""
        try:
            ev = self.evaluate(theta)
        except np.linalg.LinAlgError:
            return np.inf
        n, p = self.n, self.p
        if reml:
            nmp = n - p
            return ev.logdet_m + ev.logdet_x + nmp * (1.0 + LOG2PI + math.log(ev.r2 / nmp))
        return ev.logdet_m + n * (1.0 + LOG2PI + math.log(ev.r2 / n))

    def deviance_grad(self, theta: np.ndarray, reml: bool = True) -> tuple[float, np.ndarray]:
        """Profiled deviance and its analytic gradient in ``theta`` (single grouping level).

        With ``A_i = L'Z_i'Z_i L + I``, ``U_i = A_i^-1 L'Z_i'W`` and ``W = [X y]``, the
        derivative of ``W'V*^-1W`` along ``dL = e_r e_c'`` is ``-(S + S')`` with
        ``S = sum_i (Z_i'W - Z_i'Z_i L U_i)[r]' U_i[c]``; ``d log|A_i| = 2 (A_i^-1 L'Z_i'Z_i)[c, r]``.
        Nested models use central differences.
        """
        if self.nested:
            f0 = self.deviance(theta, reml)
            return f0, self._grad(theta, reml, f0)
        try:
            bl = self._blocks(theta)
        except np.linalg.LinAlgError:
            return np.inf, np.zeros_like(theta)
        p, n = self.p, self.n
        WVW = self.WW - bl["G"]
        xvx = 0.5 * (WVW[:p, :p] + WVW[:p, :p].T)
        try:
            cX = np.linalg.cholesky(xvx)
        except np.linalg.LinAlgError:
            return np.inf, np.zeros_like(theta)
        beta = np.linalg.solve(xvx, WVW[:p, p])
        r2 = max(float(WVW[p, p] - WVW[:p, p] @ beta), 1e-300)
        logdet_x = float(2.0 * np.log(np.diag(cX)).sum())
        Li, A, U = bl["Li"], bl["A"], bl["AinvR"]
        ZZL = self.ZZ @ Li  # (m, q, q)
        P, _ = self._solve_small(A, np.transpose(ZZL, (0, 2, 1)))  # A^-1 L'ZZ
        Y = self.ZW - ZZL @ U  # (m, q, K)
        v = np.r_[-beta, 1.0]
        Yv, Uv = Y @ v, U @ v  # (m, q)
        xinv = np.linalg.inv(xvx)
        rows, cols = _tril_colmajor(self.q)
        g = np.empty(len(theta))
        dof = n - p if reml else n
        for k, (r, c) in enumerate(zip(rows, cols, strict=True)):
            dlogdet = 2.0 * float(P[:, c, r].sum())
            dr2 = -2.0 * float(Yv[:, r] @ Uv[:, c])
            gk = dlogdet + dof * dr2 / r2
            if reml:
                Sk = Y[:, r, :p].T @ U[:, c, :p]
                gk -= 2.0 * float(np.sum(xinv * Sk))
            g[k] = gk
        if reml:
            dev = bl["logdet"] + logdet_x + dof * (1.0 + LOG2PI + math.log(r2 / dof))
        else:
            dev = bl["logdet"] + dof * (1.0 + LOG2PI + math.log(r2 / dof))
        return dev, g

    def deviance_varpar(self, varpar: np.ndarray, reml: bool = True) -> float:
        """Unprofiled deviance in ``varpar = (theta, sigma)``, as lmerTest's ``devfun_vp``."""
        theta, sigma = varpar[:-1], varpar[-1]
        s2 = sigma * sigma
        ev = self.evaluate(theta)
        n = self.n
        dev = ev.logdet_m + ev.r2 / s2 + n * math.log(2 * math.pi * s2)
        if reml:
            dev += ev.logdet_x - self.p * math.log(2 * math.pi * s2)
        return dev

    def vcov_varpar(self, varpar: np.ndarray) -> np.ndarray:
        """``vcov(beta)`` as a function of ``varpar = (theta, sigma)`` (lmerTest's get_covbeta)."""
        ev = self.evaluate(varpar[:-1])
        return varpar[-1] ** 2 * np.linalg.inv(ev.xvx)

    # ------------------------------------------------------------------ fitting
    def _grad(self, theta: np.ndarray, reml: bool, f0: float | None = None) -> np.ndarray:
        """Central-difference gradient of the deviance (one-sided at the bounds)."""
        return gradient(lambda th: self.deviance(th, reml), theta, self.lower_bounds, f0)

    def start_theta(self) -> np.ndarray:
        """lme4's default start: identity relative covariance factors."""
        return np.where(np.isfinite(self.lower_bounds), 1.0, 0.0)

    def fit(self, reml: bool = True, theta0: np.ndarray | None = None) -> LmmFit:
        """Minimise the profiled deviance over ``theta`` (see :meth:`_fit`)."""
        with single_thread():
            return self._fit(reml, theta0)

    def _fit(self, reml: bool = True, theta0: np.ndarray | None = None) -> LmmFit:
        """Minimise the profiled deviance over ``theta``.

        Bounded L-BFGS-B with analytic (single level) or central-difference (nested)
        gradients, Powell as a fallback, then up to a few Newton steps on a numerical
        Hessian; converged means the scaled gradient ``max |chol(H)^-T g|`` is below 2e-3
        (lme4's check) at an interior optimum, or the projected gradient is small at a
        boundary one.
        """
        x0 = self.start_theta() if theta0 is None else np.asarray(theta0, dtype=float)
        lb = self.lower_bounds
        x0 = np.where(np.isfinite(lb) & (x0 <= lb), lb + 0.1, x0)  # never start on a bound
        bounds = [(v if np.isfinite(v) else None, None) for v in lb]
        count = [0]

        def f(th: np.ndarray) -> float:
            count[0] += 1
            return self.deviance(th, reml)

        def fg(th: np.ndarray) -> tuple[float, np.ndarray]:
            count[0] += 1
            return self.deviance_grad(th, reml)

        res = optimize.minimize(fg, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                                options=_LBFGSB)
        theta = np.asarray(res.x, dtype=float)
        fbest = float(res.fun)
        message = str(res.message)
        ok = np.isfinite(fbest)
        theta, fbest, message = self._leave_bounds(theta, fbest, message, f, fg, bounds)
        conv, grad_max, theta, fbest = self._polish(theta, fbest, reml, f)
        if not conv:  # restart with a derivative-free method, then polish again
            res2 = optimize.minimize(
                f, theta, method="Powell", bounds=bounds,
                options={"maxiter": 4000, "xtol": 1e-10, "ftol": 1e-14},
            )
            if res2.fun <= fbest:
                theta, fbest = np.asarray(res2.x, dtype=float), float(res2.fun)
                message = str(res2.message)
            conv, grad_max, theta, fbest = self._polish(theta, fbest, reml, f)
        ok = ok and np.isfinite(fbest)
        return self._make_fit(theta, fbest, reml, bool(ok and conv), message, grad_max, count[0])

    def _leave_bounds(
        self, theta: np.ndarray, fbest: float, message: str, f: Any, fg: Any, bounds: list[Any]
    ) -> tuple[np.ndarray, float, str]:
        """Move off a spurious stationary point on the boundary (up to three restarts).

        A diagonal element of a relative covariance factor at its bound 0 is always a
        stationary point (the deviance is even in it), so a gradient method can stop there
        although the deviance decreases away from it. Probe each such element and restart.
        """
        lb = self.lower_bounds
        for _ in range(3):
            at = np.flatnonzero(np.isfinite(lb) & (theta <= lb + 1e-6))
            moved = False
            for j in at:
                for delta in (0.01, 0.05, 0.2, 0.5):
                    trial = theta.copy()
                    trial[j] = lb[j] + delta
                    if f(trial) < fbest - 1e-9 * max(1.0, abs(fbest)):
                        r2 = optimize.minimize(fg, trial, jac=True, method="L-BFGS-B",
                                               bounds=bounds, options=_LBFGSB)
                        if r2.fun < fbest:
                            theta, fbest, message = (np.asarray(r2.x, dtype=float),
                                                     float(r2.fun), str(r2.message))
                            moved = True
                        break
                if moved:
                    break
            if not moved:
                break
        return theta, fbest, message

    def _make_fit(self, theta: np.ndarray, fbest: float, reml: bool, converged: bool,
                  message: str, grad_max: float, n_evals: int) -> LmmFit:
        """Estimates at the optimum ``theta``: beta, sigma, vcov(beta), lme4's theta."""
        ev = self.evaluate(theta)
        denom = self.n - self.p if reml else self.n
        sigma = math.sqrt(ev.r2 / denom)
        vcov = sigma**2 * np.linalg.inv(ev.xvx)
        theta_o = self.theta_original(theta)
        singular = bool(np.any(theta_o[np.isfinite(self.lower_bounds)] < 1e-4))
        msg = "" if converged else f"{message}; max scaled |gradient| {grad_max:.2g}"
        return LmmFit(theta.copy(), ev.beta + self.beta_shift, sigma, reml, fbest, vcov,
                      converged, singular, msg, n_evals, grad_max, theta_o)

    def _polish(
        self, theta: np.ndarray, fval: float, reml: bool, f: Any
    ) -> tuple[bool, float, np.ndarray, float]:
        """Newton steps on the free parameters; return (converged, criterion, theta, f)."""
        lb = self.lower_bounds
        theta = theta.copy()
        at_bound = np.isfinite(lb) & (theta < lb + 1e-7)
        if at_bound.any():
            snapped = theta.copy()
            snapped[at_bound] = lb[at_bound]
            fs = f(snapped)
            if fs <= fval + 1e-8:
                theta, fval = snapped, fs
        crit = np.inf
        H_prev: np.ndarray | None = None
        idx_prev = np.array([], dtype=int)
        for _ in range(4):
            g = self._grad(theta, reml, fval) if self.nested else self.deviance_grad(theta, reml)[1]
            on_bound = np.isfinite(lb) & (theta <= lb)
            free = ~(on_bound & (g > 0))
            if not free.any():
                return True, 0.0, theta, fval
            idx = np.flatnonzero(free)
            base = theta.copy()
            if H_prev is not None and np.array_equal(idx, idx_prev):
                H = H_prev  # quasi-Newton: the Hessian hardly changes near the optimum
            elif self.nested:
                def on_free(t: np.ndarray, idx: np.ndarray = idx,
                            base: np.ndarray = base) -> float:
                    return f(_put(base, idx, t))

                H = hessian(on_free, base[idx], r=2, d=1e-3)
            else:  # forward differences of the analytic gradient (inward at a bound)
                def grad_free(t: np.ndarray, idx: np.ndarray = idx,
                              base: np.ndarray = base) -> np.ndarray:
                    return self.deviance_grad(_put(base, idx, t), reml)[1][idx]

                H = central_jacobian(grad_free, base[idx], rel_step=1e-5, floor=0.1,
                                     f0=g[idx], forward=True)
                H = 0.5 * (H + H.T)
            H_prev, idx_prev = H, idx
            try:
                cH = np.linalg.cholesky(H)
            except np.linalg.LinAlgError:
                crit = float(np.max(np.abs(g[idx])))
                return crit < 1e-4 * max(1.0, abs(fval)), crit, theta, fval
            crit = float(np.max(np.abs(np.linalg.solve(cH, g[idx]))))
            if crit < 1e-6:
                break
            step = np.linalg.solve(H, g[idx])
            new = theta.copy()
            new[idx] = theta[idx] - step
            new = np.maximum(new, np.where(np.isfinite(lb), lb, -np.inf))
            fn = f(new)
            if not fn < fval:
                break
            theta, fval = new, fn
        return bool(crit < 2e-3), crit, theta, fval

    def refit(self, y: np.ndarray, reml: bool = True, theta0: np.ndarray | None = None) -> LmmFit:
        """Fit the same design to a new response (the fast path for simulation studies).

        Only ``Z'y``, ``X'y`` and ``y'y`` are recomputed; the design cross-products are reused.
        """
        self.set_y(y)
        return self.fit(reml=reml, theta0=theta0)

    # ------------------------------------------------------------------ random effects
    def random_effects(self, theta: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Conditional modes ``b = Lambda u`` (inner: (m, q) in original group order; top: (T, qt))."""
        bl = self._blocks(theta)
        v = np.r_[-(np.asarray(beta) - self.beta_shift), 1.0]
        r_i = bl["R"] @ v  # Li'(Z'y - Z'X beta), (m, q)
        if self.nested:
            Rt_adj = bl["Rt"] @ v  # already r_t - sum B' A^-1 r_i
            u_t = np.linalg.solve(bl["S"], Rt_adj[:, :, None])[:, :, 0]
            Bu = np.einsum("maj,mj->ma", bl["B"], u_t[self.top])
            u_i = np.linalg.solve(bl["A"], (r_i - Bu)[:, :, None])[:, :, 0]
            b_t = u_t @ bl["Lt"].T
        else:
            u_i = np.linalg.solve(bl["A"], r_i[:, :, None])[:, :, 0]
            b_t = None
        b_i = u_i @ (self.M @ bl["Li"]).T
        b_orig = np.empty_like(b_i)
        b_orig[self.inner_perm] = b_i
        return b_orig, b_t


# ---------------------------------------------------------------------- helpers
def _put(x: np.ndarray, idx: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = x.copy()
    out[idx] = values
    return out


def _scaling(Z: np.ndarray) -> np.ndarray:
    """Matrix ``M`` with ``Z M`` centred (if an intercept column exists) and unit-scaled."""
    q = Z.shape[1]
    M = np.eye(q)
    const = [j for j in range(q) if np.ptp(Z[:, j]) == 0 and Z[0, j] != 0]
    icpt = const[0] if const else None
    for j in range(q):
        if j in const:
            M[j, j] = 1.0 / Z[0, j]
            continue
        c = float(Z[:, j].mean()) if icpt is not None else 0.0
        sd = float(np.sqrt(np.mean((Z[:, j] - c) ** 2)))
        sd = sd if sd > 0 else 1.0
        M[j, j] = 1.0 / sd
        if icpt is not None:
            M[icpt, j] = -c / sd / Z[0, icpt]
    return M


def _lower_factor(A: np.ndarray) -> np.ndarray:
    """Lower-triangular ``L`` with non-negative diagonal and ``L L' = A A'`` (via QR)."""
    R = np.asarray(np.linalg.qr(A.T, mode="r"))
    sign = np.where(np.diag(R) < 0, -1.0, 1.0)
    return (R * sign[:, None]).T


def _lower_params(L: np.ndarray) -> np.ndarray:
    """Return the lower triangle of ``L`` column by column (lme4's theta order; ``_lower``'s inverse)."""
    return L[_tril_colmajor(L.shape[0])]


