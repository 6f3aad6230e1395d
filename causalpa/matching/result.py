"""The result of :func:`causalpa.match`: pairs, matched data, balance and effects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from causalpa._spec import Spec
from causalpa.balance import BalanceTable, balance_statistics, sample_sizes
from causalpa.errors import DataError
from causalpa.results import Effect

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


@dataclass(frozen=True)
class MatchResult:
    """Matched sample from :func:`causalpa.match` (frozen).

    Attributes
    ----------
    pairs : pandas.DataFrame
        One row per matched pair: ``treated`` and ``control`` row labels, the
        match ``round`` (1 for first matches, 2 for second, ...), the pair's
        ``distance`` and ``subclass`` (without replacement).
    weights : pandas.Series
        Matching weights (MatchIt's), 0 for unmatched rows; indexed like the data.
    subclass : pandas.Series or None
        Matched set of each row (nullable integers; None with replacement).
    distance : pandas.Series or None
        The scalar distance used (propensity score or logit), if any.
    propensity : PropensityScore or None
        The fitted propensity-score model (``distance`` "ps"/"logit").
    spec : Spec
        Treatment specification.
    estimand : str
        "ATT" or "ATC".
    method : str
        Registered method name ("nearest", "optimal").
    options : dict
        The matching options (ratio, replace, caliper, raw caliper, covariate
        calipers with their raw widths, order, exact, distance, discard).
    discarded : pandas.Series of bool or None
        Units dropped by ``discard`` before matching (outside the common support).

    Examples
    --------
    >>> import warnings
    >>> import causalpa as cpa
    >>> df = cpa.datasets.load_pilot()
    >>> m = cpa.match(df, "pa ~ age + phq9_first")
    >>> m.estimand, m.method, m.n_matched
    ('ATT', 'nearest', (16, 16))
    >>> list(m.pairs.columns)
    ['treated', 'control', 'round', 'distance', 'subclass']
    >>> m.matched_data().shape
    (32, 25)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # SmallSampleWarning: only 16 pairs
    ...     e = m.estimate("phq9_change")
    >>> e.estimand, e.n_treated, e.n_control
    ('ATT', 16, 16)
    """

    data: pd.DataFrame = field(repr=False)
    spec: Spec
    estimand: str
    method: str
    options: dict[str, Any]
    treatment: np.ndarray = field(repr=False)
    focal: np.ndarray = field(repr=False)
    match_matrix: np.ndarray = field(repr=False)
    weights: pd.Series = field(repr=False)
    subclass: pd.Series | None = field(repr=False)
    distance: pd.Series | None = field(repr=False)
    pairs: pd.DataFrame = field(repr=False)
    propensity: Any = field(default=None, repr=False)
    discarded: pd.Series | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ views
    @property
    def n_matched(self) -> tuple[int, int]:
        """(treated, control) units with positive weight."""
        w = self.weights.to_numpy()
        return int(((self.treatment == 1) & (w > 0)).sum()), int(((self.treatment == 0) & (w > 0)).sum())

    def describe(self) -> str:
        """One-line description of the matching (used as the Effect's ``method``)."""
        o = self.options
        parts = [f"{o['ratio']}:1", "with replacement" if o["replace"] else "without replacement"]
        parts.insert(0, f"distance {o['distance']}")
        if o["caliper"] is not None:
            unit = " SD" if o["std_caliper"] else ""
            parts.append(f"caliper {o['caliper']:g}{unit}")
        for col, c in o.get("covariate_calipers", {}).items():
            parts.append(f"caliper {c['caliper']:g}{' SD' if c['std'] else ''} on {col}")
        if o.get("discard", "none") != "none":
            parts.append(f"discard {o['discard']}")
        if o["exact"]:
            parts.append("exact on " + ", ".join(o["exact"]))
        name = "nearest-neighbour" if self.method == "nearest" else self.method
        return f"{name} matching ({', '.join(parts)})"

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
        out = self.data.copy()
        add = {distance: self.distance, weights: self.weights, subclass: self.subclass}
        for name, values in add.items():
            if values is None:
                continue
            if name in out.columns:
                raise DataError(
                    f"column {name!r} is already in the data; choose another name with "
                    f"matched_data({'weights' if values is self.weights else 'subclass' if values is self.subclass else 'distance'}=...)"
                )
            out[name] = values
        if drop_unmatched:
            out = out.loc[self.weights.to_numpy() > 0]
        return out

    def _pair_positions(self) -> tuple[np.ndarray, np.ndarray]:
        focal_pos = np.flatnonzero(self.focal)
        rows, cols = np.nonzero(self.match_matrix >= 0)
        return focal_pos[rows], self.match_matrix[rows, cols]

    def balance(self, threshold: float = 0.1) -> BalanceTable:
        """Balance before and after matching, equal to MatchIt's ``summary(m, un = TRUE)``.

        Includes the ``distance`` row (propensity score / logit) when one was used.
        """
        X = self.spec.covariate_frame(self.data)
        if self.distance is not None:
            X = pd.concat([self.distance.rename("distance").to_frame(), X], axis=1)
        w = self.weights.to_numpy()
        pairs = self._pair_positions()
        un = balance_statistics(X, self.treatment, None, estimand=self.estimand)
        adj = balance_statistics(X, self.treatment, w, estimand=self.estimand, pairs=pairs)
        n = sample_sizes(self.treatment, w).rename(
            index={"Adjusted (ESS)": "Matched (ESS)", "Adjusted": "Matched"})
        disc = np.zeros(len(w), dtype=bool) if self.discarded is None \
            else self.discarded.to_numpy(dtype=bool)
        t = self.treatment
        # as MatchIt's summary()$nn: unmatched excludes the discarded units
        n.loc["Unmatched"] = [float(((t == 0) & (w == 0) & ~disc).sum()),
                              float(((t == 1) & (w == 0) & ~disc).sum())]
        n.loc["Discarded"] = [float(((t == 0) & disc).sum()), float(((t == 1) & disc).sum())]
        return BalanceTable(unadjusted=un, adjusted=adj, n=n, estimand=self.estimand,
                            threshold=threshold, method=self.describe())

    def estimate(
        self,
        outcome: str,
        adjust: str | list[str] | None = None,
        se: Any = None,
        *,
        measure: str | None = None,
        conf_level: float = 0.95,
        n_boot: int = 999,
        n_perm: int = 9999,
        rng: Any = None,
    ) -> Effect:
        """Estimate the effect on the matched sample (see :func:`causalpa.estimation.estimate_effect`).

        Parameters
        ----------
        outcome : str
            Outcome column.
        adjust : str or list of str, optional
            Covariates for regression adjustment (g-computation over the focal units).
        se : {"cluster", "robust", "bootstrap", "permutation"} or a registry name, optional
            Default "cluster" on the matched subclasses (``vcovCL(~subclass)``,
            ``t(G - 1)``; CR2 when an arm has fewer than 20 units) without
            replacement; "robust" (HC3) with replacement. Any name of
            :data:`causalpa.inference.VARIANCES` ("HC0"-"HC3", "CR0"-"CR2") asks for
            that estimator.
        measure, conf_level, n_boot, n_perm, rng
            As in :func:`~causalpa.estimation.estimate_effect`.

        Returns
        -------
        Effect
        """
        from causalpa.estimation import estimate_effect

        if outcome not in self.data.columns:
            from causalpa._validation import check_columns

            check_columns(self.data, [outcome], "outcome")
        if se is None:
            se = "cluster" if self.subclass is not None else "robust"
        cluster = "__s__" if self.subclass is not None else None
        plain = all(isinstance(self.data[c].dtype, np.dtype) and self.data[c].dtype.kind in "biuf"
                    for c in dict.fromkeys([outcome, self.spec.treatment]))
        if plain and adjust is None and outcome != self.spec.treatment and not (
                {"__w__", "__s__", "__d__"} & set(self.data.columns)):
            # only the columns estimate_effect reads without `adjust` (same rows, values and
            # dtypes as matched_data(), without copying every other column)
            keep = self.weights.to_numpy() > 0
            cols = {outcome: self.data[outcome].to_numpy()[keep],
                    self.spec.treatment: self.data[self.spec.treatment].to_numpy()[keep],
                    "__w__": self.weights.to_numpy()[keep]}
            if self.subclass is not None:  # exactly when cluster is set
                cols["__s__"] = self.subclass.to_numpy()[keep].astype("int64")
            md = pd.DataFrame(cols, index=self.data.index[keep])
        else:
            md = self.matched_data(weights="__w__", subclass="__s__", distance="__d__")
            if cluster is not None:
                md["__s__"] = md["__s__"].astype("int64")
        return estimate_effect(
            md, outcome, self.spec.treatment, weights="__w__", cluster=cluster, adjust=adjust,
            estimand=self.estimand, se=se, measure=measure,
            conf_level=conf_level, n_boot=n_boot, n_perm=n_perm, rng=rng,
            treated=self.spec.treated, method=self.describe(),
        )

    def summary(self) -> str:
        """Readable report: the matching, sample sizes and balance."""
        n1, n0 = self.n_matched
        t = self.treatment
        lines = [
            f"Matching: {self.describe()}, estimand {self.estimand}",
            f"  matched {n1} of {int(t.sum())} treated and {n0} of {int((1 - t).sum())} control "
            f"units; {len(self.pairs)} pairs",
        ]
        if self.discarded is not None and self.discarded.any():
            dv = self.discarded.to_numpy(dtype=bool)
            lines.append(f"  discarded (outside common support, discard="
                         f"{self.options['discard']!r}): {int((dv & (t == 1)).sum())} treated, "
                         f"{int((dv & (t == 0)).sum())} control units")
        if self.options.get("raw_caliper") is not None:
            lines.append(f"  caliper in distance units: {self.options['raw_caliper']:.6g}")
        for col, c in self.options.get("covariate_calipers", {}).items():
            lines.append(f"  caliper on {col} in its units: {c['raw']:.6g}")
        lines.append(self.balance().summary())
        return "\n".join(lines)

    def __repr__(self) -> str:
        n1, n0 = self.n_matched
        return f"<MatchResult {self.describe()}: {n1} treated, {n0} control matched>"
