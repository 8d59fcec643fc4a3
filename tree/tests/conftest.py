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

