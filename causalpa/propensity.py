r"""Propensity-score models: logistic (as R's ``glm``), Firth-penalised, or any classifier.

The propensity score :math:`e(x) = P(T = 1 \mid X = x)` is the probability of
choosing the treatment (e.g. physical activity) given the covariates. Three
models are available (``ps_model=``):

``"logistic"``
    Unpenalised maximum-likelihood logistic regression fitted by R's ``glm.fit``
    algorithm on the model matrix of the :class:`~causalpa._spec.Spec`; matches R's
    ``glm(family = binomial)`` to rounding error. Perfect or quasi-complete
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

The result, :class:`PropensityScore`, follows the result protocol of
:mod:`causalpa.results`: ``tidy()`` is the coefficient table of the treatment model
in the shared schema of estimates (Wald standard errors, normal reference), and
``summary()``, ``to_dict()`` and the notebook view derive from it.

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
>>> list(ps.params.index)
['Intercept', 'age', 'C(sex)[T.m]']
"""

from __future__ import annotations

import math
import typing
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import special

from causalpa._callable_module import make_callable
from causalpa._regression import Fit, check_full_rank, logistic, separation_direction
from causalpa._spec import Spec, make_spec
from causalpa._validation import (
    NONE,
    Classifier,
    Column,
    Columns,
    Constraint,
    Instance,
    Number,
    Options,
    Pair,
    check_arm_sizes,
    check_value,
    format_rows,
    validate_params,
)
from causalpa.errors import ConvergenceWarning, DataError, PositivityWarning
from causalpa.inference import Moments, coef_table
from causalpa.results import EstimateResult, estimate_frame

__all__ = ["PropensityScore", "propensity", "PS_MODEL", "POSITIVITY"]

PSModelName = Literal["logistic", "firth"]
"""The built-in propensity models (``ps_model=`` also takes a scikit-learn classifier)."""
PS_MODEL: tuple[Constraint, ...] = (Options(*typing.get_args(PSModelName)), Classifier())
"""The declaration of ``ps_model`` (for every estimator that fits a propensity model)."""
POSITIVITY: tuple[Constraint, ...] = (Pair(0, 1), NONE)
"""The declaration of ``positivity``: an interval inside [0, 1], or None for no check."""
FORMULA: tuple[Constraint, ...] = (Instance((str, Spec), "a formula string or a Spec"), NONE)
"""The declaration of a treatment-model formula (a string or a :class:`Spec`)."""

_METHODS = {"logistic": "logistic propensity model",
            "firth": "Firth logistic propensity model"}


def _frozen(values: Any, dtype: Any = None) -> np.ndarray:
    """Return a read-only copy (an array that is read-only and owns its data is kept).

    What frozen results hold (propensity scores, matching results): changing the array
    given, or any array sharing its memory, changes nothing in the result.

    Examples
    --------
    >>> a = np.arange(3)
    >>> f = _frozen(a)
    >>> a[0] = 9
    >>> f.tolist(), f.flags.writeable, _frozen(f) is f
    ([0, 1, 2], False, True)
    """
    if isinstance(values, np.ndarray) and not values.flags.writeable and values.base is None \
            and (dtype is None or values.dtype == dtype):
        return values
    arr = np.array(values, dtype=dtype)  # a copy
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, repr=False, eq=False)
class PropensityScore(EstimateResult):
    """A fitted propensity-score model (frozen; built by :func:`propensity`).

    ``tidy()`` is the coefficient table of the logistic or Firth model in the shared
    schema of estimates: Wald standard errors from the inverse of the information
    matrix ``X' W X`` at the estimate (``W = diag(e (1 - e))``), as R's
    ``summary(glm)``; for the Firth model the inverse of the same matrix at the
    penalised estimate, which is ``logistf``'s Wald variance (``logistf`` reports
    profile-likelihood intervals by default; they can differ in small samples). The
    reference distribution is the normal (``df = inf``). A scikit-learn classifier has
    no coefficients: the table is empty and a note says so.

    Attributes
    ----------
    scores : pandas.Series
        Estimated probability of treatment, indexed like the data (a new Series on
        every access).
    linear_predictor : pandas.Series
        The scores on the logit scale, ``log(e / (1 - e))`` (a new Series each access).
    coef : pandas.Series or None
        Coefficients of a logistic / Firth model (None for other classifiers).
    treatment : numpy.ndarray
        The 0/1 treatment indicator (read-only).
    spec : Spec
        The treatment specification.
    design : numpy.ndarray
        The model matrix used, with the intercept column (read-only).
    design_names : tuple of str
        Column names of ``design``.
    model : str
        "logistic", "firth" or the classifier's class name.
    converged : bool
        Whether the iterative fit converged.
    information : numpy.ndarray or None
        ``X' W X`` at the estimate (read-only; None for other classifiers).
    positivity : (float, float) or None
        The interval the scores were checked against.
    notes : tuple of str
        Caveats.

    Examples
    --------
    >>> import numpy as np
    >>> import causalpa as cpa
    >>> df = cpa.datasets.load_pilot()
    >>> ps = cpa.propensity(df, "pa ~ age + phq9_first")
    >>> ps.model, ps.n_treated, ps.n_control
    ('logistic', 16, 22)
    >>> ps.tidy()[["term", "estimate", "std_error"]].round(3)
             term  estimate  std_error
    0   Intercept     2.099      1.409
    1         age    -0.048      0.024
    2  phq9_first    -0.033      0.057
    >>> bool(ps.scores.index.equals(df.index)) and bool(ps.scores.between(0, 1).all())
    True
    >>> bool(np.allclose(ps.linear_predictor, np.log(ps.scores / (1 - ps.scores))))
    True
    """

    spec: Spec
    model: str
    treatment: np.ndarray
    design: np.ndarray
    design_names: tuple[str, ...]
    _index: pd.Index
    _scores: np.ndarray = field(repr=False)
    _linear_predictor: np.ndarray = field(repr=False)
    _coef: np.ndarray | None = field(default=None, repr=False)
    information: np.ndarray | None = field(default=None, repr=False)
    _std_errors: np.ndarray | None = field(default=None, repr=False)
    converged: bool = True
    positivity: tuple[float, float] | None = None
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("treatment", "design", "_scores", "_linear_predictor", "_coef",
                     "information", "_std_errors"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _frozen(np.asarray(value)))
        object.__setattr__(self, "design_names", tuple(self.design_names))

    # ------------------------------------------------------------------ copies
    @property
    def scores(self) -> pd.Series:
        """Estimated probabilities of treatment, indexed like the data (a new Series)."""
        return pd.Series(self._scores.copy(), index=self._index.copy(), name="propensity")

    @property
    def linear_predictor(self) -> pd.Series:
        """The scores on the logit scale (a new Series)."""
        return pd.Series(self._linear_predictor.copy(), index=self._index.copy(), name="linear_predictor")

    @property
    def coef(self) -> pd.Series | None:
        """Coefficients of a logistic / Firth model (a new Series; None for classifiers)."""
        if self._coef is None:
            return None
        return pd.Series(self._coef.copy(), index=list(self.design_names), name="coef")

    @property
    def n_treated(self) -> int:
        """Number of treated units."""
        return int(self.treatment.sum())

    @property
    def n_control(self) -> int:
        """Number of control units."""
        return int(len(self.treatment) - self.treatment.sum())

    @property
    def method(self) -> str:
        """What was fitted (the ``method`` column of the tidy table)."""
        return _METHODS.get(self.model, f"{self.model} propensity model")

    # ------------------------------------------------------------------ protocol
    def _tidy(self) -> pd.DataFrame:
        if self._coef is None or self._std_errors is None:
            table = coef_table([], [], term=[])
        else:
            table = coef_table(self._coef, self._std_errors, math.inf, 0.95,
                               term=list(self.design_names))
        return estimate_frame(table, outcome=self.spec.treatment, estimand=None,
                              method=self.method, n=len(self.treatment))

    def _title(self) -> str:
        return (f"Propensity score: {self.method}, {self.spec.formula} "
                f"({self.n_treated} treated, {self.n_control} control)")

    def _display(self, table: pd.DataFrame) -> pd.DataFrame:
        return table[["term", "estimate", "std_error", "statistic", "p_value", "conf_low",
                      "conf_high"]]

    def _meta(self) -> dict[str, Any]:
        e = self._scores
        outside = None
        if self.positivity is not None:
            lo, hi = self.positivity
            outside = int(np.sum((e < lo) | (e > hi)))
        return {"converged": bool(self.converged), "score_min": float(e.min()),
                "score_max": float(e.max()),
                "positivity": None if self.positivity is None else list(self.positivity),
                "n_outside_positivity": outside}

    # ------------------------------------------------------------------ diagnostics
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
        e = self._scores
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

    @validate_params({"bins": Number(low=1, integer=True)})
    def plot(self, ax: Any = None, *, scale: Literal["probability", "logit"] = "probability",
             bins: int = 30) -> Any:
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

        values = self._scores if scale == "probability" else self._linear_predictor
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


# =========================================================================== fitting
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


def _fit_logistic(y: np.ndarray, X: np.ndarray, names: list[str], model: str,
                  max_iter: int) -> Fit:
    """Fit the logistic or Firth model; refuse separation; warn on non-convergence."""
    firth = model == "firth"
    fit = logistic(y, X, firth=firth, maxit=max_iter)
    if not firth and (np.abs(fit.eta).max() > 15 or not fit.converged):
        direction = separation_direction(X, y)
        if direction is not None:
            raise _separation_error(X, names, y, direction)
    if not fit.converged:
        warnings.warn(
            f"the {model} propensity model did not converge in {max_iter} iterations; "
            "increase `max_iter` or simplify the model",
            ConvergenceWarning,
            stacklevel=6,  # the caller of propensity() (through the validating wrapper)
        )
    return fit


def _fit_classifier(estimator: Any, y: np.ndarray, X: np.ndarray, names: list[str] | None,
                    X_new: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Clone and fit a scikit-learn classifier on the covariates; return scores and logits.

    ``names`` are the columns of ``X`` (the "Intercept" column is left out); ``None``
    means that the first column is the intercept. The scores are those of ``X_new``
    (another model matrix with the same columns, e.g. a held-out fold), default ``X``.
    """
    from sklearn.base import clone

    if names is None:
        keep = list(range(1, X.shape[1]))
    else:
        keep = [j for j, nm in enumerate(names) if nm != "Intercept"]
    Xc = X[:, keep]
    est = clone(estimator)
    est.fit(Xc, y)
    classes = list(est.classes_)
    Xp = Xc if X_new is None else X_new[:, keep]
    e = np.asarray(est.predict_proba(Xp))[:, classes.index(1)].astype(float)
    with np.errstate(divide="ignore"):
        lp = special.logit(e)
    return e, lp


def _warn_positivity(e: np.ndarray, y: np.ndarray, index: pd.Index,
                     positivity: tuple[float, float]) -> None:
    lo, hi = positivity
    bad = (e < lo) | (e > hi)
    if bad.any():
        nt = int(np.sum(bad & (y == 1)))
        warnings.warn(
            f"{int(bad.sum())} propensity score(s) outside [{lo:g}, {hi:g}] "
            f"({nt} treated, {int(bad.sum()) - nt} control); rows {format_rows(index[bad])}. "
            "These units have almost no comparable units in the other arm: check "
            "overlap with .overlap()/.plot(), restrict to common support, trim the "
            "weights, or target the ATT/ATO instead of the ATE.",
            PositivityWarning,
            stacklevel=5,  # the caller of propensity() (through the validating wrapper)
        )


# =========================================================================== public API
@validate_params({"formula": FORMULA, "treatment": [Column(), NONE],
                  "covariates": [Columns(), NONE], "ps_model": PS_MODEL,
                  "positivity": POSITIVITY, "max_iter": Number(low=1, integer=True)})
def propensity(
    data: pd.DataFrame,
    formula: str | Spec | None = None,
    *,
    treatment: str | None = None,
    covariates: list[str] | None = None,
    ps_model: PSModelName | Any = "logistic",
    treated: Any = None,
    positivity: tuple[float, float] | None = (0.01, 0.99),
    max_iter: int = 100,
) -> PropensityScore:
    """Estimate propensity scores.

    Parameters
    ----------
    data : pandas.DataFrame
        Analysis data (not modified).
    formula : str or Spec, optional
        ``"treatment ~ covariates"`` (formulaic syntax; ``C()``, ``I()``, interactions).
    treatment : str, optional
        Treatment column (alternative to ``formula``).
    covariates : list of str, optional
        Covariate columns (alternative to ``formula``); text columns are factors.
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
        Maximum iterations of the logistic / Firth fits.

    Returns
    -------
    PropensityScore
        ``tidy()`` holds the model's coefficients with Wald standard errors.

    Raises
    ------
    SpecificationError
        An option outside its declared values (``ps_model``, ``positivity``, ...).
    DataError
        Missing values, non-binary treatment, an empty arm, or (``ps_model="logistic"``)
        perfect / quasi-complete separation, naming the covariates involved.

    Warns
    -----
    PositivityWarning
        Scores outside ``positivity``.
    ConvergenceWarning
        The iterations did not converge.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> df = pd.DataFrame({"x": rng.normal(size=100)})
    >>> df["t"] = rng.binomial(1, 1 / (1 + np.exp(-df["x"])))
    >>> ps = propensity(df, treatment="t", covariates=["x"])
    >>> bool(ps.converged), len(ps.scores)
    (True, 100)
    >>> ps.conf_int().round(2).loc["x"].tolist()
    [0.35, 1.47]
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
    """:func:`propensity` for a :class:`Spec` already validated on ``data`` (no second pass).

    ``ps_model`` and ``positivity`` are checked against :data:`PS_MODEL` and
    :data:`POSITIVITY` (the declarations of :func:`propensity`), since estimators that
    fit a propensity model pass their own arguments on.
    """
    ps_model = check_value("ps_model", ps_model, PS_MODEL)
    positivity = check_value("positivity", positivity, POSITIVITY)
    y = spec.treatment_array(data)
    check_arm_sizes(y, spec.treatment, "a propensity model", minimum=1)
    X, names = spec.design()
    check_full_rank(X, names, "the propensity model")
    if isinstance(ps_model, str):
        fitted = _logistic_fields(y, X, names, ps_model, max_iter)
    else:
        fitted = _classifier_fields(ps_model, y, X, names)
    if positivity is not None:
        _warn_positivity(fitted["_scores"], y, data.index, positivity)
    return PropensityScore(spec=spec, treatment=y, design=X, design_names=tuple(names),
                           _index=data.index.copy(), positivity=positivity, **fitted)


def _logistic_fields(y: np.ndarray, X: np.ndarray, names: list[str], model: str,
                     max_iter: int) -> dict[str, Any]:
    """Fields of a :class:`PropensityScore` from a logistic or Firth fit."""
    fit = _fit_logistic(y, X, names, model, max_iter)
    notes = []
    if model == "firth":
        notes.append("Wald standard errors and intervals at the penalised estimate; "
                     "logistf's default profile-likelihood intervals can differ in "
                     "small samples")
    if not fit.converged:
        notes.append(f"the {model} model did not converge in {max_iter} iterations")
    return {"model": model, "_scores": fit.fitted, "_linear_predictor": fit.eta,
            "_coef": fit.coef, "information": fit.xs.T @ fit.xs,
            "_std_errors": np.sqrt(np.diag(Moments.from_fit(fit).bread)),
            "converged": fit.converged, "notes": tuple(notes)}


def _classifier_fields(estimator: Any, y: np.ndarray, X: np.ndarray,
                       names: list[str]) -> dict[str, Any]:
    """Fields of a :class:`PropensityScore` from a scikit-learn classifier."""
    model = type(estimator).__name__
    e, lp = _fit_classifier(estimator, y, X, names)
    return {"model": model, "_scores": e, "_linear_predictor": lp,
            "notes": (f"ps_model is a {model}: it has no coefficients, so the table is empty",)}


make_callable(__name__, "propensity")
