"""Keras's serialize / deserialize / get for a family of small config
objects (pycnn.regularizers, pycnn.constraints): one dict of classes by
name, Keras's config dicts, and the identifier forms ``get`` accepts."""
import inspect

from pycnn.backend import to_snake_case


def classes_by_name(classes):
    """{ClassName: cls, class_name: cls} for ``get`` and ``deserialize``."""
    by_name = {cls.__name__: cls for cls in classes}
    by_name.update({to_snake_case(cls.__name__): cls for cls in classes})
    return by_name


def serialize(obj, module):
    if obj is None:
        return None
    return {"module": module, "class_name": type(obj).__name__,
            "config": obj.get_config(), "registered_name": None}


def deserialize(config, classes, kind, custom_objects=None):
    cls = dict(classes, **(custom_objects or {})).get(config.get("class_name"))
    if cls is None:
        raise ValueError(f"Could not interpret {kind} identifier: {config}")
    return cls.from_config(dict(config.get("config") or {}))


def get(identifier, classes, kind, accept):
    """None, a name, a config dict, a class or an instance: the object, which
    ``accept(obj)`` must approve (else ValueError naming the identifier)."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        obj = deserialize(identifier, classes, kind)
    elif isinstance(identifier, str):
        obj = classes.get(identifier)
    else:
        obj = identifier
    if inspect.isclass(obj):
        obj = obj()
    if obj is not None and accept(obj):
        return obj
    raise ValueError(f"Could not interpret {kind} identifier: {identifier}")
