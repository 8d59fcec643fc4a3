"""The Keras 3 weight-file layout of a pycnn model.

``weight_groups(model)`` lists, in Keras's order, every ``.../vars`` group a
Keras 3 ``.weights.h5`` holds for the model, with the pycnn variables that
belong in it:

* ``vars`` (the model's own variables; none for a Functional model);
* ``layers/<key>/vars`` for every layer, where ``<key>`` is the snake_case
  Keras class name numbered per container; a nested model recurses under
  ``layers/<key>/layers/...``; sub-layers held as attributes (an RNN's
  ``cell``) go under ``<key>/<attribute>``.

A layer reached twice (a shared layer) is listed once, at its first path.
The optimizer's group is handled by ``weights_h5`` (its state is not made
of Variables alone).
"""

from pycnn.backend import to_snake_case
from pycnn.layers.base import Layer
from pycnn.saving.naming import ContainerKeys, keras_class_name

# Keras keeps an RNN's weights on its cell; a pycnn RNN without a ``cell``
# sub-layer still saves its own weights in the cell's group.
_RNN_CLASSES = ("LSTM", "GRU", "SimpleRNN")

# Attributes of the base Layer that never hold sub-layers worth saving.
_SKIPPED_ATTRIBUTES = frozenset({"_inbound_nodes", "_trainable_variables",
                                 "_non_trainable_variables", "_build_shapes"})


class WeightGroup:
    """One ``<path>/vars`` group: the owner's name and its variables in order."""

    def __init__(self, path, name, variables, owner):
        self.path = path            # e.g. "layers/dense_1" ("" for the model)
        self.name = name            # the ``name`` attribute Keras stores
        self.variables = variables  # list of pycnn Variables
        self.owner = owner          # the layer (for error messages)

    @property
    def vars_path(self):
        return f"{self.path}/vars" if self.path else "vars"

    def __repr__(self):
        return f"<WeightGroup {self.vars_path} ({len(self.variables)} variables)>"


def is_model(layer):
    from pycnn.models.functional import Model
    return isinstance(layer, Model)


def own_variables(layer):
    """The layer's own variables in Keras's order: trainable then
    non-trainable, each in creation order (sub-layers excluded)."""
    seen, out = set(), []
    for v in list(getattr(layer, "_trainable_variables", [])) + \
            list(getattr(layer, "_non_trainable_variables", [])):
        if id(v) not in seen:
            seen.add(id(v))
            out.append(v)
    return out


def keras_layer_order(model):
    """A model's layers in the order Keras 3 lists ``model.layers``.

    Sequential: its stack (InputLayer excluded). Functional: layers sorted by
    graph depth from inputs to outputs, ties by the order a depth-first walk
    from the outputs first reaches them (Keras's ``_build_map``).
    """
    return list(model.layers)  # Model keeps them in Keras's order


def weight_groups(model):
    """Every ``vars`` group of ``model`` in Keras's order (see module doc)."""
    groups = []
    _collect_layer(model, "", groups, set())
    return groups


def keras_trainable_variables(model):
    """``model.trainable_weights`` in Keras's order (each layer's own, then
    its sub-layers', layers in ``keras_layer_order``): the order Keras builds
    optimizer slots in."""
    trainable = {id(v) for v in model.trainable_weights}
    return [v for group in weight_groups(model) for v in group.variables
            if id(v) in trainable]


def _join(path, name):
    return f"{path}/{name}" if path else name


def _collect_layer(layer, path, groups, visited):
    if id(layer) in visited:
        return
    visited.add(id(layer))
    variables = own_variables(layer)
    cell_fallback = (keras_class_name(layer) in _RNN_CLASSES and variables
                     and not isinstance(getattr(layer, "cell", None), Layer))
    groups.append(WeightGroup(path, layer.name, [] if cell_fallback else variables, layer))
    if cell_fallback:
        cell_name = to_snake_case(keras_class_name(layer)) + "_cell"
        groups.append(WeightGroup(_join(path, "cell"), cell_name, variables, layer))
    if is_model(layer):
        _collect_container(keras_layer_order(layer), _join(path, "layers"), groups, visited)
        return
    for attr, child in _sublayer_attributes(layer):
        if isinstance(child, Layer):
            _collect_layer(child, _join(path, attr), groups, visited)
        else:
            _collect_container(child, _join(path, attr), groups, visited)


def _collect_container(items, path, groups, visited):
    keys = ContainerKeys()
    for item in items:
        if isinstance(item, Layer):
            _collect_layer(item, _join(path, keys.key_for(item)), groups, visited)
        elif isinstance(item, (list, tuple)) and _holds_layers(item):
            _collect_container(item, _join(path, keys.next("container")), groups, visited)


def _holds_layers(items):
    return any(isinstance(i, Layer) or (isinstance(i, (list, tuple)) and _holds_layers(i))
               for i in items)


def _sublayer_attributes(layer):
    """(attribute, sub-layer or list of sub-layers), public names first, each
    group alphabetical, as Keras walks a layer's attributes."""
    def order(name):
        return ("~" + name) if name.startswith("_") else name
    out = []
    for attr in sorted(vars(layer), key=order):
        if attr in _SKIPPED_ATTRIBUTES or attr.startswith("__"):
            continue
        value = vars(layer)[attr]
        if isinstance(value, Layer) and value is not layer:
            out.append((attr, value))
        elif isinstance(value, dict) and _holds_layers(list(value.values())):
            out.append((attr, list(value.values())))
        elif isinstance(value, (list, tuple)) and _holds_layers(value):
            out.append((attr, value))
    return out
