"""Tests for causalpa._numdiff and the mixed-model engine's use of it."""

from __future__ import annotations

import numpy as np

from causalpa._numdiff import central_jacobian


def test_forward_jacobian_is_one_sided_everywhere():
    """forward=True differences every coordinate forwards from f0, one call per coordinate."""
    calls = []

    def f(x):
        calls.append(x.copy())
        return np.array([x[0] ** 2, x[0] * x[1]])

    x = np.array([1.0, 2.0])
    J = central_jacobian(f, x, rel_step=1e-5, floor=0.1, f0=f(x), forward=True)
    h = 1e-5 * np.maximum(np.abs(x), 0.1)
    assert len(calls) == 3  # f0 and one step per coordinate
    np.testing.assert_allclose(calls[1], x + [h[0], 0.0])
    np.testing.assert_allclose(calls[2], x + [0.0, h[1]])
    np.testing.assert_allclose(J, [[2 + h[0], 0.0], [2.0, 1.0]], rtol=1e-9, atol=0)


def test_lmm_theta_ordering_helpers_agree():
    """_diag_index and _lower_params use the cached column-major ordering of _lower."""
    from causalpa.longitudinal._lmm_fit import _diag_index, _lower, _lower_params

    for q in (1, 2, 3, 4):
        par = np.arange(1.0, q * (q + 1) // 2 + 1)
        L = _lower(par, q)
        np.testing.assert_array_equal(_lower_params(L), par)
        assert [par[k] for k in _diag_index(q)] == list(np.diag(L))
        assert _diag_index(q) == [0, q, 2 * q - 1, 3 * q - 3][:q]
