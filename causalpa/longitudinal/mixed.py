"""Linear mixed models for session-level trajectories, with small-sample degrees of freedom.

:func:`mixed` fits random intercepts and (correlated) random slopes per patient, optionally
with patients nested in therapists, by REML or ML. The engine
(:mod:`causalpa.longitudinal._lmm_fit`) profiles the deviance over the fixed effects and the
residual variance exactly as lme4 does and works on one small block per patient (plus one
per therapist), so it never forms an ``n x n`` matrix. Tests of fixed effects and of linear
contrasts use Satterthwaite degrees of freedom (as lmerTest, the default), Kenward-Roger (as
pbkrtest, with its adjusted covariance of the fixed effects), the residual df ``n - p``, or
the normal distribution (:mod:`causalpa.longitudinal._lmm_ddf`); intervals and p-values come
from :func:`causalpa.inference.coef_table`.

The result, :class:`MixedModelResult`, follows the library's result protocol: ``tidy()`` is
the table of fixed effects in the shared schema of estimates; :meth:`~MixedModelResult.contrast`
returns :class:`~causalpa.results.Estimates` that stack with effects in
:func:`causalpa.compare`, and :meth:`~MixedModelResult.test` an :class:`FTest`.

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

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from causalpa._regression import check_full_rank
from causalpa._spec import Spec, model_spec, terms_spec
from causalpa._validation import (
    CONF_LEVEL,
    NONE,
    Boolean,
    Columns,
    Instance,
    check_columns,
    check_frame,
    check_no_missing,
    validate_params,
)
from causalpa.errors import DataError, SpecificationError
from causalpa.longitudinal._lmm_fit import LmmProblem
from causalpa.longitudinal._lmm_result import (
    DF_METHODS,
    DfMethod,
    FTest,
    MixedModelResult,
    _Design,
    build_result,
    check_reml,
    group_keys,
)

__all__ = ["mixed", "MixedModelResult", "FTest", "DfMethod", "DF_METHODS"]

_FORMULA_EXAMPLE = "'phq9 ~ session * pa'"
_RE_EXAMPLE = "'~session'"


class _Groups(Columns):
    """One grouping column, or two distinct ones (outer, inner) for nested groups."""

    def accepts(self, value: Any) -> bool:
        if not super().accepts(value):
            return False
        cols = self.canonical(value)
        return 1 <= len(cols) <= 2 and len(set(cols)) == len(cols)

    def describe(self) -> str:
        return ("a column name or a list of two distinct column names (outer, inner), e.g. "
                "['therapist', 'patient']")

    def invalid_examples(self) -> list[Any]:
        return [3, ["a", "b", "c"], ["a", "a"]]


# =========================================================================== fitting
@validate_params({
    "groups": _Groups(),
    "re_formula": [Instance(str, f"a right-hand side such as {_RE_EXAMPLE}"), NONE],
    "reml": Boolean(),
    "conf_level": CONF_LEVEL,
})
def mixed(
    data: pd.DataFrame,
    formula: str,
    *,
    groups: str | Sequence[str],
    re_formula: str | None = None,
    reml: bool = True,
    df: Literal["satterthwaite", "kenward-roger", "residual", "normal"] = "satterthwaite",
    conf_level: float = 0.95,
) -> MixedModelResult:
    """Fit a linear mixed model with small-sample inference for the fixed effects.

    Parameters
    ----------
    data : pandas.DataFrame
        Long data, one row per observation (session); never modified.
    formula : str
        Fixed effects with the outcome column on the left, e.g. ``"phq9 ~ session * pa + age"``
        (formulaic syntax: ``C()``, ``I()``, interactions; categorical terms use treatment
        coding as in R).
    groups : str or list of two str
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
        Degrees of freedom for the t tests and intervals of ``tidy()``: Satterthwaite
        (lmerTest; default), Kenward-Roger (pbkrtest; REML fits only, with the adjusted
        covariance), ``n - p`` ("residual"), or none ("normal", z tests).
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
    check_reml(df, reml)
    group_cols = tuple(groups)
    x_spec, z_spec = _model_specs(data, formula, "~1" if re_formula is None else re_formula,
                                  group_cols)
    y = data[x_spec.outcome].to_numpy(dtype=float)
    X, x_names = x_spec.design()
    Z, z_names = z_spec.design()
    if Z.shape[1] == 0:
        raise SpecificationError("`re_formula` gives no random effects; use '~1' for random intercepts")
    check_full_rank(X, x_names, "the `formula`")
    check_full_rank(Z, z_names, "the `re_formula`")
    inner_codes, inner, top_codes, top = _group_levels(data, group_cols)
    _check_sizes(len(data), X.shape[1], Z.shape[1], len(inner), group_cols)
    prob = LmmProblem(y, X, Z, inner_codes, top_codes)
    design = _Design(x_spec=x_spec, z_spec=z_spec, y_name=x_spec.outcome, groups=group_cols,
                     inner_levels=inner, top_levels=top, problem=prob, data=data.copy())
    return build_result(design, reml, df, conf_level)


def _model_specs(data: pd.DataFrame, formula: Any, re_formula: str,
                 group_cols: tuple[str, ...]) -> tuple[Spec, Spec]:
    """Build the fixed and random-effects specs, then check the groups and the outcome.

    The spec builders refuse a malformed formula, an outcome that is not one column, absent
    columns and missing values in the columns the formulas name; here the grouping columns
    get the same checks and the outcome must be numeric (not bool).
    """
    # the matrices are built on the full frame: formulaic does not report the variables
    # used inside stateful transforms such as center(age) or poly(session, 2)
    x_spec = model_spec(data, formula, lhs="column", example=_FORMULA_EXAMPLE)
    z_spec = terms_spec(data, re_formula, "re_formula", example=_RE_EXAMPLE)
    check_columns(data, list(group_cols), "groups")
    check_no_missing(data, list(group_cols))
    y_name = str(x_spec.outcome)
    ycol = data[y_name]
    if pd.api.types.is_bool_dtype(ycol) or not pd.api.types.is_numeric_dtype(ycol):
        raise DataError(
            f"outcome column {y_name!r} must be numeric for a linear mixed model; it has dtype "
            f"{ycol.dtype} (for a binary outcome use cpa.glmm or cpa.gee)")
    return x_spec, z_spec


def _group_levels(
    data: pd.DataFrame, group_cols: tuple[str, ...]
) -> tuple[np.ndarray, pd.Index, np.ndarray | None, pd.Index | None]:
    """Inner group codes and levels, and (nested) each inner group's top code and the top levels."""
    inner_codes, inner = pd.factorize(group_keys(data, group_cols), sort=True)
    top_codes, top = None, None
    if len(group_cols) == 2:
        codes, top = pd.factorize(inner.get_level_values(0), sort=True)
        top_codes = np.asarray(codes)
        if len(top) < 2:
            raise DataError(
                f"too few groups: `groups` column {group_cols[0]!r} has {len(top)} level; "
                "a random effect needs at least 2 (drop the outer level)")
    if len(inner) < 2:
        raise DataError(
            f"too few groups: `groups` column {group_cols[-1]!r} has {len(inner)} level; a mixed "
            "model needs at least 2 (use an ordinary regression)")
    return np.asarray(inner_codes), inner, top_codes, top


def _check_sizes(n: int, p: int, q: int, m: int, group_cols: tuple[str, ...]) -> None:
    if m * q >= n:
        raise DataError(
            f"number of observations ({n}) <= number of random effects ({m * q} = {m} "
            f"{group_cols[-1]} x {q}): the random effects are unidentifiable; simplify "
            "`re_formula` (e.g. '~1')")
    if n - p < 1:
        raise DataError(f"too few observations ({n}) for {p} fixed effects")
