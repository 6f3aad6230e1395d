"""Within-patient fixed-effects (panel) regression as a robustness check.

:func:`panel` fits ``y_it = x_it' beta + a_i (+ g_t) + e_it`` with a free intercept
``a_i`` for every patient (entity effects; optionally a free effect ``g_t`` for every
session) by the within transformation, through ``linearmodels.PanelOLS``, with
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

Covariance: the cluster-robust (CR0) sandwich of the within regression times the
small-sample factor ``G/(G-1) * (n-1)/(n-K)``, with ``G`` clusters, ``n`` rows and
``K`` regressors not absorbed by the patient effects, counting the session
dummies when ``time_effects=True`` (Stata's ``xtreg, fe vce(cluster)`` and fixest's
default, where fixed effects nested in the clusters are not counted; linearmodels'
``debiased=True, group_debias=True``). Session effects are entered as explicit
dummies because ``PanelOLS(time_effects=True)`` on an unbalanced panel gave a
clustered SE 13% away from the dummy regression (``lm`` + ``sandwich::vcovCL``) in
our reference case. Tests and intervals use a t distribution with ``G - 1``
degrees of freedom by default.

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

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from causalpa._validation import (
    check_columns,
    check_frame,
    check_no_missing,
    check_number,
    check_option,
    format_rows,
)
from causalpa.errors import DataError, SpecificationError
from causalpa.longitudinal._gee_common import parse_model

__all__ = ["panel", "PanelResult"]

_TIDY = ["term", "estimate", "std_error", "df", "statistic", "p_value", "conf_low", "conf_high"]


@dataclass(frozen=True)
class PanelResult:
    """A fitted within-patient fixed-effects regression (built by :func:`panel`).

    Attributes
    ----------
    formula : str
        Model formula.
    terms : tuple of str
        Identified (not absorbed) coefficients.
    absorbed : tuple of str
        Terms absorbed by the fixed effects and dropped (e.g. ``pa``).
    params : pandas.Series
        Coefficients.
    cov : pandas.DataFrame
        Cluster-robust covariance (with the small-sample factor if ``debiased``).
    df : float
        Degrees of freedom of the t reference (``inf`` for normal).
    n_obs, n_entities, n_clusters : int
        Rows, patients and clusters.
    n_regressors : int
        ``K`` of the small-sample factor: identified terms plus session dummies.
    cluster : str
        Clustering column.
    time_effects : bool
        Whether session effects were included.
    r2_within : float
        Within R-squared.
    conf_level : float
        Confidence level.
    """

    formula: str
    terms: tuple[str, ...]
    absorbed: tuple[str, ...]
    params: pd.Series
    cov: pd.DataFrame
    df: float
    n_obs: int
    n_entities: int
    n_clusters: int
    cluster: str
    time_effects: bool
    debiased: bool
    r2_within: float
    conf_level: float
    n_regressors: int

    def tidy(self) -> pd.DataFrame:
        """Coefficient table: term, estimate, std_error, df, statistic, p_value, conf_low, conf_high."""
        est = self.params.to_numpy()
        se = np.sqrt(np.diag(self.cov.to_numpy()))
        t = est / se
        dist = stats.t(self.df) if np.isfinite(self.df) else stats.norm()
        q = dist.ppf(0.5 + self.conf_level / 2)
        return pd.DataFrame(
            {
                "term": list(self.terms),
                "estimate": est,
                "std_error": se,
                "df": self.df,
                "statistic": t,
                "p_value": 2 * dist.sf(np.abs(t)),
                "conf_low": est - q * se,
                "conf_high": est + q * se,
            }
        )[_TIDY]

    def summary(self) -> str:
        """Readable text summary (reads from :meth:`tidy`)."""
        effects = "patient" + (" and session" if self.time_effects else "")
        lines = [
            f"Within (fixed-effects) regression: {self.formula}",
            f"{effects} effects; {self.n_obs} rows, {self.n_entities} patients; SEs clustered "
            f"by {self.cluster!r} ({self.n_clusters} clusters"
            + (", small-sample factor G/(G-1)(n-1)/(n-K))" if self.debiased else ", CR0)"),
            f"within R^2 {self.r2_within:.4f}"
            + (f"; absorbed (time-invariant) terms dropped: {', '.join(self.absorbed)}"
               if self.absorbed else ""),
            "",
            self.tidy().to_string(index=False, float_format=lambda x: f"{x:.4g}"),
        ]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        return (
            f"<p><b>Fixed-effects regression</b>: {self.formula} (clustered by "
            f"{self.cluster})</p>"
            + self.tidy().to_html(index=False, float_format=lambda x: f"{x:.4g}")
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python view."""
        return {
            "formula": self.formula,
            "absorbed": list(self.absorbed),
            "cluster": self.cluster,
            "n_obs": self.n_obs,
            "n_entities": self.n_entities,
            "n_clusters": self.n_clusters,
            "coefficients": self.tidy().to_dict(orient="records"),
        }


def _identified(
    X: np.ndarray, entity: Any, n_fixed: int, names: list[str]
) -> tuple[list[int], list[str]]:
    """Split user terms into identified and absorbed (after patient demeaning and session dummies)."""
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
        basis = np.column_stack([basis, resid / np.linalg.norm(resid)])
    return kept, absorbed


def panel(
    data: pd.DataFrame,
    formula: str,
    *,
    groups: str = "patient",
    time: str = "session",
    time_effects: bool = False,
    cluster: str | None = None,
    se: str = "CR1",
    df: str | float = "clusters",
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
        or t with the given degrees of freedom.
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
        Absent columns, missing values, repeated (patient, session) rows, no
        identified term left after absorbing, or clusters that split a patient.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> d = pd.DataFrame({"patient": np.repeat(np.arange(20), 4), "session": np.tile(range(4), 20),
    ...                   "pa": np.repeat(np.arange(20) % 2, 4)})
    >>> d["phq9"] = 14 - d.session * (0.5 + 0.5 * d.pa) + rng.normal(0, 1, 80)
    >>> fit = panel(d, "phq9 ~ session * pa", time_effects=True)
    >>> fit.terms
    ('session:pa',)
    """
    from linearmodels.panel import PanelOLS

    data = check_frame(data, "data")
    for name, value in (("groups", groups), ("time", time),
                        ("cluster", groups if cluster is None else cluster)):
        if not isinstance(value, str):
            raise SpecificationError(f"`{name}` must be a column name; got {value!r}")
    if not isinstance(time_effects, bool):
        raise SpecificationError(f"`time_effects` must be True or False; got {time_effects!r}")
    se = check_option("se", se, ["CR1", "CR0"])
    debiased = se == "CR1"
    entity = groups
    conf_level = check_number("conf_level", conf_level, low=0, high=1, low_inclusive=False,
                              high_inclusive=False)
    check_columns(data, [entity], "groups")
    check_columns(data, [time], "time")
    cluster_col = entity if cluster is None else cluster
    check_columns(data, [cluster_col], "cluster")
    check_no_missing(data, [entity, time, cluster_col])
    if not pd.api.types.is_numeric_dtype(data[time]):
        raise DataError(f"`time` column {time!r} must be numeric (session number)")
    dup = data.duplicated([entity, time])
    if dup.any():
        raise DataError(
            f"rows {format_rows(data.index[dup.to_numpy()])} repeat a ({entity!r}, {time!r}) "
            "pair; a panel needs one row per patient and session"
        )
    if cluster_col != entity:
        per = data.groupby(entity)[cluster_col].nunique()
        if (per > 1).any():
            raise DataError(
                f"`cluster` column {cluster_col!r} varies within {entity!r} "
                f"{format_rows(per.index[per.to_numpy() > 1])}; clusters must contain whole "
                "patients"
            )
    model = parse_model(data, formula, extra=(entity, time, cluster_col))
    keep = [j for j, nm in enumerate(model.names) if nm != "Intercept"]
    if not keep:
        raise SpecificationError(f"`formula` {formula!r} has no regressors besides the intercept")
    names = [model.names[j] for j in keep]
    index = pd.MultiIndex.from_arrays(
        [pd.factorize(data[entity], sort=True)[0], data[time].to_numpy()],
        names=["entity", "time"],
    )
    Xu = model.X[:, keep]
    # Session effects enter as explicit dummies (PanelOLS's own time_effects=True gives a
    # clustered covariance that disagrees with the dummy regression on unbalanced panels).
    if time_effects:
        levels = np.sort(pd.unique(data[time]))
        Td = (data[time].to_numpy()[:, None] == levels[None, 1:]).astype(float)
    else:
        Td = np.zeros((len(data), 0))
    kept_idx, absorbed_list = _identified(np.column_stack([Td, Xu]), index.get_level_values(0),
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
    y = pd.Series(model.y, index=index, name=model.outcome)
    mod = PanelOLS(y, X, entity_effects=True)
    cov_kwds: dict[str, Any] = {"debiased": debiased, "group_debias": debiased}
    if cluster_col == entity:
        cov_kwds["cluster_entity"] = True
    else:
        codes = pd.factorize(data[cluster_col], sort=True)[0]
        cov_kwds["clusters"] = pd.DataFrame({"cluster": codes}, index=index)
    try:
        res = mod.fit(cov_type="clustered", **cov_kwds)
    except ValueError as exc:
        raise DataError(f"the fixed-effects regression could not be fitted: {exc}") from exc
    absorbed = tuple(absorbed_list)
    n_clusters = int(data[cluster_col].nunique())
    if df == "clusters":
        df_val = float(n_clusters - 1)
    elif df == "normal":
        df_val = float("inf")
    elif isinstance(df, str):
        raise SpecificationError(f"`df` must be 'clusters', 'normal' or a number > 0; got {df!r}")
    else:
        df_val = float(check_number("df", df, low=0, low_inclusive=False))
    cov = pd.DataFrame(np.asarray(res.cov.loc[kept, kept], dtype=float), index=kept, columns=kept)
    return PanelResult(
        formula=formula,
        terms=tuple(kept),
        absorbed=absorbed,
        params=pd.Series(np.asarray(res.params[kept], dtype=float), index=kept, name="estimate"),
        cov=cov,
        df=df_val,
        n_obs=int(res.nobs),
        n_entities=int(data[entity].nunique()),
        n_clusters=n_clusters,
        cluster=cluster_col,
        time_effects=time_effects,
        debiased=debiased,
        r2_within=float(res.rsquared_within),
        conf_level=float(conf_level),
        n_regressors=X.shape[1],
    )
