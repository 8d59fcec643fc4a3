"""pickle.dumps(model) carries architecture, weights and optimizer state."""
import copy
import multiprocessing as mp
import pickle

import numpy as np
import pytest

import pycnn
from pycnn import layers


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6, 6, 2)).astype(np.float32)
    y = (x.mean(axis=(1, 2, 3)) > 0).astype(np.float32)[:, None]
    return x, y


def _model(optimizer="adam"):
    inp = pycnn.Input((6, 6, 2))
    h = layers.Conv2D(4, 3, activation="relu")(inp)
    h = layers.BatchNormalization()(h)
    h = layers.Flatten()(h)
    out = layers.Dense(1, activation="sigmoid")(h)
    m = pycnn.Model(inp, out)
    if optimizer:
        m.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=["accuracy"])
    return m


def test_uncompiled_round_trip():
    m = _model(optimizer=None)
    x, _ = _data()
    m2 = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(m2.predict(x, verbose=0), m.predict(x, verbose=0))
    assert [w.shape for w in m2.get_weights()] == [w.shape for w in m.get_weights()]


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop", "adagrad"])
def test_continued_training_equals_uninterrupted(optimizer):
    x, y = _data()
    a = _model(optimizer)
    a.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    b = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(b.predict(x, verbose=0), a.predict(x, verbose=0))
    for sa, sb in zip(a.optimizer.get_state(), b.optimizer.get_state()):
        np.testing.assert_array_equal(np.asarray(sa), np.asarray(sb))
    a.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    b.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_sequential_and_deepcopy_are_independent():
    m = pycnn.Sequential([layers.Input((4,)), layers.Dense(3)])
    m.compile("sgd", "mse")
    c = copy.deepcopy(m)
    assert type(c) is type(m)
    w = c.get_weights()
    c.set_weights([v + 1 for v in w])
    assert not np.array_equal(m.get_weights()[0], c.get_weights()[0])


def test_pickle_protocols():
    m = _model()
    x, _ = _data(8)
    want = m.predict(x, verbose=0)
    for proto in range(2, pickle.HIGHEST_PROTOCOL + 1):
        np.testing.assert_array_equal(pickle.loads(pickle.dumps(m, proto)).predict(x, verbose=0),
                                      want)


def _predict_in_worker(args):
    model, x = args
    pycnn.set_num_threads(1)
    return model.predict(x, verbose=0)


def test_spawn_pool_predicts_like_parent():
    m = _model()
    x, y = _data()
    m.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    want = m.predict(x, verbose=0)
    shards = np.array_split(x, 3)
    with mp.get_context("spawn").Pool(2) as pool:
        # A timeout, so a worker that cannot start fails the test instead of hanging it.
        got = pool.map_async(_predict_in_worker, [(m, s) for s in shards]).get(timeout=300)
    np.testing.assert_allclose(np.concatenate(got), want, rtol=1e-6, atol=1e-6)
