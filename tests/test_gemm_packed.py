"""Pre-packed B (pycnn.ops.gemm.gemm_pack_b / gemm(..., packed_b=...)) on every
ISA path: same results as the unpacked call and as NumPy, thread-count
independent, and foreign or damaged packed arrays rejected with ValueError."""
import numpy as np
import pytest

import pycnn
from pycnn import _C
from pycnn.ops.gemm import gemm, gemm_pack_b
from pycnn.reference import gemm as ref
from pycnn.testing import assert_close

_ORDER = ["generic", "avx2", "avx512"]
AVAILABLE_ISAS = _ORDER[: _ORDER.index(_C.best_isa()) + 1]

# (m, n, k): m = 1, odd k / n, ragged tiles of every ISA, several K slices,
# n below one panel, a Dense-like tall k.
SHAPES = [
    (1, 1, 1), (1, 300, 17), (1, 10, 1568), (2, 33, 5), (13, 31, 255), (14, 32, 256),
    (15, 65, 1025), (49, 130, 513), (37, 29, 53), (64, 7, 3000), (200, 97, 130),
    (45, 64, 512), (60, 64, 37), (47, 128, 300), (33, 256, 64),
]


def _operands(rng, m, n, k, trans_a, trans_b):
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(np.float32)
    return a, b


@pytest.mark.parametrize("m,n,k", SHAPES)
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, False), (False, True),
                                             (True, True)])
def test_packed_gemm_matches_unpacked_and_numpy(isa, rng, m, n, k, trans_a, trans_b):
    a, b = _operands(rng, m, n, k, trans_a, trans_b)
    packed = gemm_pack_b(b, trans_b)
    assert packed.ndim == 1 and packed.dtype == np.float32
    got = gemm(a, b, trans_a, trans_b, packed_b=packed)
    what = f"packed {m}x{n}x{k} ta={trans_a} tb={trans_b} {isa}"
    assert_close(got, ref.gemm(a, b, trans_a, trans_b), what=what)
    assert_close(got, gemm(a, b, trans_a, trans_b), what=what + " vs unpacked")
    # Packing reads b only: reusing the array gives the same bits.
    assert np.array_equal(got, gemm(a, b, trans_a, trans_b, packed_b=packed))


@pytest.mark.parametrize("act", range(11))
@pytest.mark.parametrize("m,n,k", [(1, 45, 70), (17, 40, 300), (30, 33, 9), (31, 64, 70)])
def test_packed_gemm_bias_and_activation(isa, rng, act, m, n, k):
    a, b = _operands(rng, m, n, k, False, False)
    bias = rng.standard_normal(n).astype(np.float32)
    got = gemm(a, b, bias=bias, act=act, act_param=0.3, packed_b=gemm_pack_b(b))
    want = ref.gemm(a, b, bias=bias, act=act, act_param=0.3)
    assert_close(got, want, what=f"packed act {act} {m}x{n}x{k} {isa}")


def test_packed_gemm_empty_k(isa):
    a, b = np.ones((3, 0), np.float32), np.ones((0, 4), np.float32)
    bias = np.arange(4, dtype=np.float32)
    got = gemm(a, b, bias=bias, act=1, packed_b=gemm_pack_b(b))
    assert_close(got, np.tile(bias, (3, 1)), what=f"packed k=0 {isa}")


# (1, 128, 5000): one row through several K slices of side-by-side panels;
# (15, 32, 3000): at 2 threads the second region is one row, which must keep
# the tile arithmetic a 1-thread run gives that row.
@pytest.mark.parametrize("m,n,k", [(1, 700, 300), (16, 128, 3000), (49, 300, 600),
                                   (200, 70, 90), (1, 128, 5000), (15, 32, 3000),
                                   (45, 64, 512), (30, 256, 300)])
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, True)])
def test_packed_gemm_bit_identical_for_one_and_two_threads(isa, rng, m, n, k, trans_a,
                                                            trans_b):
    a, b = _operands(rng, m, n, k, trans_a, trans_b)
    bias = rng.standard_normal(n).astype(np.float32)
    before = pycnn.get_num_threads()
    try:
        pycnn.set_num_threads(1)
        packed = gemm_pack_b(b, trans_b)
        one = gemm(a, b, trans_a, trans_b, bias=bias, act=6, packed_b=packed)
        pycnn.set_num_threads(2)
        packed2 = gemm_pack_b(b, trans_b)
        two = gemm(a, b, trans_a, trans_b, bias=bias, act=6, packed_b=packed2)
    finally:
        pycnn.set_num_threads(before)
    assert np.array_equal(packed, packed2)
    assert np.array_equal(one, two, equal_nan=True)


def test_packed_gemm_rejects_foreign_arrays(isa, rng):
    a, b = _operands(rng, 5, 40, 30, False, False)
    packed = gemm_pack_b(b)
    bad = {
        "other shape": gemm_pack_b(b[:, :39]),
        "other k": gemm_pack_b(b[:29]),
        "other trans_b": gemm_pack_b(b.T.copy(), trans_b=True),
        "truncated": packed[:-1].copy(),
        "header only": packed[:16].copy(),
        "shorter than a header": packed[:8].copy(),
        "2-D": packed.reshape(1, -1),
        "empty": np.zeros(0, np.float32),
        "garbage": np.ones_like(packed),
    }
    wrong_kind = packed.copy()
    wrong_kind.view(np.uint32)[1] = 2  # PackedKind::conv2d_forward
    bad["other kind"] = wrong_kind
    wrong_layout = packed.copy()
    wrong_layout.view(np.uint32)[3] += 1
    bad["other layout"] = wrong_layout
    for what, arr in bad.items():
        with pytest.raises(ValueError, match="packed"):
            gemm(a, b, packed_b=arr)
            pytest.fail(what)
    # b is still checked against a: a mismatch is the usual error.
    with pytest.raises(ValueError, match="inner dimensions"):
        gemm(a[:, :7], b, packed_b=packed)


@pytest.mark.skipif(len(AVAILABLE_ISAS) < 2, reason="one ISA on this CPU")
def test_packed_gemm_rejects_array_packed_for_another_isa(rng):
    a, b = _operands(rng, 5, 40, 30, False, False)
    before = pycnn.get_isa()
    try:
        pycnn.set_isa(AVAILABLE_ISAS[0])
        packed = gemm_pack_b(b)
        pycnn.set_isa(AVAILABLE_ISAS[-1])
        with pytest.raises(ValueError, match="another ISA"):
            gemm(a, b, packed_b=packed)
        assert_close(gemm(a, b, packed_b=gemm_pack_b(b)), ref.gemm(a, b), what="repacked")
    finally:
        pycnn.set_isa(before)


def test_reference_pack_is_ignored(rng):
    a, b = _operands(rng, 4, 6, 5, False, True)
    packed = ref.gemm_pack_b(b, trans_b=True)
    assert np.array_equal(ref.gemm(a, b, trans_b=True, packed_b=packed),
                          ref.gemm(a, b, trans_b=True))
