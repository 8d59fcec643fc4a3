"""Pre-packed conv2d forward weights: same results as unpacked and as the
reference on every ISA; stale or foreign packed arrays are a ValueError."""
import numpy as np
import pytest

import pycnn
from pycnn import _C
from pycnn.ops import conv as ops
from pycnn.ops.conv import padding_amounts
from pycnn.reference import conv as ref
from pycnn.testing import assert_close

# (N, H, W, Cin), (KH, KW, Cout), strides, dilation, padding. A 3x3 kernel with
# Cin > 142 (> 284 for Cout <= 16) splits K into several cin slices on AVX-512; Cout 40 / 70 leave
# partial 32-channel blocks; big images take several row chunks.
CASES = [
    ((2, 9, 8, 3), (3, 3, 5), (1, 1), (1, 1), "same"),
    ((1, 7, 7, 150), (3, 3, 40), (1, 1), (1, 1), "same"),
    ((2, 6, 5, 100), (3, 3, 70), (1, 1), (1, 1), "same"),
    ((1, 9, 9, 110), (5, 5, 12), (2, 2), (1, 1), "same"),
    ((3, 10, 11, 37), (3, 2, 33), (2, 1), (1, 1), "valid"),
    ((2, 11, 9, 45), (3, 3, 20), (1, 1), (2, 3), "same"),
    ((1, 5, 5, 3), (5, 5, 2), (1, 1), (1, 1), "valid"),
    ((2, 6, 5, 7), (1, 1, 4), (1, 1), (1, 1), "valid"),      # pointwise: GEMM, packing unused
    ((2, 6, 5, 50), (1, 1, 36), (2, 2), (1, 1), "same"),     # 1x1 strided: direct
    ((1, 40, 30, 96), (3, 3, 48), (1, 1), (1, 1), "same"),   # several row chunks
    ((6, 4, 4, 40), (3, 3, 16), (1, 1), (1, 1), "valid"),    # several samples per chunk
    ((3, 5, 5, 160), (3, 3, 40), (1, 1), (1, 1), "same"),     # row pairs across samples, odd
    ((1, 7, 7, 150), (3, 3, 36), (1, 1), (2, 2), "same"),     # row pairs, dilation
    # 32 / 64 input channels, stride 1: tiles with a compile-time pixel step
    ((2, 7, 27, 32), (3, 3, 40), (1, 1), (1, 1), "same"),
    ((1, 6, 13, 64), (3, 3, 64), (1, 1), (1, 1), "valid"),
    ((1, 5, 9, 32), (2, 3, 33), (1, 1), (1, 1), "valid"),
    # one input, 8 output channels: pixel pairs share a vector; odd and even
    # tile widths, 28-pixel tiles, a stride along y
    ((2, 9, 13, 1), (5, 5, 8), (1, 1), (1, 1), "same"),
    ((1, 7, 30, 1), (3, 3, 8), (1, 1), (1, 1), "valid"),
    ((3, 6, 31, 1), (3, 2, 8), (2, 1), (1, 1), "same"),
    # at most 4 inputs, a multiple of 64 outputs: 64-channel blocks
    ((2, 7, 15, 3), (3, 3, 64), (1, 1), (1, 1), "same"),
    ((1, 6, 9, 2), (3, 3, 128), (2, 1), (1, 1), "valid"),
    ((1, 5, 61, 1), (1, 4, 8), (1, 1), (1, 1), "valid"),
]


def _pads(x_shape, k, strides, dilation, padding):
    return padding_amounts(padding, x_shape[1], k[0], strides[0], dilation[0]) + \
        padding_amounts(padding, x_shape[2], k[1], strides[1], dilation[1])


def _case(rng, x_shape, k):
    x = rng.standard_normal(x_shape).astype(np.float32)
    kernel = (rng.standard_normal(k[:2] + (x_shape[3], k[2])) / np.sqrt(x_shape[3])).astype(
        np.float32)
    bias = rng.standard_normal(k[2]).astype(np.float32)
    return x, kernel, bias


@pytest.mark.parametrize("x_shape,k,strides,dilation,padding", CASES)
@pytest.mark.parametrize("act", [0, 1, 6])
def test_packed_matches_unpacked_and_reference(isa, rng, x_shape, k, strides, dilation,
                                               padding, act):
    x, kernel, bias = _case(rng, x_shape, k)
    pads = _pads(x_shape, k, strides, dilation, padding)
    packed = ops.conv2d_pack_weights(kernel)
    assert packed.ndim == 1 and packed.dtype == np.float32
    for b in (bias, None):
        y = ops.conv2d_forward(x, kernel, b, strides, dilation, pads, act, packed=packed)
        y0 = ops.conv2d_forward(x, kernel, b, strides, dilation, pads, act)
        np.testing.assert_array_equal(y, y0)
        want = ref.conv2d_forward(x, kernel, b, strides, dilation, pads, act,
                                  packed=ref.conv2d_pack_weights(kernel))
        assert_close(y, want, what=f"packed conv2d forward {isa}")


@pytest.mark.parametrize("x_shape,k", [((1, 7, 7, 160), (3, 3, 96)), ((1, 14, 14, 40), (3, 3, 64)),
                                       ((3, 5, 5, 160), (3, 3, 40)),
                                       ((3, 20, 20, 48), (3, 3, 40))])
def test_packed_same_results_with_one_and_two_threads(rng, x_shape, k):
    x, kernel, bias = _case(rng, x_shape, k)
    pads = _pads(x_shape, k, (1, 1), (1, 1), "same")
    packed = ops.conv2d_pack_weights(kernel)
    before = pycnn.get_num_threads()
    try:
        results = []
        for n in (1, 2):
            pycnn.set_num_threads(n)
            results.append(ops.conv2d_forward(x, kernel, bias, pads=pads, act=1, packed=packed))
            results.append(ops.conv2d_forward(x, kernel, bias, pads=pads, act=7))
    finally:
        pycnn.set_num_threads(before)
    np.testing.assert_array_equal(results[0], results[2])
    np.testing.assert_array_equal(results[1], results[3])


def _forward(x, kernel, packed):
    return ops.conv2d_forward(x, kernel, None, (1, 1), (1, 1), (1, 1, 1, 1), packed=packed)


def test_stale_or_foreign_packed_weights_raise(isa, rng):
    x, kernel, _ = _case(rng, (1, 6, 6, 40), (3, 3, 20))
    packed = ops.conv2d_pack_weights(kernel)
    _forward(x, kernel, packed)
    # Another kernel shape (same element count, too).
    other = ops.conv2d_pack_weights(kernel.reshape(3, 3, 20, 40))
    with pytest.raises(ValueError, match="other shapes"):
        _forward(x, kernel, other)
    other = ops.conv2d_pack_weights(kernel[:, :, :, :19])
    with pytest.raises(ValueError, match="other shapes"):
        _forward(x, kernel, other)
    # Truncated, empty, 2-D, not a packed array at all.
    if packed.size > 16:
        with pytest.raises(ValueError, match="truncated"):
            _forward(x, kernel, packed[:-1].copy())
    for bad in (packed[:8].copy(), np.zeros(0, np.float32), packed.reshape(1, -1),
                np.zeros(packed.size, np.float32), kernel.ravel().copy()):
        with pytest.raises(ValueError):
            _forward(x, kernel, bad)
    # Wrong kind: a header whose kind field says something else.
    wrong = packed.copy()
    wrong.view(np.uint32)[1] = 1
    with pytest.raises(ValueError, match="matching pack function"):
        _forward(x, kernel, wrong)
    # Made for another ISA.
    for other_isa in ("generic", "avx2", "avx512"):
        if other_isa == isa or other_isa not in _available():
            continue
        pycnn.set_isa(other_isa)
        try:
            foreign = ops.conv2d_pack_weights(kernel)
        finally:
            pycnn.set_isa(isa)
        with pytest.raises(ValueError, match="another ISA"):
            _forward(x, kernel, foreign)


def _available():
    order = ["generic", "avx2", "avx512"]
    return order[: order.index(_C.best_isa()) + 1]


def test_pack_rejects_bad_kernels():
    with pytest.raises(ValueError):
        ops.conv2d_pack_weights(np.zeros((3, 3, 4), np.float32))
    with pytest.raises(ValueError):
        ops.conv2d_pack_weights(np.zeros((3, 0, 4, 2), np.float32))
    with pytest.raises(ValueError):
        ref.conv2d_pack_weights(np.zeros((3, 3, 4), np.float32))
    with pytest.raises(ValueError):
        ref.conv2d_forward(np.zeros((1, 3, 3, 4), np.float32), np.zeros((3, 3, 4, 2), np.float32),
                           packed=np.zeros(5, np.float32))


@pytest.mark.parametrize("x_shape,k,strides,dilation,padding", CASES)
@pytest.mark.parametrize("act", [0, 1])
def test_residual_is_added_before_the_activation_in_place(isa, rng, x_shape, k, strides,
                                                          dilation, padding, act):
    x, kernel, bias = _case(rng, x_shape, k)
    pads = _pads(x_shape, k, strides, dilation, padding)
    shape = ops.conv2d_forward(x, kernel, bias, strides, dilation, pads).shape
    residual = rng.standard_normal(shape).astype(np.float32)
    want = ref.conv2d_forward(x, kernel, bias, strides, dilation, pads, act, residual=residual)
    for packed in (None, ops.conv2d_pack_weights(kernel)):
        buf = residual.copy()
        y = ops.conv2d_forward(x, kernel, bias, strides, dilation, pads, act, packed=packed,
                               residual=buf)
        assert y is buf or np.shares_memory(y, buf)
        assert_close(y, want, what=f"conv2d forward + residual {isa}")


@pytest.mark.parametrize("act", [0, 1])
def test_pointwise_residual_bits_do_not_depend_on_row_alignment(isa, rng, act):
    # A 1x1 conv to 48 channels stores rows 64 B apart, to 40 channels not:
    # their first 32 channels (the same GEMM tiles, residual added in place)
    # must match bit for bit whichever store path each takes.
    x = rng.standard_normal((1, 9, 9, 64)).astype(np.float32)
    kernel = rng.standard_normal((1, 1, 64, 48)).astype(np.float32)
    bias = rng.standard_normal(48).astype(np.float32)
    residual = rng.standard_normal((1, 9, 9, 48)).astype(np.float32)
    outs = []
    for cout in (48, 40):
        k = np.ascontiguousarray(kernel[..., :cout])
        y = ops.conv2d_forward(x, k, bias[:cout].copy(), (1, 1), (1, 1), (0, 0, 0, 0), act,
                               packed=ops.conv2d_pack_weights(k),
                               residual=residual[..., :cout].copy())
        outs.append(y[..., :32])
    assert np.array_equal(outs[0], outs[1])


def test_residual_errors(rng):
    x, kernel, bias = _case(rng, (1, 6, 6, 4), (3, 3, 8))
    pads = (1, 1, 1, 1)
    with pytest.raises(ValueError, match="residual"):
        _C.conv2d_forward(x, kernel, bias, (1, 1), (1, 1), pads, 0, 0.0, None,
                          np.zeros((1, 6, 5, 8), np.float32))
    with pytest.raises(TypeError, match="residual"):
        _C.conv2d_forward(x, kernel, bias, (1, 1), (1, 1), pads, 0, 0.0, None,
                          np.zeros((1, 6, 6, 8), np.float64))
    read_only = np.zeros((1, 6, 6, 8), np.float32)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _C.conv2d_forward(x, kernel, bias, (1, 1), (1, 1), pads, 0, 0.0, None, read_only)
    # a 1x1 conv whose residual is x itself: refused, not computed on its own output
    x1 = rng.standard_normal((1, 4, 4, 8)).astype(np.float32)
    k1 = rng.standard_normal((1, 1, 8, 8)).astype(np.float32)
    with pytest.raises(ValueError, match="shares memory"):
        _C.conv2d_forward(x1, k1, None, (1, 1), (1, 1), (0, 0, 0, 0), 0, 0.0, None, x1)


@pytest.mark.parametrize("strides,pads", [((1, 1), (1, 0, 2, 1)), ((2, 3), (0, 0, 0, 0)),
                                          ((2, 2), (1, 1, 1, 1))])
def test_one_by_one_kernels_pack_for_the_gemm_and_padded_ones_still_work(isa, rng, strides,
                                                                        pads):
    """1x1 kernels are packed in the GEMM's layout; a padded 1x1 conv (not a
    GEMM) must then ignore that packing and still be right."""
    x, kernel, bias = _case(rng, (2, 7, 9, 20), (1, 1, 24))
    packed = ops.conv2d_pack_weights(kernel)
    want = ref.conv2d_forward(x, kernel, bias, strides, (1, 1), pads, 1)
    for p in (packed, None):
        assert_close(ops.conv2d_forward(x, kernel, bias, strides, (1, 1), pads, 1, packed=p),
                     want, what=f"1x1 conv strides {strides} pads {pads} {isa}")
