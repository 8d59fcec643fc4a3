"""Transposed convolution: kernels vs the NumPy scatter reference (every ISA,
every gradient), the reference vs finite differences, Keras 3 numbers, and
the Conv2DTranspose layer; plus Conv1D 'causal' padding against Keras."""
import numpy as np
import pytest

import pycnn
from pycnn.layers.convolutional import Conv1D, Conv2DTranspose, Convolution2DTranspose
from pycnn.ops import conv as ops
from pycnn.ops.conv import conv_transpose_crops
from pycnn.reference import conv as ref
from pycnn.testing import assert_close, numerical_grad


def det(shape, a):
    """Deterministic inputs shared with the script that produced the Keras numbers."""
    n = int(np.prod(shape))
    return np.sin(np.arange(n) * a + 0.3).reshape(shape).astype(np.float32)


def fingerprint(y):
    y = np.asarray(y, np.float64)
    return float((y * det(y.shape, 0.11)).sum())


def crops_of(x_shape, k, strides, padding, output_padding=None, dilation=(1, 1)):
    op = output_padding or (None, None)
    return conv_transpose_crops(padding, x_shape[1], k[0], strides[0], dilation[0], op[0]) + \
        conv_transpose_crops(padding, x_shape[2], k[1], strides[1], dilation[1], op[1])


# x shape, filters, kernel, strides, padding, output_padding, dilation
CASES = [
    ((2, 5, 4, 3), 2, (3, 3), (1, 1), "valid", None, (1, 1)),
    ((2, 5, 4, 3), 2, (3, 3), (2, 2), "same", None, (1, 1)),
    ((1, 4, 5, 2), 3, (3, 2), (3, 3), "valid", None, (1, 1)),    # stride > kernel
    ((1, 4, 5, 2), 3, (2, 2), (3, 3), "same", None, (1, 1)),
    ((2, 3, 3, 1), 2, (3, 3), (2, 2), "same", (1, 1), (1, 1)),
    ((2, 3, 4, 2), 2, (4, 3), (2, 3), "valid", (1, 2), (1, 1)),
    ((1, 5, 5, 2), 2, (3, 3), (1, 1), "same", None, (2, 2)),     # dilation
    ((1, 5, 6, 2), 1, (1, 1), (2, 2), "valid", None, (1, 1)),    # 1x1 strided
    ((1, 7, 6, 3), 4, (5, 4), (3, 2), "same", (2, 0), (1, 1)),
    ((1, 4, 4, 2), 2, (2, 2), (1, 1), "same", None, (1, 1)),     # even kernel, same
]
# Keras 3.15 (JAX) Conv2DTranspose on det() inputs: output shape, fingerprint.
KERAS = [((2, 7, 6, 2), -1.32482), ((2, 10, 8, 2), -5.61554), ((1, 12, 15, 3), 14.55551),
         ((1, 12, 15, 3), 19.29699), ((2, 6, 6, 2), 15.15523), ((2, 9, 14, 2), 61.98311),
         ((1, 5, 5, 2), -1.69829), ((1, 10, 12, 1), 0.07461), ((1, 21, 10, 4), -149.06903),
         ((1, 4, 4, 2), 18.73038)]
EXTRA = [  # more shapes for kernel vs reference: batch 1, one channel, pointwise, big
    ((3, 6, 7, 4), 5, (1, 1), (1, 1), "valid", None, (1, 1)),
    ((1, 1, 1, 3), 2, (3, 3), (2, 2), "valid", None, (1, 1)),
    ((2, 9, 8, 1), 1, (4, 4), (2, 2), "same", None, (1, 1)),
    ((1, 30, 28, 16), 8, (3, 3), (2, 2), "same", (1, 1), (1, 1)),
]


def _data(x_shape, filters, k):
    x = det(x_shape, 0.37)
    kernel = det(k + (filters, x_shape[3]), 0.21)
    return x, kernel, det((filters,), 1.3)


@pytest.mark.parametrize("case,keras", list(zip(CASES, KERAS)))
def test_reference_and_kernel_match_keras(isa, case, keras):
    x_shape, filters, k, strides, padding, output_padding, dilation = case
    x, kernel, bias = _data(x_shape, filters, k)
    crops = crops_of(x_shape, k, strides, padding, output_padding, dilation)
    for impl in (ref, ops):
        y = impl.conv_transpose2d_forward(x, kernel, bias, strides, dilation, crops)
        assert y.shape == keras[0]
        assert abs(fingerprint(y) - keras[1]) < 1e-3 * max(1.0, abs(keras[1]))


@pytest.mark.parametrize("case", CASES + EXTRA)
def test_kernels_match_reference(isa, rng, case):
    x_shape, filters, k, strides, padding, output_padding, dilation = case
    x = rng.standard_normal(x_shape).astype(np.float32)
    kernel = rng.standard_normal(k + (filters, x_shape[3])).astype(np.float32)
    bias = rng.standard_normal(filters).astype(np.float32)
    crops = crops_of(x_shape, k, strides, padding, output_padding, dilation)
    for b in (bias, None):
        assert_close(ops.conv_transpose2d_forward(x, kernel, b, strides, dilation, crops),
                     ref.conv_transpose2d_forward(x, kernel, b, strides, dilation, crops),
                     what=f"forward {isa}")
    y = ref.conv_transpose2d_forward(x, kernel, None, strides, dilation, crops)
    dz = rng.standard_normal(y.shape).astype(np.float32)
    got = ops.conv_transpose2d_backward(x, kernel, dz, strides, dilation, crops)
    want = ref.conv_transpose2d_backward(x, kernel, dz, strides, dilation, crops)
    for name, g, w in zip(("dx", "dkernel", "dbias"), got, want):
        assert_close(g, w, what=f"{name} {isa}")


@pytest.mark.parametrize("act", [1, 2, 3, 8, 9])
def test_fused_bias_activation(isa, rng, act):
    x = rng.standard_normal((2, 4, 5, 3)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 4, 3)).astype(np.float32)
    bias = rng.standard_normal(4).astype(np.float32)
    crops = crops_of(x.shape, (3, 3), (2, 2), "same")
    assert_close(ops.conv_transpose2d_forward(x, kernel, bias, (2, 2), (1, 1), crops, act, 0.3),
                 ref.conv_transpose2d_forward(x, kernel, bias, (2, 2), (1, 1), crops, act, 0.3),
                 what=f"act {act} {isa}")


@pytest.mark.parametrize("strides,dilation,crops", [((2, 1), (1, 1), (1, 0, 0, -1)),
                                                    ((1, 1), (2, 1), (0, 1, 1, 1)),
                                                    ((3, 2), (1, 1), (0, -2, 1, 0))])
def test_reference_gradients_match_finite_differences(rng, strides, dilation, crops):
    x = rng.standard_normal((2, 3, 3, 2))
    kernel = rng.standard_normal((2, 3, 3, 2))
    bias = rng.standard_normal(3)
    y = ref.conv_transpose2d_forward(x, kernel, bias, strides, dilation, crops)
    w = rng.standard_normal(y.shape)

    def loss(x_=x, k_=kernel, b_=bias):
        return float(np.sum(w * ref.conv_transpose2d_forward(x_, k_, b_, strides, dilation,
                                                             crops)))

    dx, dk, db = ref.conv_transpose2d_backward(x, kernel, w, strides, dilation, crops)
    assert_close(dx, numerical_grad(lambda v: loss(x_=v), x), rtol=1e-3, what="dx")
    assert_close(dk, numerical_grad(lambda v: loss(k_=v), kernel), rtol=1e-3, what="dk")
    assert_close(db, numerical_grad(lambda v: loss(b_=v), bias), rtol=1e-3, what="db")


def test_same_results_with_one_and_two_threads(rng):
    x = rng.standard_normal((3, 20, 18, 8)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 6, 8)).astype(np.float32)
    bias = rng.standard_normal(6).astype(np.float32)
    crops = crops_of(x.shape, (3, 3), (2, 2), "same")
    dz = rng.standard_normal((3, 40, 36, 6)).astype(np.float32)
    before = pycnn.get_num_threads()
    try:
        results = []
        for n in (1, 2):
            pycnn.set_num_threads(n)
            y = ops.conv_transpose2d_forward(x, kernel, bias, (2, 2), (1, 1), crops, act=1)
            results.append((y,) + ops.conv_transpose2d_backward(x, kernel, dz, (2, 2), (1, 1),
                                                                crops))
    finally:
        pycnn.set_num_threads(before)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("call", [
    lambda x, k: ops.conv_transpose2d_forward(x[0], k),                    # rank
    lambda x, k: ops.conv_transpose2d_forward(x, k[..., :2]),              # channels
    lambda x, k: ops.conv_transpose2d_forward(x, k, np.zeros(3)),          # bias length
    lambda x, k: ops.conv_transpose2d_forward(x, k, strides=(0, 1)),
    lambda x, k: ops.conv_transpose2d_forward(x, k, crops=(-1, 0, 0, 0)),
    lambda x, k: ops.conv_transpose2d_forward(x, k, crops=(5, 5, 0, 0)),   # empty output
    lambda x, k: ops.conv_transpose2d_backward(x, k, np.zeros((2, 6, 7, 4))),  # dz shape
])
def test_bad_arguments_raise_value_error(call):
    x = np.zeros((2, 5, 5, 3), np.float32)
    k = np.zeros((3, 3, 4, 3), np.float32)
    with pytest.raises(ValueError):
        call(x, k)


def test_empty_batch():
    y = ops.conv_transpose2d_forward(np.zeros((0, 3, 3, 2)), np.ones((3, 3, 4, 2)))
    assert y.shape == (0, 5, 5, 4)
    dx, dw, db = ops.conv_transpose2d_backward(np.zeros((0, 3, 3, 2)), np.ones((3, 3, 4, 2)), y)
    assert dx.shape == (0, 3, 3, 2) and not dw.any() and not db.any()


# ----- Conv2DTranspose layer -------------------------------------------------
@pytest.mark.parametrize("kwargs,in_shape,out_shape,params", [  # from Keras 3.15
    (dict(filters=4, kernel_size=3), (None, None, None, 2), (None, None, None, 4), 76),
    (dict(filters=4, kernel_size=3, strides=2, padding="same"), (None, 7, None, 2),
     (None, 14, None, 4), 76),
    (dict(filters=4, kernel_size=2, strides=3), (None, 5, 6, 2), (None, 15, 18, 4), 36),
    (dict(filters=4, kernel_size=3, strides=2, output_padding=1), (None, 5, 6, 2),
     (None, 12, 14, 4), 76),
    (dict(filters=4, kernel_size=4, strides=2, padding="same", output_padding=1),
     (None, 5, 6, 2), (None, 9, 11, 4), 132),
    (dict(filters=8, kernel_size=(3, 5), dilation_rate=2, use_bias=False), (None, 5, 6, 3),
     (None, 9, 14, 8), 360),
])
def test_layer_shapes_and_params_as_keras(kwargs, in_shape, out_shape, params):
    layer = Conv2DTranspose(**kwargs)
    layer.build(in_shape)
    assert layer.compute_output_shape(in_shape) == out_shape
    assert layer.count_params() == params
    assert layer.kernel.shape == layer.kernel_size + (kwargs["filters"], in_shape[-1])
    assert [w.name for w in layer.weights] == ["kernel", "bias"][:len(layer.weights)]


@pytest.mark.parametrize("case,keras", list(zip(CASES, KERAS)))
def test_layer_matches_keras(case, keras):
    x_shape, filters, k, strides, padding, output_padding, dilation = case
    layer = Conv2DTranspose(filters, k, strides=strides, padding=padding,
                            output_padding=output_padding, dilation_rate=dilation)
    layer.build((None,) + x_shape[1:])
    x, kernel, bias = _data(x_shape, filters, k)
    layer.set_weights([kernel, bias])
    y = layer(x)
    assert y.shape == keras[0]
    assert layer.compute_output_shape(x_shape) == keras[0]
    assert abs(fingerprint(y) - keras[1]) < 1e-3 * max(1.0, abs(keras[1]))


@pytest.mark.parametrize("activation,padding,strides", [(None, "same", 2), ("relu", "valid", 3),
                                                        ("gelu", "same", 1)])
def test_layer_gradients_match_reference(rng, activation, padding, strides):
    from pycnn.reference.act import act_backward, act_forward
    layer = Conv2DTranspose(3, (3, 2), strides=strides, padding=padding, activation=activation)
    x = rng.standard_normal((2, 5, 4, 2)).astype(np.float32)
    layer.build((None, 5, 4, 2))
    layer.bias.assign(rng.standard_normal(3).astype(np.float32))
    y, cache = layer.forward(x, training=True)
    crops = layer._pads(x.shape[1:3])
    k, b = layer.kernel.numpy(), layer.bias.numpy()
    z = ref.conv_transpose2d_forward(x, k, b, layer.strides, (1, 1), crops)
    act = layer.activation
    assert_close(y, act_forward(z, act.code, act.param), what="layer forward")
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, (dk, db) = layer.backward(cache, dy)
    dz = act_backward(z, act_forward(z, act.code, act.param), dy, act.code, act.param)
    want = ref.conv_transpose2d_backward(x, k, dz, layer.strides, (1, 1), crops)
    for got, w in zip((dx, dk, db), want):
        assert_close(got, w, what=f"layer backward {activation}")
    layer.trainable = False
    dx2, grads = layer.backward(cache, dy)
    assert grads == [] and dx2.shape == x.shape


@pytest.mark.parametrize("kwargs", [
    dict(filters=0, kernel_size=3), dict(filters=4, kernel_size=0),
    dict(filters=4, kernel_size=3, strides=2, output_padding=2),
    dict(filters=4, kernel_size=3, output_padding=1),       # must be < strides
    dict(filters=4, kernel_size=3, strides=2, dilation_rate=2),
    dict(filters=4, kernel_size=3, padding="causal"),
    dict(filters=4, kernel_size=3, data_format="channels_first"),
])
def test_layer_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        Conv2DTranspose(**kwargs)


def test_layer_bad_inputs_name_the_layer():
    layer = Conv2DTranspose(4, 3, name="my_deconv")
    with pytest.raises(ValueError, match="my_deconv.*ndim=4"):
        layer.build((None, 28, 28))
    layer.build((None, 8, 8, 3))
    with pytest.raises(ValueError, match="my_deconv.*\\(2, 8, 8, 5\\)"):
        layer.forward(np.zeros((2, 8, 8, 5), np.float32))


def test_layer_config_and_alias():
    assert Convolution2DTranspose is Conv2DTranspose
    layer = Conv2DTranspose(6, (3, 5), strides=(2, 2), padding="same", output_padding=(1, 0),
                            activation="relu")
    cfg = layer.get_config()
    assert cfg["output_padding"] == (1, 0) and cfg["kernel_size"] == (3, 5)
    assert "groups" not in cfg and cfg["activation"] == "relu"
    clone = Conv2DTranspose.from_config({**cfg, "name": cfg["name"] + "_clone"})
    assert clone.output_padding == (1, 0) and clone.strides == (2, 2)


# ----- Conv1D strides / dilation / causal vs Keras -----------------------------
@pytest.mark.parametrize("kwargs,out_shape,keras", [  # Keras 3.15 on det() inputs
    (dict(filters=3, kernel_size=3, padding="causal"), (2, 11, 3), 9.87187),
    (dict(filters=3, kernel_size=4, padding="causal", dilation_rate=2), (2, 11, 3), 0.98815),
    (dict(filters=2, kernel_size=3, padding="causal", strides=2), (2, 6, 2), 16.34675),
    (dict(filters=2, kernel_size=5, padding="same", strides=3), (2, 4, 2), 5.87556),
    (dict(filters=2, kernel_size=3, padding="valid", dilation_rate=3), (2, 5, 2), 11.41615),
])
def test_conv1d_matches_keras(kwargs, out_shape, keras):
    layer = Conv1D(**kwargs)
    layer.build((None, 11, 3))
    layer.set_weights([det(layer.kernel.shape, 0.21), det((kwargs["filters"],), 1.3)])
    y, cache = layer.forward(det((2, 11, 3), 0.37))
    assert y.shape == out_shape == layer.compute_output_shape((2, 11, 3))
    assert abs(fingerprint(y) - keras) < 1e-3 * max(1.0, abs(keras))
    dx, grads = layer.backward(cache, np.ones_like(y))
    assert dx.shape == (2, 11, 3) and len(grads) == 2


def test_causal_output_never_sees_the_future():
    layer = Conv1D(2, 3, padding="causal", dilation_rate=2)
    layer.build((None, 12, 1))
    x = det((1, 12, 1), 0.5)
    x2 = x.copy()
    x2[:, 7:] += 1.0
    y, y2 = layer(x), layer(x2)
    np.testing.assert_array_equal(y[:, :7], y2[:, :7])
    assert Conv1D(2, 3, padding="causal").get_config()["padding"] == "causal"
