"""Linear mixed models for session-level trajectories, with small-sample degrees of freedom.

:func:`mixed` fits random intercepts and (correlated) random slopes per patient, optionally
with patients nested in therapists, by REML or ML. The engine profiles the deviance over the
fixed effects and the residual variance exactly as lme4 does and works on one small block per
patient (plus one per therapist), so it never forms an ``n x n`` matrix. Tests of fixed effects
and of linear contrasts use Satterthwaite degrees of freedom (as lmerTest, the default),
Kenward-Roger (as pbkrtest, with its adjusted covariance of the fixed effects), the residual
df ``n - p``, or the normal distribution.

Examples
--------
>>> import numpy as np, pandas as pd
>>> import causalpa as cpa
>>> rng = np.random.default_rng(3)
>>> n, s = 30, 6
>>> sess = pd.DataFrame({"patient": np.repeat(np.arange(n), s), "session": np.tile(np.arange(s), n)})
>>> sess["pa"] = (sess["patient"] % 2).astype(int)
>>> u = rng.normal(0, 3, n)[sess["patient"]]
>>> sess["phq9"] = 15 + u - (0.5 + 0.3 * sess["pa"]) * sess["session"] + rng.normal(0, 2, len(sess))
>>> fit = cpa.mixed(sess, "phq9 ~ session * pa", groups="patient", re_formula="~1")
>>> fit.tidy()[["term", "df"]].round(1)
         term     df
0   Intercept   34.5
1     session  148.0
2          pa   34.5
3  session:pa  148.0
"""

from __future__ import annotations

import copy
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from causalpa._validation import (
    check_columns,
    check_frame,
    check_no_missing,
    check_number,
    check_option,
)
from causalpa.errors import ConvergenceWarning, DataError, SingularFitWarning, SpecificationError
from causalpa.longitudinal._lmm_engine import LmmFit, LmmProblem

__all__ = ["mixed", "MixedModelResult", "DfMethod"]

DfMethod = Literal["satterthwaite", "kenward-roger", "residual", "normal"]
_DF_METHODS: tuple[str, ...] = ("satterthwaite", "kenward-roger", "residual", "normal")
_DF_ALIASES = {"kr": "kenward-roger", "kenward_roger": "kenward-roger", "satt": "satterthwaite"}
_TIDY = ["term", "estimate", "std_error", "df", "statistic", "p_value", "conf_low", "conf_high"]


def _formula_parts(formula: Any, argument: str, *, lhs: bool) -> tuple[list[str], str, set[str]]:
    import formulaic

    if not isinstance(formula, str) or (lhs and "~" not in formula):
        example = "'phq9 ~ session * pa'" if lhs else "'~session'"
        raise SpecificationError(f"`{argument}` must be a formula string like {example}; got {formula!r}")
    text = formula
    if not lhs:
        text = formula.strip()
        text = text[1:] if text.startswith("~") else text
        text = text.strip() or "1"
        if "~" in text:
            raise SpecificationError(
                f"`{argument}` takes a right-hand side only, like '~session'; got {formula!r}"
            )
        try:
            parsed = formulaic.Formula(text)
            return [], text, set(parsed.required_variables)
        except Exception as exc:  # formulaic raises several parser errors
            raise SpecificationError(f"could not parse `{argument}` {formula!r}: {exc}") from exc
    try:
        parsed = formulaic.Formula(formula)
        lhs_vars = sorted(parsed.lhs.required_variables)
        rhs_vars = set(parsed.rhs.required_variables)
    except Exception as exc:
        raise SpecificationError(f"could not parse `{argument}` {formula!r}: {exc}") from exc
    if len(lhs_vars) != 1:
        raise SpecificationError(
            f"the left-hand side of `{argument}` must be one outcome column; got {lhs_vars}"
        )
    rhs = formula.split("~", 1)[1].strip() or "1"
    return lhs_vars, rhs, rhs_vars


class _ColumnsSpec:
    """Model spec for a right-hand side that is an intercept plus plain numeric columns.

    Avoids formulaic's (comparatively slow) machinery for the common ``re_formula`` values
    ``"~1"`` and ``"~session"``; gives the same matrix and names.
    """

    def __init__(self, columns: list[str], intercept: bool) -> None:
        self.columns, self.intercept = columns, intercept

    def get_model_matrix(self, data: pd.DataFrame) -> np.ndarray:
        cols = [np.ones(len(data))] if self.intercept else []
        cols += [data[c].to_numpy(dtype=float) for c in self.columns]
        return np.column_stack(cols) if cols else np.zeros((len(data), 0))


_PLAIN = re.compile(r"^\s*(?:([01])\s*(?:\+\s*|$))?((?:[A-Za-z_]\w*\s*(?:\+\s*)?)*)$")


def _simple_terms(rhs: str, data: pd.DataFrame) -> tuple[list[str], bool] | None:
    """Columns and intercept flag if ``rhs`` is ``[1|0 +] col [+ col ...]`` of numeric columns."""
    m = _PLAIN.match(rhs)
    if not m:
        return None
    names = [t.strip() for t in m.group(2).split("+") if t.strip()]
    if _keyword_in(names) or len(set(names)) != len(names):
        return None
    for c in names:
        if c not in data.columns or not pd.api.types.is_numeric_dtype(data[c]) or pd.api.types.is_bool_dtype(data[c]):
            return None
    intercept = m.group(1) != "0"
    if not intercept and not names:
        return None
    return names, intercept


def _keyword_in(names: list[str]) -> bool:
    """Whether a term is a Python keyword or formula builtin (then formulaic is used)."""
    import keyword

    return any(keyword.iskeyword(n) or n in ("C", "I", "Q") for n in names)


def _model_matrix(rhs: str, data: pd.DataFrame) -> tuple[np.ndarray, list[str], Any]:
    import formulaic

    simple = _simple_terms(rhs, data)
    if simple is not None:
        columns, intercept = simple
        spec = _ColumnsSpec(columns, intercept)
        return spec.get_model_matrix(data), (["Intercept"] if intercept else []) + columns, spec

    mm = formulaic.model_matrix(rhs, data, na_action="raise")
    return np.asarray(mm, dtype=float), [str(c) for c in mm.columns], mm.model_spec


def _check_rank(X: np.ndarray, names: list[str], argument: str) -> None:
    """Refuse a rank-deficient design, naming the aliased columns (later ones, as R's lm)."""
    if X.shape[1] == 0:
        return
    tol = max(X.shape) * np.finfo(float).eps * 100
    kept: list[int] = []
    dropped = []
    for j in range(X.shape[1]):
        cand = X[:, kept + [j]]
        s = np.linalg.svd(cand, compute_uv=False)
        if s[-1] <= tol * s[0] or s[0] == 0:
            dropped.append(names[j])
        else:
            kept.append(j)
    if dropped:
        raise DataError(
            f"the design of `{argument}` is rank deficient: column(s) {', '.join(map(repr, dropped))} "
            "are constant or linear combinations of earlier columns (collinear terms); remove them"
        )


def _sf_t(t: float, df: float) -> float:
    return float(2 * (stats.norm.sf(abs(t)) if not np.isfinite(df) else stats.t.sf(abs(t), df)))


def _q(conf_level: float, df: float) -> float:
    a = 0.5 + conf_level / 2
    return float(stats.norm.ppf(a) if not np.isfinite(df) else stats.t.ppf(a, df))


@dataclass(frozen=True, eq=False)
class MixedModelResult:
    """A fitted linear mixed model (built by :func:`mixed`; frozen).

    Attributes
    ----------
    formula, re_formula : str
        Fixed-effects formula and random-effects right-hand side.
    groups : tuple of str
        Grouping columns, outermost first (``("therapist", "patient")`` when nested).
    reml : bool
        Fitted by REML (True) or ML.
    df_method : str
        Degrees-of-freedom method of :meth:`tidy` and the default of :meth:`contrast`.
    coef : pandas.Series
        Fixed-effect estimates.
    vcov : pandas.DataFrame
        Covariance of the fixed effects (``sigma^2 (X'V^-1X)^-1``, as lme4's ``vcov``).
    vcov_adjusted : pandas.DataFrame or None
        Kenward-Roger adjusted covariance (pbkrtest's ``vcovAdj``) when ``df_method`` is
        "kenward-roger"; its square roots are the reported standard errors then.
    variance_components : pandas.DataFrame
        As lme4's ``as.data.frame(VarCorr(fit))``: ``grp, var1, var2, vcov, sdcor`` (variances
        with SDs, covariances with correlations, then the residual).
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
    theta : numpy.ndarray
        Relative covariance factors in lme4's order (``getME(fit, "theta")``).
    n_obs : int
        Rows used.
    n_groups : dict
        Number of levels of each grouping factor.
    random_effects : dict of str to pandas.DataFrame
        Conditional modes (BLUPs) per grouping factor, indexed by level.
    notes : tuple of str
        Warnings and caveats raised during the fit.
    """

    formula: str
    re_formula: str
    groups: tuple[str, ...]
    reml: bool
    df_method: str
    conf_level: float
    coef: pd.Series
    vcov: pd.DataFrame
    vcov_adjusted: pd.DataFrame | None
    variance_components: pd.DataFrame
    sigma: float
    loglik: float
    reml_criterion: float
    deviance: float
    converged: bool
    singular: bool
    theta: np.ndarray
    n_obs: int
    n_groups: dict[str, int]
    random_effects: dict[str, pd.DataFrame]
    notes: tuple[str, ...]
    _table: pd.DataFrame = field(repr=False)
    _state: dict[str, Any] = field(repr=False)

    # ------------------------------------------------------------------ views
    def tidy(self) -> pd.DataFrame:
        """Return the fixed-effects table (term, estimate, std_error, df, statistic, p, CI)."""
        return self._table.copy()

    def summary(self) -> str:
        """Return a readable report (fixed effects, variance components, fit statistics)."""
        crit = "REML" if self.reml else "ML"
        head = [
            f"Linear mixed model fit by {crit}: {self.formula}",
            f"  random effects: {self.re_formula} | {' / '.join(self.groups)}",
            "  groups: " + ", ".join(f"{k} {v}" for k, v in self.n_groups.items())
            + f"; observations {self.n_obs}",
            f"  {'REML criterion' if self.reml else 'deviance'} {self.deviance:.4f}   "
            f"logLik {self.loglik:.4f}   sigma {self.sigma:.4g}",
            f"  converged: {self.converged}   singular: {self.singular}",
            "",
            "Fixed effects (df: " + self.df_method + "):",
            self.tidy().to_string(index=False, float_format=lambda v: f"{v:.4g}"),
            "",
            "Random effects (variances/SD; covariances/correlation):",
            self.variance_components.to_string(index=False, float_format=lambda v: f"{v:.4g}"),
        ]
        head += [f"note: {n}" for n in self.notes]
        return "\n".join(head)

    def __repr__(self) -> str:
        return f"<MixedModelResult\n{self.summary()}\n>"

    def _repr_html_(self) -> str:
        t = self.tidy().to_html(index=False, float_format=lambda v: f"{v:.4g}")
        v = self.variance_components.to_html(index=False, float_format=lambda v: f"{v:.4g}")
        notes = "".join(f"<p><em>note:</em> {n}</p>" for n in self.notes)
        return f"<p>Linear mixed model: {self.formula}</p>{t}{v}{notes}"

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python summary: the tidy rows, variance components and fit statistics."""
        return {
            "formula": self.formula,
            "re_formula": self.re_formula,
            "groups": list(self.groups),
            "reml": self.reml,
            "df_method": self.df_method,
            "fixed_effects": self.tidy().to_dict(orient="records"),
            "variance_components": self.variance_components.to_dict(orient="records"),
            "sigma": self.sigma,
            "loglik": self.loglik,
            "deviance": self.deviance,
            "converged": self.converged,
            "singular": self.singular,
            "notes": list(self.notes),
        }

    # ------------------------------------------------------------------ inference
    def _df_for(self, L: np.ndarray, method: str) -> tuple[float, float]:
        """(variance of L beta, df) under ``method``."""
        st = self._state
        prob: LmmProblem = st["problem"]
        fit: LmmFit = st["fit"]
        V = fit.vcov
        if method == "satterthwaite":
            if "satt" not in st:
                st["satt"] = prob.satterthwaite_setup(fit)
            return float(L @ V @ L), prob.satterthwaite_df(L, V, st["satt"])
        if method == "kenward-roger":
            if not self.reml:
                raise SpecificationError(
                    "`df`='kenward-roger' needs a REML fit (as pbkrtest); refit with reml=True"
                )
            if "kr" not in st:
                try:
                    st["kr"] = prob.kenward_roger_setup(fit)
                except MemoryError as exc:
                    raise DataError(
                        f"{exc}: with patients nested in few, very large therapist caseloads "
                        "use df='satterthwaite' (Kenward-Roger needs a dense block per therapist)"
                    ) from exc
            Va = st["kr"]["vcov_adj"]
            return float(L @ Va @ L), prob.kenward_roger_df(L, V, st["kr"])
        if method == "residual":
            return float(L @ V @ L), float(prob.n - prob.p)
        return float(L @ V @ L), math.inf

    def contrast(
        self,
        L: Mapping[str, float] | Sequence[float] | np.ndarray | Mapping[str, Mapping[str, float]],
        *,
        df: str | None = None,
        conf_level: float | None = None,
    ) -> pd.DataFrame:
        """Test linear combinations ``L beta`` of the fixed effects with small-sample df.

        Parameters
        ----------
        L : dict, sequence, array or dict of dicts
            One contrast as ``{term: weight}`` (terms as in :meth:`tidy`) or a vector of length
            ``p``; several as a 2-D array (one row each) or ``{label: {term: weight}}``.
        df : str, optional
            "satterthwaite", "kenward-roger", "residual" or "normal"; default the fit's.
        conf_level : float, optional
            Confidence level; default the fit's.

        Returns
        -------
        pandas.DataFrame
            One row per contrast with the columns of :meth:`tidy` (each tested on its own).

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
        >>> fit.contrast({"pa": 1, "session:pa": 5})[["term", "df"]].round(1)
                        term    df
        0  pa + 5*session:pa  21.6
        """
        method = self._check_df(df) if df is not None else self.df_method
        level = self.conf_level if conf_level is None else check_number(
            "conf_level", conf_level, low=0, high=1, low_inclusive=False, high_inclusive=False
        )
        rows, labels = self._contrast_rows(L)
        beta = self.coef.to_numpy()
        out = []
        for label, Lr in zip(labels, rows, strict=True):
            var, d = self._df_for(Lr, method)
            est = float(Lr @ beta)
            se = math.sqrt(max(var, 0.0))
            t = est / se if se > 0 else math.nan
            qq = _q(level, d)
            out.append([label, est, se, d, t, _sf_t(t, d), est - qq * se, est + qq * se])
        return pd.DataFrame(out, columns=_TIDY)

    def test(
        self,
        L: Mapping[str, Mapping[str, float]] | np.ndarray | Sequence[Sequence[float]],
        *,
        df: str | None = None,
    ) -> pd.DataFrame:
        """Joint F test that several linear combinations of the fixed effects are all zero.

        Satterthwaite as lmerTest's ``contestMD`` (F of the eigen-decomposed contrasts with
        pooled denominator df), Kenward-Roger as pbkrtest's ``KRmodcomp`` (scaled F with the
        adjusted covariance), "residual" as an F test with ``n - p`` df and "normal" as a Wald
        chi-square test divided by its df.

        Parameters
        ----------
        L : 2-D array or dict of dicts
            One row per combination (``{label: {term: weight}}`` or an array with one column
            per fixed effect).
        df : str, optional
            Degrees-of-freedom method; default the fit's.

        Returns
        -------
        pandas.DataFrame
            One row: ``term`` (the hypothesis), ``num_df``, ``den_df``, ``statistic`` (F),
            ``p_value``.

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
        >>> fit.test({"level": {"pa": 1}, "slope": {"session:pa": 1}})[["num_df", "den_df"]].round(1)
           num_df  den_df
        0     2.0    35.4
        """
        method = self._check_df(df) if df is not None else self.df_method
        rows, labels = self._contrast_rows(L)
        L2 = np.vstack(rows)
        st = self._state
        prob: LmmProblem = st["problem"]
        fit: LmmFit = st["fit"]
        beta = self.coef.to_numpy()
        if method == "satterthwaite":
            self._df_for(L2[0], method)  # computes and caches the Satterthwaite setup
            F, q, ddf = prob.satterthwaite_ftest(L2, beta, fit.vcov, st["satt"])
        elif method == "kenward-roger":
            self._df_for(L2[0], method)
            F, q, ddf = prob.kenward_roger_ftest(L2, beta, fit.vcov, st["kr"])
        else:
            VL = L2 @ fit.vcov @ L2.T
            q = float(np.linalg.matrix_rank(VL))
            Lb = L2 @ beta
            F = float(Lb @ np.linalg.pinv(VL) @ Lb) / q
            ddf = float(prob.n - prob.p) if method == "residual" else math.inf
        p = float(stats.chi2.sf(F * q, q) if not np.isfinite(ddf) else stats.f.sf(F, q, ddf))
        return pd.DataFrame([{"term": "; ".join(labels), "num_df": q, "den_df": ddf,
                              "statistic": F, "p_value": p}])

    @staticmethod
    def _check_df(df: Any) -> str:
        if isinstance(df, str) and df.lower() in _DF_ALIASES:
            return _DF_ALIASES[df.lower()]
        return str(check_option("df", df, _DF_METHODS))

    def _contrast_rows(self, L: Any) -> tuple[list[np.ndarray], list[str]]:
        names = list(self.coef.index)
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

        def label(v: np.ndarray) -> str:
            parts = []
            for j in np.flatnonzero(v):
                w = v[j]
                coef = "" if w == 1 else "-" if w == -1 else f"{w:g}*"
                parts.append(f"{coef}{names[j]}")
            return " + ".join(parts).replace("+ -", "- ") or "0"

        if isinstance(L, Mapping):
            if L and all(isinstance(v, Mapping) for v in L.values()):
                rows = [from_map(v) for v in L.values()]
                return rows, [str(k) for k in L]
            v = from_map(L)
            return [v], [label(v)]
        try:
            arr = np.asarray(L, dtype=float)
        except (TypeError, ValueError) as exc:
            raise SpecificationError("`L` must be a dict {term: weight} or a numeric array") from exc
        arr = np.atleast_2d(arr)
        if arr.ndim != 2 or arr.shape[1] != p:
            raise SpecificationError(f"`L` must have {p} columns (one per fixed effect {names}); got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise SpecificationError("`L` must be finite")
        return list(arr), [label(r) for r in arr]

    # ------------------------------------------------------------------ prediction
    def predict(
        self, newdata: pd.DataFrame | None = None, level: Literal["population", "subject"] = "population"
    ) -> pd.Series:
        """Predicted outcome: fixed part only, or adding each group's random effects.

        Parameters
        ----------
        newdata : pandas.DataFrame, optional
            Rows to predict (default: the data the model was fitted to).
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
        level = check_option("level", level, ["population", "subject"])
        st = self._state
        data = st["data"] if newdata is None else check_frame(newdata, "newdata")
        needed = list(st["x_vars"]) + (list(st["z_vars"]) + list(self.groups) if level == "subject" else [])
        check_columns(data, needed, "newdata")
        check_no_missing(data, needed)
        X = np.asarray(st["x_spec"].get_model_matrix(data), dtype=float)
        pred = X @ self.coef.to_numpy()
        if level == "subject":
            Z = np.asarray(st["z_spec"].get_model_matrix(data), dtype=float)
            inner_name = self.groups[-1]
            re = self.random_effects[inner_name]
            keys = _group_keys(data, self.groups)
            b = re.reindex(keys).to_numpy()
            b = np.nan_to_num(b, nan=0.0)
            pred = pred + np.sum(Z * b, axis=1)
            if len(self.groups) == 2:
                top = self.random_effects[self.groups[0]]
                bt = np.nan_to_num(top.reindex(data[self.groups[0]].to_numpy()).to_numpy(), nan=0.0)
                pred = pred + bt[:, 0]
        return pd.Series(pred, index=data.index, name="predicted")

    def refit(
        self, y: Sequence[float] | np.ndarray | pd.Series, *, df: str | None = None
    ) -> MixedModelResult:
        """Refit the same design to a new outcome vector (fast path for simulation studies).

        The formula, model matrices and group structure are reused; only the outcome's
        cross-products are recomputed, and the optimiser starts from this fit's estimates.
        ``y`` must be in the row order of the original data. ``df`` overrides the
        degrees-of-freedom method (e.g. "normal" skips the small-sample computations).

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
        st = self._state
        yv = np.asarray(y, dtype=float).reshape(-1)
        if yv.shape[0] != self.n_obs or not np.all(np.isfinite(yv)):
            raise DataError(f"`y` must hold {self.n_obs} finite values (one per fitted row)")
        prob = copy.copy(st["problem"])  # shares the design arrays; set_y rebinds the y ones
        prob.set_y(yv)
        method = self.df_method if df is None else self._check_df(df)
        if method == "kenward-roger" and not self.reml:
            raise SpecificationError("`df`='kenward-roger' needs a REML fit (as pbkrtest)")
        return _build_result(prob, st, self.reml, method, self.conf_level,
                             theta0=st["fit"].theta, data=st["data"].assign(**{st["y_name"]: yv}))

    # ------------------------------------------------------------------ plot
    def plot(self, time: str | None = None, by: str | None = None, ax: Any = None) -> Any:
        """Observed mean trajectories (points) and fitted population trajectories (lines) by arm.

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

        st = self._state
        data = st["data"]
        if time is None:
            cands = ["session"] + [v for v in st["z_vars"]] + [v for v in st["x_vars"]]
            time = next((c for c in cands if c in data.columns and pd.api.types.is_numeric_dtype(data[c])), None)
            if time is None:
                raise SpecificationError("give `time=`, the column holding the session number")
        check_columns(data, [time], "time")
        if by is None and "pa" in st["x_vars"]:
            by = "pa"
        if by is not None:
            check_columns(data, [by], "by")
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        frame = pd.DataFrame({
            "time": data[time].to_numpy(),
            "y": data[st["y_name"]].to_numpy(),
            "fit": self.predict(level="population").to_numpy(),
            "by": data[by].to_numpy() if by is not None else "all",
        })
        for i, (lev, g) in enumerate(frame.groupby("by", sort=True)):
            m = g.groupby("time").agg(y=("y", "mean"), fit=("fit", "mean")).reset_index()
            color = f"C{i}"
            lab = f"{by} = {lev}" if by is not None else "all"
            ax.plot(m["time"], m["y"], "o", color=color, alpha=0.7, label=f"observed mean, {lab}")
            ax.plot(m["time"], m["fit"], "-", color=color, label=f"fitted, {lab}")
        ax.set_xlabel(time)
        ax.set_ylabel(st["y_name"])
        ax.set_title("Observed and fitted trajectories")
        ax.legend(fontsize="small")
        return ax


def _group_keys(data: pd.DataFrame, groups: tuple[str, ...]) -> Any:
    if len(groups) == 1:
        return data[groups[0]].to_numpy()
    return pd.MultiIndex.from_arrays([data[g].to_numpy() for g in groups])


def mixed(
    data: pd.DataFrame,
    formula: str,
    *,
    groups: str | Sequence[str],
    re_formula: str | None = None,
    reml: bool = True,
    df: DfMethod | str = "satterthwaite",
    conf_level: float = 0.95,
) -> MixedModelResult:
    """Fit a linear mixed model with small-sample inference for the fixed effects.

    Parameters
    ----------
    data : pandas.DataFrame
        Long data, one row per observation (session); never modified.
    formula : str
        Fixed effects, e.g. ``"phq9 ~ session * pa + age"`` (formulaic syntax: ``C()``,
        ``I()``, interactions; categorical terms use treatment coding as in R).
    groups : str or sequence of str
        Grouping column, e.g. ``"patient"``, or ``["therapist", "patient"]`` for patients nested
        in therapists (outermost first). Patient labels need not be unique across therapists:
        the inner groups are the (therapist, patient) combinations, as lme4's
        ``(1 | therapist/patient)``.
    re_formula : str, optional
        Random effects of the innermost grouping, e.g. ``"~session"`` for correlated random
        intercepts and slopes (lme4's ``(session | patient)``); default ``"~1"`` (random
        intercepts). With nested groups the outer level (therapist) gets a random intercept.
    reml : bool
        REML (default, as lme4) or maximum likelihood.
    df : {"satterthwaite", "kenward-roger", "residual", "normal"}
        Degrees of freedom for the t tests and intervals of :meth:`MixedModelResult.tidy`:
        Satterthwaite (lmerTest; default), Kenward-Roger (pbkrtest; REML fits only, with the
        adjusted covariance), ``n - p`` ("residual"), or none ("normal", z tests).
    conf_level : float
        Confidence level of the intervals.

    Returns
    -------
    MixedModelResult

    Raises
    ------
    SpecificationError
        Malformed formula, unknown ``df`` method, Kenward-Roger with an ML fit.
    DataError
        A named column is absent, has missing values, a non-numeric outcome, too few groups,
        more random effects than observations, or a rank-deficient design.

    Warns
    -----
    ConvergenceWarning
        The optimiser did not reach a verified optimum.
    SingularFitWarning
        A random-effect variance is estimated as zero or a correlation as +/-1.

    Notes
    -----
    The model is ``y = X beta + Z b + e``, ``b ~ N(0, sigma^2 Lambda Lambda')``,
    ``e ~ N(0, sigma^2 I)``. The deviance is profiled over ``beta`` and ``sigma`` (as lme4) and
    minimised over the Cholesky factor ``theta`` by bounded L-BFGS-B with Newton polishing.
    Computations use per-group cross-products, so time and memory grow linearly with the
    number of rows (Kenward-Roger works cluster by cluster: patients, or therapists when nested).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import causalpa as cpa
    >>> rng = np.random.default_rng(7)
    >>> d = pd.DataFrame({"patient": np.repeat(np.arange(24), 5), "session": np.tile(np.arange(5), 24)})
    >>> d["pa"] = (d["patient"] % 2).astype(int)
    >>> b0, b1 = rng.normal(0, 3, 24), rng.normal(0, 0.4, 24)
    >>> p = d["patient"].to_numpy()
    >>> d["phq9"] = 15 + b0[p] + (b1[p] - 0.6 - 0.3 * d["pa"]) * d["session"] + rng.normal(0, 1.5, 120)
    >>> fit = cpa.mixed(d, "phq9 ~ session * pa", groups="patient", re_formula="~session")
    >>> fit.converged
    True
    >>> list(fit.variance_components["grp"])
    ['patient', 'patient', 'patient', 'Residual']
    """
    data = check_frame(data, "data")
    if isinstance(reml, (bool, np.bool_)) is False:
        raise SpecificationError(f"`reml` must be True or False; got {reml!r}")
    df_method = MixedModelResult._check_df(df)
    conf_level = check_number("conf_level", conf_level, low=0, high=1, low_inclusive=False, high_inclusive=False)
    if df_method == "kenward-roger" and not reml:
        raise SpecificationError(
            "`df`='kenward-roger' needs a REML fit (as pbkrtest); use reml=True or df='satterthwaite'"
        )
    lhs_vars, rhs, rhs_vars = _formula_parts(formula, "formula", lhs=True)
    _, re_rhs, re_vars = _formula_parts("~1" if re_formula is None else re_formula, "re_formula", lhs=False)
    if isinstance(groups, str):
        group_cols: tuple[str, ...] = (groups,)
    elif isinstance(groups, Sequence) and all(isinstance(g, str) for g in groups) and 1 <= len(groups) <= 2:
        group_cols = tuple(groups)
    else:
        raise SpecificationError(
            "`groups` must be a column name or a list of two names (outer, inner), e.g. "
            f"['therapist', 'patient']; got {groups!r}"
        )
    if len(set(group_cols)) != len(group_cols):
        raise SpecificationError(f"`groups` repeats a column: {list(group_cols)}")
    y_name = lhs_vars[0]
    check_columns(data, [y_name, *sorted(rhs_vars)], "formula")
    check_columns(data, sorted(re_vars), "re_formula")
    check_columns(data, list(group_cols), "groups")
    x_vars = [c for c in data.columns if c in rhs_vars]
    z_vars = [c for c in data.columns if c in re_vars]
    used = list(dict.fromkeys([y_name, *x_vars, *z_vars, *group_cols]))
    check_no_missing(data, used)
    ycol = data[y_name]
    if pd.api.types.is_bool_dtype(ycol) or not pd.api.types.is_numeric_dtype(ycol):
        raise DataError(
            f"outcome column {y_name!r} must be numeric for a linear mixed model; it has dtype "
            f"{ycol.dtype} (for a binary outcome use cpa.glmm or cpa.gee)"
        )
    # model matrices are built on the full frame: formulaic does not report the variables
    # used inside stateful transforms such as center(age) or poly(session, 2)
    work = data
    y = work[y_name].to_numpy(dtype=float)
    if not np.all(np.isfinite(y)):
        raise DataError(f"outcome column {y_name!r} has infinite values")
    try:
        X, x_names, x_spec = _model_matrix(rhs, work)
        Z, z_names, z_spec = _model_matrix(re_rhs, work)
    except Exception as exc:
        if "missing" in str(exc).lower() or "null" in str(exc).lower() or "nan" in str(exc).lower():
            raise DataError(f"could not build the model matrices: {exc}") from exc
        raise SpecificationError(f"could not build the model matrices: {exc}") from exc
    if Z.shape[1] == 0:
        raise SpecificationError("`re_formula` gives no random effects; use '~1' for random intercepts")
    _check_rank(X, x_names, "formula")
    _check_rank(Z, z_names, "re_formula")
    inner_keys = _group_keys(work, group_cols)
    inner_codes, inner_levels = pd.factorize(inner_keys, sort=True)
    m = len(inner_levels)
    n = len(work)
    top_codes = None
    n_groups: dict[str, int] = {}
    if len(group_cols) == 2:
        top_of_inner = inner_levels.get_level_values(0)
        top_codes_i, top_levels = pd.factorize(top_of_inner, sort=True)
        top_codes = np.asarray(top_codes_i)
        n_groups[group_cols[0]] = len(top_levels)
        if len(top_levels) < 2:
            raise DataError(
                f"too few groups: `groups` column {group_cols[0]!r} has {len(top_levels)} level; "
                "a random effect needs at least 2 (drop the outer level)"
            )
    else:
        top_levels = None
    n_groups[group_cols[-1]] = m
    if m < 2:
        raise DataError(
            f"too few groups: `groups` column {group_cols[-1]!r} has {m} level; a mixed model "
            "needs at least 2 (use an ordinary regression)"
        )
    q = Z.shape[1]
    if m * q >= n:
        raise DataError(
            f"number of observations ({n}) <= number of random effects ({m * q} = {m} "
            f"{group_cols[-1]} x {q}): the random effects are unidentifiable; simplify "
            "`re_formula` (e.g. '~1')"
        )
    if n - X.shape[1] < 1:
        raise DataError(f"too few observations ({n}) for {X.shape[1]} fixed effects")
    prob = LmmProblem(y, X, Z, np.asarray(inner_codes), top_codes)
    state: dict[str, Any] = {
        "problem": prob, "data": data.copy(), "x_spec": x_spec, "z_spec": z_spec, "x_names": x_names,
        "z_names": z_names, "x_vars": x_vars, "z_vars": z_vars, "y_name": y_name,
        "inner_levels": inner_levels, "top_levels": top_levels, "groups": group_cols,
        "formula": f"{y_name} ~ {rhs}", "re_formula": f"~{re_rhs}", "index": data.index,
    }
    return _build_result(prob, state, bool(reml), df_method, float(conf_level))


def _build_result(
    prob: LmmProblem,
    state: dict[str, Any],
    reml: bool,
    df_method: str,
    conf_level: float,
    theta0: np.ndarray | None = None,
    data: pd.DataFrame | None = None,
) -> MixedModelResult:
    state = {k: v for k, v in state.items() if k not in ("fit", "satt", "kr")}
    if data is not None:
        state["data"] = data
    state["problem"] = prob
    fit = prob.fit(reml=reml, theta0=theta0)
    state["fit"] = fit
    group_cols: tuple[str, ...] = state["groups"]
    notes: list[str] = []
    if not fit.converged:
        msg = (
            f"the mixed model did not converge ({fit.message}); estimates and tests may be "
            "unreliable. Rescale covariates (e.g. session in weeks), simplify `re_formula` "
            "(e.g. '~1'), or check for groups with very few rows"
        )
        notes.append(msg)
        warnings.warn(msg, ConvergenceWarning, stacklevel=3)
    x_names, z_names = state["x_names"], state["z_names"]
    theta_o = fit.extra["theta_lme4"]
    s2 = fit.sigma**2
    Li = _factors_lme4(theta_o, prob)
    Ci = s2 * Li[0] @ Li[0].T
    rows = _vc_rows(group_cols[-1], z_names, Ci)
    if prob.nested:
        Ct = s2 * Li[1] @ Li[1].T
        rows += _vc_rows(group_cols[0], ["Intercept"], Ct)
    rows.append(("Residual", "", "", s2, fit.sigma))
    vc = pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])
    if fit.singular:
        sds = vc[(vc["var2"] == "")]
        zero = sds[(sds["sdcor"] < 1e-4 * fit.sigma) & (sds["grp"] != "Residual")]
        cors = vc[(vc["var2"] != "") & (vc["sdcor"].abs() > 0.9999)]
        what = [f"SD of {r.var1} | {r.grp} ~ 0" for r in zero.itertuples()]
        what += [f"correlation of {r.var1} and {r.var2} | {r.grp} = {r.sdcor:+.4f}" for r in cors.itertuples()]
        if prob.nested and (zero["grp"] == group_cols[0]).any():
            remedy = f"drop the {group_cols[0]!r} level (groups={group_cols[-1]!r})"
        elif prob.q == 1:
            remedy = (f"the {group_cols[-1]!r} groups explain no variance beyond the residual, "
                      "so an ordinary regression gives the same fixed effects")
        else:
            remedy = "simplify `re_formula` (e.g. '~1')"
        msg = (
            "singular fit: the random-effects covariance is on the boundary ("
            + ("; ".join(what) or "a variance near 0")
            + f"). The model is over-parameterised for these data: {remedy}. Fixed-effect "
            "tests remain usable; check them with df='kenward-roger'"
        )
        notes.append(msg)
        warnings.warn(msg, SingularFitWarning, stacklevel=3)
    coef = pd.Series(fit.beta, index=x_names, name="estimate")
    vcov = pd.DataFrame(fit.vcov, index=x_names, columns=x_names)
    n, p = prob.n, prob.p
    if reml:
        loglik = -fit.deviance / 2
        remlcrit = fit.deviance
    else:
        loglik = -fit.deviance / 2
        remlcrit = math.nan
    # random effects
    b_inner, b_top = prob.random_effects(fit.theta, fit.beta)
    re = {group_cols[-1]: pd.DataFrame(b_inner, index=state["inner_levels"], columns=z_names)}
    if prob.nested and b_top is not None:
        re[group_cols[0]] = pd.DataFrame(b_top, index=state["top_levels"], columns=["Intercept"])
    result = MixedModelResult(
        formula=state["formula"], re_formula=state["re_formula"], groups=group_cols, reml=reml,
        df_method=df_method, conf_level=conf_level, coef=coef, vcov=vcov, vcov_adjusted=None,
        variance_components=vc, sigma=float(fit.sigma), loglik=float(loglik),
        reml_criterion=float(remlcrit), deviance=float(fit.deviance), converged=fit.converged,
        singular=fit.singular, theta=theta_o, n_obs=n, n_groups=_count_groups(state), random_effects=re, notes=tuple(notes),
        _table=pd.DataFrame(columns=_TIDY), _state=state,
    )
    # the table: computed once here
    eye = np.eye(p)
    tab = []
    for j, name in enumerate(x_names):
        var, d = result._df_for(eye[j], df_method)
        se = math.sqrt(max(var, 0.0))
        est = float(fit.beta[j])
        t = est / se if se > 0 else math.nan
        qq = _q(conf_level, d)
        tab.append([name, est, se, d, t, _sf_t(t, d), est - qq * se, est + qq * se])
    object.__setattr__(result, "_table", pd.DataFrame(tab, columns=_TIDY))
    if df_method == "kenward-roger":
        object.__setattr__(
            result, "vcov_adjusted", pd.DataFrame(state["kr"]["vcov_adj"], index=x_names, columns=x_names)
        )
    if df_method == "satterthwaite" and state.get("satt", {}).get("negative"):
        extra = state["satt"]["notes"]
        object.__setattr__(result, "notes", result.notes + tuple(extra))
    return result


def _count_groups(state: dict[str, Any]) -> dict[str, int]:
    out = {}
    if state["top_levels"] is not None:
        out[state["groups"][0]] = len(state["top_levels"])
    out[state["groups"][-1]] = len(state["inner_levels"])
    return out


def _factors_lme4(theta: np.ndarray, prob: LmmProblem) -> list[np.ndarray]:
    """Relative covariance factors (inner, then top) from lme4-ordered ``theta``."""
    from causalpa.longitudinal._lmm_engine import _lower

    out = [_lower(theta[: prob.nti], prob.q)]
    if prob.nested:
        out.append(_lower(theta[prob.nti :], prob.qt))
    return out


def _vc_rows(grp: str, names: list[str], C: np.ndarray) -> list[tuple[str, str, str, float, float]]:
    q = len(names)
    sd = np.sqrt(np.maximum(np.diag(C), 0.0))
    rows = [(grp, names[a], "", float(C[a, a]), float(sd[a])) for a in range(q)]
    for a in range(q):
        for b in range(a + 1, q):
            r = C[a, b] / (sd[a] * sd[b]) if sd[a] > 0 and sd[b] > 0 else math.nan
            rows.append((grp, names[a], names[b], float(C[a, b]), float(r)))
    return rows
