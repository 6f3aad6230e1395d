"""Tests for causalpa._regression: the logistic fitter's argument checks."""

from __future__ import annotations

import numpy as np
import pytest

from causalpa._regression import logistic
from causalpa.errors import SpecificationError


def test_firth_refuses_weights():
    """The Firth fit is unweighted: weights would enter its working form but not its
    estimates, so they are refused rather than half-used."""
    X = np.column_stack([np.ones(6), [1.0, 2, 3, 4, 5, 6]])
    y = np.array([0, 1, 0, 1, 1, 0.0])
    with pytest.raises(SpecificationError, match="`w`.*firth=True"):
        logistic(y, X, np.full(6, 2.0), firth=True)
    unweighted = logistic(y, X, firth=True, maxit=100)
    assert unweighted.converged
    assert np.isfinite(unweighted.coef).all()
