"""Arrays one axis off the model's input rank, as Keras 3 accepts them
(Functional._adjust_input_rank): a trailing axis of 1 is dropped or added.
MNIST-style (n, 28, 28) images for Input((28, 28, 1)) and 1-D x for Input((1,))."""
import numpy as np
import pytest

import pycnn as keras
from pycnn import layers


def _conv():
    m = keras.Sequential([keras.Input((5, 5, 1)), layers.Conv2D(2, 3)])
    m.compile("sgd", "mse")
    return m


def test_missing_channel_axis_is_added():
    m = _conv()
    x = np.random.default_rng(0).standard_normal((2, 5, 5)).astype("float32")
    want = m.predict(x[..., None], verbose=0)
    np.testing.assert_array_equal(m.predict(x, verbose=0), want)
    np.testing.assert_array_equal(m.predict_on_batch(x), want)
    np.testing.assert_array_equal(m(x), want)
    m.fit(x, np.zeros((2, 3, 3, 2), "float32"), verbose=0)
    m.train_on_batch(x, np.zeros((2, 3, 3, 2), "float32"))


def test_trailing_axis_of_one_is_dropped_and_1d_x_expanded():
    m = keras.Sequential([keras.Input((4,)), layers.Dense(2)])
    assert m.predict(np.ones((3, 4, 1), "float32"), verbose=0).shape == (3, 2)
    a, b = keras.Input((1,)), keras.Input((3,))
    f = keras.Model([a, b], layers.Concatenate()([a, b]))
    assert f.predict([np.ones(2), np.ones((2, 3))], verbose=0).shape == (2, 4)
    assert f([np.ones(2), np.ones((2, 3))]).shape == (2, 4)


def test_other_rank_mismatches_still_raise():
    m = keras.Sequential([keras.Input((4,)), layers.Dense(2)])
    with pytest.raises(ValueError, match=r"\(None, 4\)"):
        m.predict(np.ones((4,), "float32"), verbose=0)      # Keras raises too
    with pytest.raises(ValueError):
        m.predict(np.ones((3, 4, 2), "float32"), verbose=0)
