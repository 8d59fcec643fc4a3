"""Which function converts which layer class.

A converter is ``fn(b, layer, inputs) -> outputs``: ``b`` the GraphBuilder,
``inputs`` a list of Values, ``outputs`` a list of ``(onnx_name, perm)`` or
``(onnx_name, perm, dtype)``; the exporter attaches the Keras shapes. Classes
are registered by name so layers that other modules add later (or that do
not exist in this checkout) need no import here.
"""
_CONVERTERS = {}


def converts(*class_names):
    def register(fn):
        for name in class_names:
            _CONVERTERS[name] = fn
        return fn
    return register


def find(layer):
    """The converter of ``layer``'s class or its nearest pycnn base class."""
    for cls in type(layer).__mro__:
        if cls.__module__.startswith("pycnn.") and cls.__name__ in _CONVERTERS:
            return _CONVERTERS[cls.__name__]
    raise NotImplementedError(
        f"ONNX export does not support layer '{layer.name}' of class "
        f"{type(layer).__name__}")
