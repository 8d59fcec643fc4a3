"""Shared test fixtures: every kernel test runs once per ISA path this CPU has."""
import numpy as np
import pytest

import pycnn
from pycnn import _C

_ORDER = ["generic", "avx2", "avx512"]
AVAILABLE_ISAS = _ORDER[: _ORDER.index(_C.best_isa()) + 1]


@pytest.fixture(params=AVAILABLE_ISAS)
def isa(request):
    """Force one kernel path for the test, then restore the previous one."""
    before = pycnn.get_isa()
    pycnn.set_isa(request.param)
    yield request.param
    pycnn.set_isa(before)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def numerical_grad(f, x, eps=1e-3):
    """Central differences of scalar f at float64 array x (for checking the
    NumPy reference's own gradients)."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        fp = f(x)
        x[i] = old - eps
        fm = f(x)
        x[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g


def assert_close(actual, expected, rtol=1e-4, atol=1e-5, what=""):
    """Relative agreement scaled by the magnitude of the expected values."""
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    err = float(np.max(np.abs(actual - expected))) if expected.size else 0.0
    assert err <= atol + rtol * scale, f"{what}: max abs error {err:.3g} (scale {scale:.3g})"
