"""Weight regularizers (``keras.regularizers``): L1, L2, L1L2.

A layer built with ``kernel_regularizer=...`` (or bias_, recurrent_,
embeddings_, gamma_, beta_) tags that weight (``Variable.regularizer``); the
trainer adds each trainable weight's penalty to the loss fit and evaluate
report and its gradient to the weight's, as Keras does.
"""
import math

import numpy as np

from pycnn import _keras_objects


def _penalty_factor(value, name):
    if isinstance(value, bool) or not isinstance(value, (float, int)) or \
            math.isinf(value) or math.isnan(value) or value < 0:
        raise ValueError(f"Invalid value for argument {name}: expected a non-negative "
                         f"float.Received: {name}={value}")
    return float(value)


class Regularizer:
    """Base class: ``__call__(w)`` is the penalty, ``gradient(w)`` its derivative."""

    def __call__(self, x):
        return 0.0

    def gradient(self, x):
        raise NotImplementedError(
            f"{type(self).__name__}: pycnn needs the penalty's gradient; define "
            "`gradient(self, x)` (a NumPy array shaped like x)")

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class L1L2(Regularizer):
    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _penalty_factor(0.0 if l1 is None else l1, "l1")
        self.l2 = _penalty_factor(0.0 if l2 is None else l2, "l2")

    def __call__(self, x):
        x = np.asarray(x, np.float64)
        return float(self.l1 * np.abs(x).sum() + self.l2 * np.square(x).sum())

    def gradient(self, x):
        x = np.asarray(x, np.float32)
        return (np.float32(self.l1) * np.sign(x) + np.float32(2 * self.l2) * x).astype(np.float32)

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


l1, l2, l1_l2 = L1, L2, L1L2
ALL_OBJECTS = (Regularizer, L1, L2, L1L2)
ALL_OBJECTS_DICT = _keras_objects.classes_by_name(ALL_OBJECTS)


def serialize(regularizer):
    return _keras_objects.serialize(regularizer, "keras.regularizers")


def deserialize(config, custom_objects=None):
    return _keras_objects.deserialize(config, ALL_OBJECTS_DICT, "regularizer", custom_objects)


def get(identifier):
    """None, a name ('l1', 'l2', 'l1_l2', 'L2', ...), a config dict, a class
    or an instance, as ``keras.regularizers.get``."""
    return _keras_objects.get(identifier, ALL_OBJECTS_DICT, "regularizer",
                              lambda obj: isinstance(obj, Regularizer))
