"""Backward fusions across layers: a max pooling fed by a conv with a ReLU
returns the conv's pre-activation gradient (kernel vs reference on every ISA,
the Sequential walk vs the unfused walk, and when the fusion applies)."""
import numpy as np
import pytest

import pycnn
from pycnn import layers
from pycnn.models.sequential import Sequential
from pycnn.ops import act as act_ops
from pycnn.ops import pool as ops
from pycnn.ops.conv import padding_amounts
from pycnn.reference import pool as ref
from pycnn.testing import assert_close

CASES = [
    ((2, 8, 8, 3), (2, 2), (2, 2), "valid"),
    ((1, 7, 9, 1), (2, 2), (2, 2), "same"),
    ((3, 9, 7, 5), (3, 3), (2, 2), "same"),       # overlapping windows
    ((2, 10, 10, 4), (3, 3), (1, 1), "same"),
    ((2, 9, 9, 2), (2, 2), (3, 3), "valid"),      # stride > pool
    ((1, 11, 6, 17), (4, 3), (3, 2), "same"),     # odd channel count
    ((2, 6, 6, 32), (2, 2), (2, 2), "valid"),     # whole vectors of channels
]


def _pads(x_shape, pool, strides, padding):
    return padding_amounts(padding, x_shape[1], pool[0], strides[0]) + \
        padding_amounts(padding, x_shape[2], pool[1], strides[1])


@pytest.mark.parametrize("x_shape,pool,strides,padding", CASES)
@pytest.mark.parametrize("gather", [True, False])
def test_max_pool_backward_relu_matches_unfused(isa, rng, x_shape, pool, strides, padding,
                                                gather):
    # x is a ReLU output (many exact zeros, whole windows of them too).
    x = np.maximum(rng.integers(-3, 3, x_shape), 0).astype(np.float32)
    pads = _pads(x_shape, pool, strides, padding)
    y, argmax = ops.max_pool2d_forward(x, pool, strides, pads)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    geometry = (pool, strides, pads) if gather else (None, None, None)
    fused = ops.max_pool2d_backward(dy, argmax, x_shape, *geometry, relu_y=y)
    unfused = act_ops.act_backward(None, x, ops.max_pool2d_backward(dy, argmax, x_shape,
                                                                    *geometry), 1, 0.0)
    # Equal up to the sign of zeros (0 * -dy is -0 in the unfused path).
    np.testing.assert_array_equal(fused, unfused)
    assert_close(fused, ref.max_pool2d_backward(dy, argmax, x_shape, relu_y=y),
                 what=f"relu-gated max pool dx {isa}")


def test_max_pool1d_backward_relu(rng):
    x = np.maximum(rng.standard_normal((2, 9, 5)), 0).astype(np.float32)
    y, argmax = ops.max_pool1d_forward(x, 2, 2)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    got = ops.max_pool1d_backward(dy, argmax, x.shape, 2, 2, relu_y=y)
    want = ops.max_pool1d_backward(dy, argmax, x.shape, 2, 2) * (x > 0)
    np.testing.assert_array_equal(got, want)
    assert_close(got, ref.max_pool1d_backward(dy, argmax, x.shape, relu_y=y))


def test_relu_y_shape_checked(rng):
    x = rng.standard_normal((1, 4, 4, 2)).astype(np.float32)
    y, argmax = ops.max_pool2d_forward(x, (2, 2), (2, 2))
    with pytest.raises(ValueError, match="relu_y"):
        ops.max_pool2d_backward(y, argmax, x.shape, (2, 2), (2, 2), relu_y=y[:, :1])


def _grads(model, x, fuse, monkeypatch):
    if not fuse:
        monkeypatch.setattr(Sequential, "_pool_takes_relu", lambda self, i: False)
    y, caches = model.forward(x, training=True)
    dx, grads = model.backward(caches, np.ones_like(y))
    monkeypatch.undo()
    return dx, grads


@pytest.mark.parametrize("build", [
    lambda: [layers.Conv2D(4, 3, activation="relu", padding="same"), layers.MaxPooling2D()],
    lambda: [layers.Conv2D(3, 2, activation="relu"), layers.MaxPooling2D(3, 2, "same")],
    lambda: [layers.Conv1D(3, 2, activation="relu"), layers.MaxPooling1D()],
])
def test_sequential_fused_matches_unfused(rng, monkeypatch, build):
    stack = build()
    rank = 2 if isinstance(stack[0], layers.Conv2D) else 1
    shape = (7, 7, 3) if rank == 2 else (9, 3)
    model = pycnn.Sequential([layers.InputLayer(shape=shape), layers.Conv2D(2, 1)
                              if rank == 2 else layers.Conv1D(2, 1)] + stack +
                             [layers.Flatten(), layers.Dense(2)])
    x = rng.standard_normal((2,) + shape).astype(np.float32)
    assert model._pool_takes_relu(2)
    dx_f, g_f = _grads(model, x, True, monkeypatch)
    dx_u, g_u = _grads(model, x, False, monkeypatch)
    np.testing.assert_array_equal(dx_f, dx_u)
    for a, b in zip(g_f, g_u):
        np.testing.assert_array_equal(a, b)


def test_fusion_only_for_relu_conv_into_max_pool():
    def takes(*stack):
        model = pycnn.Sequential([layers.InputLayer(shape=(8, 8, 3))] + list(stack))
        return model._pool_takes_relu(1)

    assert takes(layers.Conv2D(2, 3, activation="relu"), layers.MaxPooling2D())
    assert not takes(layers.Conv2D(2, 3, activation="relu"), layers.AveragePooling2D())
    assert not takes(layers.Conv2D(2, 3, activation="sigmoid"), layers.MaxPooling2D())
    assert not takes(layers.Conv2D(2, 3), layers.MaxPooling2D())
    assert not takes(layers.Conv2D(2, 3, activation="leaky_relu"), layers.MaxPooling2D())
    assert not takes(layers.Dense(2, activation="relu"), layers.MaxPooling2D())


def test_fused_backward_skips_relu_backward(monkeypatch, rng):
    calls = []
    original = act_ops.act_backward
    monkeypatch.setattr(act_ops, "act_backward",
                        lambda *a, **k: calls.append(a[3]) or original(*a, **k))
    model = pycnn.Sequential([layers.InputLayer(shape=(6, 6, 2)),
                              layers.Conv2D(3, 3, activation="relu", padding="same"),
                              layers.MaxPooling2D(), layers.Flatten(), layers.Dense(1)])
    y, caches = model.forward(rng.standard_normal((2, 6, 6, 2)).astype(np.float32), True)
    model.backward(caches, np.ones_like(y))
    assert calls == []


# ----- conv weight gradient straight from the pool's dy -----------------------
from pycnn import _C  # noqa: E402
from pycnn.layers.convolutional import Conv2D  # noqa: E402
from pycnn.ops import conv as conv_ops  # noqa: E402
from pycnn.reference import conv as ref_conv  # noqa: E402

# (x shape, kernel (kh, kw, cout), conv strides, dilation, conv padding,
#  pool, pool strides, pool padding)
WEIGHT_GRAD_CASES = [
    ((2, 12, 12, 3), (3, 3, 32), (1, 1), (1, 1), "same", (2, 2), (2, 2), "valid"),   # RGB stem
    ((3, 10, 10, 1), (5, 5, 8), (1, 1), (1, 1), "same", (2, 2), (2, 2), "valid"),    # MNIST
    ((2, 9, 11, 5), (3, 3, 20), (1, 1), (1, 1), "valid", (2, 2), (2, 2), "same"),    # odd sizes
    ((2, 13, 13, 4), (3, 3, 16), (2, 2), (1, 1), "same", (2, 2), (2, 2), "valid"),   # conv stride
    ((1, 14, 14, 3), (3, 3, 7), (1, 1), (2, 2), "same", (3, 3), (3, 3), "valid"),    # dilation
    ((2, 8, 8, 6), (1, 1, 24), (1, 1), (1, 1), "valid", (2, 2), (2, 2), "valid"),    # 1x1 (GEMM)
    ((2, 11, 11, 3), (3, 3, 9), (1, 1), (1, 1), "same", (3, 3), (2, 2), "same"),     # overlapping
    ((1, 40, 37, 2), (3, 3, 40), (1, 1), (1, 1), "same", (2, 2), (2, 2), "valid"),   # many bands
]


def _pooled_case(rng, x_shape, kernel, strides, dilation, padding, pool, pool_strides,
                 pool_padding):
    kh, kw, cout = kernel
    x = rng.standard_normal(x_shape).astype(np.float32)
    k = rng.standard_normal((kh, kw, x_shape[3], cout)).astype(np.float32)
    pads = padding_amounts(padding, x_shape[1], kh, strides[0], dilation[0]) + \
        padding_amounts(padding, x_shape[2], kw, strides[1], dilation[1])
    bias = rng.standard_normal(cout).astype(np.float32)
    z = conv_ops.conv2d_forward(x, k, bias, strides, dilation, pads)
    relu = np.maximum(z, 0)
    pool_pads = _pads(relu.shape, pool, pool_strides, pool_padding)
    y, argmax = ops.max_pool2d_forward(relu, pool, pool_strides, pool_pads)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    return x, k, pads, relu.shape, pool_pads, y, argmax, dy


@pytest.mark.parametrize("case", WEIGHT_GRAD_CASES)
def test_conv_weight_grad_from_pool_matches_unfused(isa, rng, case):
    x_shape, kernel, strides, dilation, padding, pool, pool_strides, pool_padding = case
    x, k, pads, z_shape, pool_pads, y, argmax, dy = _pooled_case(rng, *case)
    dz = ops.max_pool2d_backward(dy, argmax, z_shape, pool, pool_strides, pool_pads, relu_y=y)
    _, dw_want, db_want = conv_ops.conv2d_backward(x, k, dz, strides, dilation, pads,
                                                   need_dx=False)
    dw, db = conv_ops.conv2d_backward_weights_maxpool(x, k, dy, argmax, y, strides, dilation,
                                                      pads, pool, pool_strides, pool_pads)
    # Same values in the same order: bit for bit.
    np.testing.assert_array_equal(dw, dw_want)
    np.testing.assert_array_equal(db, db_want)
    want = ref_conv.conv2d_backward_weights_maxpool(x, k, dy, argmax, y, strides, dilation,
                                                    pads, pool, pool_strides, pool_pads)
    assert_close(dw, want[0], what=f"pooled dw {isa}")
    assert_close(db, want[1], what=f"pooled db {isa}")


@pytest.mark.parametrize("case", [WEIGHT_GRAD_CASES[0], WEIGHT_GRAD_CASES[1],
                                  WEIGHT_GRAD_CASES[7]])
def test_conv_weight_grad_from_pool_same_with_one_and_two_threads(rng, case):
    x_shape, kernel, strides, dilation, padding, pool, pool_strides, pool_padding = case
    x, k, pads, z_shape, pool_pads, y, argmax, dy = _pooled_case(rng, *case)
    before = pycnn.get_num_threads()
    try:
        results = []
        for n in (1, 2):
            pycnn.set_num_threads(n)
            results.append(conv_ops.conv2d_backward_weights_maxpool(
                x, k, dy, argmax, y, strides, dilation, pads, pool, pool_strides, pool_pads))
    finally:
        pycnn.set_num_threads(before)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_conv_weight_grad_from_pool_checks_shapes(rng):
    case = WEIGHT_GRAD_CASES[0]
    x, k, pads, z_shape, pool_pads, y, argmax, dy = _pooled_case(rng, *case)
    args = ((1, 1), (1, 1), pads, (2, 2), (2, 2), pool_pads)
    with pytest.raises(ValueError, match=r"conv2d_backward_weights_maxpool.*dy"):
        _C.conv2d_backward_weights_maxpool(x, k, dy[:, :-1], argmax[:, :-1], y[:, :-1], *args)
    with pytest.raises(ValueError, match="argmax"):
        _C.conv2d_backward_weights_maxpool(x, k, dy, argmax[:1], y, *args)
    with pytest.raises(ValueError, match="relu_y"):
        _C.conv2d_backward_weights_maxpool(x, k, dy, argmax, y[..., :1], *args)
    with pytest.raises(ValueError, match="input channels"):
        _C.conv2d_backward_weights_maxpool(x[..., :2], k, dy, argmax, y, *args)


@pytest.mark.parametrize("build", [
    lambda: [layers.Conv2D(8, 3, activation="relu", padding="same"), layers.MaxPooling2D()],
    lambda: [layers.Conv2D(5, 2, activation="relu"), layers.MaxPooling2D(3, 2, "same")],
    lambda: [layers.Conv2D(4, 1, activation="relu", use_bias=False), layers.MaxPooling2D()],
])
def test_first_conv_takes_weight_grads_from_pool(rng, monkeypatch, build):
    # The first layer needs no input gradient: its weight gradient comes from
    # the pool's dy without the conv-sized dz; the same bits as the long way.
    calls = []
    original = Conv2D._weight_grads_from_pool
    monkeypatch.setattr(Conv2D, "_weight_grads_from_pool",
                        lambda *a: calls.append(1) or original(*a))
    model = pycnn.Sequential([layers.InputLayer(shape=(9, 9, 3))] + build() +
                             [layers.Flatten(), layers.Dense(2)])
    x = rng.standard_normal((3, 9, 9, 3)).astype(np.float32)
    y, caches = model.forward(x, training=True)
    _, fused = model.backward(caches, np.ones_like(y), need_dx=False)
    assert calls
    monkeypatch.setattr(Conv2D, "_weight_grads_from_pool", lambda *a: None)
    y, caches = model.forward(x, training=True)
    _, plain = model.backward(caches, np.ones_like(y), need_dx=False)
    assert len(fused) == len(plain) == len(model.trainable_weights)
    for a, b in zip(fused, plain):
        np.testing.assert_array_equal(a, b)
    # With the input gradient asked for, the conv takes the usual route.
    calls.clear()
    monkeypatch.setattr(Conv2D, "_weight_grads_from_pool",
                        lambda *a: calls.append(1) or original(*a))
    y, caches = model.forward(x, training=True)
    dx, _ = model.backward(caches, np.ones_like(y), need_dx=True)
    assert dx.shape == x.shape and not calls
