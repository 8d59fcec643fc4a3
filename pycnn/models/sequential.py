"""Sequential: a plain stack of layers.

As in Keras 3, the stack is built as soon as its input shape is known (an
``InputLayer``, ``Input``, or ``input_shape=`` on the first layer), otherwise
on the first call or ``fit``. Forward and backward walk the list directly.
"""

import numpy as np

from pycnn.backend import KerasTensor, unique_name
from pycnn.layers.base import InputLayer, Layer, call_forward
from pycnn.layers.convolutional import Conv2D, PreActivationGrad, relu_grad_from_pool
from pycnn.layers.pooling import MaxPooling2D
from pycnn.models.functional import Model, adjust_call_inputs, call_backward
from pycnn.models.training import Trainer


class Sequential(Model):
    _is_sequential = True

    def __init__(self, layers=None, trainable=True, name=None):
        Layer.__init__(self, name=name or unique_name("sequential"), trainable=trainable)
        Trainer.__init__(self)
        self._stack = []          # user layers, InputLayer first if given
        self._input_layer = None
        self.built = False
        self.inputs = []
        self.outputs = []
        self._multi_input = False
        if layers:
            for layer in layers:
                self.add(layer, rebuild=False)
            self._maybe_rebuild()

    # ----- building ----------------------------------------------------------
    def add(self, layer, rebuild=True):
        if isinstance(layer, KerasTensor):
            layer = layer._keras_history[0]
        if not isinstance(layer, Layer):
            raise ValueError(
                "Only instances of `pycnn.layers.Layer` can be added to a Sequential "
                f"model. Received: {layer!r} (of type {type(layer).__name__})")
        if isinstance(layer, InputLayer):
            if self._stack and not isinstance(self._stack[0], InputLayer):
                raise ValueError(
                    f"Sequential model '{self.name}' has already been built or has layers;"
                    " an InputLayer can only be the first layer")
            if self._input_layer is not None:
                raise ValueError(
                    f"Sequential model '{self.name}' already has an input layer")
            self._input_layer = layer
        elif not self._stack and self._input_layer is None and \
                getattr(layer, "_input_shape_arg", None) is not None:
            # Keras 3 creates the InputLayer from `input_shape=` on the first layer.
            self._input_layer = InputLayer(shape=layer._input_shape_arg,
                                           batch_size=layer._batch_size_arg)
        if any(l is layer for l in self._stack):
            raise ValueError(f"Layer '{layer.name}' is already in Sequential "
                             f"model '{self.name}'")
        if not isinstance(layer, InputLayer):
            self._stack.append(layer)
        self.built = False
        if rebuild:
            self._maybe_rebuild()

    def pop(self, rebuild=True):
        if not self._stack:
            raise ValueError(f"There are no layers in the model '{self.name}'")
        layer = self._stack.pop()
        self.built = False
        if rebuild:
            self._maybe_rebuild()
        return layer

    def _maybe_rebuild(self):
        if self._input_layer is not None:
            self._build_graph(self._input_layer)
        elif self._stack and isinstance(self._stack[0], Model) and self._stack[0].inputs \
                and len(self._stack[0].inputs) == 1:
            # As Keras: a model as first layer brings its input shape along.
            self.build(self._stack[0].inputs[0].shape)

    def build(self, input_shape=None):
        if input_shape is None:
            if self._input_layer is None:
                raise ValueError(
                    f"Sequential model '{self.name}' cannot be built: no input shape. "
                    "Add an InputLayer or pass input_shape=... to the first layer")
            self._build_graph(self._input_layer)
            return
        input_shape = tuple(input_shape)
        if self._input_layer is None:
            self._input_layer = InputLayer(batch_shape=(None,) + tuple(input_shape[1:]))
        self._build_graph(self._input_layer)

    def _build_graph(self, input_layer):
        x = input_layer.output
        for layer in self._stack:
            x = layer(x)
        self.inputs = [input_layer.output]
        self.outputs = [x]
        self._layers = [input_layer] + list(self._stack)
        self._build_shapes = input_layer.output.shape
        self._plan_cache = None  # the layers changed: rebuild the inference plan
        self._checked_shape = None
        self.built = True

    def _ensure_built(self, x):
        if not self.built:
            shape = (None,) + tuple(np.shape(x)[1:])
            self.build(shape)

    @property
    def layers(self):
        return list(self._stack)

    @property
    def _sublayers(self):
        return list(self._stack)

    @property
    def input_shape(self):
        if not self.built:
            raise AttributeError(f"Sequential model '{self.name}' has no input yet")
        return self.inputs[0].shape

    @property
    def output_shape(self):
        if not self.built:
            raise AttributeError(f"Sequential model '{self.name}' has no output yet")
        return self.outputs[0].shape

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self._stack:
            shape = layer.compute_output_shape(shape)
        return shape

    # ----- compute -----------------------------------------------------------
    def forward(self, x, training=False):
        if isinstance(x, list) and len(x) == 1:
            x = x[0]
        self._ensure_built(x)
        self._check_inputs([x])
        caches = []
        mask = None  # Keras masking: each layer's output mask goes to the next
        stack, i = self._stack, 0
        while i < len(stack):
            layer = stack[i]
            if mask is None and i + 1 < len(stack) and self._conv_pool_fused(i + 1):
                # Conv(relu) -> MaxPool in one kernel; backward takes the
                # pre-activation gradient route (see backward).
                x, conv_cache, pool_cache = layer.forward_max_pooled(x, stack[i + 1])
                caches += [conv_cache, pool_cache]
                i += 2
                continue
            x, cache, mask = call_forward(layer, x, training, mask)
            caches.append(cache)
            i += 1
        return x, caches

    def _conv_pool_fused(self, i):
        """Layer i is a stock MaxPooling2D fed by a stock Conv2D with a ReLU:
        forward runs both in one kernel call and backward goes through
        backward_before_relu (which needs no conv output)."""
        return type(self._stack[i]) is MaxPooling2D and type(self._stack[i - 1]) is Conv2D \
            and self._pool_takes_relu(i)

    def _plan_calls(self):
        calls = [(layer, [i], [i + 1]) for i, layer in enumerate(self._stack)]
        return calls, [0], [len(self._stack)]

    def _uses_plan(self):
        return type(self).forward is Sequential.forward

    def _forward_inference(self, x):
        if not self._uses_plan():  # a subclass with its own forward
            return self.forward(x, training=False)[0]
        if isinstance(x, list) and len(x) == 1:
            x = x[0]
        # Build and validate once per input shape (per-call checks were a
        # tenth of a batch-1 MNIST predict).
        shape = x.shape[1:] if type(x) is np.ndarray else None
        if shape is None or shape != self.__dict__.get("_checked_shape"):
            self._ensure_built(x)
            self._check_inputs([x])
            self._checked_shape = shape
        return self._inference_plan().run([x])[0]

    def backward(self, cache, dy, need_dx=True):
        caches = cache
        weight_grads = []
        n = len(self._stack)
        for i in range(n - 1, -1, -1):
            layer = self._stack[i]
            if i > 0 and self._pool_takes_relu(i):
                # Conv(relu) -> MaxPool: the pool returns the conv's pre-ReLU
                # gradient in one pass (no relu backward over the big output).
                dy, grads = PreActivationGrad.from_pool(layer, caches[i], dy), []
            else:
                dy, grads = call_backward(layer, caches[i], dy, need_dx or i > 0)
            weight_grads.append(grads)
        if not self.trainable:
            return dy, []
        # Layers appear once in a Sequential, so grads concatenate in layer order,
        # matching self.trainable_weights.
        flat = []
        for grads in reversed(weight_grads):
            flat.extend(grads)
        return dy, flat

    def _pool_takes_relu(self, i):
        """Layer i is a max pooling fed by a conv with a plain ReLU (in a
        Sequential the conv's output feeds nothing else)."""
        layer = self._stack[i]
        takes = getattr(layer, "takes_relu_backward", None)
        return takes is not None and takes() and relu_grad_from_pool(self._stack[i - 1])

    def _check_inputs(self, xs):
        if not self.inputs:
            return
        Model._check_inputs(self, xs)

    def __call__(self, inputs, training=None, **kwargs):
        if not isinstance(inputs, KerasTensor) and not self.built:
            self._ensure_built(np.asarray(inputs) if not isinstance(inputs, list)
                               else inputs[0])
        if isinstance(inputs, KerasTensor) and not self.built:
            self.build(inputs.shape)
        return Layer.__call__(self, adjust_call_inputs(self, inputs), training=training,
                              **kwargs)

    def _maybe_build(self, shapes):
        if not self.built:
            self.build(shapes)
        else:
            self._check_input_compatible(shapes)

    def get_config(self):
        # The layers as Keras object dicts (what .keras files hold), so
        # from_config can rebuild the model.
        from pycnn.saving.serialize import sequential_config
        return sequential_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from pycnn.saving.deserialize import sequential_from_config
        return sequential_from_config(cls, config, custom_objects)
