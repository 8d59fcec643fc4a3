"""The allow-list of classes a saved config may name.

Only pycnn's own layer, model, optimizer, loss, metric and initializer
classes (plus what the caller passes in ``custom_objects``) can be built
from a file: a config never makes pycnn import a module or run code it names.
"""
import inspect

from pycnn.saving.naming import keras_name_of_class


def _classes_in(module, base):
    found = {}
    for attr, value in vars(module).items():
        if inspect.isclass(value) and issubclass(value, base):
            found.setdefault(attr, value)
            found.setdefault(value.__name__, value)
    return found


def layer_classes(custom_objects=None):
    """Keras class name (and pycnn alias) -> pycnn class."""
    from pycnn import layers
    from pycnn.layers.base import Layer
    from pycnn.models.functional import Model
    from pycnn.models.sequential import Sequential
    classes = _classes_in(layers, Layer)
    for cls in list(classes.values()):
        classes.setdefault(keras_name_of_class(cls), cls)
    classes.update({"Functional": Model, "Model": Model, "Sequential": Sequential})
    classes.update(_custom(custom_objects))
    return classes


def optimizer_classes(custom_objects=None):
    from pycnn import optimizers
    classes = {cls.__name__: cls for cls in optimizers.ALL_OBJECTS}
    classes.update(_custom(custom_objects))
    return classes


def loss_objects(custom_objects=None):
    from pycnn import losses
    objects = dict(losses.ALL_OBJECTS_DICT)
    objects.update(_custom(custom_objects))
    return objects


def metric_objects(custom_objects=None):
    from pycnn import metrics
    objects = dict(metrics.ALL_OBJECTS_DICT)
    objects.update(_custom(custom_objects))
    return objects


def initializer_classes(custom_objects=None):
    from pycnn import initializers
    classes = _classes_in(initializers, initializers.Initializer)
    classes.update(_custom(custom_objects))
    return classes


def _custom(custom_objects):
    out = {}
    for name, obj in (custom_objects or {}).items():
        out[name] = obj
        if inspect.isclass(obj) or callable(obj):
            out.setdefault(getattr(obj, "__name__", name), obj)
    return out
