"""Weight constraints are applied after each optimizer step, as in Keras 3.
Expected values printed by Keras 3.15 for the same models, weights and data."""
import numpy as np
import pytest

import pycnn as keras
from pycnn import constraints, layers


def _fit(stack, xshape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8,) + xshape).astype("float32")
    y = rng.standard_normal((8, 2)).astype("float32")
    m = keras.Sequential([keras.Input(xshape)] + stack)
    r = np.random.default_rng(1)
    m.set_weights([r.standard_normal(w.shape).astype("float32") for w in m.weights])
    m.compile(keras.optimizers.Adam(0.05), "mse")
    return m, m.fit(x, y, epochs=3, batch_size=4, verbose=0, shuffle=False).history["loss"]


@pytest.mark.parametrize("make, xshape, losses, w0, w1", [
    (lambda: [layers.Dense(3, kernel_constraint="non_neg",
                           bias_constraint=constraints.MaxNorm(0.5)),
              layers.Dense(2, kernel_constraint=constraints.UnitNorm())], (4,),
     [2.1086, 1.5561, 1.0496], [0.3484, 0.6204, 0.3426, 0.2348], [-0.1627, 0.0933, -0.4635]),
    (lambda: [layers.LSTM(3, kernel_constraint="max_norm", recurrent_constraint="unit_norm",
                          bias_constraint="non_neg"), layers.Dense(2)], (4, 2),
     [1.3418, 1.0349, 0.8031], [0.6175, 1.0101, 0.0396, -1.1082],
     [-0.967, -0.4955, -0.2265, -0.3809]),
])
def test_fit_projects_constrained_weights(tmp_path, make, xshape, losses, w0, w1):
    m, fit_losses = _fit(make(), xshape)
    assert fit_losses == pytest.approx(losses, abs=1e-4)
    weights = m.get_weights()
    np.testing.assert_allclose(weights[0].ravel()[:4], w0, atol=1e-4)
    np.testing.assert_allclose(weights[1].ravel()[:len(w1)], w1, atol=1e-4)
    m.save(tmp_path / "m.keras")   # the constraints survive saving
    layer = keras.models.load_model(tmp_path / "m.keras").layers[0]
    assert isinstance(layer.kernel_constraint, (constraints.NonNeg, constraints.MaxNorm))


def test_constraint_functions():
    w = np.array([[3.0, -1.0], [4.0, 0.0]], np.float32)
    np.testing.assert_allclose(constraints.NonNeg()(w), [[3, 0], [4, 0]])
    np.testing.assert_allclose(constraints.UnitNorm()(w), [[0.6, -1], [0.8, 0]], rtol=1e-6)
    np.testing.assert_allclose(constraints.MaxNorm(2.5)(w), [[1.5, -1], [2, 0]], rtol=1e-6)
    np.testing.assert_allclose(constraints.MinMaxNorm(1.5, 2.0, rate=0.5)(w)[:, 1],
                               [-1.25, 0], rtol=1e-6)
    assert isinstance(constraints.get("non_neg"), constraints.NonNeg)
    with pytest.raises(ValueError):
        constraints.get("nonneg")
