"""The result of :func:`causalpa.match`: pairs, matched data, balance and effects.

:class:`MatchResult` speaks the result protocol of :mod:`causalpa.results`: ``tidy()``
is one row per arm with the sample sizes (all, matched, unmatched, discarded and the
effective sample size of the matched weights); ``summary()``, ``repr``, the notebook
view and ``to_dict()`` are derived from it. It is frozen and holds a private copy of the
data; ``weights``, ``subclass``, ``distance``, ``pairs``, ``discarded`` and ``data`` are
new pandas objects at every access, so changing them changes nothing in the result.
"""

from dataclasses import InitVar, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from causalpa._spec import Spec
from causalpa._validation import (
    CONF_LEVEL,
    NONE,
    Boolean,
    Column,
    Number,
    RandomState,
    check_columns,
    validate_params,
)
from causalpa.balance import BalanceTable, balance_statistics, sample_sizes
from causalpa.errors import DataError, SpecificationError
from causalpa.estimation import (
    COVARIATE_TERMS,
    SE_OPTIONS,
    MatchedSE,
    Measure,
    estimate_effect,
)
from causalpa.inference import Variance
from causalpa.matching.distance import Distance
from causalpa.matching.info import Estimand, MatchInfo
from causalpa.propensity import PropensityScore, _frozen
from causalpa.results import Effect, Result

__all__ = ["MatchResult", "matchit_weights", "matchit_subclass"]



def matchit_weights(mm: np.ndarray, focal: np.ndarray) -> np.ndarray:
    """Compute matching weights as MatchIt's ``weights_matrixC`` (focal units weight 1).

    A matched focal unit gets weight 1; each matched unit of the other arm gets
    the sum, over the focal units it is matched to, of ``1 / (number of matches of
    that focal unit)``; those weights are then rescaled to sum to the number of
    matched units of that arm.

    Examples
    --------
    >>> import numpy as np
    >>> focal = np.array([True, True, False, False, False])
    >>> matchit_weights(np.array([[2, 3], [4, -1]]), focal).tolist()
    [1.0, 1.0, 0.75, 0.75, 1.5]
    """
    n = len(focal)
    w = np.zeros(n)
    focal_pos = np.flatnonzero(focal)
    counts = (mm >= 0).sum(axis=1)
    has = counts > 0
    w[focal_pos[has]] = 1.0
    rows, cols = np.nonzero(mm >= 0)
    np.add.at(w, mm[rows, cols], 1.0 / counts[rows])
    other = ~focal
    total = w[other].sum()
    if total > 0:
        w[other] *= np.sum(w[other] > 0) / total
    return w


def matchit_subclass(mm: np.ndarray, focal: np.ndarray) -> np.ndarray:
    """Subclass numbers as MatchIt's ``mm2subclass`` (0 = unmatched).

    One subclass per matched focal unit; MatchIt numbers them by sorting the
    focal units' 1-based row numbers *as text* ("1" < "10" < "2"), which is
    reproduced so that ``matched_data()`` equals ``match.data()``.

    Examples
    --------
    >>> import numpy as np
    >>> focal = np.array([True, False, True, False])
    >>> matchit_subclass(np.array([[1], [3]]), focal).tolist()
    [1, 1, 2, 2]
    """
    n = len(focal)
    sub = np.zeros(n, dtype=np.int64)
    focal_pos = np.flatnonzero(focal)
    has = (mm >= 0).any(axis=1)
    matched_focal = focal_pos[has]
    labels = sorted(str(p + 1) for p in matched_focal)
    number = {int(s) - 1: i + 1 for i, s in enumerate(labels)}
    for r in np.flatnonzero(has):
        f = int(focal_pos[r])
        sub[f] = number[f]
        m = mm[r][mm[r] >= 0]
        sub[m] = number[f]
    return sub


def _pair_table(index: pd.Index, focal: np.ndarray, mm: np.ndarray, dist: Distance,
                sub: np.ndarray | None, estimand: str) -> pd.DataFrame:
    """One row per matched pair: labels, round, the pair's distance and its subclass."""
    focal_pos = np.flatnonzero(focal)
    rows, cols = np.nonzero(mm >= 0)
    fpos = focal_pos[rows]
    opos = mm[rows, cols]
    if dist.values is not None:
        d = dist.values
        pdist = np.abs(d[fpos] - d[opos])
    elif dist.features is not None:
        F = dist.features
        pdist = np.sqrt(((F[fpos] - F[opos]) ** 2).sum(axis=1))
    else:
        matrix = np.asarray(dist.matrix)
        if estimand == "ATC":
            matrix = matrix.T
        col_of = np.full(len(focal), -1)
        col_of[~focal] = np.arange(int((~focal).sum()))
        pdist = np.asarray(matrix)[rows, col_of[opos]]
    tpos, cpos = (fpos, opos) if estimand == "ATT" else (opos, fpos)
    pairs = pd.DataFrame({
        "treated": index[tpos], "control": index[cpos], "round": cols + 1, "distance": pdist,
    })
    if sub is not None:
        pairs["subclass"] = sub[fpos]
    return pairs


@dataclass(frozen=True, repr=False, eq=False)
class MatchResult(Result):
    """Matched sample from :func:`causalpa.match` (frozen; holds a copy of the data).

    Built by :func:`~causalpa.matching.match`; its constructor takes the data and the
    match matrix and derives weights, subclasses and pairs (MatchIt's
    ``weights_matrixC`` and ``mm2subclass``).

    Attributes
    ----------
    spec : Spec
        Treatment specification.
    info : MatchInfo
        The matching options as used (method, distance, calipers in raw units, order, ...).
    outcome : str or None
        Default outcome of :meth:`estimate` (``match(outcome=...)``).
    propensity : PropensityScore or None
        The fitted propensity-score model (``distance`` "ps"/"logit" or a PropensityScore).
    notes : tuple of str
        Warnings issued while matching (capacity, an arm with a single patient).

    Examples
    --------
    >>> import warnings
    >>> import causalpa as cpa
    >>> df = cpa.datasets.load_pilot()
    >>> m = cpa.match(df, "pa ~ age + phq9_first", outcome="phq9_change")
    >>> m.estimand, m.method
    ('ATT', 'nearest')
    >>> m.tidy()[["arm", "n", "n_matched", "n_unmatched"]].values.tolist()
    [['treated', 16, 16, 0], ['control', 22, 16, 6]]
    >>> list(m.pairs.columns)
    ['treated', 'control', 'round', 'distance', 'subclass']
    >>> m.matched_data().shape
    (32, 25)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # SmallSampleWarning: only 16 pairs
    ...     e = m.estimate()  # the outcome given to match()
    >>> e.outcome, e.estimand, e.n_treated, e.n_control
    ('phq9_change', 'ATT', 16, 16)
    """

    spec: Spec
    info: MatchInfo
    outcome: str | None
    propensity: PropensityScore | None
    notes: tuple[str, ...]
    treatment: np.ndarray = field(repr=False)
    focal: np.ndarray = field(repr=False)
    match_matrix: np.ndarray = field(repr=False)
    frame: InitVar[pd.DataFrame]
    dist: InitVar[Distance]
    discarded_units: InitVar[np.ndarray | None]
    _data: pd.DataFrame = field(init=False, repr=False)
    _weights: np.ndarray = field(init=False, repr=False)
    _subclass: np.ndarray | None = field(init=False, repr=False)
    _distance: np.ndarray | None = field(init=False, repr=False)
    _discarded: np.ndarray = field(init=False, repr=False)
    _pairs: pd.DataFrame = field(init=False, repr=False)

    def __post_init__(self, frame: pd.DataFrame, dist: Distance,
                      discarded_units: np.ndarray | None) -> None:
        focal, mm = self.focal, self.match_matrix
        sub = None if self.info.replace else matchit_subclass(mm, focal)
        n = len(focal)
        fields = {
            "treatment": _frozen(self.treatment), "focal": _frozen(focal),
            "match_matrix": _frozen(mm), "_data": frame.copy(),
            "_weights": _frozen(matchit_weights(mm, focal)),
            "_subclass": None if sub is None else _frozen(sub),
            "_distance": None if dist.values is None else _frozen(dist.values),
            "_discarded": _frozen(np.zeros(n, dtype=bool) if discarded_units is None
                                  else discarded_units, dtype=bool),
            "_pairs": _pair_table(frame.index, focal, mm, dist, sub, self.info.estimand),
        }
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    # ------------------------------------------------------------------ views
    @property
    def estimand(self) -> Estimand:
        """The estimand: "ATT" or "ATC"."""
        return self.info.estimand

    @property
    def method(self) -> str:
        """Registered method name ("nearest", "optimal", ...)."""
        return self.info.method

    @property
    def data(self) -> pd.DataFrame:
        """A copy of the analysis data (every row, in data order)."""
        return self._data.copy()

    @property
    def weights(self) -> pd.Series:
        """Matching weights (MatchIt's), 0 for unmatched and discarded rows (a new Series)."""
        return pd.Series(self._weights.copy(), index=self._data.index, name="weights")

    @property
    def subclass(self) -> pd.Series | None:
        """Matched set of each row (nullable integers; None with replacement)."""
        if self._subclass is None:
            return None
        sub = self._subclass
        return pd.Series(pd.arrays.IntegerArray(np.where(sub > 0, sub, 0).astype(np.int64),
                                                sub == 0),
                         index=self._data.index, name="subclass")

    @property
    def distance(self) -> pd.Series | None:
        """The scalar distance used (propensity score, logit or a user vector), if any."""
        if self._distance is None:
            return None
        return pd.Series(self._distance.copy(), index=self._data.index, name="distance")

    @property
    def discarded(self) -> pd.Series:
        """Units dropped by ``discard`` before matching (outside the common support)."""
        return pd.Series(self._discarded.copy(), index=self._data.index, name="discarded")

    @property
    def pairs(self) -> pd.DataFrame:
        """Return the matched pairs (a new DataFrame).

        One row per pair: ``treated`` and ``control`` labels, the match ``round``, the
        pair's ``distance`` and ``subclass`` (without replacement).
        """
        return self._pairs.copy()

    def describe(self) -> str:
        """One-line description of the matching (used as the Effect's ``method``)."""
        return self.info.describe()

    # ------------------------------------------------------------------ protocol
    def _tidy(self) -> pd.DataFrame:
        t, w, disc = self.treatment, self._weights, self._discarded
        rows = []
        for arm, code in (("treated", 1), ("control", 0)):
            a = t == code
            wa = w[a]
            rows.append({
                "arm": arm, "n": int(a.sum()), "n_matched": int((wa > 0).sum()),
                "n_unmatched": int((a & (w == 0) & ~disc).sum()),
                "n_discarded": int((a & disc).sum()),
                "ess_matched": float(wa.sum() ** 2 / np.sum(wa**2)) if np.any(wa > 0) else 0.0,
            })
        return pd.DataFrame(rows)

    def _title(self) -> str:
        text = self.describe()
        return f"{text[:1].upper()}{text[1:]}; estimand {self.estimand}"

    def _meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"pairs": len(self._pairs), "order": self.info.order,
                                "raw_caliper": self.info.raw_caliper}
        for c in self.info.covariate_calipers:
            meta[f"raw_caliper_{c.column}"] = c.raw
        meta["outcome"] = self.outcome
        return meta

    # ------------------------------------------------------------------ data
    @validate_params({"drop_unmatched": Boolean(), "weights": Column(), "subclass": Column(),
                      "distance": Column()})
    def matched_data(
        self, *, drop_unmatched: bool = True, weights: str = "weights", subclass: str = "subclass",
        distance: str = "distance",
    ) -> pd.DataFrame:
        """Return a new DataFrame of the matched rows with weights, subclass and distance.

        Equivalent to MatchIt's ``match.data()``: rows in data order, the data's
        columns followed by ``distance`` (when a scalar distance was used),
        ``weights`` and ``subclass`` (without replacement).

        Parameters
        ----------
        drop_unmatched : bool
            Keep only rows with positive weight (default).
        weights, subclass, distance : str
            Names of the added columns (must not already be in the data).

        Returns
        -------
        pandas.DataFrame
        """
        out = self._data.copy()
        added = (("distance", distance, self.distance), ("weights", weights, self.weights),
                 ("subclass", subclass, self.subclass))
        for argument, name, values in added:
            if values is None:
                continue
            if name in out.columns:
                raise DataError(
                    f"column {name!r} is already in the data; choose another name with "
                    f"matched_data({argument}=...)")
            out[name] = values
        if drop_unmatched:
            out = out.loc[self._weights > 0]
        return out

    def _pair_positions(self) -> tuple[np.ndarray, np.ndarray]:
        focal_pos = np.flatnonzero(self.focal)
        rows, cols = np.nonzero(self.match_matrix >= 0)
        return focal_pos[rows], self.match_matrix[rows, cols]

    @validate_params({"threshold": Number(low=0)})
    def balance(self, threshold: float = 0.1) -> BalanceTable:
        """Balance before and after matching, equal to MatchIt's ``summary(m, un = TRUE)``.

        Includes the ``distance`` row (propensity score / logit) when one was used.
        """
        X = self.spec.covariate_frame(self._data)
        if self._distance is not None:
            d = pd.Series(self._distance, index=self._data.index, name="distance")
            X = pd.concat([d.to_frame(), X], axis=1)
        w = self._weights
        pairs = self._pair_positions()
        un = balance_statistics(X, self.treatment, None, estimand=self.estimand)
        adj = balance_statistics(X, self.treatment, w, estimand=self.estimand, pairs=pairs)
        n = sample_sizes(self.treatment, w).rename(
            index={"Adjusted (ESS)": "Matched (ESS)", "Adjusted": "Matched"})
        disc = self._discarded
        t = self.treatment
        # as MatchIt's summary()$nn: unmatched excludes the discarded units
        n.loc["Unmatched"] = [float(((t == 0) & (w == 0) & ~disc).sum()),
                              float(((t == 1) & (w == 0) & ~disc).sum())]
        n.loc["Discarded"] = [float(((t == 0) & disc).sum()), float(((t == 1) & disc).sum())]
        return BalanceTable(unadjusted=un, adjusted=adj, n=n, estimand=self.estimand,
                            threshold=threshold, method=self.describe())

    # ------------------------------------------------------------------ effects
    @validate_params({
        "outcome": [Column(), NONE],
        "adjust": COVARIATE_TERMS,
        "se": [*SE_OPTIONS, NONE],
        "conf_level": CONF_LEVEL,
        "n_boot": Number(low=10, integer=True),
        "n_perm": Number(low=2, integer=True),
        "rng": RandomState(),
    })
    def estimate(
        self,
        outcome: str | None = None,
        *,
        adjust: str | list[str] | None = None,
        se: MatchedSE | Variance | None = None,
        measure: Measure | None = None,
        conf_level: float = 0.95,
        n_boot: int = 999,
        n_perm: int = 9999,
        rng: Any = None,
    ) -> Effect:
        """Estimate the effect on the matched sample (see :func:`causalpa.estimation.estimate_effect`).

        Parameters
        ----------
        outcome : str, optional
            Outcome column; default the ``outcome`` given to :func:`~causalpa.match`.
        adjust : str or list of str, optional
            Covariates for regression adjustment (g-computation over the focal units):
            column names or a right-hand side such as ``"age + C(sex)"``.
        se : {"cluster", "robust", "HC0", ..., "CR2", "bootstrap", "permutation"} or Variance, optional
            Default "cluster" on the matched subclasses (``vcovCL(~subclass)``,
            ``t(G - 1)``; CR2 when an arm has fewer than 20 units) without
            replacement; "robust" (HC3) with replacement. Any name of
            :data:`causalpa.inference.VARIANCES` ("HC0"-"HC3", "CR0"-"CR2") asks for
            that estimator; "bootstrap" resamples matched sets, "permutation" permutes
            within them.
        measure : {"difference", "risk difference", "risk ratio", "odds ratio"}, optional
            Effect measure; default "risk difference" for a 0/1 outcome, else "difference".
        conf_level : float
            Confidence level, in (0, 1).
        n_boot : int
            Bootstrap replicates (``se="bootstrap"``), at least 10.
        n_perm : int
            Permutation draws (``se="permutation"``).
        rng : None, int or numpy.random.Generator
            Randomness of the bootstrap and permutation draws (SPEC 7).

        Returns
        -------
        Effect

        Raises
        ------
        SpecificationError
            No outcome (neither here nor in ``match(outcome=...)``), an invalid option,
            an outcome that is the treatment, ``adjust`` covariates that include the
            outcome or the treatment, or a cluster variance ("cluster", "CR0"-"CR2",
            "permutation") after matching with replacement (no subclasses).
        DataError
            The outcome is not numeric or has missing values, or the ``adjust``
            covariates are collinear (the redundant column is named).
        """
        outcome = self._outcome(outcome)
        if se is None:
            se = "cluster" if self._subclass is not None else "robust"
        cluster = "__s__" if self._subclass is not None else None
        md = self._estimation_frame(outcome, adjust)
        return estimate_effect(
            md, outcome, self.spec.treatment, weights="__w__", cluster=cluster, adjust=adjust,
            estimand=self.estimand, se=se, measure=measure,
            conf_level=conf_level, n_boot=n_boot, n_perm=n_perm, rng=rng,
            treated=self.spec.treated, method=self.describe(),
        )

    def _outcome(self, outcome: str | None) -> str:
        outcome = self.outcome if outcome is None else outcome
        if outcome is None:
            raise SpecificationError(
                "give the outcome: m.estimate('phq9_change') or match(..., outcome=...)")
        if outcome not in self._data.columns:
            check_columns(self._data, [outcome], "outcome")
        return outcome

    def _estimation_frame(self, outcome: str, adjust: Any) -> pd.DataFrame:
        """Return the matched rows :func:`estimate_effect` reads (``__w__``, ``__s__``)."""
        data = self._data
        treatment = self.spec.treatment
        plain = all(isinstance(data[c].dtype, np.dtype) and data[c].dtype.kind in "biuf"
                    for c in dict.fromkeys([outcome, treatment]))
        if plain and adjust is None and outcome != treatment and not (
                {"__w__", "__s__", "__d__"} & set(data.columns)):
            # only the columns estimate_effect reads without `adjust` (same rows, values and
            # dtypes as matched_data(), without copying every other column)
            keep = self._weights > 0
            cols = {outcome: data[outcome].to_numpy()[keep],
                    treatment: data[treatment].to_numpy()[keep],
                    "__w__": self._weights[keep]}
            if self._subclass is not None:
                cols["__s__"] = self._subclass[keep].astype("int64")
            return pd.DataFrame(cols, index=data.index[keep])
        md = self.matched_data(weights="__w__", subclass="__s__", distance="__d__")
        if self._subclass is not None:
            md["__s__"] = md["__s__"].astype("int64")
        return md

