"""Random operands of the kernel workloads, in pycnn's layouts (NHWC, NLC,
Keras kernel shapes); peers transpose what they need. Same seed everywhere."""
import numpy as np

from bench.workloads import CONV, CONV1D, GEMM_N, RNN


def _rng():
    return np.random.default_rng(0)


def conv():
    c, r = CONV, _rng()
    x = r.standard_normal((c["batch"], c["size"], c["size"], c["cin"]), dtype=np.float32)
    w = r.standard_normal((c["k"], c["k"], c["cin"], c["cout"]), dtype=np.float32) * 0.05
    b = np.zeros(c["cout"], np.float32)
    dz = r.standard_normal((c["batch"], c["size"], c["size"], c["cout"]), dtype=np.float32)
    return x, w, b, dz


def gemm():
    r = _rng()
    return (r.standard_normal((GEMM_N, GEMM_N), dtype=np.float32),
            r.standard_normal((GEMM_N, GEMM_N), dtype=np.float32))


def rnn(gates):
    """x (B,T,I), kernel (I,gU), recurrent (U,gU), dh (B,T,U)."""
    p, r = RNN, _rng()
    x = r.standard_normal((p["batch"], p["steps"], p["inputs"]), dtype=np.float32)
    k = r.standard_normal((p["inputs"], gates * p["units"]), dtype=np.float32) * 0.05
    rk = r.standard_normal((p["units"], gates * p["units"]), dtype=np.float32) * 0.05
    dh = r.standard_normal((p["batch"], p["steps"], p["units"]), dtype=np.float32)
    return x, k, rk, dh


def conv1d():
    c, r = CONV1D, _rng()
    x = r.standard_normal((c["batch"], c["length"], c["cin"]), dtype=np.float32)
    w = r.standard_normal((c["k"], c["cin"], c["cout"]), dtype=np.float32) * 0.05
    b = np.zeros(c["cout"], np.float32)
    dz = r.standard_normal((c["batch"], c["length"], c["cout"]), dtype=np.float32)
    return x, w, b, dz
