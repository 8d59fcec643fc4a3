"""Activation layers: Activation, ReLU, LeakyReLU, Softmax, ELU (Keras 3)."""
import warnings

import numpy as np

from pycnn import activations
from pycnn.activations import ELU as ELU_CODE, LEAKY_RELU, RELU, SOFTMAX
from pycnn.layers.base import Layer
from pycnn.ops import act as act_ops


def _f32(x):
    return np.ascontiguousarray(x, dtype=np.float32)


class Activation(Layer):
    """Applies ``activation`` elementwise (softmax: over the last axis)."""

    supports_masking = True  # Keras: passes the mask on unchanged

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def forward(self, x, training=False):
        act = self.activation
        y = act(x)
        return y, (x if act.needs_input else None, y)

    def backward(self, cache, dy):
        x, y = cache
        return self.activation.backward(x, y, self._check_dy(dy, y.shape)), []

    def get_config(self):
        cfg = super().get_config()
        cfg["activation"] = activations.serialize(self.activation)
        return cfg


class ReLU(Layer):
    """Keras ReLU: ``x`` above ``threshold`` (capped at ``max_value``), else
    ``negative_slope * (x - threshold)``."""

    supports_masking = True  # Keras: passes the mask on unchanged

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None and max_value < 0.0:
            raise ValueError("max_value of a ReLU layer cannot be a negative value. "
                             f"Received: max_value={max_value}")
        if negative_slope is None or negative_slope < 0.0:
            raise ValueError("negative_slope of a ReLU layer cannot be a negative value. "
                             f"Received: negative_slope={negative_slope}")
        if threshold is None or threshold < 0.0:
            raise ValueError("threshold of a ReLU layer cannot be a negative value. "
                             f"Received: threshold={threshold}")
        self.max_value = None if max_value is None else float(max_value)
        self.negative_slope = float(negative_slope)
        self.threshold = float(threshold)
        # The plain and leaky forms have kernel codes; the rest run in NumPy.
        self._code = None
        if self.max_value is None and self.threshold == 0.0:
            self._code = RELU if self.negative_slope == 0.0 else LEAKY_RELU

    def forward(self, x, training=False):
        if self._code is not None:
            y = act_ops.act_forward(x, self._code, self.negative_slope)
            return y, (y, None)
        y, slope = activations._relu_general(
            np.asarray(x, np.float32), self.negative_slope, self.max_value, self.threshold)
        return y, (y, slope)

    def backward(self, cache, dy):
        y, slope = cache
        dy = self._check_dy(dy, y.shape)
        if self._code is not None:
            return act_ops.act_backward(None, y, dy, self._code, self.negative_slope), []
        return _f32(dy * slope), []

    def get_config(self):
        cfg = super().get_config()
        cfg.update(max_value=self.max_value, negative_slope=self.negative_slope,
                   threshold=self.threshold)
        return cfg


class LeakyReLU(Layer):
    """``x`` for ``x > 0``, else ``negative_slope * x``."""

    supports_masking = True  # Keras: passes the mask on unchanged

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
            warnings.warn("Argument `alpha` is deprecated. Use `negative_slope` instead.")
        super().__init__(**kwargs)
        if negative_slope is None or negative_slope < 0:
            raise ValueError(
                "The negative_slope value of a Leaky ReLU layer cannot be None or "
                f"negative value. Expected a float. Received: negative_slope={negative_slope}")
        self.negative_slope = float(negative_slope)

    def forward(self, x, training=False):
        y = act_ops.act_forward(x, LEAKY_RELU, self.negative_slope)
        return y, y

    def backward(self, cache, dy):
        dy = self._check_dy(dy, cache.shape)
        return act_ops.act_backward(None, cache, dy, LEAKY_RELU, self.negative_slope), []

    def get_config(self):
        cfg = super().get_config()
        cfg["negative_slope"] = self.negative_slope
        return cfg


class ELU(Layer):
    """``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``."""

    supports_masking = True  # Keras: passes the mask on unchanged

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def forward(self, x, training=False):
        y = activations.elu(x, self.alpha)
        return y, (x, y)

    def backward(self, cache, dy):
        x, y = cache
        dy = self._check_dy(dy, y.shape)
        if self.alpha == 1.0:
            return act_ops.act_backward(None, y, dy, ELU_CODE), []
        # d/dx alpha * (e^x - 1) = y + alpha for x <= 0
        slope = np.where(np.asarray(x) > 0, np.float32(1.0), y + np.float32(self.alpha))
        return _f32(dy * slope), []

    def get_config(self):
        cfg = super().get_config()
        cfg["alpha"] = self.alpha
        return cfg


class Softmax(Layer):
    """Softmax over ``axis`` (an int or a tuple of ints, default the last)."""

    supports_masking = True  # Keras: passes the mask on unchanged

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def _axes(self, ndim):
        axes = (self.axis,) if isinstance(self.axis, (int, np.integer)) else tuple(self.axis)
        for a in axes:
            if not -ndim <= a < ndim:
                raise ValueError(
                    f"Layer \"{self.name}\": axis {a} is out of range for an input of "
                    f"rank {ndim}")
        return tuple(sorted(a % ndim for a in axes))

    def forward(self, x, training=False, mask=None):
        axes = self._axes(np.ndim(x))
        y = activations.softmax(x, axis=axes)
        return y, y

    def backward(self, cache, dy):
        y = cache
        dy = self._check_dy(dy, y.shape)
        axes = self._axes(y.ndim)
        if axes == (y.ndim - 1,):
            return act_ops.act_backward(None, y, dy, SOFTMAX), []
        dot = np.sum(dy * y, axis=axes, keepdims=True)
        return _f32(y * (dy - dot)), []

    def get_config(self):
        cfg = super().get_config()
        cfg["axis"] = self.axis
        return cfg
