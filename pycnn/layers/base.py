"""The Layer base class, graph nodes, InputLayer and Input.

A layer is a plain Python object:

* ``__init__`` validates hyper-parameters (ValueError naming the layer);
* ``build(input_shape)`` validates the input shape and creates weights in
  Keras's public layout with ``add_weight``;
* ``forward(x, training) -> (y, cache)`` computes the output through
  ``pycnn.ops`` (C++), returning whatever ``backward`` needs in ``cache``;
* ``backward(cache, dy) -> (dx, grads)`` returns the gradient for the input
  (a list for multi-input layers) and the gradients of
  ``self.trainable_weights`` in that order (``[]`` when frozen).

Nothing is cached on the layer between forward and backward, so one layer
can serve several graph nodes and several threads at once.
"""

import inspect

import numpy as np

from pycnn import initializers
from pycnn.layers import activity
from pycnn.backend import (InvalidDtypeError, KerasTensor, Variable, floatx,
                           standardize_shape, to_snake_case, unique_name)


def forward_takes_mask(layer):
    """Whether layer.forward accepts `mask=` (cached on the layer)."""
    takes = getattr(layer, "_forward_takes_mask", None)
    if takes is None:
        try:
            takes = "mask" in inspect.signature(layer.forward).parameters
        except (TypeError, ValueError):
            takes = False
        layer._forward_takes_mask = takes
    return takes


def call_forward(layer, x, training, mask):
    """layer.forward, handing it the input's mask when it takes one; returns
    (y, cache, output mask) with the output mask from compute_mask."""
    if mask is not None and forward_takes_mask(layer):
        y, cache = layer.forward(x, training=training, mask=mask)
    else:
        y, cache = layer.forward(x, training=training)
    return y, activity.record(layer, y, cache), layer.compute_mask(x, mask)


def shape_str(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


class Node:
    """One call of a layer on symbolic tensors."""

    def __init__(self, layer, inputs, outputs, call_kwargs=None):
        self.layer = layer
        self.inputs = list(inputs)      # list of KerasTensor
        self.outputs = list(outputs)    # list of KerasTensor
        self.call_kwargs = call_kwargs or {}

    @property
    def parent_nodes(self):
        parents = []
        for t in self.inputs:
            layer, node_index, _ = t._keras_history
            parents.append(layer._inbound_nodes[node_index])
        return parents


class Layer:
    """Base class of every pycnn layer (and of Model)."""

    # Subclasses that take several inputs set this to True.
    _multi_input = False
    # Keras masking: True for layers that pass a (batch, time) mask on
    # unchanged (Dense, Dropout, activations, ...); layers that use or change
    # it override compute_mask and take `mask=` in forward (LSTM, GRU,
    # GlobalAveragePooling1D).
    supports_masking = False

    def __init__(self, name=None, trainable=True, dtype=None, input_shape=None,
                 input_dim=None, batch_size=None, **kwargs):
        kwargs.pop("autocast", None)
        kwargs.pop("batch_input_shape", None)
        for bad in list(kwargs):
            raise TypeError(
                f"{type(self).__name__}: unrecognized keyword argument '{bad}'")
        # pycnn computes in float32 whatever dtype policy is asked for.
        del dtype
        if name is not None and not isinstance(name, str):
            raise TypeError(f"Layer name must be a string, got {name!r}")
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self._trainable = bool(trainable)
        self.built = False
        self._trainable_variables = []
        self._non_trainable_variables = []
        self._inbound_nodes = []
        self._build_shapes = None
        if input_dim is not None:
            input_shape = (input_dim,)
        self._input_shape_arg = standardize_shape(input_shape, "input_shape") \
            if input_shape is not None else None
        self._batch_size_arg = batch_size
        self.dtype = floatx

    # ----- weights ---------------------------------------------------------
    def add_weight(self, shape, initializer="glorot_uniform", name=None,
                   trainable=True, dtype=None):
        shape = tuple(int(s) for s in shape)
        init = initializers.get(initializer)
        value = init(shape)
        # As Keras, a frozen layer's weights report trainable=False.
        var = Variable(value, name=name or "variable", trainable=trainable and self._trainable,
                       path=f"{self.name}/{name or 'variable'}")
        if trainable:
            self._trainable_variables.append(var)
        else:
            self._non_trainable_variables.append(var)
        # Keras's `<weight>_regularizer` / `_constraint` arguments (kernel_,
        # bias_, ...; recurrent_ for the recurrent_kernel).
        arg = "recurrent" if name == "recurrent_kernel" else name
        var.regularizer = getattr(self, f"{arg}_regularizer", None) if trainable else None
        var.constraint = getattr(self, f"{arg}_constraint", None) if trainable else None
        return var

    @property
    def _sublayers(self):
        return []

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        for var in self._trainable_variables:   # Keras keeps their flags in step
            var.trainable = self._trainable
        for sub in self._sublayers:
            sub.trainable = value

    @property
    def weights(self):
        seen, out = set(), []
        for w in self._trainable_variables + self._non_trainable_variables:
            if id(w) not in seen:
                seen.add(id(w))
                out.append(w)
        for sub in self._sublayers:
            for w in sub.weights:
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    @property
    def variables(self):
        return self.weights

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        seen, out = set(), []
        for w in self._trainable_variables:
            if id(w) not in seen:
                seen.add(id(w))
                out.append(w)
        for sub in self._sublayers:
            for w in sub.trainable_weights:
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    @property
    def non_trainable_weights(self):
        trainable_ids = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable_ids]

    @property
    def losses(self):
        """The weight regularization penalties (floats), as Keras's layer.losses."""
        return [v.regularizer(v.value) for v in self.trainable_weights
                if getattr(v, "regularizer", None) is not None]

    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights

    def get_weights(self):
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights):
        params = self.weights
        weights = list(weights)
        if len(params) != len(weights):
            raise ValueError(
                f"Layer '{self.name}' expected {len(params)} weights, but received "
                f"{len(weights)} weight arrays")
        for p, w in zip(params, weights):
            w = np.asarray(w)
            if tuple(p.shape) != tuple(w.shape):
                raise ValueError(
                    f"Layer '{self.name}' weight '{p.name}' has shape {p.shape}, but "
                    f"received a value of shape {w.shape}")
        # All shapes checked first: a bad list leaves the layer unchanged.
        for p, w in zip(params, weights):
            p.assign(w)

    def count_params(self):
        if not self.built:
            raise ValueError(
                f"You tried to call `count_params` on layer '{self.name}', but the "
                "layer isn't built. You can build it manually via: "
                f"`{self.name}.build(batch_input_shape)`.")
        return int(sum(int(np.prod(w.shape)) for w in self.weights))

    # ----- shapes ------------------------------------------------------------
    def build(self, input_shape):
        self.built = True

    def compute_output_shape(self, input_shape):
        return input_shape

    def _check_rank(self, input_shape, min_rank=None, rank=None, what="input"):
        n = len(input_shape)
        if rank is not None and n != rank:
            raise ValueError(
                f"Input 0 of layer \"{self.name}\" is incompatible with the layer: "
                f"expected ndim={rank}, found ndim={n}. Full shape received: "
                f"{shape_str(input_shape)}")
        if min_rank is not None and n < min_rank:
            raise ValueError(
                f"Input 0 of layer \"{self.name}\" is incompatible with the layer: "
                f"expected min_ndim={min_rank}, found ndim={n}. Full shape received: "
                f"{shape_str(input_shape)}")

    def _maybe_build(self, shapes):
        if not self.built:
            self.build(shapes)
            self.built = True
            self._build_shapes = shapes
        else:
            self._check_input_compatible(shapes)

    def _check_input_compatible(self, shapes):
        """After build, every call must agree with the built shape on all
        known non-batch dimensions."""
        built = self._build_shapes
        if built is None:
            return
        pairs = list(zip(built, shapes)) if self._multi_input else [(built, shapes)]
        if self._multi_input and len(built) != len(shapes):
            raise ValueError(
                f"Layer \"{self.name}\" expects {len(built)} input(s), but it "
                f"received {len(shapes)} input tensors.")
        for i, (b, s) in enumerate(pairs):
            if b is None:
                continue
            if len(b) != len(s) or any(x is not None and y is not None and x != y
                                        for x, y in list(zip(b, s))[1:]):
                raise ValueError(
                    f"Input {i} of layer \"{self.name}\" is incompatible with the "
                    f"layer: expected shape={shape_str(b)}, found "
                    f"shape={shape_str(s)}")

    # ----- compute -----------------------------------------------------------
    def forward(self, x, training=False):
        raise NotImplementedError

    def compute_mask(self, inputs, mask=None):
        """The mask of this layer's output given its input's (Keras)."""
        return mask if self.supports_masking else None

    def backward(self, cache, dy):
        raise NotImplementedError

    def _check_dy(self, dy, expected_shape):
        """The gradient of this layer's output, as the kernels take it
        (float32, C-contiguous), after checking its shape against the output
        shape kept in the forward cache: a wrong dy would otherwise be
        broadcast or reshaped silently, or fail with numpy's message."""
        dy = np.asarray(dy)
        if dy.shape != tuple(expected_shape):
            raise ValueError(
                f"Gradient for the output of layer \"{self.name}\" has shape "
                f"{shape_str(dy.shape)}, expected {shape_str(expected_shape)}")
        return np.ascontiguousarray(dy, dtype=np.float32)

    def _prepare_input(self, x):
        """Accept anything array-like as Keras does: float32, C-contiguous."""
        if isinstance(x, KerasTensor):
            return x
        if isinstance(x, Variable):
            return x.value
        arr = np.asarray(x)
        if arr.dtype.kind not in "biuf":
            raise InvalidDtypeError(
                f"Layer \"{self.name}\" received an input of dtype {arr.dtype}; "
                "expected a numeric array")
        return np.ascontiguousarray(arr, dtype=np.float32)

    def __call__(self, inputs, training=None, **kwargs):
        if self._multi_input:
            if not isinstance(inputs, (list, tuple)):
                raise ValueError(
                    f"Layer \"{self.name}\" expects a list of inputs, got a single "
                    "tensor")
            xs = [self._prepare_input(t) for t in inputs]
        else:
            if isinstance(inputs, (list, tuple)) and len(inputs) == 1:
                inputs = inputs[0]
            xs = self._prepare_input(inputs)
        symbolic = any(isinstance(t, KerasTensor) for t in
                       (xs if isinstance(xs, list) else [xs]))
        if symbolic:
            return self._call_symbolic(xs, **kwargs)
        # Keras builds with the concrete shape (batch included) on an eager call.
        shapes = [tuple(a.shape) for a in xs] if isinstance(xs, list) else tuple(xs.shape)
        self._maybe_build(shapes)
        mask = kwargs.get("mask")
        if mask is None and not training and hasattr(self, "_forward_inference"):
            return self._forward_inference(xs)  # a model: its fused inference plan
        if mask is not None and forward_takes_mask(self):
            y, _ = self.forward(xs, training=bool(training), mask=mask)
        else:
            y, _ = self.forward(xs, training=bool(training))
        return y

    def _call_symbolic(self, xs, **kwargs):
        tensors = xs if isinstance(xs, list) else [xs]
        for t in tensors:
            if not isinstance(t, KerasTensor):
                raise ValueError(
                    f"Layer \"{self.name}\": cannot mix symbolic tensors and arrays")
        shapes = [t.shape for t in tensors] if self._multi_input else tensors[0].shape
        self._maybe_build(shapes)
        out_shape = self.compute_output_shape(shapes)
        node_index = len(self._inbound_nodes)
        multi_out = isinstance(out_shape, list)
        out_shapes = out_shape if multi_out else [out_shape]
        outs = [KerasTensor(s, name=f"{self.name}_out{i}" if multi_out else self.name,
                            history=(self, node_index, i))
                for i, s in enumerate(out_shapes)]
        self._inbound_nodes.append(Node(self, tensors, outs, kwargs))
        return outs if multi_out else outs[0]

    # ----- introspection -----------------------------------------------------
    def _node_attr(self, attr):
        if not self._inbound_nodes:
            raise AttributeError(
                f"Layer '{self.name}' has never been called and thus has no "
                f"defined {attr}.")
        node = self._inbound_nodes[0]
        ts = node.inputs if attr == "input" else node.outputs
        return ts[0] if len(ts) == 1 else list(ts)

    @property
    def input(self):
        return self._node_attr("input")

    @property
    def output(self):
        return self._node_attr("output")

    @property
    def input_shape(self):
        t = self.input
        return [x.shape for x in t] if isinstance(t, list) else t.shape

    @property
    def output_shape(self):
        t = self.output
        return [x.shape for x in t] if isinstance(t, list) else t.shape

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


class InputLayer(Layer):
    """The entry of a model: holds the input's shape, computes nothing."""

    def __init__(self, shape=None, batch_size=None, dtype=None, batch_shape=None,
                 name=None, input_shape=None, **kwargs):
        if input_shape is not None:
            if shape is not None:
                raise ValueError("InputLayer: pass `shape` or `input_shape`, not both")
            shape = input_shape
        kwargs.pop("sparse", None)
        kwargs.pop("ragged", None)
        super().__init__(name=name, dtype=dtype, **kwargs)
        if batch_shape is not None:
            batch_shape = standardize_shape(batch_shape, "batch_shape")
        elif shape is not None:
            shape = standardize_shape(shape, "shape")
            batch_shape = (batch_size,) + shape
        else:
            raise ValueError("InputLayer: you must pass a `shape` argument.")
        self.batch_shape = batch_shape
        self.built = True
        self._build_shapes = batch_shape
        out = KerasTensor(batch_shape, name=self.name, history=(self, 0, 0))
        self._inbound_nodes.append(Node(self, [], [out]))

    def forward(self, x, training=False):
        return x, None

    def backward(self, cache, dy):
        return dy, []

    def get_config(self):
        return {"batch_shape": self.batch_shape, "dtype": self.dtype, "name": self.name}


def Input(shape=None, batch_size=None, dtype=None, batch_shape=None, name=None,
          tensor=None, sparse=None):
    """A symbolic input tensor, as ``keras.Input``."""
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype,
                       batch_shape=batch_shape, name=name)
    return layer.output
