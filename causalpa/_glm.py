"""Logistic regression exactly as R's ``glm.fit`` computes it (one IRLS for the package).

Propensity scores, outcome models for binary outcomes and g-computation all use
this one fit. It follows ``glm.fit`` step by step: the binomial family's start
``mu = (w y + 1/2) / (w + 1)``, iteratively reweighted least squares with the logit
link's ``mu.eta`` and ``linkinv`` thresholds, and the stopping rule
``|dev - dev_old| / (|dev| + 0.1) < epsilon`` with ``epsilon = 1e-8`` and at most 25
iterations. Stopping where R stops matters: matched sets depend on propensity-score
ties and near-ties, so scores must equal R's to the last digits, not merely be
close to the maximum-likelihood solution.

Examples
--------
>>> import numpy as np
>>> X = np.column_stack([np.ones(6), [0, 0, 0, 1, 1, 1]])
>>> fit = glm_logit(np.array([0, 0, 1, 1, 1, 0.0]), X)
>>> fit.converged, fit.mu.round(3).tolist()
(True, [0.333, 0.333, 0.333, 0.667, 0.667, 0.667])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

__all__ = ["GlmLogit", "glm_logit"]

_EPS = np.finfo(float).eps
_THRESH = 30.0
_INVEPS = 1.0 / _EPS
# below this many rows the least-squares steps use pivoted QR (as R's dqrls);
# above it, column-scaled normal equations (same answer to ~1e-12, much faster)
_QR_ROWS = 200_000


@dataclass(frozen=True)
class GlmLogit:
    """A fitted logistic regression (arrays only).

    Attributes
    ----------
    coef : ndarray
        Coefficients.
    eta : ndarray
        Linear predictor.
    mu : ndarray
        Fitted probabilities.
    converged : bool
        Whether R's deviance criterion was met within ``maxit`` iterations.
    n_iter : int
        IRLS iterations used.
    deviance : float
        Residual deviance.
    rank : int
        Rank of the (weighted) design.
    """

    coef: np.ndarray
    eta: np.ndarray
    mu: np.ndarray
    converged: bool
    n_iter: int
    deviance: float
    rank: int


def _linkinv(eta: np.ndarray) -> np.ndarray:
    tmp = np.where(eta < -_THRESH, _EPS, np.where(eta > _THRESH, _INVEPS, np.exp(np.clip(eta, -_THRESH, _THRESH))))
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


def _lstsq(A: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, int]:
    n, k = A.shape
    if n > _QR_ROWS:
        G = A.T @ A
        d = np.sqrt(np.clip(np.diag(G), 1e-300, None))
        Gs = G / np.outer(d, d)
        if np.linalg.cond(Gs) < 1e8:
            return np.linalg.solve(Gs, (A.T @ b) / d) / d, k
    coef, _, rank, _ = linalg.lstsq(A, b, lapack_driver="gelsy")
    return coef, int(rank)


def glm_logit(
    y: np.ndarray,
    X: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    epsilon: float = 1e-8,
    maxit: int = 25,
) -> GlmLogit:
    """Fit ``glm(y ~ X - 1, family = binomial, weights = weights)`` as R does.

    Parameters
    ----------
    y : ndarray
        Outcome in [0, 1] (0/1 for Bernoulli data).
    X : ndarray
        Model matrix, including the intercept column.
    weights : ndarray, optional
        Prior (case) weights; zero weights drop a row from the fit, as in R.
    epsilon, maxit : float, int
        ``glm.control`` settings (R's defaults).

    Returns
    -------
    GlmLogit
    """
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
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
        coef, rank = _lstsq(X[good] * sw[:, None], z * sw)
        eta = X @ coef
        mu = _linkinv(eta)
        dev = _deviance(y, mu, w)
        if abs(dev - devold) / (abs(dev) + 0.1) < epsilon:
            converged = True
            break
        devold = dev
    return GlmLogit(coef=coef, eta=eta, mu=mu, converged=converged, n_iter=it,
                    deviance=_deviance(y, mu, w), rank=rank)
