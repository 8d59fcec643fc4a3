"""SGEMM (pycnn.ops.gemm.gemm, _C.gemm, _C.gemm_naive) against NumPy float64,
on every ISA path: odd shapes, tile edges, all transposes, fused bias +
activation, and results independent of the thread count."""
import numpy as np
import pytest

import pycnn
from pycnn import _C
from pycnn.ops.gemm import gemm
from pycnn.reference.gemm import gemm as gemm_reference
from pycnn.testing import assert_close

# (m, n, k): unit, odd, tiles of every ISA (14x32, 6x16, 6x8) and one off,
# tall / wide / skinny, k = 1, several K slices, more than one NC block;
# C at most 64 wide reads A in place unless A's rows are 512 floats apart;
# 64 or 128 wide (or k <= 64) runs 7 x 64 tiles on AVX-512 (A in place at any
# row distance), a last group of <= 3 rows past a multiple of 14 the 14 x 32 tile.
SHAPES = [
    (1, 1, 1), (37, 29, 53), (14, 32, 256), (13, 31, 255), (15, 33, 257),
    (6, 16, 7), (7, 17, 5), (5, 9, 3), (1, 300, 17), (300, 1, 17),
    (1000, 3, 20), (2, 1000, 3), (50, 70, 1), (20, 30, 1500), (130, 97, 700),
    (3, 4200, 5), (270, 70, 300), (100, 64, 300), (45, 64, 512), (29, 48, 2048),
    (60, 64, 37), (31, 64, 512), (6, 64, 9), (47, 128, 300), (33, 256, 64), (20, 192, 100),
]
TRANSPOSES = [(False, False), (True, False), (False, True), (True, True)]
ACT_CODES = range(11)  # 10: softmax over rows, after the GEMM in the same call


def _operands(rng, m, n, k, trans_a, trans_b):
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(np.float32)
    return a, b


def _expected(a, b, trans_a, trans_b):
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return (a64.T if trans_a else a64) @ (b64.T if trans_b else b64)


@pytest.mark.parametrize("m,n,k", SHAPES)
@pytest.mark.parametrize("trans_a,trans_b", TRANSPOSES)
def test_gemm_matches_numpy(isa, rng, m, n, k, trans_a, trans_b):
    a, b = _operands(rng, m, n, k, trans_a, trans_b)
    want = _expected(a, b, trans_a, trans_b)
    what = f"{m}x{n}x{k} ta={trans_a} tb={trans_b} {isa}"
    assert_close(gemm(a, b, trans_a, trans_b), want, what="gemm " + what)
    assert_close(_C.gemm(a, b, trans_a, trans_b), want, what="_C.gemm " + what)


@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (37, 29, 53), (15, 33, 257)])
@pytest.mark.parametrize("trans_a,trans_b", TRANSPOSES)
def test_gemm_naive_matches_numpy(isa, rng, m, n, k, trans_a, trans_b):
    a, b = _operands(rng, m, n, k, trans_a, trans_b)
    assert_close(_C.gemm_naive(a, b, trans_a, trans_b), _expected(a, b, trans_a, trans_b),
                 what=f"gemm_naive {m}x{n}x{k} {isa}")


@pytest.mark.parametrize("act", ACT_CODES)
@pytest.mark.parametrize("m,n,k", [(37, 29, 53), (28, 64, 300), (5, 3, 1), (1, 70, 20)])
def test_gemm_fused_bias_and_activation(isa, rng, act, m, n, k):
    a, b = _operands(rng, m, n, k, False, True)
    a *= 0.3  # keep outputs in the range where activations are not saturated
    bias = rng.standard_normal(n).astype(np.float32)
    slope = 0.2 if act == 8 else 0.0
    want = gemm_reference(a, b, trans_b=True, bias=bias, act=act, act_param=slope)
    what = f"act {act} {m}x{n}x{k} {isa}"
    assert_close(gemm(a, b, trans_b=True, bias=bias, act=act, act_param=slope), want,
                 what="gemm " + what)
    assert_close(_C.gemm_naive(a, b, False, True, bias, act, slope), want,
                 what="gemm_naive " + what)


@pytest.mark.parametrize("act", [0, 1, 2])
def test_gemm_activation_without_bias(isa, rng, act):
    a, b = _operands(rng, 20, 40, 10, False, False)
    assert_close(gemm(a, b, act=act), gemm_reference(a, b, act=act), what=f"act {act} {isa}")


def test_gemm_empty_k_gives_activated_bias(isa, rng):
    a = np.zeros((4, 0), np.float32)
    b = np.zeros((0, 5), np.float32)
    bias = rng.standard_normal(5).astype(np.float32)
    assert_close(gemm(a, b, bias=bias, act=1), np.tile(np.maximum(bias, 0), (4, 1)),
                 what=f"k=0 {isa}")
    assert_close(gemm(a, b), np.zeros((4, 5)), what=f"k=0 no bias {isa}")


def test_gemm_relu_of_nan_and_signed_zero_match_scalar_rule(isa):
    # relu(x) = x <= 0 ? 0 : x in every path (SIMD registers and scalar tiles):
    # NaN stays NaN as in Keras/JAX (maximum(x, 0)), -0 becomes +0.
    a = np.array([[np.nan], [-0.0], [2.0]], np.float32)
    b = np.ones((1, 40), np.float32)
    out = gemm(a, b, act=1)
    assert np.all(np.isnan(out[0])) and np.all(out[2] == 2)
    assert not np.any(np.signbit(out[1]))


@pytest.mark.parametrize("act", [0, 1, 6])
@pytest.mark.parametrize("with_bias", [False, True])
def test_gemm_store_bits_do_not_depend_on_row_alignment(isa, rng, act, with_bias):
    # C 1008 wide has rows 64 B apart (the AVX-512 tiles store through the
    # common-rule path), 1000 wide not (store_transform): the first 992
    # columns come from the same tiles and must match bit for bit.
    a = rng.standard_normal((45, 64)).astype(np.float32)
    b = rng.standard_normal((64, 1008)).astype(np.float32)
    bias = rng.standard_normal(1008).astype(np.float32) if with_bias else None
    wide = _C.gemm(a, b, bias=bias, act=act)
    narrow = _C.gemm(a, np.ascontiguousarray(b[:, :1000]),
                     bias=None if bias is None else bias[:1000].copy(), act=act)
    assert np.array_equal(wide[:, :992], narrow[:, :992], equal_nan=True)
    assert np.array_equal(np.signbit(wide[:, :992]), np.signbit(narrow[:, :992]))


@pytest.mark.parametrize("m,n,k", [(300, 200, 700), (33, 500, 300), (1000, 40, 100),
                                   (14, 4200, 40), (2, 2, 200000), (1, 5000, 300),
                                   (700, 64, 96), (45, 64, 512), (59, 64, 130),
                                   (45, 128, 512), (59, 256, 40), (30, 256, 300)])
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, True)])
def test_gemm_bit_identical_for_one_and_two_threads(isa, rng, m, n, k, trans_a, trans_b):
    a, b = _operands(rng, m, n, k, trans_a, trans_b)
    bias = rng.standard_normal(n).astype(np.float32)
    before = pycnn.get_num_threads()
    try:
        pycnn.set_num_threads(1)
        one = gemm(a, b, trans_a, trans_b, bias=bias, act=6)
        pycnn.set_num_threads(2)
        two = gemm(a, b, trans_a, trans_b, bias=bias, act=6)
    finally:
        pycnn.set_num_threads(before)
    assert np.array_equal(one, two, equal_nan=True)


def test_gemm_from_several_python_threads(rng):
    from concurrent.futures import ThreadPoolExecutor

    pairs = [_operands(rng, 64 + 7 * i, 50 + 3 * i, 90, False, False) for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda ab: gemm(*ab), pairs * 3))
    for (a, b), got in zip(pairs * 3, results):
        assert_close(got, _expected(a, b, False, False), what="threaded gemm")


def test_gemm_rejects_bad_shapes():
    with pytest.raises(ValueError, match="inner dimensions"):
        gemm(np.ones((2, 3)), np.ones((4, 5)))
    with pytest.raises(ValueError, match="bias"):
        gemm(np.ones((2, 3)), np.ones((3, 5)), bias=np.ones(4))
