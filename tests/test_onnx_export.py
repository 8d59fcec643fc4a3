"""ONNX export: every exported graph runs in onnxruntime and agrees with
model.predict to 1e-4."""
import numpy as np
import pytest

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import onnx  # noqa: E402

import pycnn  # noqa: E402
import pycnn.applications  # noqa: E402
from pycnn import layers  # noqa: E402
from pycnn.export import export_onnx  # noqa: E402
from pycnn.layers import (BatchNormalization, Conv2D, Dense, Dropout, Flatten,  # noqa: E402
                          InputLayer, MaxPool2D)
from pycnn.losses import BinaryCrossentropy  # noqa: E402
from pycnn.models import Model, Sequential  # noqa: E402
from pycnn.optimizers import Adam  # noqa: E402


def run_onnx(path, xs):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {i.name: x for i, x in zip(sess.get_inputs(), xs)}
    return sess.run(None, feed)


def check_export(model, x, tmp_path, rtol=1e-4, **kwargs):
    """Export, run in onnxruntime, compare every output with predict."""
    path = tmp_path / "m.onnx"
    export_onnx(model, path, **kwargs)
    xs = x if isinstance(x, list) else [x]
    got = run_onnx(path, xs)
    want = model.predict(x, verbose=0)
    want = want if isinstance(want, list) else [want]
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert_matches(g, w, rtol, what=f"output {i}")
    return onnx.load(str(path))


def assert_matches(got, want, rtol=1e-4, what=""):
    """Within ``rtol`` of the largest expected magnitude (so tiny softmax
    probabilities are compared at their own scale, not at 1)."""
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    err = float(np.max(np.abs(got.astype(np.float64) - want))) if want.size else 0.0
    assert err <= rtol * scale + 1e-6, f"{what}: max error {err:.3g} (scale {scale:.3g})"


def op_types(proto):
    return [n.op_type for n in proto.graph.node]


@pytest.fixture
def rng():
    return np.random.default_rng(7)


# ----- the seed networks ------------------------------------------------------
def test_seed_000_classifier_with_trained_batchnorm(tmp_path, rng):
    pycnn.utils.set_random_seed(0)
    mdl = Sequential()
    mdl.add(InputLayer(input_shape=(150, 150, 3)))
    mdl.add(Conv2D(filters=32, kernel_size=3, activation='relu', padding='same'))
    mdl.add(MaxPool2D())
    mdl.add(Conv2D(filters=64, kernel_size=3, activation='relu', padding='same'))
    mdl.add(MaxPool2D())
    mdl.add(Flatten())
    mdl.add(Dense(128, activation='relu'))
    mdl.add(BatchNormalization())
    mdl.add(Dropout(rate=0.3))
    mdl.add(Dense(64, activation='relu'))
    mdl.add(BatchNormalization())
    mdl.add(Dropout(rate=0.3))
    mdl.add(Dense(1, activation='sigmoid'))
    mdl.compile(optimizer=Adam(0.001), loss=BinaryCrossentropy(), metrics=['accuracy'])
    x = rng.random((4, 150, 150, 3), dtype=np.float32)
    mdl.train_on_batch(x, (rng.random(4) > 0.5).astype(np.float32))
    bn = mdl.layers[6]
    assert not np.allclose(bn.moving_mean.numpy(), 0)  # the stats moved
    proto = check_export(mdl, x, tmp_path)
    # One transpose into channels-first, one back before Flatten.
    assert op_types(proto).count("Transpose") == 2


def test_seed_001_mnist_nets(tmp_path, rng):
    model = Sequential()
    model.add(Conv2D(filters=8, kernel_size=(5, 5), padding='same', activation='relu',
                     input_shape=(28, 28, 1)))
    model.add(MaxPool2D(pool_size=(2, 2)))
    model.add(Dropout(0.25))
    model.add(Flatten())
    model.add(Dense(10, activation="softmax"))
    x = rng.random((3, 28, 28, 1), dtype=np.float32)
    check_export(model, x, tmp_path)

    model = Sequential()
    model.add(Conv2D(filters=8, kernel_size=(5, 5), padding='valid', activation='relu',
                     input_shape=(28, 28, 1)))
    model.add(MaxPool2D(pool_size=(2, 2)))
    model.add(Conv2D(filters=16, kernel_size=(3, 3), padding='valid', activation='relu'))
    model.add(MaxPool2D(pool_size=(2, 2), strides=(2, 2)))
    model.add(Dense(10, activation="softmax"))  # rank-4 Dense on the last axis
    check_export(model, x, tmp_path)


def test_seed_003_single_neuron(tmp_path):
    model = Sequential([Dense(1, input_shape=(1,), activation='relu')])
    model.set_weights([np.array([[2.5]], np.float32), np.array([0.5], np.float32)])
    x = np.array([[-1.0], [0.0], [3.0]], np.float32)
    check_export(model, x, tmp_path)


def test_dynamic_and_fixed_batch(tmp_path, rng):
    model = Sequential([Dense(3, input_shape=(4,))])
    path = tmp_path / "m.onnx"
    export_onnx(model, path)
    dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and dims[1].dim_value == 4
    for n in (1, 5):
        x = rng.random((n, 4), dtype=np.float32)
        assert_matches(run_onnx(path, [x])[0], model.predict(x, verbose=0))
    export_onnx(model, path, batch_size=2)
    dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_value == 2


# ----- activations ------------------------------------------------------------
ACTIVATIONS = ["relu", "sigmoid", "tanh", "elu", "selu", "gelu", "swish", "silu",
               "leaky_relu", "softplus", "softmax", "linear", None, "relu6", "softsign",
               "hard_sigmoid", "hard_silu", "mish", "exponential", "log_softmax"]


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_activation_codes_in_dense_conv_and_layer(tmp_path, rng, act):
    inp = layers.Input(shape=(6, 5, 3))
    a = layers.Conv2D(4, 3, padding="same", activation=act)(inp)
    b = layers.Dense(5, activation=act)(layers.Flatten()(a))
    c = layers.Activation(act if act is not None else "linear")(inp)
    model = Model(inp, [a, b, c])
    # exp of exp overflows float32 for some random weights at the larger scale
    scale = 0.3 if act == "exponential" else 3.0
    x = (rng.standard_normal((2, 6, 5, 3)) * scale).astype(np.float32)
    check_export(model, x, tmp_path)


def test_activation_layers(tmp_path, rng):
    inp = layers.Input(shape=(4, 6))
    outs = [layers.ReLU()(inp), layers.ReLU(max_value=1.5)(inp),
            layers.ReLU(negative_slope=0.1, threshold=0.3)(inp),
            layers.ReLU(max_value=2.0, negative_slope=0.2, threshold=0.5)(inp),
            layers.LeakyReLU()(inp), layers.LeakyReLU(negative_slope=0.05)(inp),
            layers.ELU()(inp), layers.ELU(alpha=0.5)(inp),
            layers.Softmax()(inp), layers.Softmax(axis=1)(inp),
            layers.Softmax(axis=(1, 2))(inp)]
    model = Model(inp, outs)
    x = (rng.standard_normal((3, 4, 6)) * 2).astype(np.float32)
    check_export(model, x, tmp_path)


def test_leaky_relu_string_uses_keras_slope(tmp_path):
    model = Sequential([layers.Activation("leaky_relu", input_shape=(3,))])
    proto = check_export(model, np.array([[-1.0, 0.0, 2.0]], np.float32), tmp_path)
    (node,) = [n for n in proto.graph.node if n.op_type == "LeakyRelu"]
    assert node.attribute[0].f == pytest.approx(0.2)


def test_softmax_after_conv_is_over_channels(tmp_path, rng):
    model = Sequential([layers.Conv2D(5, 1, input_shape=(3, 4, 2)),
                        layers.Activation("softmax")])
    check_export(model, rng.standard_normal((2, 3, 4, 2)).astype(np.float32), tmp_path)


# ----- convolution and pooling --------------------------------------------------
@pytest.mark.parametrize("kernel,strides,dilation,padding", [
    (3, 1, 1, "valid"), (3, 1, 1, "same"), (3, 2, 1, "same"), (4, 2, 1, "same"),
    (2, 3, 1, "same"), ((3, 2), (2, 1), 1, "same"), (3, 1, 2, "same"),
    ((3, 1), 1, (1, 3), "valid"), (1, 2, 1, "valid"), (5, 3, 1, "valid")])
def test_conv2d_grid(tmp_path, rng, kernel, strides, dilation, padding):
    model = Sequential([layers.Conv2D(3, kernel, strides=strides, dilation_rate=dilation,
                                      padding=padding, input_shape=(11, 10, 2))])
    model.layers[0].bias.assign(rng.standard_normal(3).astype(np.float32))
    check_export(model, rng.standard_normal((2, 11, 10, 2)).astype(np.float32), tmp_path)


@pytest.mark.parametrize("kernel,strides,dilation,padding", [
    (3, 1, 1, "valid"), (4, 2, 1, "same"), (3, 3, 1, "same"), (3, 1, 3, "same"),
    (1, 1, 1, "valid"), (3, 1, 1, "causal"), (3, 1, 2, "causal"), (4, 2, 1, "causal")])
def test_conv1d_grid(tmp_path, rng, kernel, strides, dilation, padding):
    model = Sequential([layers.Conv1D(4, kernel, strides=strides, dilation_rate=dilation,
                                      padding=padding, use_bias=False,
                                      input_shape=(13, 3))])
    check_export(model, rng.standard_normal((2, 13, 3)).astype(np.float32), tmp_path)


@pytest.mark.parametrize("cls", ["MaxPooling2D", "AveragePooling2D"])
@pytest.mark.parametrize("pool,strides,padding", [
    (2, None, "valid"), (3, 2, "valid"), (3, 2, "same"), (2, 3, "same"),
    ((3, 2), (1, 2), "same"), (4, 1, "same")])
def test_pool2d_grid(tmp_path, rng, cls, pool, strides, padding):
    model = Sequential([getattr(layers, cls)(pool, strides=strides, padding=padding,
                                             input_shape=(9, 8, 3))])
    check_export(model, rng.standard_normal((2, 9, 8, 3)).astype(np.float32), tmp_path)


@pytest.mark.parametrize("cls", ["MaxPooling1D", "AveragePooling1D"])
@pytest.mark.parametrize("pool,strides,padding", [(2, None, "valid"), (3, 2, "same"),
                                                  (4, 3, "same")])
def test_pool1d_grid(tmp_path, rng, cls, pool, strides, padding):
    model = Sequential([getattr(layers, cls)(pool, strides=strides, padding=padding,
                                             input_shape=(10, 3))])
    check_export(model, rng.standard_normal((2, 10, 3)).astype(np.float32), tmp_path)


def test_global_pooling_and_padding(tmp_path, rng):
    inp2 = layers.Input(shape=(7, 6, 3))
    inp1 = layers.Input(shape=(9, 4))
    p2 = layers.ZeroPadding2D(((1, 2), (0, 3)))(layers.Conv2D(3, 3)(inp2))
    p1 = layers.ZeroPadding1D((2, 1))(inp1)
    outs = [layers.GlobalMaxPooling2D()(p2), layers.GlobalAveragePooling2D()(p2),
            layers.GlobalAveragePooling2D(keepdims=True)(p2),
            layers.GlobalMaxPooling1D()(p1), layers.GlobalAveragePooling1D()(p1),
            layers.GlobalMaxPooling1D(keepdims=True)(p1), p2, p1]
    model = Model([inp2, inp1], outs)
    x = [rng.standard_normal((2, 7, 6, 3)).astype(np.float32),
         rng.standard_normal((2, 9, 4)).astype(np.float32)]
    check_export(model, x, tmp_path)


def test_conv_with_unknown_spatial_size(tmp_path, rng):
    model = Sequential([layers.Conv2D(4, 3, strides=2, padding="same",
                                      input_shape=(None, None, 2)),
                        layers.MaxPooling2D(2, padding="same"),
                        layers.GlobalAveragePooling2D()])
    check_export(model, rng.standard_normal((2, 9, 7, 2)).astype(np.float32), tmp_path)


def test_batchnorm_ranks_and_axes(tmp_path, rng):
    inp = layers.Input(shape=(5, 4, 3))
    seq = layers.Input(shape=(6, 4))
    outs = [layers.BatchNormalization()(layers.Conv2D(3, 1)(inp)),
            layers.BatchNormalization(axis=1, center=False)(inp),
            layers.BatchNormalization(scale=False, epsilon=0.1)(seq),
            layers.BatchNormalization()(layers.Dense(3)(layers.Flatten()(seq)))]
    model = Model([inp, seq], outs)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.standard_normal(n).astype(np.float32))
            layer.moving_variance.assign(rng.uniform(0.5, 2, n).astype(np.float32))
            if layer.scale:
                layer.gamma.assign(rng.uniform(0.5, 2, n).astype(np.float32))
    x = [rng.standard_normal((2, 5, 4, 3)).astype(np.float32),
         rng.standard_normal((2, 6, 4)).astype(np.float32)]
    check_export(model, x, tmp_path)


def test_reshape_and_flatten_order(tmp_path, rng):
    model = Sequential([layers.Conv2D(4, 3, input_shape=(6, 6, 2)),
                        layers.Reshape((8, -1)), layers.Dense(3),
                        layers.Reshape((4, 2, 3)), layers.Conv2D(2, 1),
                        layers.Flatten(), layers.Dense(2)])
    check_export(model, rng.standard_normal((3, 6, 6, 2)).astype(np.float32), tmp_path)


# ----- merging, multiple inputs and outputs -------------------------------------
def test_merging_layers_two_inputs_two_outputs(tmp_path, rng):
    a_in = layers.Input(shape=(6, 6, 3), name="image_a")
    b_in = layers.Input(shape=(6, 6, 3), name="image_b")
    a = layers.Conv2D(4, 3, padding="same")(a_in)   # channels-first inside
    b = layers.Conv2D(4, 1)(b_in)
    c = layers.Dense(4)(b_in)                       # channels-last
    merged = [layers.Add()([a, b]), layers.Subtract()([a, c]), layers.Multiply()([a, b, c]),
              layers.Average()([a, b]), layers.Maximum()([a, c]), layers.Minimum()([b, c]),
              layers.Add()([a, b, c])]
    cat_last = layers.Concatenate()(merged)
    cat_h = layers.Concatenate(axis=1)([a, b])
    cat_w = layers.Concatenate(axis=2)([a, c])
    out1 = layers.Dense(2, activation="softmax")(layers.Flatten()(cat_last))
    out2 = layers.Concatenate()([layers.GlobalMaxPooling2D()(cat_h),
                                 layers.GlobalAveragePooling2D()(cat_w)])
    model = Model([a_in, b_in], [out1, out2])
    x = [rng.standard_normal((2, 6, 6, 3)).astype(np.float32),
         rng.standard_normal((2, 6, 6, 3)).astype(np.float32)]
    proto = check_export(model, x, tmp_path)
    assert [i.name for i in proto.graph.input] == ["image_a", "image_b"]


def test_broadcast_merge(tmp_path, rng):
    x_in = layers.Input(shape=(4, 5, 3))
    g = layers.GlobalAveragePooling2D(keepdims=True)(layers.Conv2D(3, 1)(x_in))
    model = Model(x_in, layers.Multiply()([x_in, g]))
    check_export(model, rng.standard_normal((2, 4, 5, 3)).astype(np.float32), tmp_path)


def test_output_is_input_and_shared_tensor(tmp_path, rng):
    inp = layers.Input(shape=(3,))
    d = layers.Dense(2)(inp)
    model = Model(inp, [d, inp, d])
    check_export(model, rng.standard_normal((2, 3)).astype(np.float32), tmp_path)


# ----- embeddings and recurrent layers ----------------------------------------------
def test_embedding_sequence_model(tmp_path, rng):
    model = Sequential([layers.Embedding(20, 6, input_shape=(7,)),
                        layers.SpatialDropout1D(0.2),
                        layers.Conv1D(4, 3, padding="same", activation="relu"),
                        layers.GlobalMaxPooling1D(), layers.Dense(1)])
    x = rng.integers(0, 20, (3, 7))
    proto = check_export(model, x, tmp_path)
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64


RNN_OPTIONS = [dict(), dict(return_sequences=True), dict(return_state=True),
               dict(return_sequences=True, return_state=True), dict(go_backwards=True),
               dict(go_backwards=True, return_sequences=True), dict(use_bias=False),
               dict(activation="relu"), dict(recurrent_activation="tanh"),
               dict(activation="elu", recurrent_activation="softplus"),
               dict(activation="linear"), dict(activation="leaky_relu"),
               dict(recurrent_activation="hard_sigmoid")]


def _randomize(layer, rng):
    layer.set_weights([rng.standard_normal(w.shape).astype(np.float32) * 0.4
                       for w in layer.get_weights()])


@pytest.mark.parametrize("opts", RNN_OPTIONS)
def test_lstm_options(tmp_path, rng, opts):
    inp = layers.Input(shape=(5, 3))
    rnn = layers.LSTM(4, **opts)
    model = Model(inp, rnn(inp))
    _randomize(rnn, rng)
    check_export(model, rng.standard_normal((2, 5, 3)).astype(np.float32), tmp_path)


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("opts", RNN_OPTIONS)
def test_gru_options(tmp_path, rng, opts, reset_after):
    inp = layers.Input(shape=(5, 3))
    rnn = layers.GRU(4, reset_after=reset_after, **opts)
    model = Model(inp, rnn(inp))
    _randomize(rnn, rng)
    check_export(model, rng.standard_normal((2, 5, 3)).astype(np.float32), tmp_path)


def test_stacked_text_model(tmp_path, rng):
    model = Sequential([layers.Embedding(30, 8, input_shape=(6,)),
                        layers.LSTM(5, return_sequences=True),
                        layers.GRU(4, go_backwards=True), layers.Dense(2, "softmax")])
    check_export(model, rng.integers(0, 30, (3, 6)), tmp_path)


def test_unsupported_recurrent_activation(tmp_path):
    model = Sequential([layers.LSTM(2, activation="selu", input_shape=(3, 2))])
    with pytest.raises(NotImplementedError, match="selu"):
        export_onnx(model, tmp_path / "m.onnx")


# ----- nested models, errors, ResNet50 -----------------------------------------------
def test_nested_models(tmp_path, rng):
    block = Sequential([layers.Conv2D(4, 3, padding="same", activation="relu",
                                      input_shape=(8, 8, 3)), layers.MaxPooling2D()])
    i1 = layers.Input(shape=(4, 4, 4))
    i2 = layers.Input(shape=(4, 4, 4))
    pair = Model([i1, i2], [layers.Add()([i1, i2]), layers.Conv2D(2, 1)(i2)])
    inp = layers.Input(shape=(8, 8, 3))
    f = block(inp)
    s, c = pair([f, f])
    out = layers.Dense(3)(layers.Flatten()(layers.Concatenate()([s, c])))
    model = Model(inp, [out, block(inp)])   # a shared sub-model, called twice
    check_export(model, rng.standard_normal((2, 8, 8, 3)).astype(np.float32), tmp_path)


def test_unsupported_layer_names_layer_and_class(tmp_path):
    class Custom(pycnn.layers.Layer):
        def forward(self, x, training=False):
            return x, None

    model = Sequential([layers.Dense(2, input_shape=(3,)), Custom(name="mine")])
    with pytest.raises(NotImplementedError, match="'mine' of class Custom"):
        export_onnx(model, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_unbuilt_model_raises(tmp_path):
    with pytest.raises(ValueError, match="not built"):
        export_onnx(Sequential([layers.Dense(2)]), tmp_path / "m.onnx")


def test_resnet50(tmp_path, rng):
    pycnn.utils.set_random_seed(1)
    model = pycnn.applications.ResNet50(weights=None, input_shape=(64, 64, 3))
    # Non-trivial BatchNormalization statistics everywhere.
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0, 0.1, n).astype(np.float32))
            layer.moving_variance.assign(rng.uniform(0.8, 1.2, n).astype(np.float32))
    # The features before the classifier too: softmax over 1000 classes hides
    # errors in tiny probabilities.
    both = Model(model.inputs, [model.outputs[0], model.get_layer("avg_pool").output])
    x = rng.random((2, 64, 64, 3), dtype=np.float32)
    proto = check_export(both, x, tmp_path)
    assert op_types(proto).count("Transpose") == 1  # into channels-first, once


# ----- layers other modules add (skipped until they exist) -----------------------
def _layer_class(name):
    import importlib
    cls = getattr(layers, name, None)
    for module in ("convolutional", "reshaping", "resizing"):
        if cls is None:
            try:
                cls = getattr(importlib.import_module(f"pycnn.layers.{module}"), name, None)
            except ImportError:
                pass
    if cls is None:
        pytest.skip(f"pycnn.layers.{name} does not exist yet")
    return cls


@pytest.mark.parametrize("kernel,strides,padding", [
    (3, 1, "same"), (3, 2, "same"), (4, 2, "same"), (2, 3, "same"), (3, 2, "valid"),
    (1, 2, "valid"), ((3, 2), (2, 1), "same"), (5, 3, "valid"), (5, 2, "same"),
    (2, 2, "valid")])
@pytest.mark.parametrize("output_padding", [None, 1])
def test_conv2d_transpose(tmp_path, rng, kernel, strides, padding, output_padding):
    cls = _layer_class("Conv2DTranspose")
    if output_padding is not None and min(np.atleast_1d(strides)) <= output_padding:
        pytest.skip("Keras requires output_padding < strides")
    model = Sequential([layers.Conv2D(3, 1, input_shape=(5, 6, 2)),
                        cls(4, kernel, strides=strides, padding=padding,
                            output_padding=output_padding, activation="relu")])
    model.layers[1].bias.assign(rng.standard_normal(4).astype(np.float32))
    check_export(model, rng.standard_normal((2, 5, 6, 2)).astype(np.float32), tmp_path)


def test_conv2d_transpose_dilated(tmp_path, rng):
    cls = _layer_class("Conv2DTranspose")
    model = Sequential([cls(3, 3, dilation_rate=2, padding="same", input_shape=(5, 4, 2)),
                        cls(2, (2, 3), dilation_rate=(1, 2), input_shape=(5, 4, 2))])
    check_export(model, rng.standard_normal((2, 5, 4, 2)).astype(np.float32), tmp_path)


@pytest.mark.parametrize("size,interpolation", [
    (2, "nearest"), ((2, 3), "nearest"), (2, "bilinear"), ((3, 2), "bilinear"),
    (2, "bicubic")])
def test_upsampling2d(tmp_path, rng, size, interpolation):
    cls = _layer_class("UpSampling2D")
    model = Sequential([cls(size, interpolation=interpolation, input_shape=(4, 5, 3)),
                        layers.Conv2D(2, 3, padding="same")])
    check_export(model, rng.standard_normal((2, 4, 5, 3)).astype(np.float32), tmp_path)


def test_upsampling_unknown_size_and_1d(tmp_path, rng):
    up2 = _layer_class("UpSampling2D")
    up1 = _layer_class("UpSampling1D")
    for method in ("nearest", "bilinear"):
        model = Sequential([up2((2, 3), interpolation=method, input_shape=(None, None, 2))])
        check_export(model, rng.standard_normal((2, 3, 4, 2)).astype(np.float32), tmp_path)
    model = Sequential([layers.Conv1D(2, 3, input_shape=(6, 2)), up1(3)])
    check_export(model, rng.standard_normal((2, 6, 2)).astype(np.float32), tmp_path)


@pytest.mark.parametrize("height,width", [(8, 10), (3, 2), (6, 5), (7, 13), (2, 9)])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest", "bicubic", "lanczos3",
                                           "lanczos5"])
def test_resizing(tmp_path, rng, height, width, interpolation):
    cls = _layer_class("Resizing")
    model = Sequential([cls(height, width, interpolation=interpolation,
                            input_shape=(6, 5, 3))])
    check_export(model, rng.standard_normal((2, 6, 5, 3)).astype(np.float32), tmp_path)


@pytest.mark.parametrize("opts", [dict(crop_to_aspect_ratio=True),
                                  dict(pad_to_aspect_ratio=True, fill_value=0.5),
                                  dict(antialias=True),
                                  dict(antialias=True, interpolation="bicubic"),
                                  dict(antialias=True, interpolation="lanczos3",
                                       crop_to_aspect_ratio=True)])
@pytest.mark.parametrize("height,width", [(4, 8), (9, 3)])
def test_resizing_options(tmp_path, rng, opts, height, width):
    cls = _layer_class("Resizing")
    model = Sequential([cls(height, width, input_shape=(10, 7, 2), **opts)])
    check_export(model, rng.standard_normal((2, 10, 7, 2)).astype(np.float32), tmp_path)


def test_resizing_needs_known_size_for_tables(tmp_path):
    cls = _layer_class("Resizing")
    model = Sequential([cls(4, 4, interpolation="bicubic", input_shape=(None, None, 1))])
    with pytest.raises(NotImplementedError, match="bicubic"):
        export_onnx(model, tmp_path / "m.onnx")


@pytest.mark.parametrize("opset", [13, 17, 18, 20])
def test_opsets(tmp_path, rng, opset):
    inp = layers.Input(shape=(5, 4, 3))
    x = layers.Conv2D(4, 3, padding="same", activation="gelu")(inp)
    s = layers.Softmax(axis=(1, 2))(x)
    r = layers.LSTM(3, return_state=True)(layers.Reshape((5, 16))(x))
    model = Model(inp, [s, layers.GlobalAveragePooling2D()(x)] + r)
    proto = check_export(model, rng.standard_normal((2, 5, 4, 3)).astype(np.float32),
                         tmp_path, opset=opset)
    assert proto.opset_import[0].version == opset


def test_old_opset_rejected(tmp_path):
    with pytest.raises(ValueError, match="opset"):
        export_onnx(Sequential([layers.Dense(2, input_shape=(3,))]), tmp_path / "m.onnx",
                    opset=11)


def test_shared_weights_stored_once(tmp_path, rng):
    dense = layers.Dense(8)
    a, b = layers.Input(shape=(4,)), layers.Input(shape=(4,))
    model = Model([a, b], layers.Add()([dense(a), dense(b)]))
    x = [rng.standard_normal((2, 4)).astype(np.float32) for _ in range(2)]
    proto = check_export(model, x, tmp_path)
    assert len(proto.graph.initializer) == 2  # one kernel, one bias


def test_recurrent_with_unknown_length(tmp_path, rng):
    model = Sequential([layers.LSTM(4, return_sequences=True, input_shape=(None, 3)),
                        layers.GRU(3, go_backwards=True)])
    path = tmp_path / "m.onnx"
    export_onnx(model, path)
    for steps in (2, 7):
        x = rng.standard_normal((3, steps, 3)).astype(np.float32)
        assert_matches(run_onnx(path, [x])[0], model.predict(x, verbose=0))


def test_graph_names_are_keras_names(tmp_path, rng):
    inp = layers.Input(shape=(3,), name="features")
    out = layers.Dense(2, name="scores")(layers.Dense(4, name="hidden")(inp))
    proto = check_export(Model(inp, out), rng.standard_normal((2, 3)).astype(np.float32),
                         tmp_path)
    assert [o.name for o in proto.graph.output] == ["scores"]
    assert "Identity" not in op_types(proto)
