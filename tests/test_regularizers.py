"""Weight regularizers are applied as in Keras 3: the penalty is part of the
loss fit/evaluate report and its gradient trains the weight. Expected values
printed by Keras 3.15 for the same models, weights and data."""
import numpy as np
import pytest

import pycnn as keras
from pycnn import layers, regularizers


def _run(stack, xshape, xint=False):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 10, (8,) + xshape) if xint else \
        rng.standard_normal((8,) + xshape).astype("float32")
    y = rng.standard_normal((8, 2)).astype("float32")
    m = keras.Sequential([keras.Input(xshape)] + stack)
    r = np.random.default_rng(1)
    m.set_weights([np.abs(r.standard_normal(w.shape)).astype("float32") + 0.5
                   if "variance" in w.path else
                   r.standard_normal(w.shape).astype("float32") * 0.5 for w in m.weights])
    m.compile(keras.optimizers.Adam(0.01), "mse")
    h = m.fit(x, y, epochs=3, batch_size=4, verbose=0, shuffle=False).history
    return m, h["loss"], m.evaluate(x, y, verbose=0), x, y


@pytest.mark.parametrize("name, make, xshape, xint, losses, evaluated, n", [
    ("conv_bn", lambda: [layers.Conv2D(2, 3, kernel_regularizer=regularizers.L1L2(0.01, 0.02),
                                       bias_regularizer="l1"),
                         layers.BatchNormalization(gamma_regularizer="l2",
                                                   beta_regularizer=regularizers.L1(0.05)),
                         layers.Flatten(), layers.Dense(2)],
     (5, 5, 1), False, [2.6605, 2.0761, 1.644], 1.2613, 4),
    ("lstm", lambda: [layers.LSTM(3, kernel_regularizer="l2",
                                  recurrent_regularizer=regularizers.L2(0.1),
                                  bias_regularizer=regularizers.L1(0.1)), layers.Dense(2)],
     (4, 2), False, [2.6063, 2.4964, 2.3936], 2.3195, 3),
    ("gru", lambda: [layers.GRU(3, kernel_regularizer=regularizers.L1(0.02),
                                recurrent_regularizer="l1"), layers.Dense(2)],
     (4, 2), False, [2.047, 1.9225, 1.8171], 1.7446, 2),
    ("embedding", lambda: [layers.Embedding(10, 3, embeddings_regularizer=regularizers.L2(0.05)),
                           layers.Flatten(),
                           layers.Dense(2, kernel_regularizer=regularizers.L1(0.01))],
     (4,), True, [1.6184, 1.4528, 1.3128], 1.2242, 2),
    ("conv_transpose", lambda: [layers.Conv2DTranspose(2, 3, strides=2, kernel_regularizer="l2"),
                                layers.Flatten(), layers.Dense(2)],
     (3, 3, 1), False, [4.0236, 2.7473, 1.9928], 1.6626, 1),
])
def test_fit_and_evaluate_include_penalties(tmp_path, name, make, xshape, xint, losses,
                                            evaluated, n):
    m, fit_losses, ev, x, y = _run(make(), xshape, xint)
    assert fit_losses == pytest.approx(losses, abs=1e-4)
    assert ev == pytest.approx(evaluated, abs=1e-4)
    assert len(m.losses) == n
    m.save(tmp_path / "m.keras")   # the regularizers survive saving
    assert keras.models.load_model(tmp_path / "m.keras").evaluate(x, y, verbose=0) == \
        pytest.approx(evaluated, abs=1e-4)


def test_get_and_penalties():
    assert isinstance(regularizers.get("l2"), regularizers.L2)
    assert regularizers.get("l1").l1 == 0.01 and regularizers.get("l1l2").l2 == 0.0
    w = np.array([[1.0, -2.0]], np.float32)
    assert regularizers.L1L2(0.1, 0.2)(w) == pytest.approx(0.1 * 3 + 0.2 * 5)
    np.testing.assert_allclose(regularizers.L1L2(0.1, 0.2).gradient(w), [[0.5, -0.9]], rtol=1e-6)
    for bad in ("l3", "l1_l2"):   # Keras accepts "l1l2" / "L1L2", not "l1_l2"
        with pytest.raises(ValueError):
            regularizers.get(bad)
    with pytest.raises(ValueError):
        regularizers.L2(-1.0)
    frozen = layers.Dense(2, kernel_regularizer="l2", trainable=False)
    frozen.build((None, 3))
    assert frozen.losses == []   # as Keras: only trainable weights are penalised
