"""Convolution kernels vs the NumPy reference (every ISA, every gradient),
the reference vs finite differences, thread-count independence, and the
Conv2D layer (shapes, parameter counts, errors, gradients)."""
import numpy as np
import pytest

import pycnn
from pycnn.ops import conv as ops
from pycnn.ops.conv import padding_amounts
from pycnn.reference import conv as ref
from pycnn.testing import assert_close, numerical_grad

# (N, H, W, Cin), (KH, KW, Cout), strides, dilation, padding
CASES = [
    ((2, 9, 8, 3), (3, 3, 5), (1, 1), (1, 1), "same"),
    ((1, 7, 7, 1), (3, 3, 1), (1, 1), (1, 1), "valid"),
    ((3, 10, 11, 4), (3, 2, 6), (2, 2), (1, 1), "same"),
    ((2, 9, 9, 2), (2, 2, 3), (3, 3), (1, 1), "valid"),     # stride > kernel
    ((2, 6, 5, 7), (1, 1, 4), (1, 1), (1, 1), "valid"),     # pointwise: plain GEMM
    ((2, 6, 5, 7), (1, 1, 4), (2, 2), (1, 1), "same"),      # 1x1 strided
    ((2, 11, 9, 3), (3, 3, 2), (1, 1), (2, 3), "same"),     # dilation
    ((1, 12, 10, 2), (5, 3, 3), (1, 1), (2, 1), "valid"),
    ((1, 5, 5, 3), (5, 5, 2), (1, 1), (1, 1), "valid"),     # kernel = image
    ((4, 13, 3, 5), (4, 1, 3), (3, 1), (1, 1), "same"),     # odd, even kernel
    # one input, 8 output channels: pixel pairs (odd, even and 1-pixel rows)
    ((2, 9, 13, 1), (5, 5, 8), (1, 1), (1, 1), "same"),
    ((3, 6, 4, 1), (3, 3, 8), (2, 1), (1, 1), "same"),
    ((1, 4, 21, 1), (1, 17, 8), (1, 1), (1, 1), "valid"),
    ((2, 5, 1, 1), (3, 1, 8), (1, 1), (1, 1), "same"),
    ((1, 3, 20, 1), (2, 14, 8), (1, 1), (1, 1), "valid"),    # 14 dw rows: one accumulator set
    # 32-channel blocks: 14- and 13-pixel tiles (28 accumulators), 32 / 64 floats per pixel
    ((2, 4, 14, 32), (3, 3, 40), (1, 1), (1, 1), "same"),
    ((1, 4, 27, 64), (3, 3, 33), (1, 1), (1, 1), "same"),
    ((1, 3, 16, 20), (3, 3, 24), (1, 1), (1, 1), "valid"),
    ((2, 7, 7, 20), (3, 3, 33), (1, 1), (1, 1), "same"),     # row pairs, runtime pixel step
    ((1, 9, 29, 24), (3, 3, 40), (2, 2), (1, 1), "same"),    # 2 floats x 24 per pixel step
    # at most 4 inputs, outputs a multiple of 64: 64-channel blocks, tiles of <= 6 pixels
    # (ragged rows, stride, dilation; the second one's input gradient runs them too)
    ((2, 5, 13, 3), (3, 3, 64), (1, 1), (1, 1), "same"),
    ((1, 9, 11, 64), (3, 3, 4), (1, 1), (1, 1), "same"),
    ((2, 8, 17, 1), (5, 5, 128), (2, 2), (1, 1), "same"),
    ((1, 10, 9, 4), (3, 3, 64), (1, 1), (2, 2), "valid"),
    # weight gradient in bands of rows: several bands a sample, padding and dilated rows
    ((2, 40, 6, 3), (3, 3, 20), (1, 1), (1, 1), "same"),
    ((1, 23, 9, 4), (3, 3, 18), (1, 1), (2, 1), "same"),
    ((2, 31, 7, 5), (5, 3, 9), (2, 1), (1, 1), "same"),
]


def _pads(x_shape, k, strides, dilation, padding):
    return padding_amounts(padding, x_shape[1], k[0], strides[0], dilation[0]) + \
        padding_amounts(padding, x_shape[2], k[1], strides[1], dilation[1])


def _case(rng, x_shape, k):
    x = rng.standard_normal(x_shape).astype(np.float32)
    kernel = rng.standard_normal(k[:2] + (x_shape[3], k[2])).astype(np.float32)
    bias = rng.standard_normal(k[2]).astype(np.float32)
    return x, kernel, bias


@pytest.mark.parametrize("x_shape,k,strides,dilation,padding", CASES)
def test_forward_matches_reference(isa, rng, x_shape, k, strides, dilation, padding):
    x, kernel, bias = _case(rng, x_shape, k)
    pads = _pads(x_shape, k, strides, dilation, padding)
    for b in (bias, None):
        y = ops.conv2d_forward(x, kernel, b, strides, dilation, pads)
        assert_close(y, ref.conv2d_forward(x, kernel, b, strides, dilation, pads),
                     what=f"conv2d forward {isa}")


@pytest.mark.parametrize("x_shape,k,strides,dilation,padding", CASES)
def test_backward_matches_reference(isa, rng, x_shape, k, strides, dilation, padding):
    x, kernel, _ = _case(rng, x_shape, k)
    pads = _pads(x_shape, k, strides, dilation, padding)
    y = ref.conv2d_forward(x, kernel, None, strides, dilation, pads)
    dz = rng.standard_normal(y.shape).astype(np.float32)
    got = ops.conv2d_backward(x, kernel, dz, strides, dilation, pads)
    want = ref.conv2d_backward(x, kernel, dz, strides, dilation, pads)
    for name, g, w in zip(("dx", "dkernel", "dbias"), got, want):
        assert_close(g, w, what=f"conv2d {name} {isa}")


def test_backward_skips_what_is_not_needed(rng):
    x, kernel, _ = _case(rng, (2, 5, 5, 3), (3, 3, 2))
    dz = rng.standard_normal((2, 3, 3, 2)).astype(np.float32)
    dx, dw, db = ops.conv2d_backward(x, kernel, dz, need_dw=False)
    assert dw is None and db is None and dx.shape == x.shape
    dx, dw, db = ops.conv2d_backward(x, kernel, dz, need_dx=False)
    assert dx is None and dw.shape == kernel.shape and db.shape == (2,)


@pytest.mark.parametrize("act", [1, 2, 3, 4, 5, 6, 7, 8, 9])
@pytest.mark.parametrize("cout", [4, 64])
def test_fused_activation(isa, rng, act, cout):
    x, kernel, bias = _case(rng, (2, 7, 6, 3), (3, 3, cout))
    pads = (1, 1, 1, 1)
    y = ops.conv2d_forward(x, kernel, bias, (1, 1), (1, 1), pads, act, 0.3)
    assert_close(y, ref.conv2d_forward(x, kernel, bias, (1, 1), (1, 1), pads, act, 0.3),
                 what=f"conv2d act {act} {isa}")


def test_big_image_uses_many_tiles(rng):
    # More than one im2col tile per sample, and a batch of one.
    x, kernel, bias = _case(rng, (1, 70, 64, 16), (3, 3, 8))
    pads = (1, 1, 1, 1)
    assert_close(ops.conv2d_forward(x, kernel, bias, pads=pads),
                 ref.conv2d_forward(x, kernel, bias, pads=pads), what="tiles forward")
    dz = rng.standard_normal((1, 70, 64, 8)).astype(np.float32)
    for g, w in zip(ops.conv2d_backward(x, kernel, dz, pads=pads),
                    ref.conv2d_backward(x, kernel, dz, pads=pads)):
        assert_close(g, w, what="tiles backward")


@pytest.mark.parametrize("x_shape,k", [((5, 40, 36, 8), (3, 3, 16)), ((1, 64, 64, 8), (3, 3, 4)),
                                       ((6, 16, 16, 8), (1, 1, 8)),
                                       ((4, 60, 60, 3), (3, 3, 32)),   # RGB stem: finer dw blocks
                                       ((16, 28, 28, 1), (5, 5, 8)),   # MNIST pixel pairs
                                       ((3, 20, 20, 3), (3, 3, 64)),   # 64-channel blocks
                                       ((2, 12, 12, 96), (3, 3, 96))])  # dw split in tasks
def test_same_results_with_one_and_two_threads(rng, x_shape, k):
    x, kernel, bias = _case(rng, x_shape, k)
    pads = _pads(x_shape, k, (1, 1), (1, 1), "same")
    dz = rng.standard_normal(x_shape[:3] + (k[2],)).astype(np.float32)
    before = pycnn.get_num_threads()
    try:
        results = []
        for n in (1, 2):
            pycnn.set_num_threads(n)
            y = ops.conv2d_forward(x, kernel, bias, pads=pads, act=1)
            results.append((y,) + ops.conv2d_backward(x, kernel, dz, pads=pads))
    finally:
        pycnn.set_num_threads(before)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("stride,dilation,padding", [(1, 1, "same"), (2, 1, "valid"),
                                                     (1, 3, "same"), (3, 1, "same")])
def test_conv1d_matches_reference(isa, rng, stride, dilation, padding):
    x = rng.standard_normal((3, 17, 4)).astype(np.float32)
    kernel = rng.standard_normal((3, 4, 5)).astype(np.float32)
    bias = rng.standard_normal(5).astype(np.float32)
    pads = padding_amounts(padding, 17, 3, stride, dilation)
    y = ops.conv1d_forward(x, kernel, bias, stride, dilation, pads)
    assert_close(y, ref.conv1d_forward(x, kernel, bias, stride, dilation, pads), what="conv1d")
    dz = rng.standard_normal(y.shape).astype(np.float32)
    for g, w in zip(ops.conv1d_backward(x, kernel, dz, stride, dilation, pads),
                    ref.conv1d_backward(x, kernel, dz, stride, dilation, pads)):
        assert_close(g, w, what="conv1d backward")


@pytest.mark.parametrize("strides,dilation,pads", [((1, 1), (1, 1), (1, 1, 0, 1)),
                                                   ((2, 1), (1, 2), (0, 1, 2, 1))])
def test_reference_gradients_match_finite_differences(rng, strides, dilation, pads):
    x = rng.standard_normal((2, 4, 5, 2))
    kernel = rng.standard_normal((2, 3, 2, 3))
    bias = rng.standard_normal(3)
    y = ref.conv2d_forward(x, kernel, bias, strides, dilation, pads)
    w = rng.standard_normal(y.shape)  # loss = sum(w * y), so dz = w

    def loss(x_=x, k_=kernel, b_=bias):
        return float(np.sum(w * ref.conv2d_forward(x_, k_, b_, strides, dilation, pads)))

    dx, dk, db = ref.conv2d_backward(x, kernel, w, strides, dilation, pads)
    assert_close(dx, numerical_grad(lambda v: loss(x_=v), x), rtol=1e-3, what="dx")
    assert_close(dk, numerical_grad(lambda v: loss(k_=v), kernel), rtol=1e-3, what="dk")
    assert_close(db, numerical_grad(lambda v: loss(b_=v), bias), rtol=1e-3, what="db")


def test_same_padding_matches_tensorflow():
    assert padding_amounts("same", 5, 3, 2) == (1, 1)
    assert padding_amounts("same", 6, 3, 2) == (0, 1)      # extra at the end
    assert padding_amounts("same", 4, 2, 1) == (0, 1)
    assert padding_amounts("same", 7, 3, 1, dilation=2) == (2, 2)
    assert padding_amounts("same", 3, 1, 3) == (0, 0)
    assert padding_amounts("valid", 9, 3, 1) == (0, 0)


@pytest.mark.parametrize("call", [
    lambda x, k: ops.conv2d_forward(x[0], k),                        # rank
    lambda x, k: ops.conv2d_forward(x, k[:, :, :2]),                 # channels
    lambda x, k: ops.conv2d_forward(x, k, np.zeros(3)),              # bias length
    lambda x, k: ops.conv2d_forward(x, k, strides=(0, 1)),
    lambda x, k: ops.conv2d_forward(x, np.zeros((9, 9, 3, 4))),      # kernel > image
    lambda x, k: ops.conv2d_backward(x, k, np.zeros((2, 4, 5, 4))),  # dz shape
])
def test_bad_arguments_raise_value_error(call):
    x = np.zeros((2, 7, 7, 3), np.float32)
    k = np.zeros((3, 3, 3, 4), np.float32)
    with pytest.raises(ValueError):
        call(x, k)


def test_empty_batch():
    y = ops.conv2d_forward(np.zeros((0, 5, 5, 2)), np.ones((3, 3, 2, 4)))
    assert y.shape == (0, 3, 3, 4)
    dx, dw, db = ops.conv2d_backward(np.zeros((0, 5, 5, 2)), np.ones((3, 3, 2, 4)), y)
    assert dx.shape == (0, 5, 5, 2) and not dw.any() and not db.any()


# ----- Conv2D / Conv1D layers ------------------------------------------------
from pycnn.layers.convolutional import Conv1D, Conv2D  # noqa: E402


@pytest.mark.parametrize("kwargs,in_shape,out_shape,params", [
    (dict(filters=32, kernel_size=3), (None, 150, 150, 3), (None, 148, 148, 32), 896),
    (dict(filters=64, kernel_size=(3, 3), padding="same"), (None, 28, 28, 32),
     (None, 28, 28, 64), 18496),
    (dict(filters=8, kernel_size=5, strides=2), (None, 32, 31, 1), (None, 14, 14, 8), 208),
    (dict(filters=8, kernel_size=3, strides=2, padding="same"), (None, 7, 8, 2),
     (None, 4, 4, 8), 152),
    (dict(filters=4, kernel_size=3, dilation_rate=2), (None, 9, 9, 2), (None, 5, 5, 4), 76),
    (dict(filters=4, kernel_size=1, use_bias=False), (None, None, None, 6),
     (None, None, None, 4), 24),
])
def test_conv2d_shapes_and_params_as_keras(kwargs, in_shape, out_shape, params):
    layer = Conv2D(**kwargs)
    layer.build(in_shape)
    assert layer.compute_output_shape(in_shape) == out_shape
    assert layer.count_params() == params
    assert [w.name for w in layer.weights] == ["kernel", "bias"][:len(layer.weights)]
    assert layer.kernel.shape == layer.kernel_size + (in_shape[-1], kwargs["filters"])


@pytest.mark.parametrize("kwargs", [
    dict(filters=0, kernel_size=3), dict(filters=-2, kernel_size=3),
    dict(filters=2.5, kernel_size=3), dict(filters=4, kernel_size=0),
    dict(filters=4, kernel_size=(3, 3, 3)), dict(filters=4, kernel_size=3, strides=0),
    dict(filters=4, kernel_size=3, dilation_rate=(0, 1)),
    dict(filters=4, kernel_size=3, strides=2, dilation_rate=2),
    dict(filters=4, kernel_size=3, padding="full"),
    dict(filters=4, kernel_size=3, data_format="channels_first"),
    dict(filters=4, kernel_size=3, groups=2),
])
def test_conv2d_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        Conv2D(**kwargs)


def test_conv2d_bad_inputs_name_the_layer():
    layer = Conv2D(4, 3, name="my_conv")
    with pytest.raises(ValueError, match="my_conv.*ndim=4.*\\(None, 28, 28\\)"):
        layer.build((None, 28, 28))
    with pytest.raises(ValueError, match="my_conv"):
        layer.build((None, 2, 2, 3))           # kernel larger than the input
    layer.build((None, 8, 8, 3))
    with pytest.raises(ValueError, match="my_conv.*\\(None, None, None, 3\\).*\\(2, 8, 8, 5\\)"):
        layer.forward(np.zeros((2, 8, 8, 5), np.float32))
    with pytest.raises(ValueError, match="my_conv"):
        layer.forward(np.zeros((8, 8, 3), np.float32))


@pytest.mark.parametrize("activation,padding,strides", [(None, "same", 1), ("relu", "valid", 2),
                                                        ("gelu", "same", 2),
                                                        ("sigmoid", "valid", 1)])
def test_conv2d_layer_gradients_match_reference(rng, activation, padding, strides):
    from pycnn.reference.act import act_backward, act_forward
    layer = Conv2D(5, (3, 2), strides=strides, padding=padding, activation=activation)
    x = rng.standard_normal((2, 9, 8, 3)).astype(np.float32)
    layer.build((None, 9, 8, 3))
    layer.bias.assign(rng.standard_normal(5).astype(np.float32))
    y, cache = layer.forward(x, training=True)
    pads = layer._pads(x.shape[1:3])
    k, b = layer.kernel.numpy(), layer.bias.numpy()
    z = ref.conv2d_forward(x, k, b, layer.strides, (1, 1), pads)
    act = layer.activation
    assert_close(y, act_forward(z, act.code, act.param), what="layer forward")
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, (dk, db) = layer.backward(cache, dy)
    dz = act_backward(z, act_forward(z, act.code, act.param), dy, act.code, act.param)
    for got, want in zip((dx, dk, db), ref.conv2d_backward(x, k, dz, layer.strides, (1, 1), pads)):
        assert_close(got, want, what=f"layer backward {activation}")


def test_frozen_conv2d_returns_no_grads(rng):
    layer = Conv2D(3, 3, activation="relu")
    layer.build((None, 6, 6, 2))
    layer.trainable = False
    y, cache = layer.forward(rng.standard_normal((2, 6, 6, 2)).astype(np.float32))
    dx, grads = layer.backward(cache, np.ones_like(y))
    assert grads == [] and dx.shape == (2, 6, 6, 2)


def test_conv2d_get_config_round_trip():
    layer = Conv2D(6, (3, 5), strides=(1, 2), padding="same", activation="relu", use_bias=False)
    cfg = layer.get_config()
    assert cfg["filters"] == 6 and cfg["kernel_size"] == (3, 5) and cfg["strides"] == (1, 2)
    assert cfg["padding"] == "same" and cfg["activation"] == "relu" and cfg["use_bias"] is False
    clone = Conv2D.from_config({**cfg, "name": cfg["name"] + "_clone"})
    assert clone.kernel_size == (3, 5) and clone.activation.name == "relu"


def test_conv1d_layer(rng):
    layer = Conv1D(8, 3, padding="same", activation="relu")
    layer.build((None, 20, 4))
    assert layer.compute_output_shape((None, 20, 4)) == (None, 20, 8)
    assert layer.count_params() == 3 * 4 * 8 + 8
    x = rng.standard_normal((2, 20, 4)).astype(np.float32)
    y, cache = layer.forward(x)
    assert y.shape == (2, 20, 8)
    dx, grads = layer.backward(cache, np.ones_like(y))
    assert dx.shape == x.shape and grads[0].shape == (3, 4, 8)
