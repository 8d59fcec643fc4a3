"""Model: a directed acyclic graph of layer calls (Keras's Functional model).

``Model(inputs, outputs)`` walks back from the outputs through the nodes the
symbolic calls recorded, orders them topologically, and then runs them in that
order (forward) and in reverse (backward), summing gradients where a tensor
feeds several layers and where a shared layer's weights are used twice.
"""
from collections import defaultdict

import numpy as np

from pycnn.backend import KerasTensor, unique_name
from pycnn.layers import activity
from pycnn.layers.base import InputLayer, Layer, call_forward, shape_str
from pycnn._threads import model_lock
from pycnn.models.data_adapter import adjust_input_rank
from pycnn.models.training import Trainer


def _flatten(x):
    if isinstance(x, dict):
        return list(x.values())
    if isinstance(x, (list, tuple)):
        out = []
        for item in x:
            out.extend(_flatten(item))
        return out
    return [x]


def adjust_call_inputs(model, inputs):
    """model(x) on arrays: the input rank adjusted as fit/predict do (see
    data_adapter.adjust_input_rank); symbolic inputs pass unchanged."""
    if type(inputs) is np.ndarray:   # the common case, without the lists
        return adjust_input_rank(model, (inputs,))[0]
    xs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    if any(isinstance(x, KerasTensor) for x in xs):
        return inputs
    xs = adjust_input_rank(model, [x if isinstance(x, np.ndarray) else np.asarray(x)
                                   for x in xs])
    return xs if isinstance(inputs, (list, tuple)) else xs[0]


def _accepts_need_dx(layer):
    try:
        import inspect
        return "need_dx" in inspect.signature(layer.backward).parameters
    except (TypeError, ValueError):
        return False


def call_backward(layer, cache, dy, need_dx):
    """layer.backward, telling it when its input gradient is not needed (the
    first conv of a network then skips its most expensive pass)."""
    if type(cache) is activity.ActivityCache:  # the activity penalty's gradient joins dy
        cache, dy = activity.output_grad(cache, dy)
    if not need_dx and getattr(layer, "_backward_takes_need_dx", None) is None:
        layer._backward_takes_need_dx = _accepts_need_dx(layer)
    if not need_dx and layer._backward_takes_need_dx:
        return layer.backward(cache, dy, need_dx=False)
    return layer.backward(cache, dy)


class Model(Trainer, Layer):
    """A model built from symbolic ``inputs`` and ``outputs`` (see ``Input``)."""

    _is_sequential = False

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        if inputs is None or outputs is None:
            raise ValueError(
                "Model(inputs, outputs): pass the symbolic inputs (from Input(...)) and the "
                "outputs of the layers called on them")
        Layer.__init__(self, name=name or unique_name("functional"), trainable=trainable,
                       **kwargs)
        Trainer.__init__(self)
        self._init_graph(inputs, outputs)

    # ----- graph -------------------------------------------------------------
    def _init_graph(self, inputs, outputs):
        self._inputs_struct = inputs
        self._outputs_struct = outputs
        self.inputs = _flatten(inputs)
        self.outputs = _flatten(outputs)
        for t in self.inputs + self.outputs:
            if not isinstance(t, KerasTensor):
                raise ValueError(
                    f"Model '{self.name}': inputs and outputs must be symbolic tensors "
                    f"(from Input(...) and layer calls), got {type(t).__name__}")
        for t in self.inputs:
            if not isinstance(t._keras_history[0], InputLayer):
                raise ValueError(
                    f"Model '{self.name}': every input must come from Input(...), but "
                    f"{t.name} is the output of layer '{t._keras_history[0].name}'")
        self._multi_input = len(self.inputs) > 1
        self._nodes = self._topological_nodes()
        input_ids = {id(t) for t in self.inputs}
        self._node_needs_dx = [
            not all(id(t) in input_ids for t in node.inputs) for node in self._nodes]
        self._layers = keras_layer_order(self.inputs, self.outputs)
        self.built = True
        self._build_shapes = [t.shape for t in self.inputs] if self._multi_input \
            else self.inputs[0].shape

    def _topological_nodes(self):
        """Nodes between inputs and outputs, each after all of its parents."""
        input_ids = {id(t) for t in self.inputs}
        order, state = [], {}

        def visit(tensor):
            layer, node_index, _ = tensor._keras_history
            node = layer._inbound_nodes[node_index]
            key = id(node)
            if state.get(key) == "done":
                return
            if state.get(key) == "active":
                raise ValueError(f"Model '{self.name}': the layer graph has a cycle")
            if isinstance(layer, InputLayer):
                if id(tensor) not in input_ids:
                    raise ValueError(
                        f"Model '{self.name}': output depends on input "
                        f"'{tensor.name}' which is not in the model's inputs")
                state[key] = "done"
                return
            state[key] = "active"
            for parent in node.inputs:
                visit(parent)
            state[key] = "done"
            order.append(node)

        for t in self.outputs:
            visit(t)
        return order

    @property
    def layers(self):
        return list(self._layers)

    # A model's input/output are its own graph's tensors (as in Keras), even
    # before it is called as a layer of another model.
    @property
    def input(self):
        return self.inputs[0] if len(self.inputs) == 1 else list(self.inputs)

    @property
    def output(self):
        return self.outputs[0] if len(self.outputs) == 1 else list(self.outputs)

    @property
    def _sublayers(self):
        return [l for l in self._layers if not isinstance(l, InputLayer)]

    def get_layer(self, name=None, index=None):
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name}. Existing layers are: "
                         f"{[l.name for l in self.layers]}.")

    @property
    def output_names(self):
        """The output layers' names (Keras's Functional.output_names), the keys
        of dict losses, metrics and targets."""
        return self._output_names()

    def compute_output_shape(self, input_shape):
        shapes = [t.shape for t in self.outputs]
        return shapes if len(shapes) > 1 else shapes[0]

    def _call_symbolic(self, xs, **kwargs):
        tensors = xs if isinstance(xs, list) else [xs]
        if len(tensors) != len(self.inputs):
            raise ValueError(f"Model '{self.name}' expects {len(self.inputs)} inputs, "
                             f"got {len(tensors)}")
        return Layer._call_symbolic(self, xs if self._multi_input else tensors[0], **kwargs)

    def _maybe_build(self, shapes):
        self._check_input_compatible(shapes)

    # ----- compute -----------------------------------------------------------
    def _check_inputs(self, xs):
        for t, x in zip(self.inputs, xs):
            want = t.shape
            if x.ndim != len(want) or any(w is not None and w != g
                                          for w, g in zip(want[1:], x.shape[1:])):
                raise ValueError(
                    f"Input of model \"{self.name}\" is incompatible: expected shape="
                    f"{shape_str(want)}, found shape={shape_str(x.shape)}")

    def forward(self, inputs, training=False):
        xs = inputs if isinstance(inputs, list) else [inputs]
        if len(xs) != len(self.inputs):
            raise ValueError(f"Model '{self.name}' expects {len(self.inputs)} input(s), "
                             f"got {len(xs)}")
        self._check_inputs(xs)
        values = {id(t): x for t, x in zip(self.inputs, xs)}
        masks = {}  # Keras masking: tensor -> its mask (absent: none)
        caches = []
        for node in self._nodes:
            args = [values[id(t)] for t in node.inputs]
            in_masks = [masks.get(id(t)) for t in node.inputs]
            multi = node.layer._multi_input
            y, cache, out_mask = call_forward(
                node.layer, args if multi else args[0], training,
                (in_masks if any(m is not None for m in in_masks) else None) if multi
                else in_masks[0])
            ys = y if len(node.outputs) > 1 else [y]
            out_masks = out_mask if isinstance(out_mask, list) else [out_mask] * len(ys)
            for t, v, m in zip(node.outputs, ys, out_masks):
                values[id(t)] = v
                if m is not None:
                    masks[id(t)] = m
            caches.append(cache)
        outs = [values[id(t)] for t in self.outputs]
        return (outs if len(outs) > 1 else outs[0]), caches

    # ----- inference ---------------------------------------------------------
    def _plan_calls(self):
        """(layer, input keys, output keys) per node, in execution order."""
        calls = [(node.layer, [id(t) for t in node.inputs], [id(t) for t in node.outputs])
                 for node in self._nodes]
        return calls, [id(t) for t in self.inputs], [id(t) for t in self.outputs]

    def _inference_plan(self):
        """The fused inference plan (pycnn/models/inference.py), built once per
        graph and fusion setting."""
        from pycnn.models import inference
        key = inference.fusion_enabled()
        cached = self.__dict__.get("_plan_cache")
        if cached is None or cached[0] != key:
            cached = (key, inference.build_plan(*self._plan_calls()))
            self._plan_cache = cached
        return cached[1]

    def _uses_plan(self):
        """False for a subclass with its own forward (it runs that instead)."""
        return type(self).forward is Model.forward

    def _predict_compiled(self, x):
        """predict_on_batch of one ndarray by the plan's compiled chain (one C++
        call, no Python per layer), or None where that does not apply: the
        checked path then runs and reports any problem. The chain exists only
        for a sample shape the checked path has accepted."""
        cached = self.__dict__.get("_plan_cache")
        if cached is None or cached[1]._compiled is None or not self._uses_plan():
            return None
        from pycnn.models import inference
        if cached[0] != inference.fusion_enabled():
            return None
        lock = model_lock(self)
        took = lock._acquire_read()  # not `with lock.read()`: its guard object cost 1 us here
        try:
            return cached[1].run_compiled(x)
        finally:
            lock._release_read(took)

    def _forward_inference(self, inputs):
        """forward(inputs, training=False) without caches, through the plan."""
        if not self._uses_plan():  # a subclass with its own forward
            return self.forward(inputs, training=False)[0]
        xs = inputs if isinstance(inputs, list) else [inputs]
        if len(xs) != len(self.inputs):
            raise ValueError(f"Model '{self.name}' expects {len(self.inputs)} input(s), "
                             f"got {len(xs)}")
        self._check_inputs(xs)
        outs = self._inference_plan().run(xs)
        return outs if len(outs) > 1 else outs[0]

    def backward(self, cache, dy, need_dx=True):
        caches = cache
        dys = dy if len(self.outputs) > 1 else [dy]
        tensor_grads = {}
        for t, g in zip(self.outputs, dys):
            _accumulate(tensor_grads, id(t), g)
        weight_grads = {}
        for node, node_cache, needs_dx in zip(reversed(self._nodes), reversed(caches),
                                              reversed(self._node_needs_dx)):
            out_grads = [tensor_grads.get(id(t)) for t in node.outputs]
            if all(g is None for g in out_grads) and \
                    type(node_cache) is not activity.ActivityCache:
                continue  # this branch does not reach the loss
            if len(out_grads) == 1 or all(g is None for g in out_grads):
                g_out = out_grads[0] if len(out_grads) == 1 else None
            else:
                g_out = [np.zeros(1, np.float32) if g is None else g for g in out_grads]
            layer = node.layer
            dx, grads = call_backward(layer, node_cache, g_out, need_dx or needs_dx)
            for var, g in zip(layer.trainable_weights, grads):
                _accumulate(weight_grads, id(var), g)
            if dx is None:
                continue
            dxs = dx if layer._multi_input else [dx]
            for t, g in zip(node.inputs, dxs):
                _accumulate(tensor_grads, id(t), g)
        dx_out = None
        if need_dx:
            dx_list = [tensor_grads.get(id(t)) for t in self.inputs]
            dx_out = dx_list if self._multi_input else dx_list[0]
        if not self.trainable:
            return dx_out, []
        grads = [weight_grads.get(id(v)) for v in self.trainable_weights]
        grads = [np.zeros(v.shape, np.float32) if g is None else g
                 for g, v in zip(grads, self.trainable_weights)]
        return dx_out, grads

    def __call__(self, inputs, training=None, **kwargs):
        if isinstance(inputs, dict):
            inputs = [inputs[t.name] for t in self.inputs]
        return Layer.__call__(self, adjust_call_inputs(self, inputs), training=training,
                              **kwargs)

    def get_config(self):
        # Keras's Functional config (layers with their inbound nodes), so
        # from_config can rebuild the graph.
        from pycnn.saving.serialize import functional_config
        return functional_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from pycnn.saving.deserialize import functional_from_config
        return functional_from_config(cls, config, custom_objects)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def keras_layer_order(inputs, outputs):
    """Layers between ``inputs`` and ``outputs`` in the order Keras 3 lists
    ``model.layers``: by graph depth from inputs to outputs, ties in the order a
    depth-first walk from the outputs first reaches them (Keras's _build_map)."""
    input_ids = {id(t) for t in inputs}
    finished, in_progress = set(), set()
    nodes_in_order = []          # inputs -> outputs
    layer_index = {}             # id(layer) -> first traversal index
    layers_by_id = {}

    def visit(tensor):
        layer, node_index, _ = tensor._keras_history
        node = layer._inbound_nodes[node_index]
        if id(node) in finished:
            return
        is_input = isinstance(layer, InputLayer)
        if not is_input and id(tensor) in input_ids:
            finished.add(id(node))
            return
        if id(node) in in_progress:
            raise ValueError(f"Layer '{layer.name}' is part of a cycle")
        if id(layer) not in layer_index:
            layer_index[id(layer)] = len(layer_index)
            layers_by_id[id(layer)] = layer
        in_progress.add(id(node))
        if not is_input:
            for t in node.inputs:
                visit(t)
        finished.add(id(node))
        in_progress.discard(id(node))
        nodes_in_order.append(node)

    for t in outputs:
        visit(t)

    in_graph = {id(n) for n in nodes_in_order}
    node_depth, layer_depth = {}, {}
    for node in reversed(nodes_in_order):
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = depth
        node_depth[id(node)] = depth
        for t in node.inputs:
            parent_layer, parent_index, _ = t._keras_history
            parent = parent_layer._inbound_nodes[parent_index]
            if id(parent) in in_graph:
                node_depth[id(parent)] = max(depth + 1, node_depth.get(id(parent), 0))
    for t in inputs:  # inputs no output depends on still belong to the model
        layer = t._keras_history[0]
        if id(layer) not in layer_depth:
            layer_depth[id(layer)] = 0
            layer_index[id(layer)] = -1
            layers_by_id[id(layer)] = layer

    by_depth = defaultdict(list)
    for layer_id, depth in layer_depth.items():
        by_depth[depth].append(layer_id)
    order = []
    for depth in sorted(by_depth, reverse=True):
        order.extend(sorted(by_depth[depth], key=lambda i: layer_index[i]))
    return [layers_by_id[i] for i in order]


def _accumulate(store, key, value):
    if value is None:
        return
    prev = store.get(key)
    store[key] = value if prev is None else prev + value
