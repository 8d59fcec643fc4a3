"""Model.get_config() / from_config() rebuild the architecture, as in Keras 3
(it returned only the layers' class names, which from_config could not use)."""
import numpy as np

import pycnn as keras
from pycnn import layers


def test_sequential_round_trip():
    m = keras.Sequential([keras.Input((5, 3)), layers.LSTM(4, return_sequences=True),
                          layers.GRU(3), layers.Dense(2)], name="seq")
    config = m.get_config()
    assert config["name"] == "seq" and config["layers"][1]["class_name"] == "LSTM"
    m2 = keras.Sequential.from_config(config)
    # names and parameter count as Keras prints for the same model
    assert [l.name for l in m2.layers] == [l.name for l in m.layers]
    assert m2.count_params() == 217
    m2.set_weights(m.get_weights())
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype("float32")
    np.testing.assert_allclose(m2.predict(x, verbose=0), m.predict(x, verbose=0), rtol=1e-6)


def test_unbuilt_sequential_round_trip():
    m = keras.Sequential([layers.Dense(3), layers.Dense(2)])
    m2 = keras.Sequential.from_config(m.get_config())
    assert [l.name for l in m2.layers] == [l.name for l in m.layers] and not m2.built


def test_functional_round_trip():
    a, b = keras.Input((8, 8, 3), name="img"), keras.Input((4,), name="vec")
    x = layers.GlobalAveragePooling2D()(layers.Conv2D(4, 3, strides=2)(a))
    c = layers.Concatenate()([x, b])
    m = keras.Model([a, b], [layers.Dense(1, name="out1")(c), layers.Dense(3)(c)])
    m2 = keras.Model.from_config(m.get_config())
    assert [l.name for l in m2.layers] == [l.name for l in m.layers]
    assert m2.count_params() == m.count_params() == 148
    assert [t.shape for t in m2.outputs] == [(None, 1), (None, 3)]


def test_clone_model_and_json():
    m = keras.Sequential([keras.Input((4,)), layers.Dense(3, activation="relu"),
                          layers.BatchNormalization(), layers.Dense(2)])
    c = keras.models.clone_model(m)
    # as Keras: same names, new layers, new weights
    assert [l.name for l in c.layers] == [l.name for l in m.layers] and c.count_params() == 35
    assert c.layers[0] is not m.layers[0]
    assert not np.array_equal(c.get_weights()[0], m.get_weights()[0])
    m2 = keras.models.model_from_json(m.to_json())
    assert [l.name for l in m2.layers] == [l.name for l in m.layers] and m2.count_params() == 35


def test_output_names():
    a = keras.Input((5,))
    h = layers.Dense(4, name="h")(a)
    m = keras.Model(a, [layers.Dense(1, name="reg")(h), layers.Dense(3, name="cls")(h)])
    assert m.output_names == ["reg", "cls"]   # as Keras
