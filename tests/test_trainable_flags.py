"""A frozen layer's variables report trainable=False, as in Keras 3 (values
printed by Keras 3.15 for the same calls)."""
import pycnn as keras
from pycnn import layers


def test_frozen_layer_variable_flags():
    d = layers.Dense(3, trainable=False)
    d.build((None, 2))
    assert [v.trainable for v in d.weights] == [False, False] and d.trainable_weights == []
    d = layers.Dense(3)
    d.build((None, 2))
    d.trainable = False
    assert [v.trainable for v in d.weights] == [False, False]
    d.trainable = True
    assert [v.trainable for v in d.weights] == [True, True]


def test_batch_norm_moving_stats_stay_non_trainable():
    b = layers.BatchNormalization()
    b.build((None, 2))
    b.trainable = False
    assert [v.trainable for v in b.weights] == [False] * 4
    b.trainable = True
    assert [v.trainable for v in b.weights] == [True, True, False, False]


def test_frozen_model():
    m = keras.Sequential([keras.Input((2,)), layers.Dense(3), layers.Dense(1)])
    m.trainable = False
    assert [v.trainable for v in m.weights] == [False] * 4 and m.trainable_weights == []
