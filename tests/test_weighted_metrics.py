"""compile(metrics=...) ignores sample and class weights, compile(weighted_metrics=...)
uses them, with Keras's log keys ("mse_1", "weighted_accuracy") and evaluate's
list order. Expected values printed by Keras 3.15 for the same model and data."""
import numpy as np
import pytest

import pycnn as keras

X = np.array([[1.], [2.], [-1.], [-2.], [0.5]], "float32")
Y = np.array([[1.], [0.], [0.], [0.], [1.]], "float32")
SW = np.array([1., 3., 0., 2., 1.], "float32")


def _model():
    m = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, activation="sigmoid")])
    m.set_weights([np.array([[1.]], "float32"), np.array([0.], "float32")])
    return m


def test_weighted_and_unweighted_metrics_keys_and_values():
    m = _model()
    m.compile("sgd", "binary_crossentropy", metrics=["accuracy", "mse", "mse"],
              weighted_metrics=["accuracy", "mae"])
    logs = m.evaluate(X, Y, sample_weight=SW, verbose=0, return_dict=True)
    expected = {"accuracy": 0.800000011920929, "loss": 1.4843957424163818,
                "mae": 0.5038970112800598, "mse": 0.2154417484998703,
                "mse_1": 0.2154417484998703, "weighted_accuracy": 0.5714285969734192}
    assert set(logs) == set(expected)
    for k, v in expected.items():
        assert logs[k] == pytest.approx(v, rel=1e-5), k
    # Keras orders by the metrics' own names, then the remaining keys sorted.
    assert m.evaluate(X, Y, sample_weight=SW, verbose=0) == pytest.approx(
        [1.4843957424163818, 0.8, 0.2154417484998703, 0.2154417484998703, 0.8,
         0.5038970112800598, 0.2154417484998703, 0.5714285969734192], rel=1e-5)


@pytest.mark.parametrize("kwargs, loss", [
    ({"sample_weight": SW}, 1.4843957424163818),
    ({"class_weight": {0: 1.0, 1: 0.0}}, 0.5134235620498657),
])
def test_fit_metrics_ignore_weights(kwargs, loss):
    m = _model()
    m.compile(keras.optimizers.SGD(0.0), "binary_crossentropy", metrics=["accuracy"])
    h = m.fit(X, Y, epochs=1, verbose=0, batch_size=5, **kwargs).history
    assert h["loss"] == pytest.approx([loss], rel=1e-5)
    assert h["accuracy"] == pytest.approx([0.8], rel=1e-6)   # unweighted


def test_weighted_metrics_survive_save_and_load(tmp_path):
    m = _model()
    m.compile("sgd", "binary_crossentropy", weighted_metrics=["accuracy"])
    m.save(tmp_path / "m.keras")
    m2 = keras.models.load_model(tmp_path / "m.keras")
    logs = m2.evaluate(X, Y, sample_weight=SW, verbose=0, return_dict=True)
    assert logs["accuracy"] == pytest.approx(0.5714285969734192, rel=1e-5)
