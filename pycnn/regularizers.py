"""Weight regularizers (``keras.regularizers``): L1, L2, L1L2.

A layer built with ``kernel_regularizer=...`` (or bias_, recurrent_,
embeddings_, gamma_, beta_) tags that weight (``Variable.regularizer``); the
trainer adds each trainable weight's penalty to the loss fit and evaluate
report and its gradient to the weight's, as Keras does.
"""
import inspect
import math

import numpy as np

from pycnn.backend import to_snake_case


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
ALL_OBJECTS_DICT = {cls.__name__: cls for cls in ALL_OBJECTS}
ALL_OBJECTS_DICT.update({to_snake_case(cls.__name__): cls for cls in ALL_OBJECTS})


def serialize(regularizer):
    if regularizer is None:
        return None
    return {"module": "keras.regularizers", "class_name": type(regularizer).__name__,
            "config": regularizer.get_config(), "registered_name": None}


def deserialize(config, custom_objects=None):
    classes = dict(ALL_OBJECTS_DICT, **(custom_objects or {}))
    cls = classes.get(config.get("class_name"))
    if cls is None:
        raise ValueError(f"Could not interpret regularizer identifier: {config}")
    return cls.from_config(dict(config.get("config") or {}))


def get(identifier):
    """None, a name ('l1', 'l2', 'l1_l2', 'L2', ...), a config dict, a class
    or an instance, as ``keras.regularizers.get``."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        obj = ALL_OBJECTS_DICT.get(identifier)
    else:
        obj = identifier
    if inspect.isclass(obj) and issubclass(obj, Regularizer):
        obj = obj()
    if isinstance(obj, Regularizer):
        return obj
    raise ValueError(f"Could not interpret regularizer identifier: {identifier}")
