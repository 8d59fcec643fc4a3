"""Weight constraints (``keras.constraints``): MaxNorm, MinMaxNorm, NonNeg,
UnitNorm. A layer built with ``kernel_constraint=...`` (or bias_,
recurrent_, embeddings_, gamma_, beta_) tags that weight
(``Variable.constraint``); the optimizer projects it after each update, as
Keras's optimizer does."""
import numpy as np

from pycnn import _keras_objects

_EPSILON = 1e-7   # keras.backend.epsilon()


def _norms(w, axis):
    axis = tuple(axis) if isinstance(axis, (list, tuple)) else axis
    return np.sqrt(np.sum(np.square(w), axis=axis, keepdims=True))


class Constraint:
    """Base class: ``__call__(w)`` returns the projected weight (NumPy)."""

    def __call__(self, w):
        return w

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class MaxNorm(Constraint):
    def __init__(self, max_value=2, axis=0):
        self.max_value, self.axis = max_value, axis

    def __call__(self, w):
        w = np.asarray(w, np.float32)
        norms = _norms(w, self.axis)
        return w * (np.clip(norms, 0, self.max_value) / (_EPSILON + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    def __call__(self, w):
        return np.maximum(np.asarray(w, np.float32), 0)


class UnitNorm(Constraint):
    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        w = np.asarray(w, np.float32)
        return w / (_EPSILON + _norms(w, self.axis))

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, w):
        w = np.asarray(w, np.float32)
        norms = _norms(w, self.axis)
        desired = self.rate * np.clip(norms, self.min_value, self.max_value) + \
            (1 - self.rate) * norms
        return w * (desired / (_EPSILON + norms))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value,
                "rate": self.rate, "axis": self.axis}


max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm
ALL_OBJECTS = (Constraint, MaxNorm, MinMaxNorm, NonNeg, UnitNorm)
ALL_OBJECTS_DICT = _keras_objects.classes_by_name(ALL_OBJECTS)


def serialize(constraint):
    return _keras_objects.serialize(constraint, "keras.constraints")


def deserialize(config, custom_objects=None):
    return _keras_objects.deserialize(config, ALL_OBJECTS_DICT, "constraint", custom_objects)


def get(identifier):
    """None, a name ('non_neg', 'max_norm', 'NonNeg', ...), a config dict, a
    class, an instance or a callable, as ``keras.constraints.get``."""
    return _keras_objects.get(identifier, ALL_OBJECTS_DICT, "constraint", callable)
