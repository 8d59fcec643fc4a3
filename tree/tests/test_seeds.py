"""The users' seed notes run on pycnn with only the imports changed, and their
summaries count the parameters Keras counts."""
import io
import contextlib

import numpy as np

import pycnn
from pycnn.layers import (BatchNormalization, Conv2D, Dense, Dropout, Flatten, InputLayer,
                          MaxPool2D)
from pycnn.losses import BinaryCrossentropy
from pycnn.models import Sequential
from pycnn.optimizers import Adam


def summary_text(model):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        model.summary()
    return buf.getvalue()


def build_seed_000():
    mdl = pycnn.Sequential()
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
    mdl.compile(optimizer=Adam(0.001), loss=BinaryCrossentropy(),
                metrics=['accuracy', 'MeanSquaredError', 'FalseNegatives'])
    return mdl


def test_seed_000_binary_classifier_summary_and_training():
    mdl = build_seed_000()
    text = summary_text(mdl)
    assert "Total params: 11,243,457" in text
    assert "Trainable params: 11,243,073" in text
    assert "Non-trainable params: 384" in text
    assert mdl.count_params() == 11_243_457
    assert [l.output.shape for l in mdl.layers][:6] == [
        (None, 150, 150, 32), (None, 75, 75, 32), (None, 75, 75, 64), (None, 37, 37, 64),
        (None, 87616), (None, 128)]
    rng = np.random.default_rng(0)
    x = rng.random((8, 150, 150, 3), dtype=np.float32)
    y = (rng.random(8) > 0.5).astype(np.float32)
    history = mdl.fit(x, y, epochs=2, batch_size=4, verbose=0)
    assert set(history.history) == {'loss', 'accuracy', 'MeanSquaredError', 'FalseNegatives'}
    assert len(history.history['loss']) == 2
    assert np.isfinite(history.history['loss']).all()
    p = mdl.predict(x, verbose=0)
    assert p.shape == (8, 1) and p.dtype == np.float32
    assert ((p >= 0) & (p <= 1)).all()


def test_seed_001_mnist_nets_summary():
    model = Sequential()
    model.add(Conv2D(filters=8, kernel_size=(5, 5), padding='same', activation='relu',
                     input_shape=(28, 28, 1)))
    model.add(MaxPool2D(pool_size=(2, 2)))
    model.add(Dropout(0.25))
    model.add(Flatten())
    model.add(Dense(10, activation="softmax"))
    assert "Total params: 15,898" in summary_text(model)

    model = Sequential()
    model.add(Conv2D(filters=8, kernel_size=(5, 5), padding='valid', activation='relu',
                     input_shape=(28, 28, 1)))
    model.add(MaxPool2D(pool_size=(2, 2)))
    model.add(Conv2D(filters=16, kernel_size=(3, 3), padding='valid', activation='relu'))
    model.add(MaxPool2D(pool_size=(2, 2), strides=(2, 2)))
    model.add(Dense(10, activation="softmax"))
    text = summary_text(model)
    assert "Total params: 1,546" in text
    # The note's neuron counts: 24*24*8, 12*12*8, 10*10*16, 5*5*16.
    shapes = [l.output.shape for l in model.layers]
    assert shapes == [(None, 24, 24, 8), (None, 12, 12, 8), (None, 10, 10, 16),
                      (None, 5, 5, 16), (None, 5, 5, 10)]
    # Dense straight after pooling applies to the last axis, as in Keras.
    x = np.random.default_rng(1).random((3, 28, 28, 1), dtype=np.float32)
    out = model.predict(x, verbose=0)
    assert out.shape == (3, 5, 5, 10)
    np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-5)
    # It trains on per-position labels, as Keras's sparse cross-entropy allows.
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy',
                  metrics=['accuracy'])
    y = np.random.default_rng(2).integers(0, 10, (3, 5, 5))
    model.fit(x, y, epochs=1, verbose=0)


def test_seed_003_single_neuron_and_get_weights():
    model = Sequential([
        Dense(1, input_shape=(1,), activation='relu')
    ])
    text = summary_text(model)
    assert "Total params: 2 (8.00 B)" in text
    w = model.get_weights()
    assert [a.shape for a in w] == [(1, 1), (1,)]
    assert [a.dtype for a in w] == [np.float32, np.float32]
    assert w[1][0] == 0.0
    assert abs(w[0][0, 0]) <= np.sqrt(3.0)  # glorot_uniform: limit sqrt(6 / (1 + 1))


def test_seed_003_neuron_learns_multiplication():
    pycnn.utils.set_random_seed(0)
    x = np.arange(1, 21, dtype=np.float32).reshape(-1, 1) / 10.0
    y = 3.0 * x
    model = Sequential([Dense(1, input_shape=(1,))])
    model.compile(optimizer=Adam(0.1), loss='mse')
    model.fit(x, y, epochs=300, batch_size=20, verbose=0)
    kernel, bias = model.get_weights()
    assert abs(kernel[0, 0] - 3.0) < 0.05 and abs(bias[0]) < 0.05
    np.testing.assert_allclose(model.predict(np.array([[5.0]]), verbose=0), [[15.0]],
                               rtol=0.02)


def test_seed_003_neuron_learns_addition():
    pycnn.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 10, (200, 2)).astype(np.float32)
    y = x.sum(axis=1, keepdims=True)
    model = Sequential([Dense(1, input_shape=(2,))])
    model.compile(optimizer=Adam(0.02), loss='mse', metrics=['mae'])
    history = model.fit(x, y, epochs=300, batch_size=32, verbose=0)
    assert history.history['loss'][-1] < 1e-2
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(kernel[:, 0], [1.0, 1.0], atol=0.01)
    np.testing.assert_allclose(model.predict(np.array([[2.0, 3.0]]), verbose=0), [[5.0]],
                               atol=0.05)
