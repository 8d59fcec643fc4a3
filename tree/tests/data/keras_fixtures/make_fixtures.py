"""Regenerate the Keras 3 reference files used by tests/test_saving.py.

Run with a Keras 3 install (not needed for the tests themselves):
    KERAS_BACKEND=jax python tests/data/keras_fixtures/make_fixtures.py
Each model is saved as <name>.keras and <name>.weights.h5; <name>.npz holds
an input batch ``x`` and Keras's predictions ``y`` (a list: y0, y1, ...).
"""
import os

import keras
import numpy as np
from keras import layers

HERE = os.path.dirname(os.path.abspath(__file__))


def cnn():
    model = keras.Sequential([
        keras.Input((8, 8, 2)),
        layers.Conv2D(4, 3, padding="same", activation="relu"),
        layers.BatchNormalization(),
        layers.MaxPooling2D(),
        layers.Conv2D(3, 3, activation="relu"),
        layers.Flatten(),
        layers.Dropout(0.25),
        layers.Dense(3, activation="softmax"),
    ], name="cnn")
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.random((16, 8, 8, 2), dtype=np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 16)]
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    return model, x[:4]


def functional():
    inner_in = keras.Input((6,))
    inner = keras.Model(inner_in, layers.Dense(4, activation="tanh")(inner_in), name="inner")
    a = keras.Input((6,), name="a")
    b = keras.Input((6,), name="b")
    shared = layers.Dense(6, activation="relu", name="shared")
    merged = layers.Concatenate()([shared(a), shared(b)])
    left = layers.Dense(4)(merged)
    right = inner(layers.Dense(6)(merged))
    out = layers.Add()([left, right])
    out = layers.BatchNormalization()(out)
    model = keras.Model([a, b], [layers.Dense(2)(out), out], name="functional_fixture")
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss=["mse", "mse"])
    rng = np.random.default_rng(1)
    xs = [rng.random((8, 6), dtype=np.float32) for _ in range(2)]
    ys = [rng.random((8, 2), dtype=np.float32), rng.random((8, 4), dtype=np.float32)]
    model.fit(xs, ys, epochs=1, batch_size=4, verbose=0)
    return model, [x[:3] for x in xs]


def recurrent():
    model = keras.Sequential([
        keras.Input((5, 3)),
        layers.LSTM(4, return_sequences=True),
        layers.GRU(3),
        layers.Dense(2),
    ], name="recurrent")
    x = np.random.default_rng(2).random((2, 5, 3), dtype=np.float32)
    return model, x


def main():
    for name, make in (("cnn", cnn), ("functional", functional), ("recurrent", recurrent)):
        model, x = make()
        y = model.predict(x, verbose=0)
        ys = y if isinstance(y, list) else [y]
        xs = x if isinstance(x, list) else [x]
        model.save(os.path.join(HERE, f"{name}.keras"))
        model.save_weights(os.path.join(HERE, f"{name}.weights.h5"))
        arrays = {f"x{i}": v for i, v in enumerate(xs)}
        arrays.update({f"y{i}": v for i, v in enumerate(ys)})
        np.savez(os.path.join(HERE, f"{name}.npz"), **arrays)


if __name__ == "__main__":
    main()
