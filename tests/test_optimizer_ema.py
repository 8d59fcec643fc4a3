"""use_ema: the optimizer keeps moving averages of the weights, overwrites
them every ema_overwrite_frequency steps and fit ends with the averages, as
Keras 3. Expected values printed by Keras 3.15 for the same calls."""
import numpy as np
import pytest

import pycnn as keras

X = np.array([[1, 2, 3], [0, -1, 2], [2, 0, -1], [1, 1, 1]], "float32")
Y = np.array([[1, 0], [0, 1], [1, 1], [-1, 0]], "float32")


@pytest.mark.parametrize("kwargs, losses, kernel, bias", [
    (dict(ema_momentum=0.5), [2.131248, 1.274208],
     [[0.213203, -0.24132], [0.430287, 0.143942], [-0.283939, 0.313033]],
     [0.266632, -0.189283]),
    (dict(ema_momentum=0.9, ema_overwrite_frequency=3), [2.131248, 1.310827],
     [[0.201945, -0.288161], [0.405289, 0.271505], [-0.379134, 0.465423]],
     [0.211719, -0.197326]),
])
def test_fit_with_ema(kwargs, losses, kernel, bias):
    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    m.set_weights([np.array([[0.1, -0.2], [0.3, 0.4], [-0.5, 0.6]], "float32"),
                   np.array([0.1, -0.1], "float32")])
    m.compile(keras.optimizers.Adam(0.1, use_ema=True, **kwargs), "mse")
    h = m.fit(X, Y, epochs=2, batch_size=2, shuffle=False, verbose=0).history
    assert h["loss"] == pytest.approx(losses, abs=1e-5)
    np.testing.assert_allclose(m.get_weights()[0], kernel, atol=1e-5)
    np.testing.assert_allclose(m.get_weights()[1], bias, atol=1e-5)
