"""Real data: seed note 001's MNIST network on real handwritten digits
(bundled in pycnn, no download) reaches >= 97% held-out accuracy."""
import numpy as np

import pycnn
from pycnn.datasets import digits
from pycnn.layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D
from pycnn.models import Sequential


def test_digits_loader_shapes_and_split():
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    assert x_train.shape == (1438, 28, 28) and x_test.shape == (359, 28, 28)
    assert x_train.dtype == np.uint8 and x_train.max() == 255
    assert set(np.unique(y_test)) == set(range(10))
    (a, _), (b, _) = digits.load_data()
    np.testing.assert_array_equal(a, x_train)  # fixed split on every machine


def test_seed_001_net_learns_real_digits():
    pycnn.utils.set_random_seed(7)
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    x_train = x_train[..., None].astype("float32") / 255.0
    x_test = x_test[..., None].astype("float32") / 255.0

    model = Sequential()
    model.add(Conv2D(filters=8, kernel_size=(5, 5), padding='same', activation='relu',
                     input_shape=(28, 28, 1)))
    model.add(MaxPool2D(pool_size=(2, 2)))
    model.add(Dropout(0.25))
    model.add(Flatten())
    model.add(Dense(10, activation="softmax"))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=32, epochs=25, verbose=0,
                        validation_data=(x_test, y_test))
    assert history.history["loss"][-1] < history.history["loss"][0]
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy >= 0.97, f"held-out accuracy {accuracy:.4f}"
    predicted = np.argmax(model.predict(x_test, verbose=0), axis=1)
    assert np.mean(predicted == y_test) == np.float32(accuracy) or \
        abs(np.mean(predicted == y_test) - accuracy) < 1e-6
