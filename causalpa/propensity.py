r"""Propensity-score models: logistic (as R's ``glm``), Firth-penalised, or any classifier.

The propensity score :math:`e(x) = P(T = 1 \mid X = x)` is the probability of
choosing the treatment (e.g. physical activity) given the covariates. Three
models are available:

``"logistic"``
    Unpenalised maximum-likelihood logistic regression fitted by Newton-Raphson
    on the model matrix of the :class:`~causalpa._spec.Spec`; matches R's
    ``glm(family = binomial)`` to about 1e-8. Perfect or quasi-complete
    separation is detected (a linear-programming check, as R's
    ``detectseparation``) and raised as a :class:`~causalpa.errors.DataError`
    naming the covariates involved.
``"firth"``
    Firth's bias-reduced logistic regression (Jeffreys-prior penalty, as R's
    ``logistf``): finite estimates under separation and less small-sample bias,
    recommended for pilot-sized samples such as n = 38.
any scikit-learn classifier
    An unfitted estimator with ``fit``/``predict_proba`` (e.g. gradient boosting);
    it is cloned and fitted on the covariate matrix without the intercept column.

Examples
--------
>>> import numpy as np, pandas as pd
>>> import causalpa as cpa
>>> rng = np.random.default_rng(0)
>>> df = pd.DataFrame({"age": rng.normal(40, 10, 200), "sex": rng.choice(["f", "m"], 200)})
>>> df["pa"] = rng.binomial(1, 1 / (1 + np.exp(-(df["age"] - 40) / 10)))
>>> ps = cpa.propensity(df, "pa ~ age + C(sex)")
>>> bool(ps.scores.between(0, 1).all())
True
>>> list(ps.coef.index)
['Intercept', 'age', 'C(sex)[T.m]']
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from causalpa._callable_module import make_callable
from causalpa._glm import glm_logit
from causalpa._spec import Spec, check_number, check_option, format_rows, make_spec
from causalpa.errors import ConvergenceWarning, DataError, PositivityWarning, SpecificationError

__all__ = ["PropensityScore", "propensity", "fit_logistic"]

_MODELS = ("logistic", "firth")


@dataclass(frozen=True)
class LogisticFit:
    """Result of :func:`fit_logistic` (arrays only)."""

    coef: np.ndarray
    linear_predictor: np.ndarray
    fitted: np.ndarray
    information: np.ndarray  # X' W X at the estimate (Fisher information, unpenalised)
    converged: bool
    n_iter: int
    loglik: float


def _wls_solve(X: np.ndarray, z: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted least squares via the (column-scaled) normal equations; lstsq if ill-conditioned."""
    Xw = X * np.sqrt(w)[:, None]
    G = Xw.T @ Xw  # symmetric rank-k update (BLAS syrk)
    diag = np.diag(G)
    scale = np.where(diag > 0, np.sqrt(np.abs(diag)), 1.0)
    Gs = G / np.outer(scale, scale)
    b = (X.T @ (w * z)) / scale
    try:
        if np.linalg.cond(Gs) < 1e10:
            return np.linalg.solve(Gs, b) / scale
    except np.linalg.LinAlgError:
        pass
    sw = np.sqrt(w)
    return np.linalg.lstsq(X * sw[:, None], z * sw, rcond=None)[0]


def _loglik(y: np.ndarray, eta: np.ndarray) -> float:
    # sum y*eta - log(1 + exp(eta)), computed stably
    return _eval_logistic(y, eta)[1]


def _eval_logistic(y: np.ndarray, eta: np.ndarray) -> tuple[np.ndarray, float]:
    """Fitted probabilities and log-likelihood from one exponential per unit."""
    ex = np.exp(-np.abs(eta))
    pos = eta >= 0
    p = np.where(pos, 1.0, ex) / (1.0 + ex)
    ll = float(y @ eta - np.sum(np.maximum(eta, 0.0)) - np.sum(np.log1p(ex)))
    return p, ll


def _firth_objective(y: np.ndarray, eta: np.ndarray, X: np.ndarray) -> float:
    p = special.expit(eta)
    w = p * (1 - p)
    info = X.T @ (X * w[:, None])
    sign, logdet = np.linalg.slogdet(info)
    if sign <= 0:
        return -np.inf
    return _loglik(y, eta) + 0.5 * logdet


def fit_logistic(
    X: np.ndarray,
    y: np.ndarray,
    *,
    firth: bool = False,
    max_iter: int = 100,
    tol: float = 1e-10,
) -> LogisticFit:
    """Fit a logistic regression by Newton-Raphson with step halving.

    Parameters
    ----------
    X : ndarray, shape (n, p)
        Model matrix (include the intercept column yourself).
    y : ndarray, shape (n,)
        0/1 response.
    firth : bool
        Use Firth's modified score ``X'(y - p + h (1/2 - p))`` (Jeffreys-prior
        penalised likelihood, as R's ``logistf``).
    max_iter : int
        Maximum Newton iterations.
    tol : float
        Convergence tolerance on the largest absolute coefficient change.

    Returns
    -------
    LogisticFit

    Examples
    --------
    >>> X = np.column_stack([np.ones(6), [1.0, 2, 3, 4, 5, 6]])
    >>> fit = fit_logistic(X, np.array([0, 1, 0, 1, 1, 0]))
    >>> fit.converged
    True
    """
    n, k = X.shape
    y = np.asarray(y, dtype=float)
    if not firth:
        # unpenalised: the package's single IRLS, a copy of R's glm.fit (same start,
        # same stopping rule), so that scores and hence matched sets equal R's
        glm = glm_logit(y, X, maxit=max_iter)
        Xw = X * np.sqrt(glm.mu * (1 - glm.mu))[:, None]
        return LogisticFit(
            coef=glm.coef,
            linear_predictor=glm.eta,
            fitted=glm.mu,
            information=Xw.T @ Xw,
            converged=glm.converged,
            n_iter=glm.n_iter,
            loglik=_loglik(y, glm.eta),
        )
    beta = np.zeros(k)
    # glm-like start: one weighted least-squares step from mu = (y + 0.5) / 2
    mu0 = (y + 0.5) / 2
    z0 = np.log(mu0 / (1 - mu0))
    w0 = mu0 * (1 - mu0)
    beta = _wls_solve(X, z0, w0)
    eta = X @ beta
    p, _ = _eval_logistic(y, eta)
    obj = _firth_objective(y, eta, X)
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        w = p * (1 - p)
        Xw = X * np.sqrt(w)[:, None]
        info = Xw.T @ Xw
        resid = y - p
        if firth:
            try:
                chol = np.linalg.cholesky(info)
                A = np.linalg.solve(chol, Xw.T)
                h = np.sum(A * A, axis=0)
            except np.linalg.LinAlgError:
                h = np.zeros(n)
            resid = resid + h * (0.5 - p)
        score = X.T @ resid
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(info, score, rcond=None)[0]
        # step halving to keep the (penalised) log-likelihood increasing
        t = 1.0
        for _ in range(30):
            new_beta = beta + t * step
            new_eta = X @ new_beta
            new_p, new_obj = _eval_logistic(y, new_eta)
            if firth:
                new_obj = _firth_objective(y, new_eta, X)
            if np.isfinite(new_obj) and new_obj >= obj - 1e-12 * (1 + abs(obj)):
                break
            t /= 2
        change = np.max(np.abs(new_beta - beta)) if k else 0.0
        beta, eta, obj, p = new_beta, new_eta, new_obj, new_p
        if change < tol * (1 + np.max(np.abs(beta))):
            converged = True
            break
    w = p * (1 - p)
    Xw = X * np.sqrt(w)[:, None]
    info = Xw.T @ Xw
    return LogisticFit(
        coef=beta,
        linear_predictor=eta,
        fitted=p,
        information=info,
        converged=converged,
        n_iter=it,
        loglik=_loglik(y, eta),
    )


def separation_direction(X: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """Return a separating direction if the 0/1 outcome is (quasi-)separated, else None.

    Solves Konis' (2007) linear programme, as R's ``detectseparation``: maximise
    ``sum_i s_i x_i'b`` subject to ``s_i x_i'b >= 0`` and ``-1 <= b <= 1`` with
    ``s_i = 2 y_i - 1``. A positive optimum means the maximum-likelihood
    estimate does not exist (some coefficients are infinite).
    """
    from scipy.optimize import linprog

    s = 2 * np.asarray(y, dtype=float) - 1
    A = X * s[:, None]
    scale = np.maximum(np.max(np.abs(X), axis=0), 1e-300)
    A = A / scale  # column scaling for numerical stability (direction unchanged in sign)
    res = linprog(
        -A.sum(axis=0),
        A_ub=-A,
        b_ub=np.zeros(A.shape[0]),
        bounds=[(-1, 1)] * A.shape[1],
        method="highs",
    )
    if res.status != 0 or -res.fun <= 1e-7 * A.shape[0]:
        return None
    b = res.x / scale
    b[np.abs(res.x) < 1e-8] = 0.0
    return b


@dataclass(frozen=True)
class PropensityScore:
    """A fitted propensity-score model (frozen; built by :func:`propensity`).

    Attributes
    ----------
    scores : pandas.Series
        Estimated probability of treatment, indexed like the data.
    linear_predictor : pandas.Series
        The scores on the logit scale, ``log(e / (1 - e))``.
    treatment : numpy.ndarray
        The 0/1 treatment indicator.
    spec : Spec
        The treatment specification.
    coef : pandas.Series or None
        Coefficients of a logistic / Firth model (None for other classifiers).
    design : numpy.ndarray
        The model matrix used (with intercept for logistic / Firth models).
    design_names : list of str
        Column names of ``design``.
    model : str
        "logistic", "firth" or the classifier's class name.
    converged : bool
        Whether the iterative fit converged.

    Examples
    --------
    >>> import numpy as np
    >>> import causalpa as cpa
    >>> df = cpa.datasets.load_pilot()
    >>> ps = cpa.propensity(df, "pa ~ age + phq9_first")
    >>> ps.model, ps.n_treated, ps.n_control
    ('logistic', 16, 22)
    >>> list(ps.coef.index)
    ['Intercept', 'age', 'phq9_first']
    >>> bool(ps.scores.index.equals(df.index)) and bool(ps.scores.between(0, 1).all())
    True
    >>> bool(np.allclose(ps.linear_predictor, np.log(ps.scores / (1 - ps.scores))))
    True
    """

    scores: pd.Series
    linear_predictor: pd.Series
    treatment: np.ndarray
    spec: Spec
    coef: pd.Series | None
    design: np.ndarray
    design_names: list[str]
    model: str
    converged: bool = True
    information: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_treated(self) -> int:
        """Number of treated units."""
        return int(self.treatment.sum())

    @property
    def n_control(self) -> int:
        """Number of control units."""
        return int(len(self.treatment) - self.treatment.sum())

    def __repr__(self) -> str:
        e = self.scores.to_numpy()
        return (
            f"<PropensityScore model={self.model!r} formula={self.spec.formula!r} "
            f"n_treated={self.n_treated} n_control={self.n_control} "
            f"range=[{e.min():.3g}, {e.max():.3g}] converged={self.converged}>"
        )

    def overlap(self) -> pd.DataFrame:
        """Summarise overlap of the score distributions by arm.

        Returns
        -------
        pandas.DataFrame
            One row per arm ("treated", "control") with n, min, quartiles,
            max and mean of the score, the common-support interval
            ``[max of minima, min of maxima]`` and the number of units outside it.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> df = pd.DataFrame({"x": np.arange(20.0), "t": [0, 1] * 10})
        >>> ps = propensity(df, "t ~ x")
        >>> int(ps.overlap().loc["treated", "n"])
        10
        """
        e = self.scores.to_numpy()
        t = self.treatment.astype(bool)
        lo = max(e[t].min(), e[~t].min())
        hi = min(e[t].max(), e[~t].max())
        rows = {}
        for name, mask in (("treated", t), ("control", ~t)):
            x = e[mask]
            rows[name] = {
                "n": int(mask.sum()),
                "min": float(x.min()),
                "q25": float(np.quantile(x, 0.25)),
                "median": float(np.median(x)),
                "q75": float(np.quantile(x, 0.75)),
                "max": float(x.max()),
                "mean": float(x.mean()),
                "support_low": float(lo),
                "support_high": float(hi),
                "n_outside_support": int(np.sum((x < lo) | (x > hi))),
            }
        return pd.DataFrame.from_dict(rows, orient="index")

    def plot(self, ax: Any = None, *, scale: str = "probability", bins: int = 30) -> Any:
        """Plot the score distributions of both arms (mirrored histograms).

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Axes to draw on (a new figure otherwise).
        scale : {"probability", "logit"}
            Plot the scores or the linear predictor.
        bins : int
            Number of histogram bins.

        Returns
        -------
        matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt

        scale = check_option("scale", scale, ["probability", "logit"])
        values = (self.scores if scale == "probability" else self.linear_predictor).to_numpy()
        t = self.treatment.astype(bool)
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        edges = np.histogram_bin_edges(values, bins=bins)
        ht, _ = np.histogram(values[t], bins=edges, density=True)
        hc, _ = np.histogram(values[~t], bins=edges, density=True)
        width = np.diff(edges)
        ax.bar(edges[:-1], ht, width=width, align="edge", alpha=0.6, label=f"treated (n={t.sum()})")
        ax.bar(edges[:-1], -hc, width=width, align="edge", alpha=0.6, label=f"control (n={(~t).sum()})")
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xlabel("propensity score" if scale == "probability" else "logit of propensity score")
        ax.set_ylabel("density (control mirrored below)")
        ax.legend(frameon=False)
        return ax


def _is_classifier(model: Any) -> bool:
    return hasattr(model, "fit") and hasattr(model, "predict_proba")


def _separation_error(X: np.ndarray, names: list[str], y: np.ndarray, direction: np.ndarray) -> DataError:
    involved = [names[j] for j in np.flatnonzero(direction) if names[j] != "Intercept"]
    if not involved:
        involved = [n for n in names if n != "Intercept"]
    eta = X @ direction
    s = 2 * y - 1
    perfect = np.flatnonzero(s * eta > 1e-9 * (1 + np.abs(eta).max()))
    kind = "complete" if len(perfect) == len(y) else "(quasi-)complete"
    return DataError(
        f"{kind} separation in the propensity model: covariate(s) {', '.join(map(repr, involved))} "
        f"predict the treatment perfectly for at least {len(perfect)} of {len(y)} units, so the "
        "maximum-likelihood estimates do not exist (they are infinite). Use model='firth' "
        "(penalised logistic regression), merge sparse factor levels, or remove the covariate."
    )


def propensity(
    data: pd.DataFrame,
    formula: str | None = None,
    *,
    treatment: str | None = None,
    covariates: list[str] | None = None,
    model: Any = "logistic",
    treated: Any = None,
    positivity: tuple[float, float] | None = (0.01, 0.99),
    max_iter: int = 100,
) -> PropensityScore:
    """Estimate propensity scores.

    Parameters
    ----------
    data : pandas.DataFrame
        Analysis data (not modified).
    formula : str, optional
        ``"treatment ~ covariates"`` (formulaic syntax; ``C()``, ``I()``, interactions).
    treatment : str, optional
        Treatment column (alternative to ``formula``).
    covariates : list of str, optional
        Covariate columns (alternative to ``formula``).
    model : {"logistic", "firth"} or scikit-learn classifier
        ``"logistic"``: maximum likelihood, as R's ``glm(family = binomial)``.
        ``"firth"``: Firth's penalised likelihood (as R's ``logistf``), finite under
        separation and less biased in small samples. A classifier object with
        ``fit``/``predict_proba`` is cloned and fitted on the covariates.
    treated : object, optional
        Treated level when the treatment is not coded 0/1 or bool.
    positivity : (float, float) or None
        Scores outside this interval trigger a :class:`PositivityWarning` naming
        the rows; ``None`` disables the check.
    max_iter : int
        Maximum Newton iterations for the logistic / Firth fits.

    Returns
    -------
    PropensityScore

    Raises
    ------
    DataError
        Missing values, non-binary treatment, an empty arm, or (``model="logistic"``)
        perfect / quasi-complete separation, naming the covariates involved.

    Warns
    -----
    PositivityWarning
        Scores outside ``positivity``.
    ConvergenceWarning
        The Newton iterations did not converge.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> df = pd.DataFrame({"x": rng.normal(size=100)})
    >>> df["t"] = rng.binomial(1, 1 / (1 + np.exp(-df["x"])))
    >>> ps = propensity(df, treatment="t", covariates=["x"])
    >>> bool(ps.converged), len(ps.scores)
    (True, 100)
    """
    spec = make_spec(data, formula, treatment=treatment, covariates=covariates, treated=treated)
    return _propensity_from_spec(data, spec, model=model, positivity=positivity,
                                 max_iter=max_iter)


def _propensity_from_spec(
    data: pd.DataFrame,
    spec: Spec,
    *,
    model: Any = "logistic",
    positivity: tuple[float, float] | None = (0.01, 0.99),
    max_iter: int = 100,
) -> PropensityScore:
    """:func:`propensity` for a :class:`Spec` already validated on ``data`` (no second pass)."""
    max_iter = check_number("max_iter", max_iter, low=1, integer=True)
    if positivity is not None:
        try:
            lo_b, hi_b = (float(v) for v in positivity)
        except (TypeError, ValueError) as exc:
            raise SpecificationError(
                f"`positivity` must be a pair (low, high) or None; got {positivity!r}"
            ) from exc
        if not 0 <= lo_b < hi_b <= 1:
            raise SpecificationError(
                f"`positivity` must satisfy 0 <= low < high <= 1; got {positivity!r}"
            )
    y = spec.treatment_array(data)
    n1 = int(y.sum())
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        arm = "treated" if n1 == 0 else "control"
        raise DataError(
            f"treatment column {spec.treatment!r} has no {arm} units; both arms are needed"
        )
    if isinstance(model, str):
        model_name = check_option("model", model, _MODELS)
    elif _is_classifier(model):
        model_name = type(model).__name__
    else:
        raise SpecificationError(
            "`model` must be 'logistic', 'firth' or a scikit-learn classifier with "
            f"fit/predict_proba; got {model!r}"
        )
    X, names = spec.design(data, intercept=True)
    _check_design(X, names, spec)
    coef = None
    info = None
    converged = True
    if model_name in _MODELS:
        firth = model_name == "firth"
        fit = fit_logistic(X, y, firth=firth, max_iter=max_iter)
        if not firth:
            extreme = np.abs(fit.linear_predictor).max() > 15 or not fit.converged
            if extreme:
                direction = separation_direction(X, y)
                if direction is not None:
                    raise _separation_error(X, names, y, direction)
        if not fit.converged:
            warnings.warn(
                f"the {model_name} propensity model did not converge in {max_iter} iterations; "
                "increase `max_iter` or simplify the model",
                ConvergenceWarning,
                stacklevel=3,
            )
        converged = fit.converged
        e = fit.fitted
        lp = fit.linear_predictor
        coef = pd.Series(fit.coef, index=names, name="coef")
        info = fit.information
    else:
        from sklearn.base import clone

        keep = [j for j, nm in enumerate(names) if nm != "Intercept"]
        Xc = X[:, keep]
        est = clone(model)
        est.fit(Xc, y)
        classes = list(est.classes_)
        e = np.asarray(est.predict_proba(Xc))[:, classes.index(1)].astype(float)
        with np.errstate(divide="ignore"):
            lp = special.logit(e)
    scores = pd.Series(e, index=data.index, name="propensity")
    if positivity is not None:
        bad = (e < lo_b) | (e > hi_b)
        if bad.any():
            rows = data.index[bad]
            nt = int(np.sum(bad & (y == 1)))
            warnings.warn(
                f"{int(bad.sum())} propensity score(s) outside [{lo_b:g}, {hi_b:g}] "
                f"({nt} treated, {int(bad.sum()) - nt} control); rows {format_rows(rows)}. "
                "These units have almost no comparable units in the other arm: check "
                "overlap with .overlap()/.plot(), restrict to common support, trim the "
                "weights, or target the ATT/ATO instead of the ATE.",
                PositivityWarning,
                stacklevel=3,
            )
    return PropensityScore(
        scores=scores,
        linear_predictor=pd.Series(lp, index=data.index, name="linear_predictor"),
        treatment=y,
        spec=spec,
        coef=coef,
        design=X,
        design_names=names,
        model=model_name,
        converged=converged,
        information=info,
    )


def _check_design(X: np.ndarray, names: list[str], spec: Spec) -> None:
    """Refuse constant and collinear covariate columns, naming them."""
    if X.shape[1] == 0:
        return
    const = [names[j] for j in range(X.shape[1]) if names[j] != "Intercept" and np.ptp(X[:, j]) == 0]
    if const:
        raise DataError(
            f"covariate column(s) {', '.join(map(repr, const))} are constant; remove them "
            "from the propensity model"
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
            f"the propensity model matrix is rank-deficient ({rank} of {X.shape[1]} columns "
            f"independent); {', '.join(map(repr, redundant))} is a linear combination of the "
            "other covariates: remove it"
        )


make_callable(__name__, "propensity")
