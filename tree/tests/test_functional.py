"""The functional API: graphs with branches, shared layers and several
inputs/outputs; gradients checked against finite differences of the graph."""
import numpy as np
import pytest

import pycnn
from pycnn import layers
from pycnn.layers import Dense, Input
from pycnn.models import Model


def loss_of(model, xs, weights):
    y, _ = model.forward(xs, training=False)
    ys = y if isinstance(y, list) else [y]
    return sum(float(np.sum(a.astype(np.float64) * w)) for a, w in zip(ys, weights))


def check_graph_gradients(model, xs, rng, eps=1e-2, rtol=2e-2):
    """backward() against central differences of sum(y * w) for random w."""
    y, cache = model.forward(xs, training=False)
    ys = y if isinstance(y, list) else [y]
    weights = [rng.standard_normal(a.shape).astype(np.float32) for a in ys]
    dx, grads = model.backward(cache, weights if isinstance(y, list) else weights[0])
    for var, g in zip(model.trainable_weights, grads):
        flat = var.value.reshape(-1)
        for i in rng.choice(flat.size, size=min(6, flat.size), replace=False):
            old = flat[i]
            flat[i] = old + eps
            up = loss_of(model, xs, weights)
            flat[i] = old - eps
            down = loss_of(model, xs, weights)
            flat[i] = old
            numeric = (up - down) / (2 * eps)
            assert abs(g.reshape(-1)[i] - numeric) <= rtol * max(1.0, abs(numeric)), \
                f"{var.path}[{i}]: analytic {g.reshape(-1)[i]} vs numeric {numeric}"
    return dx


def test_residual_block_with_shared_layer_gradients():
    pycnn.utils.set_random_seed(1)
    rng = np.random.default_rng(0)
    inp = Input(shape=(6,))
    shared = Dense(6, activation="tanh")
    h = shared(inp)
    h2 = shared(h)                      # the same weights used twice
    out = layers.Add()([inp, h2])       # residual join
    out = Dense(2, activation="tanh")(out)
    model = Model(inp, out)
    assert len(model.trainable_weights) == 4
    x = rng.standard_normal((5, 6)).astype(np.float32)
    check_graph_gradients(model, x, rng)


def test_two_inputs_two_outputs_concatenate():
    rng = np.random.default_rng(1)
    a = Input(shape=(3,), name="a")
    b = Input(shape=(4,), name="b")
    h = layers.Concatenate()([Dense(5, activation="tanh")(a), b])
    out1 = Dense(2, name="head1")(h)
    out2 = Dense(1, activation="sigmoid", name="head2")(h)
    model = Model([a, b], [out1, out2])
    xa = rng.standard_normal((4, 3)).astype(np.float32)
    xb = rng.standard_normal((4, 4)).astype(np.float32)
    y1, y2 = model.predict([xa, xb], verbose=0)
    assert y1.shape == (4, 2) and y2.shape == (4, 1)
    dx = check_graph_gradients(model, [xa, xb], rng)
    assert [d.shape for d in dx] == [(4, 3), (4, 4)]
    model.compile(optimizer="adam", loss=["mse", "binary_crossentropy"])
    hist = model.fit([xa, xb], [rng.standard_normal((4, 2)), (rng.random((4, 1)) > .5) * 1.0],
                     epochs=2, verbose=0)
    assert len(hist.history["loss"]) == 2


@pytest.mark.parametrize("cls,fn", [
    (layers.Add, lambda a, b: a + b), (layers.Subtract, lambda a, b: a - b),
    (layers.Multiply, lambda a, b: a * b), (layers.Average, lambda a, b: (a + b) / 2),
    (layers.Maximum, np.maximum), (layers.Minimum, np.minimum)])
def test_merge_layers_forward_and_gradients(cls, fn):
    rng = np.random.default_rng(2)
    a = rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal((3, 4)).astype(np.float32)
    layer = cls()
    np.testing.assert_allclose(layer([a, b]), fn(a, b), rtol=1e-6)
    _, cache = layer.forward([a, b])
    dy = rng.standard_normal((3, 4)).astype(np.float32)
    da, db = layer.backward(cache, dy)[0]
    eps = 1e-3
    for x, g, idx in ((a, da, 0), (b, db, 1)):
        num = np.zeros_like(x, dtype=np.float64)
        for i in np.ndindex(x.shape):
            xp = [a.astype(np.float64).copy(), b.astype(np.float64).copy()]
            xp[idx][i] += eps
            xm = [a.astype(np.float64).copy(), b.astype(np.float64).copy()]
            xm[idx][i] -= eps
            num[i] = np.sum((fn(*xp) - fn(*xm)) * dy) / (2 * eps)
        np.testing.assert_allclose(g, num, rtol=1e-3, atol=1e-3)


def test_merge_shape_errors_name_layer_and_shapes():
    a, b = Input(shape=(4,)), Input(shape=(5,))
    with pytest.raises(ValueError, match=r"add.*\(None, 4\).*\(None, 5\)"):
        layers.Add(name="add")([a, b])
    c, d = Input(shape=(2, 3)), Input(shape=(4, 5))
    with pytest.raises(ValueError, match="concatenate"):
        layers.Concatenate(axis=-1, name="concatenate")([c, d])


def test_frozen_layer_moves_weights_to_non_trainable():
    inp = Input(shape=(3,))
    d1 = Dense(4)
    out = Dense(1)(d1(inp))
    model = Model(inp, out)
    before = d1.get_weights()
    d1.trainable = False
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((8, 3), np.float32)
    model.fit(x, np.zeros((8, 1)), epochs=2, verbose=0)
    for w0, w1 in zip(before, d1.get_weights()):
        np.testing.assert_array_equal(w0, w1)
