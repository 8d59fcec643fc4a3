"""Pooling kernels vs the NumPy reference (every ISA, forward and backward),
the reference vs finite differences, thread-count independence, TensorFlow
'same' semantics, and the pooling layers."""
import numpy as np
import pytest

import pycnn
from pycnn import _C
from pycnn.ops import pool as ops
from pycnn.ops.conv import padding_amounts
from pycnn.reference import pool as ref
from pycnn.testing import assert_close, numerical_grad

# (N, H, W, C), pool, strides, padding
CASES = [
    ((2, 8, 8, 3), (2, 2), (2, 2), "valid"),
    ((1, 7, 9, 1), (2, 2), (2, 2), "same"),
    ((3, 9, 7, 5), (3, 3), (2, 2), "same"),
    ((2, 10, 10, 4), (3, 3), (1, 1), "same"),
    ((2, 9, 9, 2), (2, 2), (3, 3), "valid"),      # stride > pool
    ((2, 5, 6, 3), (1, 1), (2, 1), "valid"),      # 1x1 pool
    ((1, 11, 6, 17), (4, 3), (3, 2), "same"),     # odd channel count
    ((2, 6, 6, 3), (6, 6), (1, 1), "valid"),      # global
    ((2, 7, 9, 8), (2, 2), (2, 2), "valid"),      # 8 channels: a 2-wide window is one vector
    ((1, 5, 7, 8), (2, 2), (2, 2), "same"),       # ... and a clipped window at the edge
    ((2, 6, 6, 16), (2, 2), (2, 2), "valid"),
    ((3, 6, 12, 8), (2, 2), (2, 2), "valid"),     # 8 channels: two windows per vector
    ((1, 4, 10, 8), (2, 2), (2, 2), "valid"),     # ... and an odd last window
    ((2, 9, 11, 8), (3, 2), (2, 2), "same"),      # ... 3 window rows, padding on top
    ((2, 9, 11, 32), (2, 2), (2, 2), "same"),     # 16k channels: windows inside a row
    ((1, 6, 8, 48), (3, 2), (2, 2), "same"),      # ... without bounds checks
    ((2, 9, 11, 64), (3, 3), (2, 2), "same"),     # 3x3 windows inside the row, 4 vectors side
    ((1, 8, 9, 32), (3, 3), (1, 1), "same"),      # ... by side (ResNet's stem pool), 2 vectors,
    ((2, 7, 10, 48), (3, 3), (2, 2), "valid"),    # ... 1 vector (48 channels)
    ((1, 6, 7, 128), (2, 2), (1, 1), "valid"),    # 2-wide windows at stride 1
]


@pytest.mark.parametrize("x_shape,pool,strides,padding", [
    c for c in CASES if c[0][3] == 8 or c[0][3] % 16 == 0] + [((2, 8, 8, 3), (2, 2), (2, 2), "valid")])
def test_max_pool_ties_and_nan_match_reference(isa, rng, x_shape, pool, strides, padding):
    # Ties keep the first value in window order; a NaN wins its window (and
    # the first NaN is the argmax), as the reference and Keras do.
    x = rng.integers(-2, 3, x_shape).astype(np.float32)
    x.reshape(-1)[rng.choice(x.size, x.size // 7, replace=False)] = np.nan
    pads = _pads(x_shape, pool, strides, padding)
    y_ref, argmax_ref = ref.max_pool2d_forward(x, pool, strides, pads)
    y, argmax = ops.max_pool2d_forward(x, pool, strides, pads)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(argmax, argmax_ref)
    y_only, _ = ops.max_pool2d_forward(x, pool, strides, pads, with_argmax=False)
    np.testing.assert_array_equal(y_only, y_ref)


def _pads(x_shape, pool, strides, padding):
    return padding_amounts(padding, x_shape[1], pool[0], strides[0]) + \
        padding_amounts(padding, x_shape[2], pool[1], strides[1])


@pytest.mark.parametrize("x_shape,pool,strides,padding", CASES)
def test_max_pool_matches_reference(isa, rng, x_shape, pool, strides, padding):
    x = rng.standard_normal(x_shape).astype(np.float32)
    pads = _pads(x_shape, pool, strides, padding)
    y, argmax = ops.max_pool2d_forward(x, pool, strides, pads)
    y_ref, argmax_ref = ref.max_pool2d_forward(x, pool, strides, pads)
    assert_close(y, y_ref, what=f"max pool {isa}")
    np.testing.assert_array_equal(argmax, argmax_ref)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    assert_close(ops.max_pool2d_backward(dy, argmax, x_shape),
                 ref.max_pool2d_backward(dy, argmax_ref, x_shape), what=f"max pool dx {isa}")


@pytest.mark.parametrize("x_shape,pool,strides,padding", CASES)
def test_max_pool_backward_gather_matches_scatter(isa, rng, x_shape, pool, strides, padding):
    # With the window geometry the kernel gathers per row of dx; it must give
    # the scatter's result bit for bit (same order of the sums), also with ties.
    x = rng.integers(-2, 3, x_shape).astype(np.float32)
    pads = _pads(x_shape, pool, strides, padding)
    y, argmax = ops.max_pool2d_forward(x, pool, strides, pads)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    scatter = ops.max_pool2d_backward(dy, argmax, x_shape)
    gather = ops.max_pool2d_backward(dy, argmax, x_shape, pool, strides, pads)
    np.testing.assert_array_equal(gather, scatter)
    assert_close(gather, ref.max_pool2d_backward(dy, argmax, x_shape), what=f"gather {isa}")


@pytest.mark.parametrize("x_shape,pool,strides,padding", CASES)
def test_avg_pool_matches_reference(isa, rng, x_shape, pool, strides, padding):
    x = rng.standard_normal(x_shape).astype(np.float32)
    pads = _pads(x_shape, pool, strides, padding)
    y = ops.avg_pool2d_forward(x, pool, strides, pads)
    assert_close(y, ref.avg_pool2d_forward(x, pool, strides, pads), what=f"avg pool {isa}")
    dy = rng.standard_normal(y.shape).astype(np.float32)
    assert_close(ops.avg_pool2d_backward(dy, x_shape, pool, strides, pads),
                 ref.avg_pool2d_backward(dy, x_shape, pool, strides, pads),
                 what=f"avg pool dx {isa}")


@pytest.mark.parametrize("x_shape,pool,strides", [((1, 7, 9, 64), (3, 3), (2, 2)),
                                                   ((2, 6, 6, 32), (2, 2), (2, 2)),
                                                   ((1, 5, 8, 16), (3, 3), (1, 1))])
def test_max_pool_signed_zero_ties_keep_the_first(isa, rng, x_shape, pool, strides):
    # -0 and +0 compare equal: the window's first zero (in window order) is the
    # value and the argmax, on every ISA and window path.
    x = np.where(rng.random(x_shape) < 0.5, -0.0, 0.0).astype(np.float32)
    pads = _pads(x_shape, pool, strides, "same")
    y_ref, argmax_ref = ref.max_pool2d_forward(x, pool, strides, pads)
    for with_argmax in (True, False):
        y, argmax = ops.max_pool2d_forward(x, pool, strides, pads, with_argmax=with_argmax)
        np.testing.assert_array_equal(np.signbit(y), np.signbit(y_ref))
        if with_argmax:
            np.testing.assert_array_equal(argmax, argmax_ref)


def test_avg_same_counts_only_in_bounds_values():
    # TensorFlow: a 2x2 window hanging over the bottom-right edge averages
    # the values it covers, not the padding zeros.
    x = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
    y = ops.avg_pool2d_forward(x, (2, 2), (2, 2), _pads(x.shape, (2, 2), (2, 2), "same"))
    np.testing.assert_allclose(y[0, :, :, 0], [[2.0, 3.5], [6.5, 8.0]])


def test_max_same_ignores_padding_and_ties_go_first():
    x = -np.ones((1, 3, 3, 2), np.float32)  # all equal and below the zero padding
    y, argmax = ops.max_pool2d_forward(x, (2, 2), (2, 2), (0, 1, 0, 1))
    np.testing.assert_array_equal(y, -np.ones((1, 2, 2, 2)))
    np.testing.assert_array_equal(argmax[0, :, :, 0], [[0, 2], [6, 8]])
    dx = ops.max_pool2d_backward(np.ones_like(y), argmax, x.shape)
    np.testing.assert_array_equal(dx[0, :, :, 0], [[1, 0, 1], [0, 0, 0], [1, 0, 1]])


def test_overlapping_windows_accumulate():
    x = np.zeros((1, 3, 3, 1), np.float32)
    x[0, 1, 1, 0] = 5.0  # the max of all four overlapping 2x2 windows
    y, argmax = ops.max_pool2d_forward(x, (2, 2), (1, 1))
    dx = ops.max_pool2d_backward(np.ones_like(y), argmax, x.shape)
    assert dx[0, 1, 1, 0] == 4.0 and dx.sum() == 4.0


def test_one_and_two_threads_agree(rng):
    x = rng.standard_normal((6, 40, 36, 16)).astype(np.float32)
    pads = _pads(x.shape, (3, 3), (2, 2), "same")
    before = pycnn.get_num_threads()
    try:
        runs = []
        for n in (1, 2):
            pycnn.set_num_threads(n)
            y, am = ops.max_pool2d_forward(x, (3, 3), (2, 2), pads)
            a = ops.avg_pool2d_forward(x, (3, 3), (2, 2), pads)
            runs.append((y, am, ops.max_pool2d_backward(y, am, x.shape),
                         a, ops.avg_pool2d_backward(a, x.shape, (3, 3), (2, 2), pads)))
    finally:
        pycnn.set_num_threads(before)
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("pool,stride,padding", [(2, 2, "valid"), (3, 2, "same"), (2, 3, "same")])
def test_1d_pooling(isa, rng, pool, stride, padding):
    x = rng.standard_normal((3, 11, 4)).astype(np.float32)
    pads = padding_amounts(padding, 11, pool, stride)
    y, am = ops.max_pool1d_forward(x, pool, stride, pads)
    y_ref, am_ref = ref.max_pool1d_forward(x, pool, stride, pads)
    assert_close(y, y_ref, what="max1d")
    np.testing.assert_array_equal(am, am_ref)
    assert_close(ops.max_pool1d_backward(y, am, x.shape),
                 ref.max_pool1d_backward(y, am_ref, x.shape), what="max1d dx")
    a = ops.avg_pool1d_forward(x, pool, stride, pads)
    assert_close(a, ref.avg_pool1d_forward(x, pool, stride, pads), what="avg1d")
    assert_close(ops.avg_pool1d_backward(a, x.shape, pool, stride, pads),
                 ref.avg_pool1d_backward(a, x.shape, pool, stride, pads), what="avg1d dx")


def test_global_pooling(isa, rng):
    x2 = rng.standard_normal((3, 5, 7, 4)).astype(np.float32)
    x1 = rng.standard_normal((3, 9, 4)).astype(np.float32)
    dy = rng.standard_normal((3, 4)).astype(np.float32)
    for x, kind in ((x2, "2d"), (x1, "1d")):
        o, r = (getattr(m, f"global_max_pool{kind}_forward") for m in (ops, ref))
        (y, am), (y_ref, am_ref) = o(x), r(x)
        assert_close(y, y_ref, what=f"gmax{kind}")
        np.testing.assert_array_equal(am, am_ref)
        o, r = (getattr(m, f"global_max_pool{kind}_backward") for m in (ops, ref))
        assert_close(o(dy, am, x.shape), r(dy, am_ref, x.shape), what=f"gmax{kind} dx")
        o, r = (getattr(m, f"global_avg_pool{kind}_forward") for m in (ops, ref))
        assert_close(o(x), r(x), what=f"gavg{kind}")
        o, r = (getattr(m, f"global_avg_pool{kind}_backward") for m in (ops, ref))
        assert_close(o(dy, x.shape), r(dy, x.shape), what=f"gavg{kind} dx")


@pytest.mark.parametrize("pool,strides,pads", [((2, 2), (2, 2), (0, 1, 0, 1)),
                                               ((3, 2), (1, 2), (1, 1, 0, 1))])
def test_reference_gradients_match_finite_differences(rng, pool, strides, pads):
    x = rng.standard_normal((2, 4, 5, 2))
    x_shape = x.shape
    y, argmax = ref.max_pool2d_forward(x, pool, strides, pads)
    w = rng.standard_normal(y.shape)
    num = numerical_grad(lambda v: float(np.sum(w * ref.max_pool2d_forward(v, pool, strides, pads)[0])), x)
    assert_close(ref.max_pool2d_backward(w, argmax, x_shape), num, rtol=1e-3, what="max")
    num = numerical_grad(lambda v: float(np.sum(w * ref.avg_pool2d_forward(v, pool, strides, pads))), x)
    assert_close(ref.avg_pool2d_backward(w, x_shape, pool, strides, pads), num, rtol=1e-3,
                 what="avg")


@pytest.mark.parametrize("call", [
    lambda x: ops.max_pool2d_forward(x[0], (2, 2), (2, 2)),
    lambda x: ops.max_pool2d_forward(x, (0, 2), (2, 2)),
    lambda x: ops.avg_pool2d_forward(x, (2, 2), (0, 2)),
    lambda x: ops.avg_pool2d_forward(x, (9, 9), (1, 1)),
    lambda x: ops.avg_pool2d_forward(x, (2, 2), (1, 1), (2, 0, 0, 0)),   # pad >= pool
    lambda x: ops.max_pool2d_backward(np.zeros((2, 2, 2, 3)), np.full((2, 2, 2, 3), 99),
                                      x.shape),                          # index out of range
    lambda x: ops.avg_pool2d_backward(np.zeros((2, 3, 3, 3)), x.shape, (2, 2), (2, 2)),
])
def test_bad_arguments_raise_value_error(call):
    with pytest.raises(ValueError):
        call(np.zeros((2, 4, 4, 3), np.float32))


# ----- pooling layers --------------------------------------------------------
from pycnn.layers import pooling as P  # noqa: E402


@pytest.mark.parametrize("layer,in_shape,out_shape", [
    (lambda: P.MaxPooling2D(), (None, 148, 148, 32), (None, 74, 74, 32)),
    (lambda: P.MaxPool2D((3, 3), strides=2), (None, 15, 15, 4), (None, 7, 7, 4)),
    (lambda: P.AveragePooling2D(2, padding="same"), (None, 7, 9, 3), (None, 4, 5, 3)),
    (lambda: P.AvgPool2D(3, strides=1, padding="same"), (None, 5, 5, 1), (None, 5, 5, 1)),
    (lambda: P.MaxPooling2D(), (None, None, None, 8), (None, None, None, 8)),
    (lambda: P.MaxPooling1D(), (None, 9, 4), (None, 4, 4)),
    (lambda: P.AveragePooling1D(3, 2, "same"), (None, 9, 4), (None, 5, 4)),
    (lambda: P.GlobalMaxPooling2D(), (None, 7, 7, 5), (None, 5)),
    (lambda: P.GlobalAveragePooling2D(keepdims=True), (None, 7, 7, 5), (None, 1, 1, 5)),
    (lambda: P.GlobalAveragePooling1D(), (None, 7, 5), (None, 5)),
    (lambda: P.GlobalMaxPooling1D(keepdims=True), (None, 7, 5), (None, 1, 5)),
])
def test_pooling_layer_shapes(rng, layer, in_shape, out_shape):
    layer = layer()
    layer.build(in_shape)
    assert layer.compute_output_shape(in_shape) == out_shape
    assert layer.count_params() == 0 and layer.weights == []
    concrete = tuple(2 if d is None else d for d in in_shape)
    if None in in_shape[1:]:
        concrete = (2,) + (6,) * (len(in_shape) - 2) + (in_shape[-1],)
    x = rng.standard_normal(concrete).astype(np.float32)
    y, cache = layer.forward(x)
    expected = layer.compute_output_shape((2,) + concrete[1:])
    assert y.shape == expected
    dx, grads = layer.backward(cache, np.ones_like(y))
    assert dx.shape == x.shape and grads == []


def test_pooling_layers_match_ops(rng):
    x = rng.standard_normal((2, 7, 9, 3)).astype(np.float32)
    y, _ = P.MaxPooling2D(3, 2, "same").forward(x)
    pads = _pads(x.shape, (3, 3), (2, 2), "same")
    assert_close(y, ref.max_pool2d_forward(x, (3, 3), (2, 2), pads)[0])
    y, _ = P.AveragePooling2D(3, 2, "same").forward(x)
    assert_close(y, ref.avg_pool2d_forward(x, (3, 3), (2, 2), pads))
    y, _ = P.GlobalAveragePooling2D().forward(x)
    assert_close(y, x.mean(axis=(1, 2)))


def test_pooling_aliases_and_names():
    assert P.MaxPool2D is P.MaxPooling2D and P.AvgPool2D is P.AveragePooling2D
    assert P.MaxPooling2D().name.startswith("max_pooling2d")
    assert P.GlobalAveragePooling2D().name.startswith("global_average_pooling2d")
    cfg = P.MaxPooling2D((3, 3), padding="same").get_config()
    assert cfg["pool_size"] == (3, 3) and cfg["strides"] == (3, 3) and cfg["padding"] == "same"


@pytest.mark.parametrize("make", [lambda: P.MaxPooling2D(0), lambda: P.MaxPooling2D((2, 2, 2)),
                                  lambda: P.AveragePooling2D(2, padding="full"),
                                  lambda: P.MaxPooling2D(data_format="channels_first"),
                                  lambda: P.MaxPooling1D(-1)])
def test_pooling_bad_arguments(make):
    with pytest.raises(ValueError):
        make()


def test_pooling_bad_inputs_name_the_layer():
    layer = P.MaxPooling2D(name="my_pool")
    with pytest.raises(ValueError, match="my_pool.*ndim=4.*\\(None, 28, 28\\)"):
        layer.build((None, 28, 28))
    with pytest.raises(ValueError, match="my_pool"):
        layer.build((None, 1, 5, 3))     # pool larger than the input
    with pytest.raises(ValueError, match="my_gpool"):
        P.GlobalAveragePooling2D(name="my_gpool").build((None, 5, 3))


@pytest.mark.parametrize("x_shape", [(2, 7, 9, 8), (1, 6, 5, 8), (2, 4, 4, 16)])
def test_max_pool_backward_before_relu_matches_reference(isa, rng, x_shape):
    """relu_y gating (conv -> ReLU -> pool in training): dy passes where the
    pooled ReLU output is > 0, ties resolved by the argmax as the reference."""
    x = np.maximum(rng.integers(-2, 3, x_shape).astype(np.float32), 0.0)  # ReLU output, ties
    pads = _pads(x_shape, (2, 2), (2, 2), "same")
    y, argmax = ops.max_pool2d_forward(x, (2, 2), (2, 2), pads)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    want = ref.max_pool2d_backward(dy * (y > 0), argmax, x_shape)
    got = _C.max_pool2d_backward(dy, argmax, x_shape, (2, 2), (2, 2), pads, y)
    assert_close(got, want, what=f"max pool dx before relu {isa}")
