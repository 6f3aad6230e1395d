"""Within-patient fixed-effects (panel) regression as a robustness check.

:func:`panel` fits ``y_it = x_it' beta + a_i (+ g_t) + e_it`` with a free intercept
``a_i`` for every patient (the ``groups`` effects; optionally a free effect ``g_t`` for
every session) by the within transformation, through ``linearmodels.PanelOLS``, with
cluster-robust standard errors by patient (or by another column such as therapist).

Because each patient is compared only with themselves, **all time-invariant
confounding is removed**, observed or not (motivation, baseline severity, age...).
The price: every time-invariant regressor is absorbed by the patient effects. In a
trajectory model ``phq9 ~ session * pa`` the main effect of ``pa`` (chosen once per
patient) is absorbed and dropped; what remains identified is the ``session:pa``
interaction, the difference in the within-patient slope of symptoms over sessions
between arms. With ``time_effects=True`` the common session effect is absorbed as
well and only ``session:pa`` remains. Time-varying confounding (e.g. a life event
that both changes symptoms and attendance) is not removed.

Covariance (``se="CR1"``, the default): the cluster-robust (CR0) sandwich of the within
regression times the small-sample factor ``G/(G-1) * (n-1)/(n-K)``, with ``G`` clusters,
``n`` rows and ``K`` regressors not absorbed by the patient effects, counting the session
dummies when ``time_effects=True`` (Stata's ``xtreg, fe vce(cluster)`` and fixest's
default, where fixed effects nested in the clusters are not counted; linearmodels'
``debiased=True, group_debias=True``); ``se="CR0"`` leaves the factor out. Session
effects are entered as explicit dummies because ``PanelOLS(time_effects=True)`` on an
unbalanced panel gave a clustered SE 13% away from the dummy regression (``lm`` +
``sandwich::vcovCL``) in our reference case. Tests and intervals use a t distribution
with ``G - 1`` degrees of freedom by default; they come from
:func:`causalpa.inference.coef_table`.

Examples
--------
>>> import numpy as np, pandas as pd
>>> import causalpa as cpa
>>> rng = np.random.default_rng(2)
>>> d = pd.DataFrame({"patient": np.repeat(np.arange(30), 5), "session": np.tile(range(5), 30),
...                   "pa": np.repeat(rng.integers(0, 2, 30), 5)})
>>> d["phq9"] = (15 - 0.8 * d.session - 0.5 * d.session * d.pa
...              + np.repeat(rng.normal(0, 3, 30), 5) + rng.normal(0, 2, 150))
>>> fit = cpa.panel(d, "phq9 ~ session * pa")
>>> list(fit.tidy().term), fit.absorbed
(['session', 'session:pa'], ('pa',))
"""


from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from causalpa._regression import check_full_rank
from causalpa._validation import (
    CONF_LEVEL,
    NONE,
    Boolean,
    Column,
    Number,
    Options,
    check_columns,
    check_frame,
    check_no_missing,
    format_rows,
    validate_params,
)
from causalpa.errors import DataError, SpecificationError
from causalpa.longitudinal._gee_common import CoefficientResult, outcome_model, readonly

__all__ = ["panel", "PanelResult"]

PanelSE = Literal["CR1", "CR0"]
PanelDF = Literal["clusters", "normal"]


@dataclass(frozen=True, repr=False, eq=False)
class PanelResult(CoefficientResult):
    """A fitted within-patient fixed-effects regression (built by :func:`panel`).

    ``tidy()`` is the table of identified coefficients in the shared schema; ``params``,
    ``bse``, ``pvalues`` and ``conf_int()`` read it.

    Attributes
    ----------
    formula : str
        Model formula.
    outcome : str
        Left-hand side of the formula.
    terms : tuple of str
        Identified (not absorbed) coefficients.
    absorbed : tuple of str
        Terms absorbed by the fixed effects and dropped (e.g. ``pa``).
    se : str
        ``"CR1"`` (with the small-sample factor ``G/(G-1) * (n-1)/(n-K)``) or ``"CR0"``.
    df : float
        Degrees of freedom of the t reference (``inf`` for normal).
    n_obs, n_groups, n_clusters : int
        Rows, patients (fixed effects) and clusters of the variance.
    n_regressors : int
        ``K`` of the small-sample factor: identified terms plus session dummies.
    groups : str
        Column whose levels get a fixed effect (patients).
    cluster : str
        Clustering column of the variance.
    time : str
        Session (time) column.
    time_effects : bool
        Whether session effects were included.
    r2_within : float
        Within R-squared.
    conf_level : float
        Confidence level.
    notes : tuple of str
        Caveats.
    """

    formula: str
    outcome: str
    terms: tuple[str, ...]
    absorbed: tuple[str, ...]
    se: str
    df: float
    n_obs: int
    n_groups: int
    n_clusters: int
    n_regressors: int
    groups: str
    cluster: str
    time: str
    time_effects: bool
    r2_within: float
    conf_level: float
    _coef: np.ndarray = field(repr=False)
    _cov: np.ndarray = field(repr=False)
    notes: tuple[str, ...] = ()

    def _method(self) -> str:
        return "fixed effects (within)"

    def _reference_df(self) -> float:
        return self.df

    def _title(self) -> str:
        return f"Within (fixed-effects) regression: {self.formula}"

    def _meta(self) -> dict[str, Any]:
        effects = self.groups + (f" and {self.time}" if self.time_effects else "")
        factor = ", small-sample factor G/(G-1)(n-1)/(n-K)" if self.se == "CR1" else ""
        ref = "normal" if not np.isfinite(self.df) else f"t({self.df:g})"
        return {
            "effects": effects, "absorbed": list(self.absorbed) or None,
            "n_obs": self.n_obs, "n_groups": self.n_groups, "cluster": self.cluster,
            "n_clusters": self.n_clusters, "se": self.se,
            "inference": f"{self.se} sandwich clustered by {self.cluster!r}{factor}, "
                         f"{ref} reference",
            "r2_within": self.r2_within, "conf_level": self.conf_level,
        }


def _identified(
    X: np.ndarray, entity: Any, n_fixed: int, names: list[str]
) -> tuple[list[int], list[str]]:
    """Split user terms into identified and absorbed (after patient demeaning and session dummies).

    A term is absorbed when the fixed effects alone explain it (constant within patient, or
    a function of the session with ``time_effects``). A term that is instead a linear
    combination of other identified terms (and the fixed effects) is collinear, and is
    refused as in the other models, naming it.

    Raises
    ------
    DataError
        Collinear identified terms.
    """
    codes = pd.factorize(entity)[0]
    counts = np.bincount(codes)
    means = np.zeros((counts.size, X.shape[1]))
    np.add.at(means, codes, X)
    Xd = X - (means / counts[:, None])[codes]
    basis = np.zeros((X.shape[0], 0))
    if n_fixed:
        q, r = np.linalg.qr(Xd[:, :n_fixed])
        basis = q[:, np.abs(np.diag(r)) > 1e-10 * max(1.0, np.abs(r).max())]
    kept, absorbed = [], []
    for j in range(X.shape[1] - n_fixed):
        col = Xd[:, n_fixed + j]
        scale = np.linalg.norm(X[:, n_fixed + j]) + 1e-300
        resid = col - basis @ (basis.T @ col) if basis.shape[1] else col
        if np.linalg.norm(resid) <= 1e-9 * scale:
            absorbed.append(names[j])
            continue
        kept.append(j)
    # the identified terms after removing the fixed effects must be of full rank
    within = Xd[:, [n_fixed + j for j in kept]]
    if basis.shape[1]:
        within = within - basis @ (basis.T @ within)
    check_full_rank(within, [names[j] for j in kept], "the `formula` (within patients)")
    return kept, absorbed


def _check_panel(data: pd.DataFrame, groups: str, time: str, cluster: str) -> None:
    """Columns present and complete, numeric time unique within patient, >= 2 nested clusters."""
    check_columns(data, [groups], "groups")
    check_columns(data, [time], "time")
    check_columns(data, [cluster], "cluster")
    check_no_missing(data, [groups, time, cluster])
    n_clusters = data[cluster].nunique()
    if n_clusters < 2:
        argument = "groups" if cluster == groups else "cluster"
        raise DataError(
            f"too few clusters: `{argument}` column {cluster!r} has {n_clusters} level; the "
            "cluster-robust covariance of a fixed-effects regression needs at least 2")
    if not pd.api.types.is_numeric_dtype(data[time]):
        raise DataError(f"`time` column {time!r} must be numeric (session number)")
    dup = data.duplicated([groups, time])
    if dup.any():
        raise DataError(
            f"rows {format_rows(data.index[dup.to_numpy()])} repeat a ({groups!r}, {time!r}) "
            "pair; a panel needs one row per patient and session"
        )
    if cluster != groups:
        per = data.groupby(groups)[cluster].nunique()
        if (per > 1).any():
            raise DataError(
                f"`cluster` column {cluster!r} varies within {groups!r} "
                f"{format_rows(per.index[per.to_numpy() > 1])}; clusters must contain whole "
                "patients"
            )


def _session_dummies(data: pd.DataFrame, time: str, time_effects: bool) -> np.ndarray:
    """One 0/1 column per session after the first (none without time effects)."""
    if not time_effects:
        return np.zeros((len(data), 0))
    levels = np.sort(pd.unique(data[time]))
    return (data[time].to_numpy()[:, None] == levels[None, 1:]).astype(float)


def _within_fit(y: pd.Series, X: pd.DataFrame, data: pd.DataFrame, groups: str, cluster: str,
                se: str) -> Any:
    """PanelOLS with patient effects and a clustered covariance (CR1: debiased)."""
    from linearmodels.panel import PanelOLS

    debiased = se == "CR1"
    cov_kwds: dict[str, Any] = {"debiased": debiased, "group_debias": debiased}
    if cluster == groups:
        cov_kwds["cluster_entity"] = True
    else:
        codes = pd.factorize(data[cluster], sort=True)[0]
        cov_kwds["clusters"] = pd.DataFrame({"cluster": codes}, index=X.index)
    try:
        return PanelOLS(y, X, entity_effects=True).fit(cov_type="clustered", **cov_kwds)
    except ValueError as exc:
        raise DataError(f"the fixed-effects regression could not be fitted: {exc}") from exc


@validate_params({
    "groups": Column(),
    "time": Column(),
    "time_effects": Boolean(),
    "cluster": [Column(), NONE],
    "df": [Options(*get_args(PanelDF)), Number(low=0, low_inclusive=False)],
    "conf_level": CONF_LEVEL,
})
def panel(
    data: pd.DataFrame,
    formula: str,
    *,
    groups: str = "patient",
    time: str = "session",
    time_effects: bool = False,
    cluster: str | None = None,
    se: PanelSE = "CR1",
    df: PanelDF | float = "clusters",
    conf_level: float = 0.95,
) -> PanelResult:
    """Fit a within-patient fixed-effects regression with cluster-robust SEs (linearmodels).

    Parameters
    ----------
    data : pandas.DataFrame
        Long data, one row per patient and session; never modified.
    formula : str
        ``"outcome ~ terms"``, e.g. ``"phq9 ~ session * pa"``. An intercept is implied
        by the patient effects; terms constant within every patient are absorbed and
        reported in ``absorbed``.
    groups : str
        Patient column: each patient gets a fixed effect (the model's structure).
    time : str
        Session (time) column; numeric, unique within patient.
    time_effects : bool
        Add a fixed effect for every value of ``time`` (two-way fixed effects).
    cluster : str, optional
        Column of the clusters of the variance (default: the ``groups`` column, i.e.
        patients), e.g. ``"therapist"``; clusters must contain whole patients.
    se : {"CR1", "CR0"}
        Cluster-robust sandwich with the small-sample factor ``G/(G-1) * (n-1)/(n-K)``
        ("CR1", default) or without it ("CR0").
    df : "clusters", "normal" or float
        Reference distribution: t with ``G - 1`` degrees of freedom (default), normal,
        or t with the given degrees of freedom (> 0).
    conf_level : float
        Confidence level.

    Returns
    -------
    PanelResult

    Raises
    ------
    SpecificationError
        Malformed formula or option.
    DataError
        Absent columns, missing values, repeated (patient, session) rows, fewer than 2
        clusters, no identified term left after absorbing, collinear identified terms,
        or clusters that split a patient.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> d = pd.DataFrame({"patient": np.repeat(np.arange(20), 4), "session": np.tile(range(4), 20),
    ...                   "pa": np.repeat(np.arange(20) % 2, 4)})
    >>> d["phq9"] = 14 - d.session * (0.5 + 0.5 * d.pa) + rng.normal(0, 1, 80)
    >>> fit = panel(d, "phq9 ~ session * pa", time_effects=True)
    >>> fit.terms, fit.absorbed
    (('session:pa',), ('session', 'pa'))
    """
    data = check_frame(data, "data")
    cluster_col = groups if cluster is None else cluster
    _check_panel(data, groups, time, cluster_col)
    spec, yv, Xf = outcome_model(data, formula, extra=(groups, time, cluster_col))
    keep = [j for j, nm in enumerate(spec.columns) if nm != "Intercept"]
    if not keep:
        raise SpecificationError(f"`formula` {formula!r} has no regressors besides the intercept")
    names = [spec.columns[j] for j in keep]
    index = pd.MultiIndex.from_arrays(
        [pd.factorize(data[groups], sort=True)[0], data[time].to_numpy()],
        names=["entity", "time"],
    )
    Xu = Xf[:, keep]
    # Session effects enter as explicit dummies (PanelOLS's own time_effects=True gives a
    # clustered covariance that disagrees with the dummy regression on unbalanced panels).
    Td = _session_dummies(data, time, time_effects)
    kept_idx, absorbed = _identified(np.column_stack([Td, Xu]), index.get_level_values(0),
                                     Td.shape[1], names)
    if not kept_idx:
        raise DataError(
            f"every term of {formula!r} is absorbed by the fixed effects (constant within "
            "patient" + (" or explained by session" if time_effects else "") + "); include a "
            "time-varying term such as session:pa"
        )
    kept = [names[j] for j in kept_idx]
    tnames = [f"__session_{j}" for j in range(Td.shape[1])]
    X = pd.DataFrame(np.column_stack([Xu[:, kept_idx], Td]), index=index, columns=kept + tnames)
    res = _within_fit(pd.Series(yv, index=index, name=spec.lhs), X, data, groups, cluster_col,
                      se)
    n_clusters = int(data[cluster_col].nunique())
    if df == "clusters":
        df_val = float(n_clusters - 1)
    else:
        df_val = float("inf") if df == "normal" else float(df)
    return PanelResult(
        formula=spec.formula, outcome=str(spec.lhs), terms=tuple(kept), absorbed=tuple(absorbed),
        se=se, df=df_val, n_obs=int(res.nobs), n_groups=int(data[groups].nunique()),
        n_clusters=n_clusters, n_regressors=X.shape[1], groups=groups, cluster=cluster_col,
        time=time, time_effects=time_effects, r2_within=float(res.rsquared_within),
        conf_level=float(conf_level), _coef=readonly(res.params[kept]),
        _cov=readonly(res.cov.loc[kept, kept]),
    )
