"""GEMM with fused bias + activation epilogue."""
from pycnn import _C
from pycnn.ops._convert import f32


def gemm(a, b, trans_a=False, trans_b=False, bias=None, act=0, act_param=0.0):
    """op(a) @ op(b) (+ bias, then activation code ``act``)."""
    return _C.gemm(f32(a), f32(b), bool(trans_a), bool(trans_b),
                   None if bias is None else f32(bias), int(act), float(act_param))
