"""Shared plumbing of the GEE, GLMM and panel models (private).

* :func:`outcome_model` reads ``"outcome ~ terms"`` through the one formula front end
  (:func:`causalpa._spec.model_spec`, :meth:`~causalpa._spec.Spec.design`,
  :func:`causalpa._spec.response`) after refusing absent columns and missing values;
* :func:`group_codes` validates the grouping column; :func:`resolve_weights` maps
  patient-level weights (e.g. ``cpa.weight(...).weights``) onto session rows;
* :class:`CoefficientResult` is the base of the three results: a vector of coefficients
  with its covariance matrix, turned into the shared table of estimates by
  :func:`causalpa.inference.coef_table` (the only place intervals and p-values are
  computed) and :func:`causalpa.results.estimate_frame`.

Examples
--------
>>> import pandas as pd
>>> d = pd.DataFrame({"patient": [1, 1, 2, 2], "y": [1.0, 2, 3, 5], "x": [0.0, 1, 0, 1]})
>>> spec, y, X = outcome_model(d, "y ~ x", extra=("patient",))
>>> spec.columns, y.tolist(), X.shape
(('Intercept', 'x'), [1.0, 2.0, 3.0, 5.0], (4, 2))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from causalpa._spec import Spec, model_spec, response
from causalpa._validation import check_columns, check_no_missing, check_weights, format_rows
from causalpa.errors import DataError, SpecificationError
from causalpa.inference import TIDY_COLUMNS, coef_table
from causalpa.results import EstimateResult, estimate_frame

__all__ = ["PredictType", "outcome_model", "check_binary_outcome", "group_codes",
           "resolve_weights", "readonly", "CoefficientResult"]

PredictType = Literal["response", "link"]
"""Scale of a prediction: the mean (probability) or the linear predictor."""


# =========================================================================== data
def outcome_model(
    data: pd.DataFrame,
    formula: str,
    *,
    extra: Sequence[str] = (),
    example: str = "'phq9 ~ session * pa'",
) -> tuple[Spec, np.ndarray, np.ndarray]:
    """Read ``"outcome ~ terms"`` on ``data``: the spec, the outcome and the model matrix.

    Parameters
    ----------
    data : pandas.DataFrame
        Analysis data (never modified).
    formula : str
        ``"outcome ~ terms"`` in formulaic syntax (``C()``, ``*``, ``:``, ``I()``); the
        left-hand side may be a column or an expression.
    extra : sequence of str
        Further columns (already checked to exist) that must be complete: groups, time,
        trials.
    example : str
        Example formula shown in messages.

    Returns
    -------
    spec : Spec
        The outcome spec (``spec.design(newdata)`` builds the matrix of new data).
    y : numpy.ndarray
        The outcome as floats.
    X : numpy.ndarray
        The model matrix (formulaic's column-major layout; read-only).

    Raises
    ------
    SpecificationError
        Malformed formula, or no terms on the right-hand side.
    DataError
        A named column is absent or has missing values; a non-numeric outcome.
    """
    # model_spec refuses absent formula columns and missing values in them
    spec = model_spec(data, formula, example=example)
    check_no_missing(data, extra)
    X, _ = spec.design()
    if X.shape[1] == 0:
        raise SpecificationError(f"`formula` {formula!r} has no terms on the right-hand side")
    return spec, response(data, spec), X


def check_binary_outcome(y: np.ndarray, index: pd.Index, outcome: str, model: str,
                         hint: str = "") -> None:
    """Refuse an outcome that is not 0/1 (the binomial GEE and the logistic GLMM).

    Parameters
    ----------
    y : numpy.ndarray
        The outcome as floats (bools already 0/1).
    index : pandas.Index
        Row labels of the data, to name the offending rows.
    outcome : str
        The outcome's name (column or expression).
    model : str
        What needs the 0/1 outcome, for the message (``"family='binomial'"``).
    hint : str
        Appended to the message (e.g. how to give binomial counts).

    Raises
    ------
    DataError
        Some values are neither 0 nor 1; the message names the outcome and the rows.

    Examples
    --------
    >>> check_binary_outcome(np.array([0.0, 1.0, 2.0]), pd.RangeIndex(3), "case", "a logit model")
    Traceback (most recent call last):
    ...
    causalpa.errors.DataError: outcome 'case' must be 0/1 (or bool) for a logit model; rows 2 are not
    """
    bad = ~np.isin(y, (0.0, 1.0))
    if bad.any():
        raise DataError(
            f"outcome {outcome!r} must be 0/1 (or bool) for {model}; rows "
            f"{format_rows(index[bad])} are not{hint}"
        )


def group_codes(data: pd.DataFrame, groups: str, argument: str = "groups") -> tuple[np.ndarray, Any]:
    """Return integer codes 0..G-1 of the grouping column and the group labels (sorted).

    Examples
    --------
    >>> codes, labels = group_codes(pd.DataFrame({"patient": ["b", "a", "b"]}), "patient")
    >>> codes.tolist(), list(labels)
    ([1, 0, 1], ['a', 'b'])
    """
    check_columns(data, [groups], argument)
    check_no_missing(data, [groups])
    codes, uniques = pd.factorize(data[groups], sort=True)
    return codes.astype(np.intp), uniques


def _mapped_weights(data: pd.DataFrame, weights: Any, weights_by: Any, groups: str) -> np.ndarray:
    """Patient-level ``weights`` with their ids ``weights_by`` -> one weight per row."""
    wv = np.asarray(weights, dtype=float).reshape(-1)
    if isinstance(weights_by, str):
        raise SpecificationError(
            "`weights_by` must be the patient ids of the weights (an array or Series, e.g. "
            "patients['patient']), not a column name"
        )
    ids = pd.Series(weights_by).to_numpy()
    if len(ids) != len(wv):
        raise DataError(f"`weights_by` has length {len(ids)} but `weights` has length {len(wv)}")
    if pd.isna(pd.Series(ids)).any():
        raise DataError("`weights_by` has missing ids")
    check_weights(wv, len(wv))
    table = pd.Series(wv, index=pd.Index(ids))
    if not table.index.is_unique:
        dup = table.index[table.index.duplicated()].unique()
        raise DataError(f"`weights_by` repeats ids {format_rows(dup)}; give one weight per {groups!r}")
    mapped = table.reindex(data[groups].to_numpy())
    if mapped.isna().any():
        absent = pd.unique(data[groups].to_numpy()[mapped.isna().to_numpy()])
        raise DataError(
            f"no weight for {groups!r} {format_rows(absent)} in `weights_by`; every group in "
            "`data` needs a weight"
        )
    return check_weights(mapped.to_numpy(), len(data))


def resolve_weights(
    data: pd.DataFrame,
    weights: Any,
    weights_by: Any,
    groups: str,
) -> np.ndarray | None:
    """Turn the ``weights`` argument into one non-negative weight per row of ``data``.

    ``weights`` may be a column name of ``data``, a row-aligned array or Series (a Series
    is aligned by label), or patient-level weights together with ``weights_by`` (the
    patient id of each weight), which are then mapped onto every session row of that
    patient.

    Examples
    --------
    >>> d = pd.DataFrame({"patient": [1, 1, 2]})
    >>> resolve_weights(d, [2.0, 3.0], [2, 1], "patient").tolist()
    [3.0, 3.0, 2.0]
    """
    if weights is None:
        if weights_by is not None:
            raise SpecificationError("`weights_by` was given without `weights`")
        return None
    n = len(data)
    if isinstance(weights, str):
        if weights_by is not None:
            raise SpecificationError(
                "`weights_by` is only used with patient-level weights, not a column name"
            )
        check_columns(data, [weights], "weights")
        check_no_missing(data, [weights])
        return check_weights(data[weights].to_numpy(), n)
    if weights_by is not None:
        return _mapped_weights(data, weights, weights_by, groups)
    if isinstance(weights, pd.Series):
        if len(weights) == n and weights.index.equals(data.index):
            return check_weights(weights.to_numpy(), n)
        if len(weights) == n and set(weights.index) == set(data.index) and weights.index.is_unique:
            return check_weights(weights.reindex(data.index).to_numpy(), n)
        raise DataError(
            f"`weights` is a Series whose index does not match the rows of `data` ({len(weights)} "
            f"values, {n} rows). For patient-level weights such as cpa.weight(...).weights pass "
            f"the patient ids too: weights=w.weights, weights_by=patients[{groups!r}]"
        )
    w = np.asarray(weights, dtype=float).reshape(-1) if not isinstance(weights, np.ndarray) else weights
    if np.ndim(w) != 1 or len(w) != n:
        raise DataError(
            f"`weights` has length {np.size(w)}; expected {n} (one per row of `data`). For "
            f"patient-level weights pass weights_by= with the patient ids"
        )
    return check_weights(w, n)


def readonly(values: Any) -> np.ndarray:
    """Return a read-only float copy of ``values`` (what results hold).

    Examples
    --------
    >>> a = readonly([1, 2])
    >>> a.flags.writeable, a.dtype.name
    (False, 'float64')
    """
    out = np.array(values, dtype=float)
    out.setflags(write=False)
    return out


# =========================================================================== results
class CoefficientResult(EstimateResult):
    """Base of the GEE, GLMM and panel results: coefficients with a covariance matrix.

    Subclasses are frozen dataclasses with the fields ``terms``, ``_coef`` and ``_cov``
    (read-only arrays), ``conf_level``, ``outcome`` and ``n_obs``, and say how the
    model was fitted (:meth:`_method`) and which reference distribution the tests use
    (:meth:`_reference_df`). The tidy table is the shared schema; ``params``, ``bse``,
    ``pvalues`` and ``conf_int()`` come from :class:`~causalpa.results.EstimateResult`.
    """

    terms: tuple[str, ...]
    conf_level: float
    outcome: str
    n_obs: int
    _coef: np.ndarray
    _cov: np.ndarray

    def _method(self) -> str:
        raise NotImplementedError

    def _reference_df(self) -> float:
        raise NotImplementedError

    def _frame(self, matrix: np.ndarray) -> pd.DataFrame:
        """Return a (terms x terms) matrix as a new DataFrame."""
        names = list(self.terms)
        return pd.DataFrame(np.array(matrix), index=names, columns=names)

    @property
    def cov(self) -> pd.DataFrame:
        """Covariance of the coefficients used by :meth:`tidy` (a new DataFrame)."""
        return self._frame(self._cov)

    def _tidy(self) -> pd.DataFrame:
        table = coef_table(self._coef, np.sqrt(np.diag(self._cov)), self._reference_df(),
                           self.conf_level, term=self.terms)
        return estimate_frame(table, outcome=self.outcome, estimand=None,
                              method=self._method(), n=self.n_obs)

    def _display(self, table: pd.DataFrame) -> pd.DataFrame:
        return table[list(TIDY_COLUMNS)]
