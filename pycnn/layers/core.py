"""Dense, Flatten, Dropout, Reshape."""
import math

import numpy as np

from pycnn import activations, constraints, regularizers
from pycnn import random as prandom
from pycnn.layers.base import Layer, shape_str
from pycnn.layers import fused
from pycnn.ops import act as act_ops
from pycnn.ops import outer_grad
from pycnn.ops.gemm import gemm


def _check_positive_int(layer_name, arg, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(
            f"Received an invalid value for `{arg}` in layer '{layer_name}': expected a "
            f"positive integer, got {value!r}")
    return int(value)


class Dense(Layer):
    """``y = activation(x @ kernel + bias)`` on the last axis of an input of any rank."""

    supports_masking = True  # Keras: passes the mask on unchanged

    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, lora_rank=None, **kwargs):
        super().__init__(**kwargs)
        self.units = _check_positive_int(self.name, "units", units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)  # layers/activity.py
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def build(self, input_shape):
        self._check_rank(input_shape, min_rank=2)
        in_dim = input_shape[-1]
        if in_dim is None:
            raise ValueError(
                f"Layer \"{self.name}\": the last dimension of the input must be known, "
                f"got shape {shape_str(input_shape)}")
        self.kernel = self.add_weight((in_dim, self.units), self.kernel_initializer, "kernel")
        self.bias = self.add_weight((self.units,), self.bias_initializer, "bias") \
            if self.use_bias else None
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def _check_call_shape(self, x):
        if x.ndim < 2 or x.shape[-1] != self.kernel.shape[0]:
            raise ValueError(
                f"Input 0 of layer \"{self.name}\" is incompatible with the layer: "
                f"expected axis -1 of input shape to have value {self.kernel.shape[0]}, "
                f"but received input with shape {shape_str(x.shape)}")

    def forward(self, x, training=False):
        self._check_call_shape(x)
        lead = x.shape[:-1]
        x2 = x.reshape(-1, x.shape[-1])
        act = self.activation
        bias = self.bias.value if self.use_bias else None
        if fused.can_fuse(act):
            y2 = gemm(x2, self.kernel.value, bias=bias, act=act.code, act_param=act.param)
            z2 = None
        else:
            z2 = gemm(x2, self.kernel.value, bias=bias)
            y2 = fused.apply(act, z2)
            if act.code is not None and not activations.needs_input(act.code):
                z2 = None  # backward works from y alone
        y = y2.reshape(lead + (self.units,))
        return y, (x2, z2, y2, lead)

    @property
    def takes_logits_grad(self):
        """The activation whose input gradient backward accepts directly
        (as a fused.LogitsGrad), or None."""
        code = self.activation.code
        return "softmax" if code == activations.SOFTMAX else None

    def backward(self, cache, dy, need_dx=True):
        x2, z2, y2, lead = cache
        out_shape = lead + (self.units,)
        if type(dy) is fused.LogitsGrad:  # the loss already went through softmax
            dz = self._check_dy(dy.value, out_shape).reshape(-1, self.units)
        else:
            dy2 = self._check_dy(dy, out_shape).reshape(-1, self.units)
            dz = fused.grad(self.activation, z2, y2, dy2)
        dx = gemm(dz, self.kernel.value, trans_b=True).reshape(lead + (x2.shape[1],)) \
            if need_dx else None
        if not self.trainable:
            return dx, []
        grads = [outer_grad.weight_grad(x2, dz)]
        if self.use_bias:
            grads.append(act_ops.bias_grad(dz))
        return dx, grads

    def get_config(self):
        cfg = super().get_config()
        cfg.update(units=self.units, activation=activations.serialize(self.activation),
                   use_bias=self.use_bias,
                   kernel_regularizer=regularizers.serialize(self.kernel_regularizer),
                   bias_regularizer=regularizers.serialize(self.bias_regularizer),
                   activity_regularizer=regularizers.serialize(self.activity_regularizer),
                   kernel_constraint=constraints.serialize(self.kernel_constraint),
                   bias_constraint=constraints.serialize(self.bias_constraint))
        return cfg


class Flatten(Layer):
    """Collapse all but the batch axis."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)

    def build(self, input_shape):
        self._check_rank(input_shape, min_rank=1)

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        n = None if any(d is None for d in rest) else int(np.prod(rest, dtype=np.int64))
        return (input_shape[0], n)

    def forward(self, x, training=False):
        # An explicit size, not -1: numpy cannot infer -1 for an empty batch.
        y = x.reshape(x.shape[0], math.prod(x.shape[1:]))
        return y, (x.shape, y.shape)

    def backward(self, cache, dy, need_dx=True):
        x_shape, y_shape = cache
        return self._check_dy(dy, y_shape).reshape(x_shape), []


class Reshape(Layer):
    """Reshape all but the batch axis to ``target_shape`` (one entry may be -1)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        try:
            target_shape = tuple(int(d) for d in target_shape)
        except TypeError:
            raise ValueError(f"Reshape '{self.name}': target_shape must be a tuple of ints, "
                             f"got {target_shape!r}")
        if sum(d == -1 for d in target_shape) > 1 or any(d < -1 or d == 0 for d in target_shape):
            raise ValueError(f"Reshape '{self.name}': invalid target_shape {target_shape}")
        self.target_shape = target_shape

    def _resolve(self, input_shape):
        rest = input_shape[1:]
        if any(d is None for d in rest):
            return tuple(None if d == -1 else d for d in self.target_shape)
        total = int(np.prod(rest, dtype=np.int64))
        known = int(np.prod([d for d in self.target_shape if d != -1], dtype=np.int64))
        if -1 in self.target_shape:
            if known == 0 or total % known:
                raise ValueError(
                    f"Layer \"{self.name}\": cannot reshape input of shape "
                    f"{shape_str(input_shape)} to {shape_str((None,) + self.target_shape)}")
            return tuple(total // known if d == -1 else d for d in self.target_shape)
        if known != total:
            raise ValueError(
                f"Layer \"{self.name}\": total size of the input shape "
                f"{shape_str(input_shape)} ({total}) does not match the target shape "
                f"{shape_str((None,) + self.target_shape)} ({known})")
        return self.target_shape

    def build(self, input_shape):
        self._resolve(input_shape)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._resolve(input_shape)

    def forward(self, x, training=False):
        y = x.reshape((x.shape[0],) + self._resolve((None,) + x.shape[1:]))
        return y, (x.shape, y.shape)

    def backward(self, cache, dy, need_dx=True):
        x_shape, y_shape = cache
        return self._check_dy(dy, y_shape).reshape(x_shape), []

    def get_config(self):
        cfg = super().get_config()
        cfg["target_shape"] = self.target_shape
        return cfg


class Dropout(Layer):
    """Inverted dropout: in training, zero a fraction ``rate`` and scale the rest."""

    supports_masking = True  # Keras: passes the mask on unchanged

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating)) \
                or not 0 <= rate <= 1:
            raise ValueError(
                f"Invalid value received for argument `rate` in layer '{self.name}'. "
                f"Expected a float value between 0 and 1. Received: rate={rate}")
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        self._rng = prandom.make_generator(seed) if seed is not None else None

    def _mask_shape(self, x):
        if self.noise_shape is None:
            return x.shape
        return tuple(x.shape[i] if d is None else d for i, d in enumerate(self.noise_shape))

    def forward(self, x, training=False):
        # cache: (output shape, mask); mask None = identity, 0.0 = all dropped.
        if not training or self.rate == 0.0:
            return x, (x.shape, None)
        if self.rate == 1.0:
            return np.zeros_like(x), (x.shape, 0.0)
        rng = self._rng or prandom.generator()
        if self.noise_shape is None:
            # One C++ pass draws the mask (counter-based, same for any thread
            # count) and applies it.
            y, mask = act_ops.dropout_forward(x, self.rate, int(rng.integers(2**63 - 1)))
            return y, (x.shape, mask)
        keep = 1.0 - self.rate
        mask = rng.random(self._mask_shape(x), dtype=np.float32) < keep
        mask = mask.astype(np.float32) * np.float32(1.0 / keep)
        return x * mask, (x.shape, mask)

    def backward(self, cache, dy, need_dx=True):
        shape, mask = cache
        dy = self._check_dy(dy, shape)
        if mask is None:
            return dy, []
        if isinstance(mask, float):  # rate == 1: everything dropped
            return np.zeros_like(dy), []
        if mask.shape == dy.shape:
            return act_ops.dropout_backward(dy, mask), []
        return dy * mask, []

    def get_config(self):
        cfg = super().get_config()
        cfg.update(rate=self.rate, noise_shape=self.noise_shape, seed=self.seed)
        return cfg
