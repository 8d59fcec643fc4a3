"""Compiled inference chains (_C.InferenceChain): a plan that is one chain of
conv / pool / flatten / dense steps runs them in one C++ call once the Python
steps have accepted a sample shape. It must give the Python steps' exact bits,
follow weight changes and ISA switches, and reject what does not fit it."""
import threading

import numpy as np
import pytest

import pycnn
from pycnn import _C, layers
from pycnn.testing import assert_close

from conftest import AVAILABLE_ISAS


def _chain_nets():
    return {
        "mnist": lambda: pycnn.Sequential([
            layers.Input((28, 28, 1)),
            layers.Conv2D(8, 5, padding="same", activation="relu"), layers.MaxPool2D(),
            layers.Dropout(0.25), layers.Flatten(), layers.Dense(10, activation="softmax")]),
        "conv_bn_pool_same": lambda: pycnn.Sequential([
            layers.Input((13, 11, 3)),
            layers.ZeroPadding2D((1, 2)), layers.Conv2D(6, 3, strides=2, use_bias=False),
            layers.BatchNormalization(), layers.Activation("relu"),
            layers.MaxPooling2D(3, strides=2, padding="same"),
            layers.Conv2D(5, 1, activation="tanh"), layers.Flatten(),
            layers.Dense(7), layers.BatchNormalization(), layers.Activation("sigmoid"),
            layers.Dense(1)]),
        "dense_only": lambda: pycnn.Sequential([layers.Input((2,)), layers.Dense(1)]),
        "dense_on_sequences": lambda: pycnn.Sequential([
            layers.Input((4, 6)), layers.Dense(5, activation="relu"), layers.Dense(3)]),
        "conv_last": lambda: pycnn.Sequential([
            layers.Input((9, 9, 2)), layers.MaxPooling2D(), layers.Conv2D(4, 2, dilation_rate=2)]),
    }


def _predict_twice(model, x):
    """(first, second): the Python steps, then the compiled chain."""
    plan = model._inference_plan()
    first = model.predict_on_batch(x)
    assert plan._compiled is not None
    second = model.predict_on_batch(x)
    return first, second


@pytest.mark.parametrize("name", sorted(_chain_nets()))
@pytest.mark.parametrize("batch", [1, 3])
def test_chain_gives_the_python_steps_bits(isa, rng, name, batch):
    pycnn.utils.set_random_seed(7)
    model = _chain_nets()[name]()
    for layer in model.layers:  # non-trivial BN statistics
        if isinstance(layer, layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.standard_normal(n).astype(np.float32))
            layer.moving_variance.assign(rng.uniform(0.5, 2, n).astype(np.float32))
    x = rng.standard_normal((batch,) + model.input_shape[1:]).astype(np.float32)
    first, second = _predict_twice(model, x)
    np.testing.assert_array_equal(second, first)
    ref, _ = model.forward(x, training=False)
    assert_close(second, ref, rtol=2e-5, atol=2e-5)
    # Another batch size reuses the chain.
    chain = model._inference_plan()._compiled[2]
    x5 = rng.standard_normal((5,) + model.input_shape[1:]).astype(np.float32)
    assert_close(model.predict_on_batch(x5), model.forward(x5, training=False)[0],
                 rtol=2e-5, atol=2e-5)
    assert model._inference_plan()._compiled[2] is chain


def test_chain_follows_weight_changes(rng):
    model = _chain_nets()["mnist"]()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = rng.standard_normal((2, 28, 28, 1)).astype(np.float32)
    _predict_twice(model, x)
    model.train_on_batch(x, np.array([1, 2]))
    assert_close(model.predict_on_batch(x), model.forward(x, training=False)[0],
                 rtol=2e-5, atol=2e-6)
    weights = [w * 0.5 for w in model.get_weights()]
    model.set_weights(weights)
    assert_close(model.predict_on_batch(x), model.forward(x, training=False)[0],
                 rtol=2e-5, atol=2e-6)


def test_chain_follows_isa_switch(rng):
    model = _chain_nets()["conv_bn_pool_same"]()
    x = rng.standard_normal((2, 13, 11, 3)).astype(np.float32)
    ref, _ = model.forward(x, training=False)
    before = pycnn.get_isa()
    try:
        for isa in AVAILABLE_ISAS + AVAILABLE_ISAS[::-1]:
            pycnn.set_isa(isa)
            for _ in range(2):
                assert_close(model.predict_on_batch(x), ref, rtol=2e-5, atol=2e-5)
    finally:
        pycnn.set_isa(before)


def test_chain_takes_new_sample_shapes_and_any_input_array(rng):
    model = pycnn.Sequential([layers.Input((None, None, 2)),
                              layers.Conv2D(3, 3, activation="relu"), layers.MaxPooling2D()])
    for shape in [(1, 8, 8, 2), (2, 10, 7, 2), (1, 8, 8, 2)]:
        x = rng.standard_normal(shape)
        for variant in (x, x.astype(np.float32), np.asfortranarray(x.astype(np.float32))):
            assert_close(model.predict_on_batch(variant),
                         model.forward(x.astype(np.float32), training=False)[0],
                         rtol=2e-5, atol=2e-5)
        assert model._inference_plan()._compiled[0] == shape[1:]
    # Inputs the chain does not take (float64) run the Python steps without rebuilding it.
    chain = model._inference_plan()._compiled[2]
    model.predict_on_batch(rng.standard_normal((1, 8, 8, 2)))
    assert model._inference_plan()._compiled[2] is chain


def test_chain_keeps_layer_errors(rng):
    model = _chain_nets()["mnist"]()
    _predict_twice(model, rng.standard_normal((1, 28, 28, 1)).astype(np.float32))
    with pytest.raises(ValueError, match="28, 28, 1"):
        model.predict_on_batch(np.zeros((1, 28, 27, 1), np.float32))
    with pytest.raises(ValueError):
        model.predict_on_batch(np.full((1, 28, 28, 1), np.nan, np.float32))


def test_chain_runs_from_many_threads(rng):
    model = _chain_nets()["mnist"]()
    xs = [rng.standard_normal((b, 28, 28, 1)).astype(np.float32) for b in (1, 2, 3, 4)]
    refs = [model.forward(x, training=False)[0] for x in xs]
    model.predict_on_batch(xs[0])
    errors = []

    def work(i):
        try:
            for _ in range(30):
                assert_close(model.predict_on_batch(xs[i]), refs[i], rtol=2e-5, atol=2e-6)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i % 4,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


# ----- the binding's own checks ------------------------------------------------------
def _kernel(*shape):
    return np.ones(shape, np.float32)


@pytest.mark.parametrize("build, message", [
    (lambda c: c.add_conv(_kernel(3, 3, 2, 4), None, None, (1, 1), (1, 1), (0, 0, 0, 0), 0, 0.0),
     "input channels"),
    (lambda c: c.add_conv(_kernel(9, 3, 1, 4), None, None, (1, 1), (1, 1), (0, 0, 0, 0), 0, 0.0),
     "larger than the padded input"),
    (lambda c: c.add_conv(_kernel(3, 3, 1, 4), _kernel(5), None, (1, 1), (1, 1), (0,) * 4, 0,
                          0.0), "bias"),
    (lambda c: c.add_conv(_kernel(3, 3, 1, 4), None, None, (0, 1), (1, 1), (0,) * 4, 0, 0.0),
     "strides"),
    (lambda c: c.add_conv(_kernel(3, 3, 1, 4), None, _C.gemm_pack_b(_kernel(9, 4)), (1, 1),
                          (1, 1), (0,) * 4, 0, 0.0), "packed"),
    (lambda c: c.add_maxpool((2, 2), (2, 2), (2, 0, 0, 0)), "pads"),
    (lambda c: c.add_dense(_kernel(5, 3), None, None, 0, 0.0), "cannot take samples"),
    (lambda c: (c.add_flatten(), c.add_dense(_kernel(64, 3), None, None, 99, 0.0)),
     "activation"),
    (lambda c: (c.add_flatten(), c.add_dense(_kernel(64, 3), None,
                                             _C.gemm_pack_b(_kernel(64, 4)), 0, 0.0)),
     "packed"),
])
def test_chain_rejects_bad_steps(build, message):
    with pytest.raises(ValueError, match=message):
        build(_C.InferenceChain([8, 8, 1]))


def test_chain_rejects_bad_inputs():
    chain = _C.InferenceChain([4, 4, 1])
    with pytest.raises(ValueError, match="no kernel steps"):
        chain.run(np.zeros((1, 4, 4, 1), np.float32))
    chain.add_maxpool((2, 2), (2, 2), (0, 0, 0, 0))
    with pytest.raises(ValueError, match=r"built for \(None, 4, 4, 1\)"):
        chain.run(np.zeros((1, 4, 5, 1), np.float32))
    with pytest.raises(ValueError, match="no samples"):
        chain.run(np.zeros((0, 4, 4, 1), np.float32))
    with pytest.raises(ValueError, match="positive"):
        _C.InferenceChain([4, 0, 1])
    with pytest.raises(ValueError, match="needs"):
        _C.InferenceChain([4]).add_maxpool((2, 2), (2, 2), (0, 0, 0, 0))
    y = chain.run(np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1))
    np.testing.assert_array_equal(y[0, :, :, 0], [[5, 7], [13, 15]])


def test_chain_refuses_a_switched_isa():
    if len(AVAILABLE_ISAS) < 2:
        pytest.skip("one ISA path on this CPU")
    before = pycnn.get_isa()
    chain = _C.InferenceChain([4, 4, 1])
    chain.add_maxpool((2, 2), (2, 2), (0, 0, 0, 0))
    try:
        pycnn.set_isa(AVAILABLE_ISAS[0] if before != AVAILABLE_ISAS[0] else AVAILABLE_ISAS[1])
        with pytest.raises(ValueError, match="another ISA"):
            chain.run(np.zeros((1, 4, 4, 1), np.float32))
    finally:
        pycnn.set_isa(before)
