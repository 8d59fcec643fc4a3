"""Keras 3 optimizers on fused C++ updates: SGD, Adam, AdamW, RMSprop,
Adagrad, plus ``get``/``serialize``/``deserialize`` and ``schedules``."""
from pycnn.optimizers import schedules
from pycnn.optimizers.adagrad import Adagrad
from pycnn.optimizers.adam import Adam, AdamW
from pycnn.optimizers.base import Optimizer
from pycnn.optimizers.rmsprop import RMSprop
from pycnn.optimizers.schedules import LearningRateSchedule
from pycnn.optimizers.sgd import SGD

ALL_OBJECTS = (Optimizer, SGD, Adam, AdamW, RMSprop, Adagrad)
# Keras looks names up case-insensitively ('adam', 'Adam', 'ADAM').
ALL_OBJECTS_DICT = {cls.__name__.lower(): cls for cls in ALL_OBJECTS}


def serialize(optimizer):
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config, custom_objects=None):
    classes = dict(ALL_OBJECTS_DICT)
    classes.update({k.lower(): v for k, v in (custom_objects or {}).items()})
    cls = classes.get(str(config.get("class_name", "")).lower())
    if cls is None:
        raise ValueError(f"Could not interpret optimizer identifier: {config!r}")
    return cls.from_config(dict(config.get("config", {})), custom_objects)


def get(identifier):
    """An Optimizer instance from a name ('adam', 'sgd', ...), a config dict
    or an instance (returned unchanged)."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        if identifier.lower() not in ALL_OBJECTS_DICT:   # Keras names the string itself
            raise ValueError(f"Could not interpret optimizer identifier: {identifier}")
        obj = deserialize({"class_name": identifier, "config": {}})
    else:
        obj = identifier
    if isinstance(obj, Optimizer):
        return obj
    raise ValueError(f"Could not interpret optimizer identifier: {identifier}")
