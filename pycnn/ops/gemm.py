"""GEMM with fused bias + activation epilogue."""
from pycnn import _C
from pycnn.ops._convert import f32


def gemm(a, b, trans_a=False, trans_b=False, bias=None, act=0, act_param=0.0, packed_b=None):
    """op(a) @ op(b) (+ bias, then activation code ``act``).

    ``packed_b``: ``gemm_pack_b(b, trans_b)`` made for this ``b`` on the
    active ISA (ValueError otherwise); ``b`` is still passed and checked."""
    return _C.gemm(f32(a), f32(b), bool(trans_a), bool(trans_b),
                   None if bias is None else f32(bias), int(act), float(act_param),
                   None if packed_b is None else f32(packed_b))


def gemm_pack_b(b, trans_b=False):
    """op(b) packed once for ``gemm(..., packed_b=...)``: an opaque 1-D float32
    array, valid for this ISA and these shapes (repack after ``set_isa`` or
    when ``b`` changes)."""
    return _C.gemm_pack_b(f32(b), bool(trans_b))
