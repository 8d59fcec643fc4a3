import numpy as np

from pycnn.reference.act import act_forward


def gemm(a, b, trans_a=False, trans_b=False, bias=None, act=0, act_param=0.0, packed_b=None):
    # packed_b only saves the kernel work; the result is defined by b alone.
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    c = (a.T if trans_a else a) @ (b.T if trans_b else b)
    if bias is not None:
        c = c + np.asarray(bias, np.float64)
    return act_forward(c, act, act_param).astype(np.float32)


def gemm_pack_b(b, trans_b=False):
    """A stand-in the reference gemm ignores: a copy of b as float32."""
    return np.array(b, np.float32)
