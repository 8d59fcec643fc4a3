"""Keras 3's other elementwise activations by name (Activation layer and
activation=): values printed by keras.activations for the same inputs, and
the derivatives used in training against central differences."""
import numpy as np
import pytest

from pycnn import activations, layers

X = np.array([-2, -0.7, -0.3, 0.2, 0.6, 1.5, 3], "float32")
KERAS = {
    "celu": [-0.864665, -0.503415, -0.259182, 0.2, 0.6, 1.5, 3.0],
    "squareplus": [0.414214, 0.709481, 0.861187, 1.104988, 1.344031, 2.0, 3.302776],
    "soft_shrink": [-1.5, -0.2, 0.0, 0.0, 0.1, 1.0, 2.5],
    "hard_shrink": [-2.0, -0.7, 0.0, 0.0, 0.6, 1.5, 3.0],
    "sparse_plus": [0.0, 0.0225, 0.1225, 0.36, 0.64, 1.5, 3.0],
    "sparse_sigmoid": [0.0, 0.15, 0.35, 0.6, 0.8, 1.0, 1.0],
    "tanh_shrink": [-1.035972, -0.095632, -0.008687, 0.002625, 0.06295, 0.594852, 2.004945],
    "hard_tanh": [-1.0, -0.7, -0.3, 0.2, 0.6, 1.0, 1.0],
    "log_sigmoid": [-2.126928, -1.103186, -0.854355, -0.598139, -0.437488, -0.201413,
                    -0.048587],
}


@pytest.mark.parametrize("name", sorted(KERAS))
def test_values_and_derivative(name):
    act = activations.get(name)
    np.testing.assert_allclose(act(X), KERAS[name], atol=2e-6)
    np.testing.assert_allclose(layers.Activation(name)(X[None])[0], KERAS[name], atol=2e-6)
    x = np.array([-1.7, -0.8, -0.2, 0.3, 0.9, 2.2], "float32")   # away from kinks
    h = 1e-3
    numeric = (act(x.astype(np.float64) + h).astype(np.float64) -
               act(x.astype(np.float64) - h).astype(np.float64)) / (2 * h)
    y = act(x)
    np.testing.assert_allclose(act.backward(x, y, np.ones_like(x)), numeric, atol=2e-3)
