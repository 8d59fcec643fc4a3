"""The users' layer list at work: small generated tasks that each model type
must learn to a stated accuracy or loss."""
import numpy as np

import pycnn
from pycnn import layers
from pycnn.layers import Input
from pycnn.models import Model, Sequential


def test_text_classifier_embedding_lstm_dense():
    pycnn.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.integers(2, 20, (600, 12))
    y = rng.integers(0, 2, 600)
    x[y == 1, rng.integers(0, 12, int(y.sum()))] = 1   # class 1: token 1 appears
    model = Sequential([Input(shape=(12,)), layers.Embedding(20, 8), layers.LSTM(16),
                        layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x[:500], y[:500], epochs=15, batch_size=32, verbose=0)
    _, acc = model.evaluate(x[500:], y[500:], verbose=0)
    assert acc >= 0.9, acc


def test_gru_sequence_model_learns_sign_of_sum():
    pycnn.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((600, 10, 1)).astype(np.float32)
    y = (x.sum(axis=(1, 2)) > 0).astype(np.float32)
    model = Sequential([Input(shape=(10, 1)), layers.GRU(16, return_sequences=True),
                        layers.GRU(8), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=pycnn.optimizers.Adam(0.01), loss="binary_crossentropy",
                  metrics=["accuracy"])
    model.fit(x[:500], y[:500], epochs=20, batch_size=32, verbose=0)
    _, acc = model.evaluate(x[500:], y[500:], verbose=0)
    assert acc >= 0.9, acc


def test_conv1d_model_finds_a_pattern():
    pycnn.utils.set_random_seed(2)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((600, 40, 1)).astype(np.float32) * 0.3
    y = rng.integers(0, 2, 600)
    pattern = np.array([1.0, 2.0, -2.0, -1.0], np.float32)
    starts = rng.integers(0, 36, 600)
    for offset in range(4):                            # plant the pattern in class 1
        x[np.flatnonzero(y == 1), starts[y == 1] + offset, 0] += pattern[offset]
    model = Sequential([Input(shape=(40, 1)),
                        layers.Conv1D(8, 4, activation="relu", padding="same"),
                        layers.MaxPooling1D(2), layers.Conv1D(8, 3, activation="relu"),
                        layers.GlobalMaxPooling1D(), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=pycnn.optimizers.Adam(0.01), loss="binary_crossentropy",
                  metrics=["accuracy"])
    model.fit(x[:500], y[:500], epochs=20, batch_size=32, verbose=0)
    _, acc = model.evaluate(x[500:], y[500:], verbose=0)
    assert acc >= 0.9, acc


def test_residual_block_with_add_regression():
    pycnn.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (512, 4)).astype(np.float32)
    y = (np.sin(2 * x[:, :1]) + x[:, 1:2] * x[:, 2:3]).astype(np.float32)
    inp = Input(shape=(4,))
    h = layers.Dense(32, activation="relu")(inp)
    r = layers.Dense(32, activation="relu")(h)
    r = layers.Dense(32)(r)
    h = layers.Activation("relu")(layers.Add()([h, r]))
    out = layers.Dense(1)(h)
    model = Model(inp, out)
    model.compile(optimizer=pycnn.optimizers.Adam(0.01), loss="mse")
    history = model.fit(x, y, epochs=60, batch_size=64, verbose=0)
    assert history.history["loss"][-1] < 0.01, history.history["loss"][-1]


def test_small_unet_segments_squares():
    pycnn.utils.set_random_seed(4)
    rng = np.random.default_rng(4)
    n, size = 160, 16
    x = rng.normal(0, 0.3, (n, size, size, 1)).astype(np.float32)
    y = np.zeros((n, size, size, 1), np.float32)
    corners = rng.integers(1, size - 7, (n, 2))
    sides = rng.integers(3, 7, n)
    rows = np.arange(size)[None, :, None]
    cols = np.arange(size)[None, None, :]
    inside = ((rows >= corners[:, 0, None, None]) & (rows < (corners[:, 0] + sides)[:, None, None])
              & (cols >= corners[:, 1, None, None]) & (cols < (corners[:, 1] + sides)[:, None, None]))
    y[inside] = 1.0
    x[inside] += 1.0

    inp = Input(shape=(size, size, 1))
    c1 = layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    p1 = layers.MaxPooling2D()(c1)
    c2 = layers.Conv2D(16, 3, padding="same", activation="relu")(p1)
    p2 = layers.MaxPooling2D()(c2)
    b = layers.Conv2D(16, 3, padding="same", activation="relu")(p2)
    u2 = layers.Conv2DTranspose(16, 2, strides=2, padding="same")(b)
    c3 = layers.Conv2D(16, 3, padding="same", activation="relu")(layers.Concatenate()([u2, c2]))
    u1 = layers.UpSampling2D()(c3)
    c4 = layers.Conv2D(8, 3, padding="same", activation="relu")(layers.Concatenate()([u1, c1]))
    out = layers.Conv2D(1, 1, activation="sigmoid")(c4)
    model = Model(inp, out)
    model.compile(optimizer=pycnn.optimizers.Adam(0.01), loss="binary_crossentropy",
                  metrics=["accuracy"])
    model.fit(x[:128], y[:128], epochs=15, batch_size=16, verbose=0)
    _, pixel_accuracy = model.evaluate(x[128:], y[128:], verbose=0)
    assert pixel_accuracy >= 0.97, pixel_accuracy
