"""What a matching did: the typed record :class:`MatchInfo` (MatchIt's ``info``).

:func:`~causalpa.matching.match` fills one :class:`MatchInfo` with the options it
resolved (the defaults it chose, e.g. the processing ``order``, and the calipers in the
distance's own units), exposed as ``MatchResult.info``; ``MatchResult.describe()`` and
the result's summary read it.

Examples
--------
>>> import causalpa as cpa
>>> m = cpa.match(cpa.datasets.load_pilot(), "pa ~ age + phq9_first", caliper=0.5)
>>> m.info.order, m.info.ratio, m.info.std_caliper
('largest', 1, True)
>>> round(m.info.raw_caliper, 4) > 0
True
"""

from dataclasses import dataclass
from typing import Literal

__all__ = ["MatchInfo", "CovariateCaliper", "Estimand"]

Estimand = Literal["ATT", "ATC"]
"""Whose matches are sought: the treated units (ATT) or the controls (ATC)."""


@dataclass(frozen=True)
class CovariateCaliper:
    """A caliper on a numeric covariate: ``|x_treated - x_control| <= raw``.

    Attributes
    ----------
    column : str
        The covariate.
    caliper : float
        The width as given.
    std : bool
        Whether ``caliper`` is in SD units of the column (SD over the units not discarded).
    raw : float
        The width in the column's own units.
    """

    column: str
    caliper: float
    std: bool
    raw: float

    def describe(self) -> str:
        """Return e.g. ``"caliper 5 on age"`` or ``"caliper 0.1 SD on re75"``."""
        return f"caliper {self.caliper:g}{' SD' if self.std else ''} on {self.column}"


@dataclass(frozen=True)
class MatchInfo:
    """The options of a matching as they were used (frozen).

    Attributes
    ----------
    method : str
        Registered matching method (``"nearest"``, ``"optimal"``, ...).
    estimand : {"ATT", "ATC"}
        Whose matches were sought: treated units (ATT) or controls (ATC).
    distance : str
        Distance label: ``"ps"``, ``"logit"``, ``"mahalanobis"``, ``"user"`` (a vector),
        ``"matrix"`` or the name of a registered distance.
    ratio : int
        Matches per focal unit (k of k:1).
    replace : bool
        Whether units of the other arm could be reused.
    caliper : float or None
        Caliper on the distance as given.
    std_caliper : bool
        Whether ``caliper`` is in SD units of the distance.
    raw_caliper : float or None
        Caliper on the distance in its own units (SD over the units not discarded).
    covariate_calipers : tuple of CovariateCaliper
        Calipers on covariates, with their raw widths.
    order : str
        Processing order of the focal units (``"largest"``, ``"smallest"``, ``"data"``,
        ``"random"``).
    exact : tuple of str
        Columns matched exactly.
    discard : str
        Common-support rule (``"none"``, ``"both"``, ``"control"``, ``"treated"``).
    n_focal, n_other : int
        Units of the focal arm and of the other arm (all, before ``discard``).
    """

    method: str
    estimand: Estimand
    distance: str
    ratio: int
    replace: bool
    caliper: float | None
    std_caliper: bool
    raw_caliper: float | None
    covariate_calipers: tuple[CovariateCaliper, ...]
    order: str
    exact: tuple[str, ...]
    discard: str
    n_focal: int
    n_other: int

    def covariate_caliper(self, column: str) -> CovariateCaliper:
        """Return the caliper on ``column`` (KeyError if there is none)."""
        for c in self.covariate_calipers:
            if c.column == column:
                return c
        raise KeyError(f"no caliper on {column!r}")

    def describe(self) -> str:
        """One-line description (used as the ``method`` of effects).

        Examples
        --------
        >>> MatchInfo("nearest", "ATT", "ps", 1, False, 0.2, True, 0.01, (), "largest",
        ...           (), "none", 10, 20).describe()
        'nearest-neighbour matching (distance ps, 1:1, without replacement, caliper 0.2 SD)'
        """
        parts = [f"distance {self.distance}", f"{self.ratio}:1",
                 "with replacement" if self.replace else "without replacement"]
        if self.caliper is not None:
            parts.append(f"caliper {self.caliper:g}{' SD' if self.std_caliper else ''}")
        parts += [c.describe() for c in self.covariate_calipers]
        if self.discard != "none":
            parts.append(f"discard {self.discard}")
        if self.exact:
            parts.append("exact on " + ", ".join(self.exact))
        name = "nearest-neighbour" if self.method == "nearest" else self.method
        return f"{name} matching ({', '.join(parts)})"
