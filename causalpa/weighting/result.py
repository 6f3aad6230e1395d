"""The result of :func:`causalpa.weight`: weights, their summary, balance and effects.

:class:`WeightResult` speaks the result protocol of :mod:`causalpa.results`: ``tidy()``
is the per-arm weight summary (n, effective sample size, quantiles, mean, SD,
coefficient of variation, sum), from which ``summary()``, ``repr``, the notebook view
and ``to_dict()`` are derived; ``plot()`` draws the weights by arm. It is frozen and
holds a private copy of the data; ``weights`` and ``ess`` return new objects each call.
"""

import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from causalpa._spec import Spec
from causalpa._validation import (
    CONF_LEVEL,
    NONE,
    Column,
    Number,
    RandomState,
    check_arm_sizes,
    check_outcome,
    validate_params,
)
from causalpa.errors import SpecificationError
from causalpa.estimation import COVARIATE_TERMS, Measure, adjustment_matrix, check_roles, gcomp
from causalpa.inference import SMALL_ARM, bootstrap, is_small, warn_small_sample
from causalpa.propensity import PropensityScore
from causalpa.results import Effect, Result, effect_from_bootstrap
from causalpa.weighting._base import METHODS, Estimand, MethodFit, WeightProblem
from causalpa.weighting.sandwich import averaging_weights, sandwich_effect
from causalpa.weighting.trim import Trim

__all__ = ["WeightResult", "SE", "SE_CHOICES"]

SE = Literal["sandwich", "robust", "bootstrap", "HC0", "HC1", "HC2", "HC3"]
"""How standard errors of weighted effects are computed (``se=``; see the module notes of
:mod:`causalpa.weighting`)."""
SE_CHOICES: tuple[str, ...] = typing.get_args(SE)
ARMS = (("treated", 1), ("control", 0))


@dataclass(frozen=True, repr=False, eq=False)
class WeightResult(Result):
    """Balancing weights and what can be done with them (built by :func:`causalpa.weight`).

    Attributes
    ----------
    weights : pandas.Series
        One weight per row, indexed like the data (a new Series each time).
    ess : pandas.Series
        Kish effective sample size per arm.
    estimand : str
        "ATE", "ATT", "ATC" or "ATO".
    method : str
        Registered weighting method ("ps", "entropy", ...).
    spec : Spec
        Treatment specification.
    ps : PropensityScore or None
        The fitted propensity model (method "ps").
    stabilize : bool
        Whether the weights were stabilised.
    trimmed : pandas.Index
        Labels of the rows whose weights were trimmed.
    outcome : str or None
        Default outcome of :meth:`estimate`.
    trim : Trim or None
        The trimming options (``trim``, ``trim_lower``, ``trim_drop``), applied again to
        the weights of every bootstrap replicate.
    notes : tuple of str
        The positivity and extreme-weight warnings issued when the weights were made.

    Examples
    --------
    >>> import warnings
    >>> import causalpa as cpa
    >>> df = cpa.datasets.load_pilot()
    >>> w = cpa.weight(df, "pa ~ age + phq9_first", outcome="phq9_change")
    >>> w.method, w.estimand, w.stabilize, len(w.trimmed)
    ('ps', 'ATE', False, 0)
    >>> bool(w.weights.index.equals(df.index))
    True
    >>> w.tidy()[["arm", "n", "ess"]].round(1)  # Kish ESS of 16 treated, 22 control
           arm   n   ess
    0  treated  16  14.3
    1  control  22  19.3
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # SmallSampleWarning: 38 patients
    ...     e = w.estimate()  # the outcome given to weight()
    >>> e.outcome, e.estimand, e.method
    ('phq9_change', 'ATE', 'inverse probability weighting')
    """

    estimand: Estimand
    method: str
    spec: Spec
    ps: PropensityScore | None
    stabilize: bool
    trimmed: pd.Index
    _problem: WeightProblem = field(repr=False)
    _fit: MethodFit = field(repr=False)
    _weights: np.ndarray = field(repr=False)
    outcome: str | None = None
    trim: Trim | None = None
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        w = np.array(self._weights, dtype=float)  # a copy the caller cannot reach
        w.setflags(write=False)
        object.__setattr__(self, "_weights", w)

    # ------------------------------------------------------------------ weights
    @property
    def weights(self) -> pd.Series:
        """The weights, indexed like the data (a new Series: changing it changes nothing)."""
        return pd.Series(self._weights.copy(), index=self._problem.data.index, name="weights")

    @property
    def ess(self) -> pd.Series:
        """Kish effective sample size ``(sum w)^2 / sum w^2`` per arm (a new Series)."""
        out = {}
        for name, arm in ARMS:
            wa = self._weights[self._problem.treatment == arm]
            out[name] = float(wa.sum() ** 2 / np.sum(wa**2)) if np.any(wa > 0) else 0.0
        return pd.Series(out, name="ess")

    # ------------------------------------------------------------------ protocol
    def _tidy(self) -> pd.DataFrame:
        """Weight summary per arm: n, ESS, min, quartiles, max, mean, SD, coefficient of variation."""
        ess = self.ess
        rows = []
        for name, arm in ARMS:
            wa = self._weights[self._problem.treatment == arm]
            mean = float(wa.mean())
            sd = float(wa.std(ddof=1)) if len(wa) > 1 else 0.0
            rows.append({
                "arm": name, "n": int(len(wa)), "ess": float(ess[name]), "min": float(wa.min()),
                "q25": float(np.quantile(wa, 0.25)), "median": float(np.median(wa)),
                "q75": float(np.quantile(wa, 0.75)), "max": float(wa.max()), "mean": mean,
                "sd": sd, "cv": sd / mean if mean > 0 else float("nan"), "sum": float(wa.sum()),
            })
        return pd.DataFrame(rows)

    def _title(self) -> str:
        return f"{self.estimand} weights: {self._label()}"

    def _meta(self) -> dict[str, Any]:
        return {"method": self.method, "estimand": self.estimand, "formula": self.spec.formula,
                "stabilised": self.stabilize, "trimmed": len(self.trimmed),
                "outcome": self.outcome}

    def _label(self) -> str:
        return self._fit.label or f"{self.method} weighting"

    @validate_params({"bins": Number(low=1, integer=True)})
    def plot(self, ax: Any = None, *, bins: int = 30) -> Any:
        """Histograms of the weights by arm on a log axis, with the ESS in the legend.

        Units with weight 0 (dropped by ``trim_drop``) are not shown.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Axes to draw on (a new figure otherwise).
        bins : int
            Number of bins (shared by both arms, equal widths on the log scale).

        Returns
        -------
        matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        w, t = self._weights, self._problem.treatment
        pos = w[w > 0]
        lo, hi = float(pos.min()), float(pos.max())
        if hi <= lo * (1 + 1e-9):  # all weights equal: one visible bin around them
            lo, hi = lo / 1.5, hi * 1.5
        edges = np.geomspace(lo, hi, bins + 1)
        ess = self.ess
        for name, arm in ARMS:
            m = t == arm
            ax.hist(w[m & (w > 0)], bins=edges, alpha=0.6,
                    label=f"{name}: ESS {ess[name]:.1f} of {int(m.sum())}")
        ax.set_xscale("log")
        ax.set_xlabel("weight (log scale)")
        ax.set_ylabel("units")
        ax.set_title(self._title())
        ax.legend(frameon=False)
        return ax

    # ------------------------------------------------------------------ balance
    def balance(self, **kwargs: Any) -> Any:
        """Covariate balance before and after weighting (:func:`causalpa.balance`).

        Keyword arguments are passed to :func:`causalpa.balance.balance`.
        """
        from causalpa.balance import balance

        return balance(self._problem.data, self.spec.formula, weights=self.weights.to_numpy(),
                       estimand=self.estimand, treated=self.spec.treated, **kwargs)

    # ------------------------------------------------------------------ effects
    @validate_params({"outcome": [Column(), NONE], "adjust": COVARIATE_TERMS,
                      "conf_level": CONF_LEVEL, "n_boot": Number(low=10, integer=True),
                      "rng": RandomState()})
    def estimate(
        self,
        outcome: str | None = None,
        *,
        adjust: str | Sequence[str] | None = None,
        se: SE = "sandwich",
        measure: Measure | None = None,
        conf_level: float = 0.95,
        n_boot: int = 999,
        rng: Any = None,
    ) -> Effect:
        """Estimate the treatment effect in the weighted sample.

        Parameters
        ----------
        outcome : str, optional
            Outcome column (0/1 for binary outcomes); default the ``outcome`` given to
            :func:`causalpa.weight`.
        adjust : str or list of str, optional
            Covariates of the (doubly robust) weighted outcome model
            ``y ~ t * (covariates)``, as columns or a right-hand side ("age + C(sex)");
            the effect is then averaged over the target population (g-computation; all
            units for the ATE, the treated for the ATT, the controls for the ATC,
            overlap-weighted for the ATO).
        se : {"sandwich", "robust", "bootstrap", "HC0", "HC1", "HC2", "HC3"}
            Inference (see :mod:`causalpa.weighting`). "sandwich" accounts for the
            estimation of the weights; "robust" (HC0) and "HC1"-"HC3" treat them as
            known; "bootstrap" re-estimates the weights in every replicate. When an
            arm has fewer than 20 units, the defaults "sandwich" and "robust" follow
            the small-sample rule: the larger of the two sandwiches ("robust" alone
            for se="robust") is inflated by ``n / (n - p)`` and a t reference with
            ``n - p`` df is used (p = model parameters, n = units with positive
            weight), calibrated by simulation at n = 38. An estimator requested by
            name ("HC0"-"HC3") is used exactly as asked, with its normal reference,
            and the warning says the small-sample rule was not applied (as matching
            keeps an estimator requested by name).
        measure : {"difference", "risk difference", "risk ratio", "odds ratio"}, optional
            Default: "risk difference" for 0/1 outcomes, "difference" otherwise.
        conf_level : float
            Confidence level.
        n_boot : int
            Bootstrap replicates (``se="bootstrap"``), at least 10.
        rng : None, int or numpy.random.Generator
            Randomness of the bootstrap (SPEC 7).

        Returns
        -------
        Effect

        Raises
        ------
        SpecificationError
            No outcome given (here or to :func:`causalpa.weight`), a bad option, an
            outcome that is the treatment, or ``adjust`` covariates that include the
            outcome or the treatment.
        DataError
            The outcome is not numeric, has missing values, an arm has fewer than 2
            units with positive weight, or the ``adjust`` covariates are collinear.

        Warns
        -----
        SmallSampleWarning
            An arm has fewer than 20 units: the message says which inference was used
            (or, for "HC0"-"HC3", that the small-sample rule was not applied).

        Examples
        --------
        >>> import causalpa as cpa
        >>> nhefs = cpa.datasets.load_nhefs()
        >>> w = cpa.weight(nhefs, "qsmk ~ age + wt71 + C(sex)", stabilize=True)
        >>> e = w.estimate("wt82_71", se="robust")
        >>> round(e.estimate, 2), e.inference
        (3.16, 'robust (HC0) sandwich, weights treated as known, normal reference')
        """
        outcome = self._outcome(outcome)
        data = self._problem.data
        treatment = self.spec.treatment
        check_roles(outcome, treatment)
        y, _, resolved = check_outcome(data, outcome, measure)
        n1, n0 = self._positive_arms()
        Z, _ = adjustment_matrix(data, adjust, outcome=outcome, treatment=treatment,
                                 rows=self._weights > 0)
        logit = resolved != "difference" and (adjust is not None or resolved != "risk difference")
        fields: dict[str, Any] = dict(
            estimand=self.estimand, method=self._label(), n_treated=n1, n_control=n0,
            outcome=outcome, measure=resolved, conf_level=conf_level, treatment=treatment)
        if se == "bootstrap":
            return self._bootstrap(y, Z, measure=resolved, logit=logit, n_boot=n_boot, rng=rng,
                                   fields=fields)
        trimmed = len(self.trimmed) > 0
        nuisance = None if (se != "sandwich" or trimmed) else self._fit.nuisance
        why = None
        if se == "sandwich" and nuisance is None:
            why = "the weights were trimmed" if trimmed else self._fit.no_nuisance_reason
        t, w = self._problem.treatment, self._weights
        return sandwich_effect(y, t, w, Z, averaging_weights(t, w, self.estimand),
                               logit=logit, nuisance=nuisance,
                               se="HC0" if se in ("sandwich", "robust") else se,
                               why_known=why, small_sample_rule=se in ("sandwich", "robust"),
                               **fields)

    def _outcome(self, outcome: str | None) -> str:
        if outcome is None:
            outcome = self.outcome
        if outcome is None:
            raise SpecificationError(
                "give the outcome column: w.estimate('phq9_change'), or weight(..., "
                "outcome='phq9_change') to set the default `outcome`")
        return outcome

    def _positive_arms(self) -> tuple[int, int]:
        """Units with positive weight per arm; at least 2 each are needed for a variance."""
        return check_arm_sizes(self._problem.treatment, self.spec.treatment,
                               "an effect estimate", weights=self._weights)

    def _bootstrap(self, y: np.ndarray, Z: np.ndarray, *, measure: str, logit: bool,
                   n_boot: int, rng: Any, fields: dict[str, Any]) -> Effect:
        """Nonparametric bootstrap that re-estimates the weights in every replicate."""
        link: Literal["identity", "logit"] = "logit" if logit else "identity"
        t, w = self._problem.treatment, self._weights
        est = gcomp(y, t, w, Z, averaging_weights(t, w, self.estimand), measure,
                    link=link).estimate
        n = len(y)

        def stat(idx: np.ndarray) -> float:
            tb = t[idx]
            if tb.min() == tb.max() or min(tb.sum(), n - tb.sum()) < 2:
                return float("nan")
            wb = self._reweight(idx)
            sb = averaging_weights(tb, wb, self.estimand)
            return gcomp(y[idx], tb, wb, Z[idx], sb, measure, link=link).estimate

        reps = bootstrap(stat, n, n_boot=n_boot, rng=rng)
        notes: list[str] = []
        n1, n0 = fields["n_treated"], fields["n_control"]
        if is_small(n1, n0):
            notes.append(warn_small_sample(
                f"an arm has fewer than {SMALL_ARM} units ({n1} treated, {n0} control): the "
                "percentile bootstrap can be too narrow in samples this small; compare with "
                "se='sandwich' (small-sample t)", stacklevel=5))
        return effect_from_bootstrap(
            est, reps, log_scale=measure in ("risk ratio", "odds ratio"),
            inference=f"bootstrap re-estimating the weights ({len(reps)} replicates), "
                      "percentile CI", notes=tuple(notes), **fields)

    def _reweight(self, idx: np.ndarray) -> np.ndarray:
        """Weights re-estimated on the rows ``idx`` (a bootstrap resample), trimmed alike."""
        refit = self._fit.refit
        if refit is not None:
            w = refit(idx)
        else:
            w = METHODS[self.method](self._problem.resample(idx)).weights
        if self.trim is not None:
            w = self.trim.apply(w, self._problem.treatment[idx])[0]
        return w
