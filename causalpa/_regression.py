"""The one least-squares kernel, weighted least squares and the one logistic fitter.

Every regression fitted by the self-selection estimators goes through this module:
propensity scores (logistic, Firth), outcome models of matching, weighting and AIPW
(weighted least squares, weighted logistic), and the g-computation behind effect
estimates. Fits are returned in *working form* (:class:`Fit`): ``xs = sqrt(v) X`` and
``es`` such that ``xs[i] * es[i]`` is unit ``i``'s estimating function, which is what
the sandwich estimators of :mod:`causalpa.inference` consume.

* :func:`lstsq` is the single least-squares kernel: LAPACK's pivoted QR (``gelsy``, the
  analogue of R's ``dqrls``) up to 200,000 rows; above that, column-scaled normal
  equations when they are well conditioned (the same answer to about 1e-12, much faster),
  else QR.
* :func:`wls` is R's ``lm(weights = w)``.
* :func:`logistic` is R's ``glm.fit`` for the binomial family step by step (start
  ``mu = (w y + 1/2) / (w + 1)``, IRLS with the logit link's ``mu.eta`` and ``linkinv``
  thresholds, stopping rule ``|dev - dev_old| / (|dev| + 0.1) < epsilon``), so scores equal
  R's to the last digits: matched sets depend on propensity-score ties and near-ties. With
  ``firth=True`` it maximises Firth's penalised likelihood (as R's ``logistf``) by
  Newton-Raphson with step halving.

Examples
--------
>>> import numpy as np
>>> from causalpa._regression import logistic, wls
>>> X = np.column_stack([np.ones(6), [0, 0, 0, 1, 1, 1]])
>>> fit = logistic(np.array([0, 0, 1, 1, 1, 0.0]), X)
>>> fit.converged, fit.fitted.round(3).tolist()
(True, [0.333, 0.333, 0.333, 0.667, 0.667, 0.667])
>>> wls(np.array([1.0, 2, 3, 5]), X[:4]).coef.round(3).tolist()
[2.0, 3.0]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg, special

from causalpa.errors import DataError, SpecificationError

__all__ = ["Fit", "lstsq", "wls", "logistic", "separation_direction", "check_full_rank"]

_EPS = np.finfo(float).eps
_THRESH = 30.0
_INVEPS = 1.0 / _EPS
# below this many rows the least-squares steps use pivoted QR (as R's dqrls);
# above it, column-scaled normal equations (same answer to ~1e-12, much faster)
_QR_ROWS = 200_000


@dataclass(frozen=True)
class Fit:
    """A fitted linear or logistic model in working form (arrays only).

    Attributes
    ----------
    coef : ndarray
        Coefficients.
    xs : ndarray
        Working design ``sqrt(v) X`` (n x k); ``xs.T @ xs`` is the information matrix.
    es : ndarray
        Working residuals: ``xs[i] * es[i]`` is the estimating function of unit ``i``.
    fitted : ndarray
        Fitted values on the response scale (means, probabilities).
    eta : ndarray
        Linear predictor ``X @ coef``.
    rank : int
        Rank of the design (``k`` in the small-sample factors).
    converged : bool
        Whether the iterations met their criterion (always True for least squares).
    n_iter : int
        Iterations used (0 for least squares).
    deviance : float
        Residual deviance (residual sum of squares for least squares).

    Examples
    --------
    >>> import numpy as np
    >>> fit = wls(np.array([1.0, 2, 3, 5]), np.column_stack([np.ones(4), [0, 0, 1, 1]]))
    >>> fit.coef.round(3).tolist(), fit.rank, fit.xs.shape
    ([1.5, 2.5], 2, (4, 2))
    >>> fit.fitted.round(3).tolist(), fit.es.round(3).tolist()
    ([1.5, 1.5, 4.0, 4.0], [-0.5, 0.5, -1.0, 1.0])
    """

    coef: np.ndarray
    xs: np.ndarray
    es: np.ndarray
    fitted: np.ndarray
    eta: np.ndarray
    rank: int
    converged: bool = True
    n_iter: int = 0
    deviance: float = float("nan")


# =========================================================================== least squares
def lstsq(A: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, int]:
    """Least-squares solution of ``A x = b`` and the rank of ``A`` (the one kernel).

    Examples
    --------
    >>> import numpy as np
    >>> x, rank = lstsq(np.array([[1.0, 0], [1, 1], [1, 2]]), np.array([1.0, 2, 3]))
    >>> x.round(6).tolist(), rank
    ([1.0, 1.0], 2)
    """
    n, k = A.shape
    if n > _QR_ROWS:
        G = A.T @ A
        d = np.sqrt(np.clip(np.diag(G), 1e-300, None))
        Gs = G / np.outer(d, d)
        if np.linalg.cond(Gs) < 1e8:
            return np.linalg.solve(Gs, (A.T @ b) / d) / d, k
    coef, _, rank, _ = linalg.lstsq(A, b, lapack_driver="gelsy")
    return coef, int(rank)


def _weights(w: np.ndarray | None, n: int) -> np.ndarray:
    return np.ones(n) if w is None else np.asarray(w, dtype=float)


def wls(y: np.ndarray, X: np.ndarray, w: np.ndarray | None = None) -> Fit:
    """Weighted least squares (as R's ``lm(weights = w)``), returned in working form.

    Parameters
    ----------
    y : ndarray
        Outcome (n).
    X : ndarray
        Design matrix (n x k), including the intercept column.
    w : ndarray, optional
        Non-negative case weights (default all 1).

    Returns
    -------
    Fit

    Examples
    --------
    >>> import numpy as np
    >>> fit = wls(np.array([1.0, 2, 3, 5]), np.column_stack([np.ones(4), [0, 0, 1, 1]]))
    >>> fit.coef.round(3).tolist()
    [1.5, 2.5]
    """
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    w = _weights(w, len(y))
    sw = np.sqrt(w)
    xs = X * sw[:, None]
    coef, rank = lstsq(xs, y * sw)
    fitted = X @ coef
    es = sw * (y - fitted)
    return Fit(coef=coef, xs=xs, es=es, fitted=fitted, eta=fitted, rank=rank,
               deviance=float(es @ es))


# =========================================================================== logistic
def _linkinv(eta: np.ndarray) -> np.ndarray:
    tmp = np.where(eta < -_THRESH, _EPS,
                   np.where(eta > _THRESH, _INVEPS, np.exp(np.clip(eta, -_THRESH, _THRESH))))
    return tmp / (1.0 + tmp)


def _mu_eta(eta: np.ndarray) -> np.ndarray:
    e = np.exp(np.clip(eta, -_THRESH, _THRESH))
    out = e / ((1.0 + e) * (1.0 + e))
    return np.where(np.abs(eta) > _THRESH, _EPS, out)


def _deviance(y: np.ndarray, mu: np.ndarray, w: np.ndarray) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(y > 0, y * np.log(y / mu), 0.0)
        b = np.where(y < 1, (1 - y) * np.log((1 - y) / (1 - mu)), 0.0)
    return float(np.sum(2 * w * (a + b)))


def _glm_fit(y: np.ndarray, X: np.ndarray, w: np.ndarray, epsilon: float,
             maxit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool, int, int]:
    """R's ``glm.fit`` (binomial, logit): returns coef, eta, mu, converged, iterations, rank."""
    good = w > 0
    mu = (w * y + 0.5) / (w + 1.0)
    eta = np.log(mu / (1.0 - mu))
    devold = _deviance(y, mu, w)
    coef = np.zeros(X.shape[1])
    converged = False
    rank = X.shape[1]
    it = 0
    for it in range(1, maxit + 1):  # noqa: B007
        mu_eta = _mu_eta(eta)
        var = mu * (1.0 - mu)
        z = eta[good] + (y - mu)[good] / mu_eta[good]
        sw = np.sqrt(w[good] * mu_eta[good] ** 2 / var[good])
        coef, rank = lstsq(X[good] * sw[:, None], z * sw)
        eta = X @ coef
        mu = _linkinv(eta)
        dev = _deviance(y, mu, w)
        if abs(dev - devold) / (abs(dev) + 0.1) < epsilon:
            converged = True
            break
        devold = dev
    return coef, eta, mu, converged, it, rank


def _eval_logistic(y: np.ndarray, eta: np.ndarray) -> tuple[np.ndarray, float]:
    """Fitted probabilities and log-likelihood from one exponential per unit."""
    ex = np.exp(-np.abs(eta))
    p = np.where(eta >= 0, 1.0, ex) / (1.0 + ex)
    ll = float(y @ eta - np.sum(np.maximum(eta, 0.0)) - np.sum(np.log1p(ex)))
    return p, ll


def _firth_objective(y: np.ndarray, eta: np.ndarray, X: np.ndarray) -> float:
    p = special.expit(eta)
    w = p * (1 - p)
    info = X.T @ (X * w[:, None])
    sign, logdet = np.linalg.slogdet(info)
    if sign <= 0:
        return -np.inf
    return _eval_logistic(y, eta)[1] + 0.5 * logdet


def _firth_fit(y: np.ndarray, X: np.ndarray, maxit: int,
               tol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool, int]:
    """Firth's penalised likelihood (Jeffreys prior, as ``logistf``) by damped Newton."""
    n, k = X.shape
    # glm-like start: one weighted least-squares step from mu = (y + 0.5) / 2
    mu0 = (y + 0.5) / 2
    beta = wls(np.log(mu0 / (1 - mu0)), X, mu0 * (1 - mu0)).coef
    eta = X @ beta
    p, _ = _eval_logistic(y, eta)
    obj = _firth_objective(y, eta, X)
    converged = False
    it = 0
    for it in range(1, maxit + 1):  # noqa: B007
        Xw = X * np.sqrt(p * (1 - p))[:, None]
        info = Xw.T @ Xw
        try:
            A = np.linalg.solve(np.linalg.cholesky(info), Xw.T)
            h = np.sum(A * A, axis=0)
        except np.linalg.LinAlgError:
            h = np.zeros(n)
        score = X.T @ (y - p + h * (0.5 - p))
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(info, score, rcond=None)[0]
        # step halving to keep the penalised log-likelihood increasing
        t = 1.0
        for _ in range(30):
            new_beta = beta + t * step
            new_eta = X @ new_beta
            new_p, _ = _eval_logistic(y, new_eta)
            new_obj = _firth_objective(y, new_eta, X)
            if np.isfinite(new_obj) and new_obj >= obj - 1e-12 * (1 + abs(obj)):
                break
            t /= 2
        change = np.max(np.abs(new_beta - beta)) if k else 0.0
        beta, eta, obj, p = new_beta, new_eta, new_obj, new_p
        if change < tol * (1 + np.max(np.abs(beta))):
            converged = True
            break
    return beta, eta, p, converged, it


def logistic(
    y: np.ndarray,
    X: np.ndarray,
    w: np.ndarray | None = None,
    *,
    firth: bool = False,
    epsilon: float = 1e-8,
    maxit: int = 25,
    tol: float = 1e-10,
) -> Fit:
    """Logistic regression: R's ``glm(family = binomial, weights = w)`` or Firth's (``logistf``).

    Parameters
    ----------
    y : ndarray
        Outcome in [0, 1] (0/1 for Bernoulli data).
    X : ndarray
        Model matrix, including the intercept column.
    w : ndarray, optional
        Prior (case) weights; zero weights drop a row from the fit, as in R. The point
        estimates equal ``glm(family = quasibinomial, weights = w)``'s, whose dispersion
        the sandwich estimators do not use.
    firth : bool
        Maximise Firth's penalised likelihood instead (unweighted only: ``w`` must be
        None): finite estimates under separation and less small-sample bias.
    epsilon, maxit : float, int
        ``glm.control`` settings (R's defaults); ``maxit`` also bounds the Newton
        iterations of the Firth fit.
    tol : float
        Firth fit: convergence tolerance on the largest coefficient change.

    Returns
    -------
    Fit
        Working form with ``v = w mu (1 - mu)``; ``deviance`` is the residual deviance.

    Raises
    ------
    SpecificationError
        Weights given with ``firth=True`` (the Firth fit is unweighted).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.column_stack([np.ones(6), [1.0, 2, 3, 4, 5, 6]])
    >>> fit = logistic(np.array([0, 1, 0, 1, 1, 0.0]), X, firth=True, maxit=100)
    >>> fit.converged
    True
    """
    if firth and w is not None:
        raise SpecificationError(
            "`w` cannot be used with firth=True: the Firth fit is unweighted, and weights "
            "would enter its working form (xs, es) but not its estimates")
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    w = _weights(w, len(y))
    if firth:
        coef, eta, mu, converged, it = _firth_fit(y, X, maxit, tol)
        rank = X.shape[1]
    else:
        coef, eta, mu, converged, it, rank = _glm_fit(y, X, w, epsilon, maxit)
    v = np.clip(mu * (1 - mu), 1e-12, None)
    xs = X * np.sqrt(w * v)[:, None]
    es = np.sqrt(w) * (y - mu) / np.sqrt(v)
    return Fit(coef=coef, xs=xs, es=es, fitted=mu, eta=eta, rank=int(rank),
               converged=converged, n_iter=it, deviance=_deviance(y, mu, w))


def loglik(y: np.ndarray, eta: np.ndarray) -> float:
    """Bernoulli log-likelihood at the linear predictor ``eta`` (computed stably).

    Examples
    --------
    >>> import numpy as np
    >>> round(loglik(np.array([0.0, 1.0]), np.zeros(2)), 4)
    -1.3863
    """
    return _eval_logistic(np.asarray(y, dtype=float), eta)[1]


# =========================================================================== diagnostics
def separation_direction(X: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """Return a separating direction if the 0/1 outcome is (quasi-)separated, else None.

    Solves Konis' (2007) linear programme, as R's ``detectseparation``: maximise
    ``sum_i s_i x_i'b`` subject to ``s_i x_i'b >= 0`` and ``-1 <= b <= 1`` with
    ``s_i = 2 y_i - 1``. A positive optimum means the maximum-likelihood
    estimate does not exist (some coefficients are infinite).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.column_stack([np.ones(4), [1.0, 2, 3, 4]])
    >>> separation_direction(X, np.array([0, 0, 1, 1])) is not None
    True
    """
    from scipy.optimize import linprog

    s = 2 * np.asarray(y, dtype=float) - 1
    A = X * s[:, None]
    scale = np.maximum(np.max(np.abs(X), axis=0), 1e-300)
    A = A / scale  # column scaling for numerical stability (direction unchanged in sign)
    res = linprog(-A.sum(axis=0), A_ub=-A, b_ub=np.zeros(A.shape[0]),
                  bounds=[(-1, 1)] * A.shape[1], method="highs")
    if res.status != 0 or -res.fun <= 1e-7 * A.shape[0]:
        return None
    b = res.x / scale
    b[np.abs(res.x) < 1e-8] = 0.0
    return b


def check_full_rank(X: np.ndarray, names: list[str], what: str) -> None:
    """Refuse constant and collinear model-matrix columns, naming them.

    Parameters
    ----------
    X : ndarray
        Model matrix (with or without an intercept column named "Intercept").
    names : list of str
        Column names.
    what : str
        What the matrix is, for the message ("the propensity model").

    Raises
    ------
    DataError
        A covariate column is constant, or a column is a linear combination of the
        others (the redundant one is named).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.column_stack([np.ones(4), [1.0, 2, 3, 4], [2.0, 4, 6, 8]])
    >>> check_full_rank(X, ["Intercept", "a", "b"], "the model")
    Traceback (most recent call last):
    ...
    causalpa.errors.DataError: the model matrix is rank-deficient (2 of 3 columns independent); 'b' is a linear combination of the other covariates: remove it
    """
    if X.shape[1] == 0:
        return
    const = [names[j] for j in range(X.shape[1]) if names[j] != "Intercept" and np.ptp(X[:, j]) == 0]
    if const:
        raise DataError(
            f"covariate column(s) {', '.join(map(repr, const))} are constant; remove them "
            f"from {what}"
        )
    # rank from the Gram matrix of the column-scaled design (cheap for millions of rows)
    G = X.T @ X
    diag = np.diag(G)
    scale = np.where(diag > 0, np.sqrt(np.abs(diag)), 1.0)
    G = G / np.outer(scale, scale)
    eig = np.linalg.eigvalsh(G)
    rank = int(np.sum(eig > eig.max() * 1e-12))
    if rank < X.shape[1]:
        # find a redundant column: the first (from the right) whose removal keeps the rank
        redundant = []
        for j in range(X.shape[1] - 1, -1, -1):
            keep = [i for i in range(X.shape[1]) if i != j]
            sub_eig = np.linalg.eigvalsh(G[np.ix_(keep, keep)])
            if int(np.sum(sub_eig > eig.max() * 1e-12)) == rank:
                redundant.append(names[j])
                break
        raise DataError(
            f"{what} matrix is rank-deficient ({rank} of {X.shape[1]} columns "
            f"independent); {', '.join(map(repr, redundant))} is a linear combination of the "
            "other covariates: remove it"
        )
