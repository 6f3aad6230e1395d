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
from causalpa._regression import check_full_rank, logistic, separation_direction
from causalpa._spec import Spec, make_spec
from causalpa._validation import check_number, check_option, format_rows
from causalpa.errors import ConvergenceWarning, DataError, PositivityWarning, SpecificationError

__all__ = ["PropensityScore", "propensity"]

_MODELS = ("logistic", "firth")


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
        "maximum-likelihood estimates do not exist (they are infinite). Use ps_model='firth' "
        "(penalised logistic regression), merge sparse factor levels, or remove the covariate."
    )


def propensity(
    data: pd.DataFrame,
    formula: str | None = None,
    *,
    treatment: str | None = None,
    covariates: list[str] | None = None,
    ps_model: Any = "logistic",
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
    ps_model : {"logistic", "firth"} or scikit-learn classifier
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
        Missing values, non-binary treatment, an empty arm, or (``ps_model="logistic"``)
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
    return _propensity_from_spec(data, spec, ps_model=ps_model, positivity=positivity,
                                 max_iter=max_iter)


def _propensity_from_spec(
    data: pd.DataFrame,
    spec: Spec,
    *,
    ps_model: Any = "logistic",
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
    if isinstance(ps_model, str):
        model_name = check_option("ps_model", ps_model, _MODELS)
    elif _is_classifier(ps_model):
        model_name = type(ps_model).__name__
    else:
        raise SpecificationError(
            "`ps_model` must be 'logistic', 'firth' or a scikit-learn classifier with "
            f"fit/predict_proba; got {ps_model!r}"
        )
    X, names = spec.design()
    check_full_rank(X, names, "the propensity model")
    coef = None
    info = None
    converged = True
    if model_name in _MODELS:
        firth = model_name == "firth"
        fit = logistic(y, X, firth=firth, maxit=max_iter)
        if not firth:
            extreme = np.abs(fit.eta).max() > 15 or not fit.converged
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
        lp = fit.eta
        coef = pd.Series(fit.coef, index=names, name="coef")
        info = fit.xs.T @ fit.xs
    else:
        from sklearn.base import clone

        keep = [j for j, nm in enumerate(names) if nm != "Intercept"]
        Xc = X[:, keep]
        est = clone(ps_model)
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


make_callable(__name__, "propensity")
