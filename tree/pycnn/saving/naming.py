"""Keras class names and container keys for pycnn objects.

Keras addresses a layer's weights in a file by the snake_case of its class
name, numbered per container (``dense``, ``dense_1``, ...), never by the
layer's own name, so the names pycnn reports must be Keras's class names.
"""
from pycnn.backend import to_snake_case

# pycnn classes whose Python name differs from the Keras class they stand for.
_KERAS_ALIASES = {
    "MaxPool1D": "MaxPooling1D", "MaxPool2D": "MaxPooling2D", "MaxPool3D": "MaxPooling3D",
    "AvgPool1D": "AveragePooling1D", "AvgPool2D": "AveragePooling2D",
    "AvgPool3D": "AveragePooling3D",
    "GlobalMaxPool1D": "GlobalMaxPooling1D", "GlobalMaxPool2D": "GlobalMaxPooling2D",
    "GlobalAvgPool1D": "GlobalAveragePooling1D",
    "GlobalAvgPool2D": "GlobalAveragePooling2D",
    "Convolution1D": "Conv1D", "Convolution2D": "Conv2D",
    "Convolution2DTranspose": "Conv2DTranspose", "Conv2DTransposeLayer": "Conv2DTranspose",
}


def keras_class_name(obj):
    """The Keras class name ``obj`` is saved under."""
    return keras_name_of_class(type(obj))


def keras_name_of_class(cls):
    """A class may declare ``_keras_class_name`` itself (not inherited, so a
    user's subclass keeps its own name, as in Keras); a plain functional
    ``Model`` is Keras's ``Functional``."""
    declared = cls.__dict__.get("_keras_class_name")
    if declared:
        return declared
    from pycnn.models.functional import Model
    from pycnn.models.sequential import Sequential
    if cls is Model:
        return "Functional"
    if cls is Sequential:
        return "Sequential"
    return _KERAS_ALIASES.get(cls.__name__, cls.__name__)


class ContainerKeys:
    """``dense``, ``dense_1``, ... as Keras numbers the items of one container."""

    def __init__(self):
        self._used = {}

    def next(self, name):
        if name in self._used:
            self._used[name] += 1
            return f"{name}_{self._used[name]}"
        self._used[name] = 0
        return name

    def key_for(self, obj):
        return self.next(to_snake_case(keras_class_name(obj)))
