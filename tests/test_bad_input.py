"""Bad input to models: each case works as Keras does or raises ValueError /
TypeError naming the layer and the shapes; a failed fit leaves the weights as
they were before the failing step."""
import numpy as np
import pytest

import pycnn
from pycnn.layers import Conv2D, Dense, Flatten, MaxPool2D
from pycnn.models import Sequential


def mnist_like():
    model = Sequential([Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
                        MaxPool2D(), Flatten(), Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def data(n=10, rng=np.random.default_rng(0)):
    return rng.random((n, 8, 8, 1), dtype=np.float32), rng.integers(0, 3, n)


def weights_unchanged(model, before):
    return all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_wrong_rank_and_shape_name_layer_and_shapes():
    model = mnist_like()
    with pytest.raises(ValueError, match=r"\(None, 8, 8, 1\).*\(10, 8\)"):
        model.predict(np.zeros((10, 8), np.float32), verbose=0)
    # Keras adds the missing channel axis of 1 (Functional._adjust_input_rank)
    assert model.predict(np.zeros((10, 8, 8), np.float32), verbose=0).shape == (10, 3)
    with pytest.raises(ValueError, match=r"\(None, 8, 8, 1\).*\(2, 9, 8, 1\)"):
        model.predict(np.zeros((2, 9, 8, 1), np.float32), verbose=0)
    dense = Dense(4)
    dense.build((None, 3))
    with pytest.raises(ValueError, match=r"dense.*3.*\(2, 5\)"):
        dense(np.zeros((2, 5), np.float32))
    conv = Conv2D(2, 3, name="conv_x")
    with pytest.raises(ValueError, match=r"conv_x.*ndim=4.*\(2, 5\)"):
        conv(np.zeros((2, 5), np.float32))


def test_integer_and_non_contiguous_inputs_are_converted():
    model = mnist_like()
    x, y = data()
    expected = model.predict(x, verbose=0)
    fortran = np.asfortranarray(x)
    strided = np.repeat(x, 2, axis=2)[:, :, ::2, :]
    np.testing.assert_allclose(model.predict(fortran, verbose=0), expected, rtol=1e-6)
    np.testing.assert_allclose(model.predict(strided, verbose=0), expected, rtol=1e-6)
    as_int = (x * 10).astype(np.int32)
    np.testing.assert_allclose(model.predict(as_int, verbose=0),
                               model.predict(as_int.astype(np.float32), verbose=0))
    model.fit(as_int, y.astype(np.float64), epochs=1, verbose=0)  # float labels: cast


def test_strings_and_objects_are_refused():
    model = mnist_like()
    with pytest.raises(TypeError):
        model.predict(np.array([["a"]]), verbose=0)
    # Keras raises ValueError ("Invalid dtype: object"): the error is both
    with pytest.raises(ValueError, match="dtype object"):
        model.predict(np.array([[None]]), verbose=0)
    with pytest.raises(ValueError, match="dtype <U1"):
        Dense(2)(np.array([["a", "b"]]))


def test_compile_mistakes_raise_value_error_as_keras():
    model = mnist_like()
    with pytest.raises(ValueError, match="Expected `metrics` argument to be a list"):
        model.compile("adam", "mse", metrics="accuracy")
    model = Sequential([Dense(2)])
    model.compile("adam")
    with pytest.raises(ValueError, match="No loss to compute"):
        model.fit(np.zeros((2, 3)), np.zeros((2, 2)), verbose=0)
    with pytest.raises(ValueError, match=r"You must call `compile\(\)`"):
        Sequential([Dense(2)]).evaluate(np.zeros((2, 3)), np.zeros((2, 2)), verbose=0)


def test_x_and_y_lengths_differ():
    model = mnist_like()
    x, y = data()
    with pytest.raises(ValueError, match="x' sizes: 10.*'y' sizes: 9"):
        model.fit(x, y[:9], verbose=0)


def test_labels_out_of_range_leave_weights_unchanged():
    model = mnist_like()
    x, y = data()
    before = model.get_weights()
    bad = y.copy()
    bad[-1] = 7
    with pytest.raises(ValueError, match=r"(?i)sparse_categorical_crossentropy.*7"):
        model.fit(x, bad, batch_size=10, epochs=1, verbose=0)
    assert weights_unchanged(model, before)
    bad[-1] = -1
    with pytest.raises(ValueError):
        model.train_on_batch(x, bad)
    assert weights_unchanged(model, before)


def test_empty_arrays():
    model = mnist_like()
    with pytest.raises(ValueError, match="empty"):
        model.fit(np.zeros((0, 8, 8, 1), np.float32), np.zeros(0), verbose=0)
    with pytest.raises(ValueError, match="empty"):
        model.predict(np.zeros((0, 8, 8, 1), np.float32), verbose=0)


def test_nan_in_fit_inputs_is_refused_before_training():
    model = mnist_like()
    x, y = data()
    before = model.get_weights()
    x[3, 2, 2, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match="NaN"):
        model.fit(data()[0], np.where(np.arange(10) == 2, np.nan, 1.0), verbose=0)
    assert weights_unchanged(model, before)


def test_failed_step_midway_leaves_weights_and_bn_stats_unchanged():
    from pycnn.layers import BatchNormalization
    model = Sequential([Dense(4, input_shape=(3,)), BatchNormalization(), Dense(1)])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    before = model.get_weights()
    x = np.random.default_rng(1).random((6, 3), dtype=np.float32)
    with pytest.raises(ValueError):
        model.fit(x, np.ones((6, 2)), verbose=0)  # target shape mismatch in the loss
    assert weights_unchanged(model, before)


def test_uncompiled_and_unbuilt_errors():
    model = Sequential([Dense(2)])
    with pytest.raises(ValueError, match="compile"):   # as Keras
        model.fit(np.zeros((2, 3)), np.zeros((2, 2)), verbose=0)
    with pytest.raises(ValueError):
        model.count_params()
    model.compile("sgd", "mse")
    model.fit(np.zeros((2, 3)), np.zeros((2, 2)), verbose=0)  # built from the data
    assert model.count_params() == 8


def test_invalid_hyperparameters_name_the_layer():
    with pytest.raises(ValueError, match="units"):
        Dense(0)
    with pytest.raises(ValueError, match="rate"):
        pycnn.layers.Dropout(1.5)
    with pytest.raises(ValueError):
        Conv2D(-1, 3)
    with pytest.raises(ValueError, match="batch_size"):
        mnist_like().fit(*data(), batch_size=0, verbose=0)
