"""The results of :func:`causalpa.mixed`: :class:`MixedModelResult` and :class:`FTest`.

A :class:`MixedModelResult` is built once, by :func:`build_result`, from a fitted design:
the fit, the small-sample setup of its own df method (Satterthwaite or Kenward-Roger, see
:mod:`causalpa.longitudinal._lmm_ddf`), the fixed-effects numbers, the variance components
and the random effects are all computed then and held in frozen records, so nothing is
written into a result afterwards. Contrasts and tests with another df method compute its
setup on demand without storing it. Intervals and p-values come from
:func:`causalpa.inference.coef_table`.

This module is private; the public names are re-exported by
:mod:`causalpa.longitudinal.mixed`.
"""

from __future__ import annotations

import copy
import math
import typing
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from causalpa._spec import Spec
from causalpa._validation import (
    CONF_LEVEL,
    NONE,
    Column,
    check_columns,
    check_frame,
    check_no_missing,
    check_number,
    validate_params,
)
from causalpa.errors import ConvergenceWarning, DataError, SingularFitWarning, SpecificationError
from causalpa.inference import TIDY_COLUMNS, coef_table, f_test_p
from causalpa.longitudinal._lmm_ddf import KenwardRoger, Satterthwaite, kenward_roger, satterthwaite
from causalpa.longitudinal._lmm_fit import LmmFit, LmmProblem
from causalpa.results import EstimateResult, Estimates, Result, estimate_frame

__all__ = ["MixedModelResult", "FTest", "DfMethod", "DF_METHODS", "build_result",
           "check_reml", "group_keys"]

DfMethod = Literal["satterthwaite", "kenward-roger", "residual", "normal"]
"""How the degrees of freedom of t and F tests are found (the ``df=`` option)."""
DF_METHODS: tuple[str, ...] = typing.get_args(DfMethod)
_DF_TEXT = {"satterthwaite": "Satterthwaite df", "kenward-roger": "Kenward-Roger df",
            "residual": "residual df", "normal": "normal reference"}
Setup: typing.TypeAlias = "Satterthwaite | KenwardRoger | None"

# =========================================================================== frozen records
@dataclass(frozen=True)
class _Design:
    """What a model was fitted to: the specs, the engine's problem, the groups, a data copy."""

    x_spec: Spec
    z_spec: Spec
    y_name: str
    groups: tuple[str, ...]
    inner_levels: pd.Index
    top_levels: pd.Index | None
    problem: LmmProblem
    data: pd.DataFrame  # a private copy of the caller's data (plots, refits)

    def n_groups(self) -> dict[str, int]:
        out = {} if self.top_levels is None else {self.groups[0]: len(self.top_levels)}
        out[self.groups[-1]] = len(self.inner_levels)
        return out


@dataclass(frozen=True)
class _Fixed:
    """The fixed-effects table's numbers (read-only arrays), computed when the model is fitted."""

    terms: tuple[str, ...]
    estimate: np.ndarray
    std_error: np.ndarray
    df: np.ndarray

    def __post_init__(self) -> None:
        for a in (self.estimate, self.std_error, self.df):
            a.setflags(write=False)


# =========================================================================== F test
@dataclass(frozen=True, repr=False, eq=False)
class FTest(Result):
    """A joint F test that linear combinations of fixed effects are all zero.

    Built by :meth:`MixedModelResult.test`; ``tidy()`` is one row with ``term`` (the
    hypothesis), ``num_df``, ``den_df``, ``statistic`` (F) and ``p_value``.

    Examples
    --------
    >>> t = FTest(term="level; slope", num_df=2.0, den_df=35.4, statistic=4.1, p_value=0.025,
    ...           df_method="satterthwaite")
    >>> t.tidy().columns.tolist()
    ['term', 'num_df', 'den_df', 'statistic', 'p_value']
    """

    term: str
    num_df: float
    den_df: float
    statistic: float
    p_value: float
    df_method: str
    notes: tuple[str, ...] = ()

    def _tidy(self) -> pd.DataFrame:
        return pd.DataFrame([{"term": self.term, "num_df": self.num_df, "den_df": self.den_df,
                              "statistic": self.statistic, "p_value": self.p_value}])

    def _title(self) -> str:
        return f"F test of {self.term} ({_DF_TEXT[self.df_method]})"

    def _meta(self) -> dict[str, Any]:
        return {"df_method": self.df_method}


# =========================================================================== the result
@dataclass(frozen=True, repr=False, eq=False)
class MixedModelResult(EstimateResult):
    """A fitted linear mixed model (built by :func:`mixed`; frozen, holds copies).

    ``tidy()`` is the table of fixed effects in the shared schema (``term, estimate,
    std_error, statistic, df, p_value, conf_low, conf_high, outcome, estimand, method, n``);
    ``params``, ``bse``, ``pvalues`` and ``conf_int()`` read it.

    Attributes
    ----------
    formula, re_formula : str
        Fixed-effects formula and random-effects right-hand side.
    groups : tuple of str
        Grouping columns, outermost first (``("therapist", "patient")`` when nested).
    reml : bool
        Fitted by REML (True) or ML.
    df_method : str
        Degrees-of-freedom method of ``tidy()`` and the default of :meth:`contrast`.
    conf_level : float
        Confidence level of the intervals.
    sigma : float
        Residual standard deviation.
    loglik : float
        Log-likelihood (the REML log-likelihood for REML fits, as lme4's ``logLik``).
    reml_criterion : float
        ``-2`` times the REML log-likelihood (lme4's ``REMLcrit``); ``nan`` for ML fits.
    deviance : float
        ``-2 loglik`` (the ML deviance for ML fits, the REML criterion for REML fits).
    converged, singular : bool
        Optimiser convergence, and a random-effects covariance on the boundary.
    n_obs : int
        Rows used.
    notes : tuple of str
        Warnings and caveats raised during the fit.
    """

    formula: str
    re_formula: str
    groups: tuple[str, ...]
    reml: bool
    df_method: str
    conf_level: float
    sigma: float
    loglik: float
    reml_criterion: float
    deviance: float
    converged: bool
    singular: bool
    n_obs: int
    notes: tuple[str, ...]
    _design: _Design = field(repr=False)
    _fit: LmmFit = field(repr=False)
    _setup: Setup = field(repr=False)  # the df setup of `df_method`, computed at fit time
    _fixed: _Fixed = field(repr=False)
    _components: pd.DataFrame = field(repr=False)
    _random: tuple[tuple[str, pd.DataFrame], ...] = field(repr=False)

    # ------------------------------------------------------------------ protocol
    def _tidy(self) -> pd.DataFrame:
        f = self._fixed
        table = coef_table(f.estimate, f.std_error, f.df, self.conf_level, term=list(f.terms))
        return estimate_frame(table, outcome=self._design.y_name, estimand=None,
                              method=self.method, n=self.n_obs)

    def _title(self) -> str:
        return f"Linear mixed model fit by {'REML' if self.reml else 'ML'}: {self.formula}"

    def _display(self, table: pd.DataFrame) -> pd.DataFrame:
        return table[list(TIDY_COLUMNS)]

    def _meta(self) -> dict[str, Any]:
        crit = ("reml_criterion", self.reml_criterion) if self.reml else ("deviance", self.deviance)
        return {
            "formula": self.formula,
            "random_effects": f"{self.re_formula} | {' / '.join(self.groups)}",
            "groups": ", ".join(f"{k} {v}" for k, v in self.n_groups.items()),
            "n_obs": self.n_obs,
            crit[0]: crit[1],
            "loglik": self.loglik,
            "sigma": self.sigma,
            "converged": self.converged,
            "singular": self.singular,
            "df_method": self.df_method,
            "conf_level": self.conf_level,
            "variance_components": _components_text(self._components),
        }

    # ------------------------------------------------------------------ copies
    @property
    def method(self) -> str:
        """How the table was made, e.g. "linear mixed model (REML, Satterthwaite df)"."""
        return _method_text(self.reml, self.df_method)

    @property
    def coef(self) -> pd.Series:
        """Fixed-effect estimates (a new Series each call)."""
        return pd.Series(np.array(self._fit.beta), index=list(self._fixed.terms), name="estimate")

    @property
    def vcov(self) -> pd.DataFrame:
        """Covariance of the fixed effects (``sigma^2 (X'V^-1X)^-1``, as lme4's ``vcov``)."""
        names = list(self._fixed.terms)
        return pd.DataFrame(np.array(self._fit.vcov), index=names, columns=names)

    @property
    def vcov_adjusted(self) -> pd.DataFrame | None:
        """Kenward-Roger adjusted covariance (pbkrtest's ``vcovAdj``) of a Kenward-Roger fit.

        Its square roots are the reported standard errors then; None for other df methods.
        """
        if not isinstance(self._setup, KenwardRoger):
            return None
        names = list(self._fixed.terms)
        return pd.DataFrame(np.array(self._setup.vcov_adj), index=names, columns=names)

    @property
    def variance_components(self) -> pd.DataFrame:
        """As lme4's ``as.data.frame(VarCorr(fit))``: ``grp, var1, var2, vcov, sdcor``.

        Variances with SDs, covariances with correlations, then the residual.
        """
        return self._components.copy()

    @property
    def random_effects(self) -> dict[str, pd.DataFrame]:
        """Conditional modes (BLUPs) per grouping factor, indexed by level (copies)."""
        return {name: frame.copy() for name, frame in self._random}

    @property
    def theta(self) -> np.ndarray:
        """Relative covariance factors in lme4's order (``getME(fit, "theta")``)."""
        return np.array(self._fit.theta_lme4)

    @property
    def n_groups(self) -> dict[str, int]:
        """Number of levels of each grouping factor."""
        return self._design.n_groups()

    # ------------------------------------------------------------------ inference
    def _setup_for(self, method: str) -> Setup:
        """Return the df setup of ``method``: the fit's own, or one computed now (not stored).

        A setup computed now warns about its caveats (a ``ConvergenceWarning`` for a
        Hessian with negative eigenvalues), as one computed at fit time did.
        """
        if method == self.df_method:
            return self._setup
        setup = _df_setup(method, self._design.problem, self._fit)
        if isinstance(setup, Satterthwaite):
            for note in setup.notes:
                # stack: warn <- _setup_for <- contrast/test <- validate_params wrapper <- caller
                warnings.warn(note, ConvergenceWarning, stacklevel=4)
        return setup

    @validate_params({"conf_level": [CONF_LEVEL, NONE]})
    def contrast(
        self,
        L: Mapping[str, float] | Sequence[float] | np.ndarray | Mapping[str, Mapping[str, float]],
        *,
        df: Literal["satterthwaite", "kenward-roger", "residual", "normal"] | None = None,
        conf_level: float | None = None,
    ) -> Estimates:
        """Estimate linear combinations ``L beta`` of the fixed effects with small-sample df.

        Parameters
        ----------
        L : dict, sequence, array or dict of dicts
            One contrast as ``{term: weight}`` (terms as in ``tidy()``) or a vector of length
            ``p``; several as a 2-D array (one row each) or ``{label: {term: weight}}``.
        df : {"satterthwaite", "kenward-roger", "residual", "normal"}, optional
            Degrees-of-freedom method; default the fit's.
        conf_level : float, optional
            Confidence level; default the fit's.

        Returns
        -------
        causalpa.results.Estimates
            One row per contrast in the shared schema (each tested on its own); it stacks
            with effects and other estimates in :func:`causalpa.compare`.

        Raises
        ------
        SpecificationError
            ``L`` is empty, has an all-zero row, names an unknown term or has the wrong
            number of columns.

        Warns
        -----
        ConvergenceWarning
            Satterthwaite df computed now from a deviance Hessian with negative eigenvalues.

        Examples
        --------
        Arm difference at session 5 in a random-intercept model:

        >>> import numpy as np, pandas as pd
        >>> import causalpa as cpa
        >>> rng = np.random.default_rng(0)
        >>> d = pd.DataFrame({"patient": np.repeat(np.arange(20), 6), "session": np.tile(np.arange(6), 20)})
        >>> d["pa"] = (d["patient"] < 10).astype(int)
        >>> d["phq9"] = 15 - 0.5 * d["session"] + rng.normal(0, 2, 20)[d["patient"]] + rng.normal(0, 1, 120)
        >>> fit = cpa.mixed(d, "phq9 ~ session * pa", groups="patient")
        >>> fit.contrast({"pa": 1, "session:pa": 5}).tidy()[["term", "df"]].round(1)
                        term    df
        0  pa + 5*session:pa  21.6
        """
        method = self.df_method if df is None else df
        level = self.conf_level if conf_level is None else conf_level
        rows, labels = self._contrast_rows(L)
        setup = self._setup_for(method)
        beta = self._fit.beta
        est, se, dfs = [], [], []
        for Lr in rows:
            var, d = _variance_df(Lr, method, self._fit, setup, self._design.problem)
            est.append(float(Lr @ beta))
            se.append(math.sqrt(max(var, 0.0)))
            dfs.append(d)
        table = estimate_frame(coef_table(est, se, dfs, level, term=labels),
                               outcome=self._design.y_name, estimand=None,
                               method=_method_text(self.reml, method), n=self.n_obs)
        notes = setup.notes if setup is not None else ()
        return Estimates(table, title=f"Contrasts of {self.formula} ({_DF_TEXT[method]})",
                         conf_level=level, notes=notes,
                         meta=(("df_method", method), ("conf_level", level)))

    @validate_params()
    def test(
        self,
        L: Mapping[str, Mapping[str, float]] | np.ndarray | Sequence[Sequence[float]],
        *,
        df: Literal["satterthwaite", "kenward-roger", "residual", "normal"] | None = None,
    ) -> FTest:
        """Test jointly that several linear combinations of the fixed effects are all zero.

        Satterthwaite as lmerTest's ``contestMD`` (F of the eigen-decomposed contrasts with
        pooled denominator df), Kenward-Roger as pbkrtest's ``KRmodcomp`` (scaled F with the
        adjusted covariance), "residual" as an F test with ``n - p`` df and "normal" as a Wald
        chi-square test divided by its df.

        Parameters
        ----------
        L : 2-D array or dict of dicts
            One row per combination (``{label: {term: weight}}`` or an array with one column
            per fixed effect).
        df : {"satterthwaite", "kenward-roger", "residual", "normal"}, optional
            Degrees-of-freedom method; default the fit's.

        Returns
        -------
        FTest
            ``tidy()`` is one row: ``term`` (the hypothesis), ``num_df``, ``den_df``,
            ``statistic`` (F), ``p_value``. Linearly dependent rows of ``L`` are reduced to
            independent ones (as ``contestMD``) with every df method, so ``num_df`` is the
            rank of ``L``.

        Raises
        ------
        SpecificationError
            ``L`` is empty, has an all-zero row, names an unknown term or has the wrong
            number of columns.

        Examples
        --------
        Do the arms differ at all (level or slope)?

        >>> import numpy as np, pandas as pd
        >>> import causalpa as cpa
        >>> rng = np.random.default_rng(2)
        >>> d = pd.DataFrame({"patient": np.repeat(np.arange(20), 5), "session": np.tile(np.arange(5), 20)})
        >>> d["pa"] = (d["patient"] < 10).astype(int)
        >>> d["phq9"] = 15 - 0.5 * d["session"] + rng.normal(0, 2, 20)[d["patient"]] + rng.normal(0, 1, 100)
        >>> fit = cpa.mixed(d, "phq9 ~ session * pa", groups="patient")
        >>> fit.test({"level": {"pa": 1}, "slope": {"session:pa": 1}}).tidy()[["num_df", "den_df"]].round(1)
           num_df  den_df
        0     2.0    35.4
        """
        method = self.df_method if df is None else df
        rows, labels = self._contrast_rows(L)
        L2 = np.vstack(rows)
        beta = self._fit.beta
        setup = self._setup_for(method)
        if setup is not None:
            F, q, ddf = setup.ftest(L2, beta)
        else:
            VL = L2 @ self._fit.vcov @ L2.T
            q = float(np.linalg.matrix_rank(VL))
            Lb = L2 @ beta
            F = float(Lb @ np.linalg.pinv(VL) @ Lb) / q
            prob = self._design.problem
            ddf = float(prob.n - prob.p) if method == "residual" else math.inf
        p = f_test_p(F, q, ddf)
        return FTest(term="; ".join(labels), num_df=q, den_df=ddf, statistic=F, p_value=p,
                     df_method=method, notes=setup.notes if setup is not None else ())

    def _contrast_rows(self, L: Any) -> tuple[list[np.ndarray], list[str]]:
        """Rows of ``L`` as weight vectors, with their labels."""
        names = list(self._fixed.terms)
        p = len(names)

        def from_map(m: Mapping[str, Any]) -> np.ndarray:
            v = np.zeros(p)
            for k, w in m.items():
                if k not in names:
                    raise SpecificationError(
                        f"contrast term {k!r} is not a fixed effect; terms are {names}"
                    )
                v[names.index(k)] = check_number(f"L[{k!r}]", w)
            return v

        if isinstance(L, Mapping) and not L:
            raise SpecificationError("`L` is empty: give at least one {term: weight}")
        if isinstance(L, Mapping):
            if all(isinstance(v, Mapping) for v in L.values()):
                rows, labels = [from_map(v) for v in L.values()], [str(k) for k in L]
            else:
                v = from_map(L)
                rows, labels = [v], [_label(v, names)]
        else:
            try:
                arr = np.atleast_2d(np.asarray(L, dtype=float))
            except (TypeError, ValueError) as exc:
                raise SpecificationError(
                    "`L` must be a dict {term: weight} or a numeric array") from exc
            if arr.ndim != 2 or arr.shape[1] != p:
                raise SpecificationError(
                    f"`L` must have {p} columns (one per fixed effect {names}); got shape "
                    f"{arr.shape}")
            if not np.all(np.isfinite(arr)):
                raise SpecificationError("`L` must be finite")
            rows, labels = list(arr), [_label(r, names) for r in arr]
        if not rows:
            raise SpecificationError("`L` has no rows: give at least one contrast")
        zero = [label for row, label in zip(rows, labels, strict=True) if not np.any(row)]
        if zero:
            raise SpecificationError(
                f"`L` has all-zero rows ({', '.join(map(repr, zero))}): a contrast needs at "
                f"least one non-zero weight on the fixed effects {names}")
        return rows, labels

    # ------------------------------------------------------------------ prediction
    @validate_params()
    def predict(
        self, newdata: pd.DataFrame | None = None,
        level: Literal["population", "subject"] = "population",
    ) -> pd.Series:
        """Predict the outcome: fixed part only, or adding each group's random effects.

        Parameters
        ----------
        newdata : pandas.DataFrame, optional
            Rows to predict (default: the data the model was fitted to). Factor levels are
            coded as in the fit.
        level : {"population", "subject"}
            "population" uses ``X beta``; "subject" adds the predicted random effects of each
            row's group(s) (levels not seen in the fit get zero, i.e. the population value).

        Returns
        -------
        pandas.Series
            Predictions with the index of ``newdata`` (or of the fitted data).

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> import causalpa as cpa
        >>> d = pd.DataFrame({"patient": np.repeat(["a", "b", "c", "d"], 4), "session": np.tile(np.arange(4), 4)})
        >>> d["phq9"] = 12 - d["session"] + np.repeat([2.0, -2.0, 1.0, -1.0], 4) + np.tile([0.3, -0.3, 0.1, -0.1], 4)
        >>> fit = cpa.mixed(d, "phq9 ~ session", groups="patient")
        >>> new = pd.DataFrame({"patient": ["a", "new"], "session": [2, 2]})
        >>> fit.predict(new).round(2).tolist()
        [9.96, 9.96]
        >>> fit.predict(new, level="subject").round(2).tolist()
        [11.95, 9.96]
        """
        des = self._design
        subject = level == "subject"
        if newdata is None:
            data, on = des.data, None
        else:
            data = on = check_frame(newdata, "newdata")
            needed = list(des.x_spec.variables)
            needed += list(des.z_spec.variables) + list(self.groups) if subject else []
            check_columns(data, needed, "newdata")
            check_no_missing(data, needed)
        pred = _design_on(des.x_spec, on) @ self._fit.beta
        if subject:
            Z = _design_on(des.z_spec, on)
            random = self.random_effects
            b = random[self.groups[-1]].reindex(group_keys(data, self.groups)).to_numpy()
            pred = pred + np.sum(Z * np.nan_to_num(b, nan=0.0), axis=1)
            if len(self.groups) == 2:
                top = random[self.groups[0]].reindex(data[self.groups[0]].to_numpy())
                pred = pred + np.nan_to_num(top.to_numpy(), nan=0.0)[:, 0]
        return pd.Series(pred, index=data.index, name="predicted")

    @validate_params()
    def refit(
        self, y: Sequence[float] | np.ndarray | pd.Series, *,
        df: Literal["satterthwaite", "kenward-roger", "residual", "normal"] | None = None,
    ) -> MixedModelResult:
        """Refit the same design to a new outcome vector (fast path for simulation studies).

        The formula, model matrices and group structure are reused; only the outcome's
        cross-products are recomputed, and the optimiser starts from this fit's estimates.
        ``y`` must be in the row order of the original data. ``df`` overrides the
        degrees-of-freedom method (e.g. "normal" skips the small-sample computations).

        Raises
        ------
        DataError
            ``y`` is not numeric, or does not hold one finite value per fitted row.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> import causalpa as cpa
        >>> d = pd.DataFrame({"patient": np.repeat(np.arange(10), 4), "session": np.tile(np.arange(4), 10)})
        >>> rng = np.random.default_rng(0)
        >>> d["phq9"] = 10 + rng.normal(0, 2, 10)[d["patient"]] + rng.normal(size=40)
        >>> fit = cpa.mixed(d, "phq9 ~ session", groups="patient")
        >>> new = fit.refit(d["phq9"] + 0.5 * d["session"])
        >>> round(float(new.coef["session"] - fit.coef["session"]), 6)
        0.5
        """
        try:
            yv = np.asarray(y, dtype=float).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise DataError(
                f"`y` must be numeric: {self.n_obs} finite values, one per fitted row") from exc
        if yv.shape[0] != self.n_obs or not np.all(np.isfinite(yv)):
            raise DataError(f"`y` must hold {self.n_obs} finite values (one per fitted row)")
        method = self.df_method if df is None else df
        check_reml(method, self.reml)
        des = self._design
        prob = copy.copy(des.problem)  # shares the design arrays; set_y rebinds the y ones
        prob.set_y(yv)
        design = replace(des, problem=prob, data=des.data.assign(**{des.y_name: yv}))
        return build_result(design, self.reml, method, self.conf_level, theta0=self._fit.theta)

    # ------------------------------------------------------------------ plot
    @validate_params({"time": [Column(), NONE], "by": [Column(), NONE]})
    def plot(self, time: str | None = None, by: str | None = None, ax: Any = None) -> Any:
        """Plot observed mean trajectories (points) and fitted population trajectories (lines).

        Parameters
        ----------
        time : str, optional
            Time column (default "session" if present, else the first random-slope column).
        by : str, optional
            Column splitting the lines (default "pa" if it is a fixed-effect variable).
        ax : matplotlib Axes, optional
            Axes to draw on.

        Returns
        -------
        matplotlib.axes.Axes

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import numpy as np, pandas as pd
        >>> import causalpa as cpa
        >>> rng = np.random.default_rng(1)
        >>> d = pd.DataFrame({"patient": np.repeat(np.arange(12), 5), "session": np.tile(np.arange(5), 12)})
        >>> d["pa"] = (d["patient"] % 2).astype(int)
        >>> d["phq9"] = 15 - (0.5 + 0.4 * d["pa"]) * d["session"] + rng.normal(0, 2, 12)[d["patient"]] + rng.normal(0, 1, 60)
        >>> ax = cpa.mixed(d, "phq9 ~ session * pa", groups="patient").plot()
        >>> ax.get_xlabel(), len(ax.lines)
        ('session', 4)
        """
        import matplotlib.pyplot as plt

        des = self._design
        data = des.data
        if time is None:
            cands = ["session", *des.z_spec.variables, *des.x_spec.variables]
            time = next((c for c in cands if c in data.columns
                         and pd.api.types.is_numeric_dtype(data[c])), None)
            if time is None:
                raise SpecificationError("give `time=`, the column holding the session number")
        check_columns(data, [time], "time")
        if by is None and "pa" in des.x_spec.variables:
            by = "pa"
        if by is not None:
            check_columns(data, [by], "by")
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        frame = pd.DataFrame({
            "time": data[time].to_numpy(),
            "y": data[des.y_name].to_numpy(),
            "fit": self.predict(level="population").to_numpy(),
            "by": data[by].to_numpy() if by is not None else "all",
        })
        for i, (lev, g) in enumerate(frame.groupby("by", sort=True)):
            m = g.groupby("time").agg(y=("y", "mean"), fit=("fit", "mean")).reset_index()
            lab = f"{by} = {lev}" if by is not None else "all"
            ax.plot(m["time"], m["y"], "o", color=f"C{i}", alpha=0.7, label=f"observed mean, {lab}")
            ax.plot(m["time"], m["fit"], "-", color=f"C{i}", label=f"fitted, {lab}")
        ax.set_xlabel(time)
        ax.set_ylabel(des.y_name)
        ax.set_title("Observed and fitted trajectories")
        ax.legend(fontsize="small")
        return ax



# =========================================================================== building
def _design_on(spec: Spec, data: pd.DataFrame | None) -> np.ndarray:
    """Return the model matrix of the fitted data or of new data coded with the fit's levels.

    A factor level the fit has not seen is refused by the front end (``Spec.design``).
    """
    return spec.design()[0] if data is None else spec.design(data)[0]


def check_reml(method: str, reml: bool) -> None:
    """Refuse Kenward-Roger df for an ML fit (pbkrtest's are defined for REML)."""
    if method == "kenward-roger" and not reml:
        raise SpecificationError(
            "`df`='kenward-roger' needs a REML fit (as pbkrtest); use reml=True or "
            "df='satterthwaite'")


def group_keys(data: pd.DataFrame, groups: tuple[str, ...]) -> Any:
    """Return each row's group: the column's values, or (outer, inner) pairs when nested."""
    if len(groups) == 1:
        return data[groups[0]].to_numpy()
    return pd.MultiIndex.from_arrays([data[g].to_numpy() for g in groups])


def _df_setup(method: str, prob: LmmProblem, fit: LmmFit) -> Setup:
    """Compute what the df of ``method`` need (Satterthwaite, Kenward-Roger) or None."""
    if method == "satterthwaite":
        return satterthwaite(prob, fit)
    if method != "kenward-roger":
        return None
    check_reml(method, fit.reml)
    try:
        return kenward_roger(prob, fit)
    except MemoryError as exc:
        raise DataError(
            f"{exc}: with patients nested in few, very large therapist caseloads "
            "use df='satterthwaite' (Kenward-Roger needs a dense block per therapist)"
        ) from exc


def _variance_df(L: np.ndarray, method: str, fit: LmmFit, setup: Setup,
                 prob: LmmProblem) -> tuple[float, float]:
    """Return the variance of ``L beta`` and its degrees of freedom under ``method``."""
    if isinstance(setup, KenwardRoger):
        return float(L @ setup.vcov_adj @ L), setup.df(L)
    V = fit.vcov
    if isinstance(setup, Satterthwaite):
        return float(L @ V @ L), setup.df(L)
    if method == "residual":
        return float(L @ V @ L), float(prob.n - prob.p)
    return float(L @ V @ L), math.inf


def build_result(design: _Design, reml: bool, df_method: str, conf_level: float,
                 theta0: np.ndarray | None = None) -> MixedModelResult:
    """Fit the model and compute everything the result shows (nothing is added later)."""
    prob = design.problem
    fit = prob.fit(reml=reml, theta0=theta0)
    notes: list[str] = []
    if not fit.converged:
        notes.append(_warn(
            f"the mixed model did not converge ({fit.message}); estimates and tests may be "
            "unreliable. Rescale covariates (e.g. session in weeks), simplify `re_formula` "
            "(e.g. '~1'), or check for groups with very few rows", ConvergenceWarning))
    components = _variance_components(design, fit)
    if fit.singular:
        notes.append(_warn(_singular_message(components, design, fit), SingularFitWarning))
    setup = _df_setup(df_method, prob, fit)
    if isinstance(setup, Satterthwaite):
        # lmerTest warns when the Hessian of the deviance is not positive definite
        for note in setup.notes:  # (a loop: a comprehension's frame would shift stacklevel)
            notes.append(_warn(note, ConvergenceWarning))
    names = tuple(design.x_spec.columns)
    eye = np.eye(prob.p)
    moments = [_variance_df(eye[j], df_method, fit, setup, prob) for j in range(prob.p)]
    fixed = _Fixed(names, np.array(fit.beta, dtype=float),
                   np.array([math.sqrt(max(var, 0.0)) for var, _ in moments]),
                   np.array([d for _, d in moments], dtype=float))
    b_inner, b_top = prob.random_effects(fit.theta, fit.beta)
    random = [(design.groups[-1], pd.DataFrame(b_inner, index=design.inner_levels,
                                               columns=list(design.z_spec.columns)))]
    if b_top is not None:
        random.append((design.groups[0],
                       pd.DataFrame(b_top, index=design.top_levels, columns=["Intercept"])))
    return MixedModelResult(
        formula=design.x_spec.formula, re_formula=f"~{design.z_spec.rhs}",
        groups=design.groups, reml=reml, df_method=df_method, conf_level=conf_level,
        sigma=float(fit.sigma), loglik=float(-fit.deviance / 2),
        reml_criterion=float(fit.deviance) if reml else math.nan, deviance=float(fit.deviance),
        converged=fit.converged, singular=fit.singular, n_obs=prob.n, notes=tuple(notes),
        _design=design, _fit=fit, _setup=setup, _fixed=fixed, _components=components,
        _random=tuple(random),
    )


def _warn(message: str, category: type[Warning]) -> str:
    warnings.warn(message, category, stacklevel=5)  # the caller of mixed() / refit()
    return message


def _variance_components(design: _Design, fit: LmmFit) -> pd.DataFrame:
    """Return the variance components table (lme4's ``as.data.frame(VarCorr(fit))``)."""
    prob = design.problem
    s2 = fit.sigma**2
    Li, Lt = prob.factors(fit.theta_lme4)
    rows = _vc_rows(design.groups[-1], list(design.z_spec.columns), s2 * Li @ Li.T)
    if Lt is not None:
        rows += _vc_rows(design.groups[0], ["Intercept"], s2 * Lt @ Lt.T)
    rows.append(("Residual", "", "", s2, fit.sigma))
    return pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])


def _vc_rows(grp: str, names: list[str], C: np.ndarray) -> list[tuple[str, str, str, float, float]]:
    q = len(names)
    sd = np.sqrt(np.maximum(np.diag(C), 0.0))
    rows = [(grp, names[a], "", float(C[a, a]), float(sd[a])) for a in range(q)]
    for a in range(q):
        for b in range(a + 1, q):
            r = C[a, b] / (sd[a] * sd[b]) if sd[a] > 0 and sd[b] > 0 else math.nan
            rows.append((grp, names[a], names[b], float(C[a, b]), float(r)))
    return rows


def _singular_message(vc: pd.DataFrame, design: _Design, fit: LmmFit) -> str:
    """Name the component on the boundary and the remedy."""
    group_cols, prob = design.groups, design.problem
    sds = vc[(vc["var2"] == "")]
    zero = sds[(sds["sdcor"] < 1e-4 * fit.sigma) & (sds["grp"] != "Residual")]
    cors = vc[(vc["var2"] != "") & (vc["sdcor"].abs() > 0.9999)]
    what = [f"SD of {r.var1} | {r.grp} ~ 0" for r in zero.itertuples()]
    what += [f"correlation of {r.var1} and {r.var2} | {r.grp} = {r.sdcor:+.4f}"
             for r in cors.itertuples()]
    if prob.nested and (zero["grp"] == group_cols[0]).any():
        remedy = f"drop the {group_cols[0]!r} level (groups={group_cols[-1]!r})"
    elif prob.q == 1:
        remedy = (f"the {group_cols[-1]!r} groups explain no variance beyond the residual, "
                  "so an ordinary regression gives the same fixed effects")
    else:
        remedy = "simplify `re_formula` (e.g. '~1')"
    return ("singular fit: the random-effects covariance is on the boundary ("
            + ("; ".join(what) or "a variance near 0")
            + f"). The model is over-parameterised for these data: {remedy}. Fixed-effect "
            "tests remain usable; check them with df='kenward-roger'")


# =========================================================================== text
def _method_text(reml: bool, method: str) -> str:
    return f"linear mixed model ({'REML' if reml else 'ML'}, {_DF_TEXT[method]})"


def _label(v: np.ndarray, names: list[str]) -> str:
    """Readable name of a contrast, e.g. ``pa + 5*session:pa``."""
    parts = []
    for j in np.flatnonzero(v):
        w = v[j]
        coef = "" if w == 1 else "-" if w == -1 else f"{w:g}*"
        parts.append(f"{coef}{names[j]}")
    return " + ".join(parts).replace("+ -", "- ") or "0"


def _components_text(vc: pd.DataFrame) -> str:
    """Variance components in one line: SDs and correlations per grouping factor."""
    parts: dict[str, list[str]] = {}
    for r in vc.itertuples():
        if r.grp == "Residual":
            text = f"SD {r.sdcor:.4g}"
        elif r.var2 == "":
            text = f"SD({r.var1}) {r.sdcor:.4g}"
        else:
            text = f"corr({r.var1}, {r.var2}) {r.sdcor:+.3f}"
        parts.setdefault(str(r.grp), []).append(text)
    return "; ".join(f"{g}: {', '.join(t)}" for g, t in parts.items())
