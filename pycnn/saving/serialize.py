"""pycnn objects -> Keras 3 ``config.json`` dictionaries.

The result is what ``keras.saving.serialize_keras_object`` writes for the
corresponding Keras objects: ``{"module", "class_name", "config",
"registered_name"}`` plus ``build_config`` for built layers,
``compile_config`` for compiled models, and, for layers inside a
Functional model, ``name`` and ``inbound_nodes`` (Keras 3 node form).
"""
import inspect

import numpy as np

from pycnn.layers.base import InputLayer, Layer
from pycnn.saving.layout import is_model, keras_layer_order
from pycnn.saving.naming import keras_class_name


def keras_object(module, class_name, config, registered_name=None):
    return {"module": module, "class_name": class_name, "config": config,
            "registered_name": registered_name}


# ------------------------------------------------------------------ values ---
def to_json_value(value):
    """Plain JSON for a config value (tuples as lists, NumPy as Python,
    nested pycnn objects as Keras object dicts)."""
    from pycnn.initializers import Initializer
    from pycnn import activations
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        if _is_bare_initializer_dict(value):
            return _initializer_from_bare_dict(value)
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_value(v) for v in value]
    if isinstance(value, Layer):
        return serialize_layer(value)
    if isinstance(value, Initializer):
        return serialize_initializer(value)
    if isinstance(value, activations.Activation):
        return activations.serialize(value)
    if callable(value):
        return getattr(value, "__name__", repr(value))
    if hasattr(value, "get_config"):
        return keras_object("keras", type(value).__name__, to_json_value(value.get_config()))
    raise TypeError(f"Cannot save a config value of type {type(value).__name__}: {value!r}")


def serialize_initializer(init):
    """Keras form of an initializer: its constructor arguments, as stored."""
    params = inspect.signature(type(init).__init__).parameters
    config = {name: to_json_value(getattr(init, name)) for name in params
              if name != "self" and hasattr(init, name)}
    return keras_object("keras.initializers", type(init).__name__, config)


def _is_bare_initializer_dict(value):
    from pycnn.saving import registry
    return "module" not in value and set(value) == {"class_name", "config"} and \
        value["class_name"] in registry.initializer_classes()


def _initializer_from_bare_dict(value):
    """``pycnn.initializers.serialize`` output (all attributes) -> Keras's
    form (constructor arguments only, with ``module``)."""
    from pycnn.saving import registry
    cls = registry.initializer_classes()[value["class_name"]]
    params = inspect.signature(cls.__init__).parameters
    config = {k: to_json_value(v) for k, v in (value["config"] or {}).items() if k in params}
    return keras_object("keras.initializers", value["class_name"], config)


# ------------------------------------------------------------------ layers ---
def serialize_layer(layer):
    """A layer or model as Keras writes it (without functional node data)."""
    if is_model(layer):
        return _serialize_model(layer)
    config = to_json_value(layer.get_config())
    out = keras_object("keras.layers", keras_class_name(layer), config)
    if not isinstance(layer, InputLayer) and layer.built and layer._build_shapes is not None:
        out["build_config"] = {"input_shape": to_json_value(layer._build_shapes)}
    return out


def _serialize_model(model):
    from pycnn.models.sequential import Sequential
    if isinstance(model, Sequential):
        out = keras_object("keras", "Sequential", sequential_config(model))
        shape = to_json_value(model.inputs[0].shape) if model.built and model.inputs else None
        out["build_config"] = {"input_shape": shape}
    else:
        out = keras_object("keras.src.models.functional", "Functional",
                           functional_config(model), registered_name="Functional")
        out["build_config"] = {"input_shape": None}
    out["compile_config"] = compile_config(model)
    return out


def sequential_config(model):
    layers = []
    if model._input_layer is not None:
        layers.append(serialize_layer(model._input_layer))
    layers.extend(serialize_layer(layer) for layer in model.layers)
    config = {"name": model.name, "trainable": model.trainable, "dtype": "float32",
              "layers": layers}
    if model.built and model.inputs:
        config["build_input_shape"] = to_json_value(model.inputs[0].shape)
    return config


def functional_config(model):
    """Keras 3's Functional config: layers with their ``inbound_nodes``, and
    ``input_layers`` / ``output_layers`` as ``[layer_name, node, tensor]``."""
    own_nodes = {id(layer._inbound_nodes[t._keras_history[1]]) for t in model.inputs
                 for layer in [t._keras_history[0]]}
    own_nodes.update(id(node) for node in model._nodes)

    def kept_index(layer, node_index):
        """The node's index among the layer's nodes that belong to this model."""
        return sum(1 for n in layer._inbound_nodes[:node_index] if id(n) in own_nodes)

    def tensor_config(tensor):
        layer, node_index, tensor_index = tensor._keras_history
        return {"class_name": "__keras_tensor__",
                "config": {"shape": to_json_value(tensor.shape), "dtype": tensor.dtype,
                           "keras_history": [layer.name, kept_index(layer, node_index),
                                             tensor_index]}}

    def io_config(tensor):
        layer, node_index, tensor_index = tensor._keras_history
        # Keras counts a nested Functional's built-in node in these indices.
        offset = 1 if is_model(layer) and keras_class_name(layer) == "Functional" else 0
        return [layer.name, kept_index(layer, node_index) + offset, tensor_index]

    layer_configs = []
    for layer in keras_layer_order(model):
        nodes = []
        for node in layer._inbound_nodes:
            if id(node) not in own_nodes or not node.inputs:
                continue
            args = [tensor_config(t) for t in node.inputs]
            nodes.append({"args": [args if layer._multi_input else args[0]],
                          "kwargs": to_json_value(node.call_kwargs)})
        config = serialize_layer(layer)
        config["name"] = layer.name
        config["inbound_nodes"] = nodes
        layer_configs.append(config)
    return {"name": model.name, "trainable": model.trainable, "layers": layer_configs,
            "input_layers": _map_structure(io_config, model._inputs_struct),
            "output_layers": _map_structure(io_config, model._outputs_struct)}


def _map_structure(fn, struct):
    if isinstance(struct, dict):
        return {k: _map_structure(fn, v) for k, v in struct.items()}
    if isinstance(struct, (list, tuple)):
        return [_map_structure(fn, v) for v in struct]
    return fn(struct)


# ----------------------------------------------------------------- compile ---
def compile_config(model):
    """``compile()``'s arguments as Keras saves them ({} when not compiled)."""
    if not getattr(model, "compiled", False) or getattr(model, "optimizer", None) is None:
        return {}
    return {
        "optimizer": serialize_optimizer(model.optimizer),
        "loss": _serialize_loss_or_metric(model.loss, "keras.losses"),
        "loss_weights": to_json_value(getattr(model, "loss_weights", None)),
        "metrics": _serialize_loss_or_metric(getattr(model, "_metric_specs", None),
                                             "keras.metrics"),
        "weighted_metrics": _serialize_loss_or_metric(
            getattr(model, "_weighted_metric_specs", None), "keras.metrics"),
        "run_eagerly": False,
        "steps_per_execution": 1,
        "jit_compile": False,
    }


def serialize_optimizer(optimizer):
    return keras_object("keras.optimizers", type(optimizer).__name__,
                        to_json_value(optimizer.get_config()))


def _serialize_loss_or_metric(value, module):
    """Strings stay strings, functions become their names, objects become
    Keras object dicts; lists and dicts keep their structure."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict):
        return {k: _serialize_loss_or_metric(v, module) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_serialize_loss_or_metric(v, module) for v in value]
    if inspect.isclass(value):
        return value.__name__
    if hasattr(value, "get_config"):
        return keras_object(module, type(value).__name__, to_json_value(value.get_config()))
    if callable(value):
        return value.__name__
    raise TypeError(f"Cannot save {value!r} in a model's compile config")
