"""activity_regularizer: regularizer(output) / batch size joins the loss of
fit, train_on_batch and evaluate, and its gradient the layer's output
gradient. Expected values were produced by Keras 3.15 (TensorFlow backend)
on the same models, weights and data."""
import warnings

import numpy as np
import pytest

import pycnn as keras
from pycnn import layers, regularizers

C = keras.initializers.Constant


def test_dense_penalty_in_evaluate_and_one_sgd_step():
    x = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    y = np.ones((4, 2), np.float32)
    model = keras.Sequential([keras.Input((3,)), layers.Dense(
        2, activity_regularizer=regularizers.L1(0.1), kernel_initializer="ones")])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    assert model.evaluate(x, y, verbose=0) == pytest.approx(1.7649998664855957, rel=1e-6)
    assert model.train_on_batch(x, y) == pytest.approx(1.7649998664855957, rel=1e-6)
    kernel, bias = model.layers[0].get_weights()
    np.testing.assert_allclose(kernel.ravel(), [0.9325, 0.9325, 0.925, 0.925, 0.9175, 0.9175],
                               rtol=1e-6)
    np.testing.assert_allclose(bias, [-0.075, -0.075], rtol=1e-6)
    # predict has no loss: the penalty changes nothing there
    np.testing.assert_allclose(model.predict(x, verbose=0), x @ kernel + bias, rtol=1e-6)


def test_conv_pool_and_softmax_output_keep_their_outputs_for_the_penalty():
    # A ReLU conv before a max pool and a softmax Dense before the cross-entropy
    # normally train through fused paths that never hold those outputs.
    rng = np.random.default_rng(0)
    x = rng.random((6, 6, 6, 2)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 6)]
    model = keras.Sequential([
        keras.Input((6, 6, 2)),
        layers.Conv2D(4, 3, activation="relu", activity_regularizer=regularizers.L2(0.01),
                      kernel_initializer=C(0.05), bias_initializer="zeros"),
        layers.MaxPooling2D(2), layers.Flatten(),
        layers.Dense(3, activation="softmax", activity_regularizer=regularizers.L1(0.05),
                     kernel_initializer=C(0.1))])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="categorical_crossentropy")
    history = model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"], [1.2519291639328003, 1.1233291625976562],
                               rtol=1e-5)
    assert model.evaluate(x, y, verbose=0, batch_size=6) == pytest.approx(1.0884145498275757,
                                                                          rel=1e-5)
    assert model.layers[0].get_weights()[0].sum() == pytest.approx(1.280721664428711, rel=1e-5)
    assert model.layers[3].get_weights()[0].sum() == pytest.approx(4.234736442565918, rel=1e-5)


def test_functional_branch_and_lstm():
    rng = np.random.default_rng(1)
    x = rng.random((5, 3)).astype(np.float32)
    y = rng.random((5, 1)).astype(np.float32)
    inp = keras.Input((3,))
    h = layers.Dense(4, activation="relu", activity_regularizer=regularizers.L2(0.02),
                     kernel_initializer=C(0.3))(inp)
    out = layers.Dense(1, kernel_initializer=C(0.2), activity_regularizer=regularizers.L1(0.01))(h)
    model = keras.Model(inp, out)
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    history = model.fit(x, y, epochs=3, batch_size=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"],
                               [0.038640666753053665, 0.03336838260293007, 0.031836844980716705],
                               rtol=1e-5)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(0.03123997524380684, rel=1e-5)

    xs = rng.random((4, 5, 2)).astype(np.float32)
    ys = rng.random((4, 1)).astype(np.float32)
    rnn = keras.Sequential([keras.Input((5, 2)),
                            layers.LSTM(3, activity_regularizer=regularizers.L1(0.01),
                                        kernel_initializer=C(0.1), recurrent_initializer=C(0.2)),
                            layers.Dense(1, kernel_initializer=C(0.5))])
    rnn.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    history = rnn.fit(xs, ys, epochs=3, batch_size=4, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"],
                               [0.1180291399359703, 0.08334418386220932, 0.07788126170635223],
                               rtol=1e-5)


def test_config_round_trip_and_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for make in (lambda: layers.Dense(2, activity_regularizer="l1"),
                     lambda: layers.Conv2D(2, 3, activity_regularizer="l2"),
                     lambda: layers.LSTM(2, activity_regularizer="l2")):
            layer = make()
            config = layer.get_config()["activity_regularizer"]
            assert config["module"] == "keras.regularizers"
            again = type(layer).from_config(layer.get_config())
            assert type(again.activity_regularizer) is type(layer.activity_regularizer)
    with pytest.raises(ValueError):
        layers.Dense(2, activity_regularizer="l3")
