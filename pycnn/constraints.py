"""Weight constraints (``keras.constraints``): MaxNorm, MinMaxNorm, NonNeg,
UnitNorm. A layer built with ``kernel_constraint=...`` (or bias_,
recurrent_, embeddings_, gamma_, beta_) tags that weight
(``Variable.constraint``); the optimizer projects it after each update, as
Keras's optimizer does."""
import inspect

import numpy as np

from pycnn.backend import to_snake_case

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
ALL_OBJECTS_DICT = {cls.__name__: cls for cls in ALL_OBJECTS}
ALL_OBJECTS_DICT.update({to_snake_case(cls.__name__): cls for cls in ALL_OBJECTS})


def serialize(constraint):
    if constraint is None:
        return None
    return {"module": "keras.constraints", "class_name": type(constraint).__name__,
            "config": constraint.get_config(), "registered_name": None}


def deserialize(config, custom_objects=None):
    classes = dict(ALL_OBJECTS_DICT, **(custom_objects or {}))
    cls = classes.get(config.get("class_name"))
    if cls is None:
        raise ValueError(f"Could not interpret constraint identifier: {config}")
    return cls.from_config(dict(config.get("config") or {}))


def get(identifier):
    """None, a name ('non_neg', 'max_norm', 'NonNeg', ...), a config dict, a
    class, an instance or a callable, as ``keras.constraints.get``."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        obj = ALL_OBJECTS_DICT.get(identifier)
    else:
        obj = identifier
    if inspect.isclass(obj):
        obj = obj()
    if callable(obj):
        return obj
    raise ValueError(f"Could not interpret constraint identifier: {identifier}")
