import numpy as np

from pycnn.ops.gemm import gemm
from pycnn.testing import assert_close


def test_gemm_matches_numpy(isa, rng):
    for (m, n, k) in [(1, 1, 1), (37, 29, 53), (64, 64, 64), (3, 130, 7)]:
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        assert_close(gemm(a, b), a.astype(np.float64) @ b, what=f"gemm {m}x{n}x{k} {isa}")
