"""fit(steps_per_epoch=k) on arrays with more than k batches: as Keras 3, each
epoch goes on where the previous one stopped; the epoch reaching the end of the
data stops short with Keras's "ran out of data" warning, then a new pass starts.
Validation with validation_steps starts from the first batch every time.
Expected losses printed by Keras 3.15 for the same model and data."""
import numpy as np
import pytest

import pycnn as keras

X = np.arange(10, dtype="float32").reshape(10, 1)   # batches of 2: loss = mean x^2
Y = np.zeros((10, 1), "float32")


def _model():
    m = keras.Sequential([keras.Input((1,)),
                          keras.layers.Dense(1, kernel_initializer="ones", use_bias=False)])
    m.compile(keras.optimizers.SGD(0.0), "mse")
    return m


def test_epochs_continue_through_the_data():
    with pytest.warns(UserWarning, match="ran out of data"):
        h = _model().fit(X, Y, batch_size=2, epochs=5, steps_per_epoch=2, shuffle=False,
                         verbose=0, validation_data=(X, Y), validation_steps=2).history
    assert h["loss"] == pytest.approx([3.5, 31.5, 72.5, 3.5, 31.5])
    assert h["val_loss"] == pytest.approx([3.5] * 5)


def test_full_epochs_unchanged():
    h = _model().fit(X, Y, batch_size=2, epochs=2, shuffle=False, verbose=0).history
    assert h["loss"] == pytest.approx([28.5, 28.5])
