"""Random-intercept logistic mixed model (GLMM) by the Laplace approximation.

:func:`glmm` fits ``logit P(y_ij = 1) = x_ij' beta + b_i`` with ``b_i ~ N(0, sigma_b^2)``
for one grouping factor (e.g. sessions within patients), as R's
``lme4::glmer(y ~ x + (1 | patient), family = binomial, nAGQ = 1)``. Outcomes are
0/1 (or bool) or binomial counts with a number of trials.

Method (the same objective as glmer's second optimisation stage):

* the random effect is written ``b_i = theta * u_i`` with ``u_i ~ N(0, 1)``;
* for given ``(theta, beta)`` each group's conditional mode ``u_i`` maximises the
  penalised log-likelihood (Newton, vectorised over groups);
* the Laplace deviance ``-2 log L = -2 sum log Binom(k | m, mu) + sum u_i^2 +
  sum log(1 + theta^2 sum_j m_ij mu_ij (1 - mu_ij))`` is minimised jointly in
  ``(theta >= 0, beta)`` with its exact gradient (implicit differentiation of the modes);
* the covariance of ``beta`` is ``2 [H^-1]_{beta beta}``, with ``H`` the Hessian of the
  Laplace deviance in ``(theta, beta)``: lme4's default for ``nAGQ > 0`` (``vcov``
  with ``use.hessian = TRUE``, from ``optinfo$derivs$Hessian``). Here ``H`` is a
  central finite difference of the exact gradient.

``loglik``, ``aic`` and ``bic`` include the binomial coefficients (as lme4's
``logLik``); ``deviance`` is lme4's ``deviance()`` for a GLMM: the conditional
deviance, the sum of squared deviance residuals at the conditional modes. Wald
intervals and p-values (normal reference, as glmer's summary) come from
:func:`causalpa.inference.coef_table`.

Agreement with glmer: glmer's default PIRLS tolerance (``tolPwrss = 1e-7``) stops the
conditional modes short of convergence and evaluates the log-determinant with the
weights of the previous iteration, so its default objective is off the exact Laplace
approximation by about 5e-4 on the deviance scale; its estimates then differ from the
exact optimum by about 1e-3 relative and its finite-difference-Hessian SEs by 1-2%.
With ``glmerControl(tolPwrss = 1e-12, optimizer = "bobyqa")`` glmer reaches the exact
optimum and agrees with :func:`glmm` to about 1e-6 (tests/reference/glmer).

Examples
--------
>>> import numpy as np, pandas as pd
>>> import causalpa as cpa
>>> rng = np.random.default_rng(3)
>>> d = pd.DataFrame({"patient": np.repeat(np.arange(60), 6), "session": np.tile(range(6), 60)})
>>> b = np.repeat(rng.normal(0, 1.0, 60), 6)
>>> d["case"] = (rng.random(360) < 1 / (1 + np.exp(-(1.5 - 0.4 * d.session + b)))).astype(int)
>>> fit = cpa.glmm(d, "case ~ session", groups="patient")
>>> fit.converged, round(fit.sd, 1) > 0
(True, True)
"""

import math
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import optimize, special

from causalpa._numdiff import central_jacobian
from causalpa._regression import check_full_rank, logistic
from causalpa._spec import Spec
from causalpa._validation import (
    CONF_LEVEL,
    NONE,
    Boolean,
    Column,
    check_columns,
    check_frame,
    format_rows,
    validate_params,
)
from causalpa.errors import ConvergenceWarning, DataError, SingularFitWarning, SpecificationError
from causalpa.inference import coef_table
from causalpa.longitudinal._gee_common import (
    CoefficientResult,
    PredictType,
    check_binary_outcome,
    group_codes,
    outcome_model,
    readonly,
)

__all__ = ["glmm", "GLMMResult"]

GlmmFamily = Literal["binomial"]
GlmmSE = Literal["hessian", "rx"]

_SE_LABELS = {"hessian": "Hessian of the Laplace deviance (glmer's default)",
              "rx": "fixed-effects information at the modes, theta fixed (glmer's RX)"}


# --------------------------------------------------------------------------- core
class _Laplace:
    """Laplace deviance of a random-intercept logistic model and its gradient."""

    def __init__(self, y: np.ndarray, m: np.ndarray, X: np.ndarray, codes: np.ndarray, G: int):
        self.y, self.m, self.X, self.codes, self.G = y, m, X, codes, G
        k = y * m
        self.const = -2.0 * float(np.sum(special.gammaln(m + 1) - special.gammaln(k + 1)
                                         - special.gammaln(m - k + 1)))
        self.u = np.zeros(G)
        self.inner_ok = True

    def _sum(self, v: np.ndarray) -> np.ndarray:
        return np.bincount(self.codes, weights=v, minlength=self.G)

    def _sum_cols(self, M: np.ndarray) -> np.ndarray:
        """Per-group column sums of an (n, k) array."""
        return np.column_stack([self._sum(M[:, j]) for j in range(M.shape[1])])

    def _group_objective(self, off: np.ndarray, theta: float, u: np.ndarray) -> np.ndarray:
        """Penalised log-likelihood of each group (to maximise in u)."""
        eta = off + theta * u[self.codes]
        # log mu = -log1p(exp(-eta)), log(1 - mu) = -log1p(exp(eta))
        ll = self.m * (self.y * eta - np.logaddexp(0, eta))
        return self._sum(ll) - u**2 / 2

    def modes(self, beta: np.ndarray, theta: float) -> tuple[np.ndarray, np.ndarray]:
        """Conditional modes u (spherical scale) by vectorised Newton; returns (u, mu)."""
        off = self.X @ beta
        u = self.u.copy() if theta > 0 else np.zeros(self.G)
        ok = False
        obj = self._group_objective(off, theta, u)
        for _ in range(200):
            eta = off + theta * u[self.codes]
            mu = special.expit(eta)
            grad = theta * self._sum(self.m * (self.y - mu)) - u
            hess = 1.0 + theta**2 * self._sum(self.m * mu * (1 - mu))
            step = grad / hess
            if np.max(np.abs(grad)) < 1e-10:
                ok = True
                break
            # Newton with step halving per group (the objective is concave in u)
            t = np.ones(self.G)
            for _h in range(40):
                cand = u + t * step
                new = self._group_objective(off, theta, cand)
                worse = new < obj - 1e-13 * (1 + np.abs(obj))
                if not worse.any():
                    break
                t = np.where(worse, t / 2, t)
            u, obj = cand, new
        self.inner_ok = ok
        self.u = u
        self.eta = off + theta * u[self.codes]
        return u, special.expit(self.eta)

    def loglik_terms(self) -> float:
        """-2 * sum log Binom(k | m, mu) at the last modes, without the binomial coefficients."""
        y, m, eta = self.y, self.m, self.eta
        return -2.0 * float(np.sum(m * (y * eta - np.logaddexp(0, eta))))

    def deviance(self, par: np.ndarray) -> float:
        theta, beta = float(par[0]), par[1:]
        u, mu = self.modes(beta, theta)
        S = self._sum(self.m * mu * (1 - mu))
        return (self.loglik_terms() + self.const + float(u @ u)
                + float(np.sum(np.log1p(theta**2 * S))))

    def gradient(self, par: np.ndarray) -> np.ndarray:
        theta, beta = float(par[0]), par[1:]
        u, mu = self.modes(beta, theta)
        X, m, y = self.X, self.m, self.y
        w = mu * (1 - mu)
        S = self._sum(m * w)
        denom = 1.0 + theta**2 * S
        r = m * (y - mu)
        # d u / d beta  and d u / d theta (implicit function theorem at the mode)
        sum_mwx = self._sum_cols((m * w)[:, None] * X)
        u_beta = -theta * sum_mwx / denom[:, None]
        u_theta = (self._sum(r) - theta * S * u) / denom
        c = m * w * (1 - 2 * mu)
        # dS/dbeta = sum_j c_j (x_j + theta u_beta_i)
        sum_cx = self._sum_cols(c[:, None] * X)
        C = self._sum(c)
        dS_beta = sum_cx + theta * C[:, None] * u_beta
        dS_theta = C * (u + theta * u_theta)
        g_beta = -2.0 * (X.T @ r) + ((theta**2 / denom)[:, None] * dS_beta).sum(axis=0)
        g_theta = (-2.0 * float(np.sum(self._sum(r) * u))
                   + float(np.sum((2 * theta * S + theta**2 * dS_theta) / denom)))
        return np.concatenate([[g_theta], g_beta])


def _glm_start(y: np.ndarray, m: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Binomial GLM of the proportions ``y`` with ``m`` trials: the fixed-effects start.

    As glmer, which starts from R's ``glm.fit`` (:func:`causalpa._regression.logistic`).
    """
    return logistic(y, X, m).coef


def _fd_hessian(f_grad: Any, par: np.ndarray, lower_theta: float = 0.0) -> np.ndarray:
    """Symmetrised central-difference Jacobian of the gradient (one-sided at ``theta = 0``)."""
    lower = np.full(len(par), -np.inf)
    lower[0] = lower_theta
    H = central_jacobian(f_grad, par, rel_step=1e-5, floor=1.0, lower=lower).T
    return (H + H.T) / 2


def _newton(lap: _Laplace, x0: np.ndarray, max_iter: int = 100) -> tuple[np.ndarray, bool]:
    """Damped Newton on the Laplace deviance (exact gradient, finite-difference Hessian).

    The deviance is an even function of ``theta`` (``b = theta u`` with ``u ~ N(0, 1)``), so
    ``theta`` is left unconstrained and its absolute value reported; a boundary optimum
    (``theta = 0``) is then an ordinary stationary point.
    """
    par = np.asarray(x0, dtype=float).copy()
    dev = lap.deviance(par)
    for _ in range(max_iter):
        g = lap.gradient(par)
        H = _fd_hessian(lap.gradient, par, lower_theta=-np.inf)
        if not np.all(np.isfinite(H)) or not np.all(np.isfinite(g)):
            return par, False
        lam = np.linalg.eigvalsh(H).min()
        if lam <= 1e-8:
            H = H + (abs(lam) + 1e-6 * max(1.0, np.abs(H).max())) * np.eye(len(par))
        step = np.linalg.solve(H, g)
        t = 1.0
        while t > 1e-12:
            new = par - t * step
            new_dev = lap.deviance(new)
            if np.isfinite(new_dev) and new_dev <= dev + 1e-12 * max(1.0, abs(dev)):
                break
            t /= 2
        else:
            lap.deviance(par)  # restore the modes at par
            return par, bool(np.max(np.abs(g)) < 1e-6)
        par, dev = new, new_dev
        if np.max(np.abs(t * step)) < 1e-10:
            return par, True
    return par, False


# --------------------------------------------------------------------------- result
@dataclass(frozen=True, repr=False, eq=False)
class GLMMResult(CoefficientResult):
    """A fitted random-intercept logistic GLMM (built by :func:`glmm`).

    ``tidy()`` is the fixed-effect table in the shared schema (log-odds scale, Wald z
    tests with ``df = inf`` as glmer's summary); ``params``, ``bse``, ``pvalues`` and
    ``conf_int()`` read it.

    Attributes
    ----------
    formula : str
        Model formula.
    outcome : str
        The outcome (``"case"``, ``"successes / trials"`` or the ``cbind(...)`` text).
    groups : str
        Grouping column of the random intercept.
    terms : tuple of str
        Fixed-effect names.
    se : str
        Which covariance: ``"hessian"`` or ``"rx"``.
    theta : float
        Relative covariance factor (equals ``sd`` here: the residual scale is 1).
    sd : float
        Standard deviation of the random intercept (log-odds scale).
    loglik, aic, bic : float
        Laplace log-likelihood (with binomial coefficients) and information criteria.
    deviance : float
        lme4's ``deviance()``: conditional deviance (squared deviance residuals at the modes).
    n_obs, n_groups : int
        Rows and groups.
    converged : bool
        Whether the optimisation met its tolerance.
    singular : bool
        Random-intercept SD estimated at (or next to) zero.
    conf_level : float
        Confidence level of the Wald intervals.
    notes : tuple of str
        Caveats (singular fit, non-convergence).
    """

    formula: str
    outcome: str
    groups: str
    terms: tuple[str, ...]
    se: str
    theta: float
    sd: float
    loglik: float
    deviance: float
    aic: float
    bic: float
    n_obs: int
    n_groups: int
    converged: bool
    singular: bool
    conf_level: float
    _coef: np.ndarray = field(repr=False)
    _cov: np.ndarray = field(repr=False)
    _ranef: np.ndarray = field(repr=False)
    _group_labels: pd.Index = field(repr=False)
    _spec: Spec = field(repr=False)
    notes: tuple[str, ...] = ()

    # -- protocol -------------------------------------------------------------
    def _method(self) -> str:
        return "GLMM (binomial, Laplace)"

    def _reference_df(self) -> float:
        return math.inf

    def _title(self) -> str:
        return f"GLMM (binomial, logit link; Laplace approximation): {self.formula}"

    def _meta(self) -> dict[str, Any]:
        return {
            "groups": self.groups, "n_groups": self.n_groups, "n_obs": self.n_obs,
            "sd": self.sd, "loglik": self.loglik, "aic": self.aic, "bic": self.bic,
            "deviance": self.deviance, "se": self.se,
            "inference": f"{_SE_LABELS[self.se]}, normal reference",
            "converged": self.converged, "singular": self.singular,
            "conf_level": self.conf_level,
        }

    # -- model ----------------------------------------------------------------
    @property
    def ranef(self) -> pd.Series:
        """Conditional modes of the random intercepts, indexed by group label (a new Series)."""
        return pd.Series(np.array(self._ranef), index=self._group_labels.copy(),
                         name="intercept")

    @validate_params({"conf_level": [CONF_LEVEL, NONE]})
    def odds_ratios(self, conf_level: float | None = None) -> pd.DataFrame:
        """Conditional (within-patient) odds ratios with Wald intervals.

        Parameters
        ----------
        conf_level : float, optional
            Level of the intervals (default: the fit's).

        Returns
        -------
        pandas.DataFrame
            Columns ``term, odds_ratio, conf_low, conf_high`` (a new frame).
        """
        level = self.conf_level if conf_level is None else conf_level
        t = coef_table(self._coef, np.sqrt(np.diag(self._cov)), math.inf, level,
                       term=self.terms, log_scale=True)
        return pd.DataFrame({"term": t["term"], "odds_ratio": t["estimate"],
                             "conf_low": t["conf_low"], "conf_high": t["conf_high"]})

    @validate_params({"random": Boolean()})
    def predict(
        self, newdata: pd.DataFrame, type: PredictType = "response", random: bool = True
    ) -> np.ndarray:
        """Predicted probabilities (``type="response"``) or log-odds (``"link"``).

        Parameters
        ----------
        newdata : pandas.DataFrame
            Rows with the fixed-effect variables (and the group column when ``random``);
            factor levels are those of the fit.
        type : {"response", "link"}
            Scale of the prediction.
        random : bool
            Add the patient's conditional mode (0 for groups not in the fit); False
            gives the prediction for a typical patient (random intercept 0).

        Returns
        -------
        numpy.ndarray
            One prediction per row (a new array).
        """
        X, _ = self._spec.design(check_frame(newdata, "newdata"))
        eta = X @ self._coef
        if random:
            check_columns(newdata, [self.groups], "groups")
            eta = eta + self.ranef.reindex(newdata[self.groups].to_numpy()).fillna(0.0).to_numpy()
        return eta if type == "link" else special.expit(eta)


# --------------------------------------------------------------------------- the response
_NAME = r"([A-Za-z_][A-Za-z0-9_.]*)"
_RATIO = re.compile(rf"^\s*{_NAME}\s*/\s*{_NAME}\s*$")
_CBIND = re.compile(rf"^\s*cbind\(\s*{_NAME}\s*,\s*{_NAME}\s*(?:-\s*{_NAME}\s*)?\)\s*$")


@dataclass(frozen=True)
class _Response:
    """The outcome of a GLMM: proportions ``y`` of ``m`` trials, the spec and the matrix."""

    spec: Spec
    y: np.ndarray
    m: np.ndarray
    X: np.ndarray
    outcome: str


def _count_columns(lhs: str, trials: str | None) -> tuple[str, str | None, str | None, bool]:
    """Split a binomial left-hand side: (successes, trials, failures, given in the formula)."""
    ratio = _RATIO.match(lhs)
    cbind = _CBIND.match(lhs)
    if (ratio or cbind) and trials is not None:
        raise SpecificationError(
            "give the trials either in the formula ('successes / trials ~ ...' or "
            "'cbind(successes, failures) ~ ...') or with `trials=`, not both"
        )
    if ratio:
        return ratio.group(1), ratio.group(2), None, True
    if cbind:
        succ = cbind.group(1)
        if cbind.group(3) is None:  # cbind(successes, failures)
            return succ, None, cbind.group(2), True
        if cbind.group(3) != succ:  # cbind(k, n - k)
            raise SpecificationError(
                f"in {lhs.strip()!r} the second argument must be 'trials - {succ}'")
        return succ, cbind.group(2), None, True
    return lhs.strip(), trials, None, False


def _response(data: pd.DataFrame, formula: str, trials: str | None,
              groups: str) -> _Response:
    """Read the formula: 0/1 outcomes, or successes with trials (or failures)."""
    if not isinstance(formula, str) or "~" not in formula:
        raise SpecificationError(
            f"`formula` must be a string like 'case ~ session + pa'; got {formula!r}")
    lhs, rhs = formula.split("~", 1)
    succ, trials_col, failures, in_formula = _count_columns(lhs, trials)
    if trials_col is None and failures is None:
        spec, y, X = outcome_model(data, formula, extra=(groups,),
                                   example="'case ~ session + pa'")
        check_binary_outcome(y, data.index, str(spec.lhs), "a logistic GLMM",
                             " (for counts give 'successes / trials ~ ...' or trials=)")
        return _Response(spec, y, np.ones_like(y), X, str(spec.lhs))
    count_col = trials_col if trials_col is not None else str(failures)
    check_columns(data, [succ, count_col], "formula" if in_formula else "trials")
    spec, k, X = outcome_model(data, f"{succ} ~ {rhs}", extra=(groups, count_col))
    if not pd.api.types.is_numeric_dtype(data[count_col]):
        what = "trials" if failures is None else "failures"
        raise DataError(
            f"{what} column {count_col!r} must be numeric (whole numbers); it has dtype "
            f"{data[count_col].dtype}"
        )
    m = data[count_col].to_numpy(dtype=float)
    if failures is not None:
        bad_f = (m < 0) | (m != np.round(m))
        if bad_f.any():
            raise DataError(
                f"failures {failures!r} must be whole numbers >= 0; rows "
                f"{format_rows(data.index[bad_f])} are not"
            )
        m = k + m
        trials_col = f"{succ} + {failures}"
    bad = (m < 1) | (m != np.round(m)) | (k < 0) | (k > m) | (k != np.round(k))
    if bad.any():
        raise DataError(
            f"successes {succ!r} must be whole numbers between 0 and trials {trials_col!r} "
            f"(>= 1); rows {format_rows(data.index[bad])} are not"
        )
    outcome = lhs.strip() if _CBIND.match(lhs) else f"{succ} / {trials_col}"
    return _Response(spec, k / m, m, X, outcome)


# --------------------------------------------------------------------------- the fit
def _optimise(lap: _Laplace, x0: np.ndarray) -> tuple[np.ndarray, bool]:
    """Damped Newton from ``x0``; on failure a bounded quasi-Newton search, then Newton."""
    par, newton_ok = _newton(lap, x0)
    if not newton_ok:
        opt = optimize.minimize(
            lap.deviance, x0, jac=lap.gradient, method="L-BFGS-B",
            bounds=[(0.0, None)] + [(None, None)] * (len(x0) - 1),
            options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-9},
        )
        par, newton_ok = _newton(lap, opt.x.copy())
    return par, newton_ok


def _rx_covariance(lap: _Laplace, par: np.ndarray, m: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Return glmer's RX-based covariance of the fixed effects (``use.hessian = FALSE``).

    The inverse of the Schur complement of the random-effects block of the penalised
    weighted information at the conditional modes, with theta held fixed.
    """
    lap.deviance(par)
    mu_hat = special.expit(lap.eta)
    Wt = m * mu_hat * (1 - mu_hat)
    S_g = lap._sum(Wt)
    A_g = lap._sum_cols(Wt[:, None] * X)
    th = float(par[0])
    info = X.T @ (Wt[:, None] * X) - (A_g.T * (th**2 / (1 + th**2 * S_g))) @ A_g
    return np.linalg.inv(info)


def _conditional_deviance(lap: _Laplace, y: np.ndarray, m: np.ndarray) -> float:
    """lme4's ``deviance()`` for a GLMM: squared deviance residuals at the conditional modes."""
    with np.errstate(divide="ignore", invalid="ignore"):
        sat = np.where(y > 0, y * np.log(y), 0.0) + np.where(y < 1, (1 - y) * np.log1p(-y), 0.0)
    sat_m2ll = -2.0 * float(np.sum(m * sat))
    return lap.loglik_terms() - sat_m2ll


def _warn(message: str, category: type[Warning]) -> str:
    # stack: warn <- _warn <- glmm <- validate_params wrapper <- the caller
    warnings.warn(message, category, stacklevel=4)
    return message


# --------------------------------------------------------------------------- public
@validate_params({"groups": Column(), "trials": [Column(), NONE], "conf_level": CONF_LEVEL})
def glmm(
    data: pd.DataFrame,
    formula: str,
    *,
    groups: str = "patient",
    family: GlmmFamily = "binomial",
    trials: str | None = None,
    se: GlmmSE = "hessian",
    conf_level: float = 0.95,
) -> GLMMResult:
    """Fit a random-intercept logistic GLMM by the Laplace approximation (glmer, nAGQ = 1).

    Parameters
    ----------
    data : pandas.DataFrame
        Long data (e.g. one row per session); never modified.
    formula : str
        Fixed effects, ``"case ~ session + pa"`` for a 0/1 (or bool) outcome, or for
        binomial counts ``"successes / trials ~ terms"``; glmer's spellings
        ``"cbind(successes, trials - successes) ~ terms"`` and
        ``"cbind(successes, failures) ~ terms"`` are accepted too.
    groups : str
        Grouping column carrying the random intercept (default ``"patient"``).
    family : {"binomial"}
        Only the binomial family with logit link is supported.
    trials : str, optional
        Column with the number of trials; the outcome column then holds the number of
        successes (alternative to the ``successes / trials`` left-hand side).
    se : {"hessian", "rx"}
        Covariance of the fixed effects: ``"hessian"`` (default, glmer's default for
        ``nAGQ = 1``): ``2 [H^-1]_{beta beta}`` from the Hessian of the Laplace deviance in
        ``(theta, beta)``, which accounts for the estimation of ``theta``; ``"rx"``:
        glmer's ``vcov(fit, use.hessian = FALSE)``, the inverse of the fixed-effects
        information at the conditional modes with ``theta`` held fixed.
    conf_level : float
        Confidence level of the Wald intervals.

    Returns
    -------
    GLMMResult

    Raises
    ------
    SpecificationError
        Unknown option or malformed formula.
    DataError
        Absent columns, missing values, an outcome that is not 0/1 (or successes not
        between 0 and the trials), non-numeric or non-integer counts, constant or
        collinear terms, fewer than 2 groups.

    Warns
    -----
    ConvergenceWarning
        The optimiser or the conditional-mode iterations did not converge.
    SingularFitWarning
        The random-intercept SD is estimated at 0.

    Examples
    --------
    Herds observed in four periods (counts of cases out of the herd size):

    >>> import numpy as np, pandas as pd
    >>> import causalpa as cpa
    >>> rng = np.random.default_rng(0)
    >>> herds = pd.DataFrame({"herd": np.repeat(np.arange(15), 4),
    ...                       "period": np.tile(["1", "2", "3", "4"], 15), "size": 20})
    >>> herds["incidence"] = rng.binomial(20, np.repeat(rng.uniform(0.05, 0.3, 15), 4))
    >>> fit = cpa.glmm(herds, "incidence / size ~ C(period)", groups="herd")
    >>> fit.outcome, fit.n_groups, bool(fit.sd > 0)
    ('incidence / size', 15, True)
    >>> list(fit.odds_ratios().columns)
    ['term', 'odds_ratio', 'conf_low', 'conf_high']
    """
    data = check_frame(data, "data")
    codes, labels = group_codes(data, groups)
    r = _response(data, formula, trials, groups)
    y, m, X = r.y, r.m, r.X
    p = X.shape[1]
    check_full_rank(X, list(r.spec.columns), "the `formula`")
    G = len(labels)
    if G < 2:
        raise DataError(
            f"too few groups: `groups` column {groups!r} has {G} level; a GLMM needs at "
            "least 2 (use an ordinary logistic regression)")
    lap = _Laplace(y, m, X, codes, G)
    par, newton_ok = _optimise(lap, np.concatenate([[1.0], _glm_start(y, m, X)]))
    par[0] = abs(par[0])  # the deviance is symmetric in theta
    singular = par[0] < 1e-4
    if singular:
        par[0] = 0.0
    dev = lap.deviance(par)
    grad = lap.gradient(par)
    free = slice(1, None) if singular else slice(None)
    converged = bool(newton_ok and np.all(np.isfinite(par)) and lap.inner_ok
                     and np.max(np.abs(grad[free])) < 1e-3)
    notes = []
    if singular:
        cov = 2.0 * np.linalg.inv(_fd_hessian(lap.gradient, par)[1:, 1:])
        notes.append(_warn(
            "singular fit: the random-intercept SD is estimated at 0, so the model reduces to "
            "an ordinary logistic regression; consider cpa.gee or a fixed-effects model",
            SingularFitWarning))
    else:
        cov = 2.0 * np.linalg.inv(_fd_hessian(lap.gradient, par))[1:, 1:]
    if se == "rx":
        cov = _rx_covariance(lap, par, m, X)
    sdx = X.std(axis=0)
    if np.any(np.abs(par[1:]) * np.where(sdx > 0, sdx, 1.0) > 15):
        converged = False  # (quasi-)complete separation: estimates drift to infinity
    if not converged:
        notes.append(_warn(
            "the GLMM did not converge (optimiser or conditional modes); estimates may be "
            "unreliable. Check for (quasi-)separation, rescale covariates, or simplify the model",
            ConvergenceWarning))
    theta, beta = float(par[0]), par[1:]
    u, _ = lap.modes(beta, theta)  # leaves lap at the final fit
    n_par = p + 1
    return GLMMResult(
        formula=f"{r.outcome} ~ {r.spec.rhs}", outcome=r.outcome, groups=groups,
        terms=r.spec.columns, se=se, theta=theta, sd=theta, loglik=float(-dev / 2),
        deviance=float(_conditional_deviance(lap, y, m)), aic=float(dev + 2 * n_par),
        bic=float(dev + np.log(len(y)) * n_par), n_obs=len(y), n_groups=G,
        converged=converged, singular=bool(singular), conf_level=float(conf_level),
        _coef=readonly(beta), _cov=readonly((cov + cov.T) / 2), _ranef=readonly(theta * u),
        _group_labels=pd.Index(labels, name=groups), _spec=r.spec, notes=tuple(notes),
    )
