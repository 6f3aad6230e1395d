"""Shared plumbing for the longitudinal estimators (GEE, panel, GLMM).

Formula parsing into arrays, validation of the grouping column, and the mapping of
patient-level weights (e.g. ``cpa.weight(...).weights``) onto session rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from causalpa._validation import check_columns, check_no_missing, check_weights, format_rows
from causalpa.errors import DataError, SpecificationError

__all__ = ["ParsedModel", "parse_model", "resolve_weights", "group_codes", "term_names"]


@dataclass(frozen=True)
class ParsedModel:
    """Arrays for a ``"y ~ x1 + x2"`` formula (internal)."""

    y: np.ndarray
    X: np.ndarray
    names: list[str]
    outcome: str
    lhs_variables: tuple[str, ...]
    variables: tuple[str, ...]
    rhs_spec: Any


def _formula_parts(formula: Any) -> tuple[str, str]:
    if not isinstance(formula, str) or "~" not in formula:
        raise SpecificationError(
            f"`formula` must be a string like 'phq9 ~ session * pa'; got {formula!r}"
        )
    lhs, rhs = formula.split("~", 1)
    if not lhs.strip():
        raise SpecificationError(f"`formula` needs an outcome on the left of '~'; got {formula!r}")
    return lhs.strip(), rhs.strip() or "1"


def parse_model(
    data: pd.DataFrame,
    formula: str,
    *,
    extra: tuple[str, ...] = (),
    lhs_override: str | None = None,
) -> ParsedModel:
    """Parse ``formula`` on ``data`` into an outcome vector and a model matrix.

    Parameters
    ----------
    data : pandas.DataFrame
        Analysis data (never modified).
    formula : str
        ``"outcome ~ terms"`` in formulaic syntax (``C()``, ``*``, ``:``, ``I()``).
    extra : tuple of str
        Further columns that must exist and be complete (groups, time, weights).
    lhs_override : str, optional
        Parse only the right-hand side and take this left-hand side text as the
        outcome label (used when the left-hand side is ``successes / trials``).

    Returns
    -------
    ParsedModel
    """
    import formulaic

    lhs, rhs = _formula_parts(formula)
    try:
        rhs_formula = formulaic.Formula(rhs)
        rhs_vars = set(rhs_formula.required_variables)
        lhs_vars: set[str] = set()
        if lhs_override is None:
            lhs_vars = set(formulaic.Formula(lhs).required_variables)
    except Exception as exc:  # formulaic raises several parser error types
        raise SpecificationError(f"could not parse `formula` {formula!r}: {exc}") from exc
    unknown = sorted((rhs_vars | lhs_vars) - set(data.columns))
    if unknown:
        check_columns(data, unknown, "formula")
    used = [c for c in data.columns if c in rhs_vars | lhs_vars]
    check_no_missing(data, [*used, *extra])
    if lhs_override is None:
        if lhs in data.columns:
            yser = data[lhs]
            if not (pd.api.types.is_numeric_dtype(yser) or pd.api.types.is_bool_dtype(yser)):
                raise DataError(f"outcome column {lhs!r} must be numeric or bool")
            y = yser.to_numpy(dtype=float)
        else:
            ymat = formulaic.model_matrix(lhs + " ~ 1", data, na_action="raise").lhs
            if ymat.shape[1] != 1:
                raise SpecificationError(
                    f"the left-hand side of `formula` must give one numeric outcome; {lhs!r} "
                    f"gives {ymat.shape[1]} columns"
                )
            y = np.asarray(ymat, dtype=float).reshape(-1)
    else:
        y = np.empty(0)
    mm = formulaic.model_matrix(rhs, data, na_action="raise")
    X = np.asarray(mm, dtype=float)
    names = [str(c) for c in mm.columns]
    if X.shape[1] == 0:
        raise SpecificationError(f"`formula` {formula!r} has no terms on the right-hand side")
    return ParsedModel(
        y=y,
        X=X,
        names=names,
        outcome=lhs if lhs_override is None else lhs_override,
        lhs_variables=tuple(sorted(lhs_vars)),
        variables=tuple(used),
        rhs_spec=mm.model_spec,
    )


def term_names(names: list[str]) -> list[str]:
    """Return the model-matrix column names (formulaic spelling, e.g. ``session:pa``)."""
    return list(names)


def group_codes(data: pd.DataFrame, groups: Any, argument: str = "groups") -> tuple[np.ndarray, Any]:
    """Return integer codes 0..G-1 for the grouping column and the group labels."""
    if not isinstance(groups, str):
        raise SpecificationError(f"`{argument}` must be a column name; got {groups!r}")
    check_columns(data, [groups], argument)
    check_no_missing(data, [groups])
    codes, uniques = pd.factorize(data[groups], sort=True)
    return codes.astype(np.intp), uniques


def resolve_weights(
    data: pd.DataFrame,
    weights: Any,
    weights_by: Any,
    groups: str,
) -> np.ndarray | None:
    """Turn the ``weights`` argument into one non-negative weight per row of ``data``.

    ``weights`` may be a column name of ``data``, a row-aligned array or Series, or
    patient-level weights together with ``weights_by`` (the patient id of each
    weight), which are then mapped onto every session row of that patient.
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
        wv = np.asarray(weights, dtype=float).reshape(-1)
        ids = pd.Series(weights_by).to_numpy() if not isinstance(weights_by, str) else None
        if ids is None:
            raise SpecificationError(
                "`weights_by` must be the patient ids of the weights (an array or Series, e.g. "
                "patients['patient']), not a column name"
            )
        if len(ids) != len(wv):
            raise DataError(
                f"`weights_by` has length {len(ids)} but `weights` has length {len(wv)}"
            )
        if pd.isna(pd.Series(ids)).any():
            raise DataError("`weights_by` has missing ids")
        check_weights(wv, len(wv))
        table = pd.Series(wv, index=pd.Index(ids))
        if not table.index.is_unique:
            dup = table.index[table.index.duplicated()].unique()
            raise DataError(
                f"`weights_by` repeats ids {format_rows(dup)}; give one weight per {groups!r}"
            )
        mapped = table.reindex(data[groups].to_numpy())
        if mapped.isna().any():
            absent = pd.unique(data[groups].to_numpy()[mapped.isna().to_numpy()])
            raise DataError(
                f"no weight for {groups!r} {format_rows(absent)} in `weights_by`; every "
                "group in `data` needs a weight"
            )
        return check_weights(mapped.to_numpy(), n)
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
