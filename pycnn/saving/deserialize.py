"""Keras 3 ``config.json`` dictionaries -> pycnn objects.

Only classes on the allow-list (``registry``) are built; a name not on it
is a ValueError, never an import. Keras-only arguments that pycnn does not
take are dropped: silently when they hold Keras's default (``renorm=False``,
``quantization_config=None``, ...), with a warning otherwise.
"""
import inspect
import warnings

from pycnn.saving import registry

# Arguments Keras writes that pycnn layers do not take, at values that change
# nothing (so dropping them is exact).
_HARMLESS_KERAS_DEFAULTS = {
    "sparse": False, "ragged": False, "optional": False, "renorm": False,
    "renorm_clipping": None, "renorm_momentum": 0.99, "quantization_config": None,
    "lora_rank": None, "lora_alpha": None, "synchronized": False, "groups": 1,
    "input_axes": None, "output_axes": None, "seed": None, "activity_regularizer": None,
    "kernel_regularizer": None, "bias_regularizer": None, "kernel_constraint": None,
    "bias_constraint": None, "reduction": "sum_over_batch_size", "dtype": "float32",
    "zero_output_for_mask": False,
}


class ConfigError(ValueError):
    """A config that pycnn cannot turn into objects."""


# ------------------------------------------------------------- arguments ---
def _accepted_arguments(cls):
    """Names ``cls(...)`` accepts, following ``**kwargs`` up the MRO."""
    names = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        params = inspect.signature(init).parameters.values()
        names.update(p.name for p in params if p.name != "self" and p.kind in (
            inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY))
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            break
    return names


def constructor_arguments(cls, config, what, custom_objects=None):
    """``config`` made ready for ``cls(**config)``: Keras values converted,
    arguments ``cls`` does not take dropped."""
    accepted = _accepted_arguments(cls)
    out = {}
    for key, value in config.items():
        value = convert_value(value, custom_objects)
        if key in accepted:
            out[key] = value
        elif value is not None and _HARMLESS_KERAS_DEFAULTS.get(key, object()) != value \
                and key != "shared_object_id":
            warnings.warn(f"{what}: pycnn's {cls.__name__} does not support the argument "
                          f"{key}={value!r}; it is ignored.", stacklevel=2)
    return out


def convert_value(value, custom_objects=None):
    """Keras's serialized values -> what pycnn constructors take."""
    if isinstance(value, list):
        return [convert_value(v, custom_objects) for v in value]
    if not isinstance(value, dict):
        return value
    class_name = value.get("class_name")
    if class_name is None:
        return {k: convert_value(v, custom_objects) for k, v in value.items()}
    inner = value.get("config")
    if class_name == "__tuple__":
        return tuple(convert_value(v, custom_objects) for v in inner["value"])
    if class_name in ("DTypePolicy", "FloatDTypePolicy"):
        return inner.get("name", "float32") if isinstance(inner, dict) else "float32"
    if class_name == "function":  # a built-in function saved by name
        return inner if isinstance(inner, str) else value.get("registered_name")
    module = str(value.get("module", ""))
    if module.startswith("keras.initializers"):
        return deserialize_initializer(value, custom_objects)
    if module.startswith("keras.regularizers"):
        from pycnn import regularizers
        return regularizers.deserialize(value, custom_objects)
    if module.startswith("keras.constraints"):
        from pycnn import constraints
        return constraints.deserialize(value, custom_objects)
    if module.startswith(("keras.layers", "keras.src.models", "keras")) and \
            "config" in value and class_name in registry.layer_classes(custom_objects):
        return deserialize_layer(value, custom_objects)
    return {k: convert_value(v, custom_objects) for k, v in value.items()}


def deserialize_initializer(value, custom_objects=None):
    classes = registry.initializer_classes(custom_objects)
    cls = classes.get(value["class_name"])
    if cls is None:
        raise ConfigError(f"Unknown initializer '{value['class_name']}'")
    return cls(**constructor_arguments(cls, value.get("config") or {},
                                       f"initializer {value['class_name']}"))


# ---------------------------------------------------------------- layers ---
def _class_for(config, custom_objects):
    if not isinstance(config, dict) or "class_name" not in config:
        raise ConfigError(f"Expected a layer config with a 'class_name', got {config!r:.200}")
    class_name = config["class_name"]
    cls = registry.layer_classes(custom_objects).get(class_name)
    if cls is None:
        raise ConfigError(
            f"Unknown layer class '{class_name}': pycnn builds only its own layers (pass "
            "your class in `custom_objects` to allow it)")
    return class_name, cls


def deserialize_layer(config, custom_objects=None):
    """A layer or model from its Keras object dict (unbuilt for plain layers
    unless ``build_config`` is applied by the caller)."""
    class_name, cls = _class_for(config, custom_objects)
    inner = config.get("config") or {}
    if class_name == "Sequential" or _is_sequential_class(cls):
        return sequential_from_config(cls, inner, custom_objects)
    if class_name in ("Functional", "Model") or "input_layers" in inner:
        return functional_from_config(cls, inner, custom_objects)
    name = inner.get("name", class_name)
    kwargs = constructor_arguments(cls, inner, f"Layer '{name}'", custom_objects)
    try:
        return cls.from_config(kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"Cannot rebuild layer '{name}' ({class_name}): {e}") from e


def _is_sequential_class(cls):
    from pycnn.models.sequential import Sequential
    return inspect.isclass(cls) and issubclass(cls, Sequential)


def build_from_config(layer, config):
    """Build a layer no graph call built, from its saved input shape."""
    shape = (config.get("build_config") or {}).get("input_shape")
    if layer.built or shape is None:
        return
    if shape and isinstance(shape[0], list):
        shape = [tuple(s) for s in shape]
    else:
        shape = tuple(shape)
    layer._maybe_build(shape)


def sequential_from_config(cls, config, custom_objects):
    model = cls(name=config.get("name"), trainable=config.get("trainable", True))
    for layer_config in config.get("layers", []):
        layer = deserialize_layer(layer_config, custom_objects)
        model.add(layer, rebuild=False)
    model._maybe_rebuild()
    shape = config.get("build_input_shape")
    if not model.built and shape is not None:
        model.build(tuple(shape))
    return model


def functional_from_config(cls, config, custom_objects):
    created, from_functional, pending = {}, set(), []
    for layer_config in config["layers"]:
        layer = deserialize_layer(layer_config, custom_objects)
        name = layer_config.get("name", layer.name)
        created[name] = layer
        if layer_config.get("class_name") == "Functional":
            from_functional.add(name)
        pending.append([name, list(layer_config.get("inbound_nodes", []))])

    def node_output(name, node_index, tensor_index):
        if name not in created:
            raise ConfigError(f"A node refers to an unknown layer '{name}'")
        nodes = created[name]._inbound_nodes
        if node_index >= len(nodes):
            return None  # not created yet
        return nodes[node_index].outputs[tensor_index]

    def resolve(arg):
        """Keras tensors in a node's arguments -> pycnn KerasTensors (None if
        one of them is not available yet)."""
        if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__":
            return node_output(*arg["config"]["keras_history"])
        if isinstance(arg, list):
            items = [resolve(a) for a in arg]
            return None if any(i is None for i in items) else items
        raise ConfigError(f"Unsupported node argument {arg!r:.200}")

    # Call layers in config order, retrying nodes whose inputs are not made
    # yet (a layer shared at different depths), as Keras does.
    while any(nodes for _, nodes in pending):
        progressed = False
        for entry in pending:
            name, nodes = entry
            while nodes:
                inputs = _node_inputs(nodes[0], resolve, node_output)
                if inputs is None:
                    break
                created[name](inputs)
                nodes.pop(0)
                progressed = True
        if not progressed:
            stuck = [name for name, nodes in pending if nodes]
            raise ConfigError("Invalid Functional model configuration: the graph has loops "
                              f"or disconnected nodes (layers {stuck})")

    def io_tensor(ref):
        name, node_index, tensor_index = ref
        if name in from_functional:
            node_index -= 1  # Keras counts a Functional's built-in node here
        tensor = node_output(name, node_index, tensor_index)
        if tensor is None:
            raise ConfigError(f"Model input/output refers to a missing node of '{name}'")
        return tensor

    def map_io(struct):
        if isinstance(struct, list) and len(struct) == 3 and isinstance(struct[0], str):
            return io_tensor(struct)
        if isinstance(struct, dict):
            return {k: map_io(v) for k, v in struct.items()}
        return [map_io(v) for v in struct]

    return cls(inputs=map_io(config["input_layers"]), outputs=map_io(config["output_layers"]),
               name=config.get("name"), trainable=config.get("trainable", True))


def _node_inputs(node_data, resolve, node_output):
    if isinstance(node_data, list):  # legacy: [[layer, node, tensor, kwargs], ...]
        tensors = [node_output(d[0], d[1], d[2]) for d in node_data]
        if any(t is None for t in tensors):
            return None
        return tensors[0] if len(tensors) == 1 else tensors
    args = node_data.get("args", [])
    if not args:
        raise ConfigError(f"A node has no input tensors: {node_data!r:.200}")
    return resolve(args[0])


# ---------------------------------------------------------------- compile ---
def compile_from_config(model, config, custom_objects=None):
    """``model.compile(...)`` with the optimizer, loss and metrics of a saved
    ``compile_config``."""
    optimizer = deserialize_optimizer(config.get("optimizer") or "rmsprop", custom_objects)
    loss = _deserialize_named(config.get("loss"), registry.loss_objects(custom_objects),
                              "loss", custom_objects)
    metrics = _deserialize_named(config.get("metrics"),
                                 registry.metric_objects(custom_objects), "metric",
                                 custom_objects)
    weighted_metrics = _deserialize_named(config.get("weighted_metrics"),
                                          registry.metric_objects(custom_objects), "metric",
                                          custom_objects)
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics,
                  weighted_metrics=weighted_metrics, loss_weights=config.get("loss_weights"))


def deserialize_optimizer(config, custom_objects=None):
    if isinstance(config, str):
        from pycnn import optimizers
        return optimizers.get(config)
    classes = registry.optimizer_classes(custom_objects)
    cls = classes.get(config.get("class_name"))
    if cls is None:
        raise ConfigError(f"Unknown optimizer '{config.get('class_name')}'")
    inner = dict(config.get("config") or {})
    learning_rate = inner.get("learning_rate")
    kwargs = constructor_arguments(cls, inner, f"Optimizer {config['class_name']}",
                                   custom_objects)
    if isinstance(learning_rate, dict):  # a schedule: the optimizer rebuilds it
        kwargs["learning_rate"] = learning_rate
    return cls.from_config(kwargs)


def _deserialize_named(value, objects, what, custom_objects):
    """Loss/metric specs: strings stay strings (compile resolves them),
    Keras object dicts become pycnn objects; structure is kept."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        return [_deserialize_named(v, objects, what, custom_objects) for v in value]
    if isinstance(value, dict) and "class_name" not in value:
        return {k: _deserialize_named(v, objects, what, custom_objects)
                for k, v in value.items()}
    class_name = value["class_name"]
    if class_name == "function":
        return value.get("config") if isinstance(value.get("config"), str) \
            else value.get("registered_name")
    obj = objects.get(class_name)
    if obj is None:
        raise ConfigError(f"Unknown {what} '{class_name}'")
    if not inspect.isclass(obj):
        return obj
    kwargs = constructor_arguments(obj, value.get("config") or {}, f"{what} {class_name}",
                                   custom_objects)
    return obj(**kwargs)
