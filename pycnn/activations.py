"""Activation functions with Keras 3 names and arguments, on NumPy arrays.

Every function returns a float32 array. Those with a kernel code
(csrc/core/types.hpp) run in C++ (``pycnn.ops.act``); the rest are NumPy.

``get(identifier)`` turns what a user passes as ``activation=`` into an
:class:`Activation`: ``.name``, ``.code`` (``None`` when no kernel computes
it), ``.param`` (leaky_relu slope), ``__call__(x)`` and ``backward(x, y, dy)``.
Layers fuse ``.code`` into GEMM/conv epilogues when they can; with
``code=None`` they call the object instead and train through
``backward`` (closed-form derivatives for this module's functions, central
differences for a user's own elementwise callable).
"""
import math

import numpy as np

from pycnn.ops import act as _ops

LINEAR, RELU, SIGMOID, TANH, ELU, SELU, GELU, SWISH, LEAKY_RELU, SOFTPLUS, SOFTMAX = range(11)
CODES = {"linear": LINEAR, "relu": RELU, "sigmoid": SIGMOID, "tanh": TANH, "elu": ELU,
         "selu": SELU, "gelu": GELU, "swish": SWISH, "silu": SWISH,
         "leaky_relu": LEAKY_RELU, "softplus": SOFTPLUS, "softmax": SOFTMAX}


def _f32(x):
    return np.ascontiguousarray(x, dtype=np.float32)


def needs_input(code, param=0.0):
    """Whether backward needs the pre-activation x (gelu, swish, a leaky_relu
    with a negative slope, custom callables) or the output y is enough."""
    if code is None:
        return True
    return code in (GELU, SWISH) or (code == LEAKY_RELU and param < 0)


# ----- the functions, as keras.activations ---------------------------------
def linear(x):
    return _f32(x)


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    if max_value is None and threshold == 0:
        if negative_slope == 0:
            return _ops.act_forward(x, RELU)
        return _ops.act_forward(x, LEAKY_RELU, negative_slope)
    return _relu_general(np.asarray(x, np.float32), negative_slope, max_value, threshold)[0]


def _relu_general(x, negative_slope, max_value, threshold):
    """Keras's ReLU with threshold/max_value/slope, and its derivative.
    x for x > threshold (clipped to [0, max_value] when max_value is set),
    else negative_slope * (x - threshold)."""
    above = x > threshold
    y = np.where(above, x, 0.0).astype(np.float32)
    d = above.astype(np.float32)
    if max_value is not None:
        inside = (y >= 0) & (y <= max_value)
        y = np.clip(y, 0.0, max_value)
        d = d * inside
    if negative_slope != 0:
        below = x < threshold
        y = y + np.float32(negative_slope) * np.where(below, x - threshold, 0.0)
        d = d + np.float32(negative_slope) * below
    if threshold == 0 or negative_slope != 0:
        # Keras keeps NaN here (relu/clip/leaky terms propagate it); only
        # its `x * (x > threshold)` form with no slope maps NaN to 0.
        y = np.where(np.isnan(x), x, y)
    return y.astype(np.float32), d.astype(np.float32)


def relu6(x):
    return relu(x, max_value=6.0)


def leaky_relu(x, negative_slope=0.2):
    return _ops.act_forward(x, LEAKY_RELU, negative_slope)


def sigmoid(x):
    return _ops.act_forward(x, SIGMOID)


def tanh(x):
    return _ops.act_forward(x, TANH)


def elu(x, alpha=1.0):
    y = _ops.act_forward(x, ELU)
    if alpha == 1.0:
        return y
    return np.where(y > 0, y, np.float32(alpha) * y).astype(np.float32)


def selu(x):
    return _ops.act_forward(x, SELU)


def gelu(x, approximate=False):
    if not approximate:
        return _ops.act_forward(x, GELU)
    x = np.asarray(x, np.float64)
    inner = np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)
    return (0.5 * x * (1.0 + np.tanh(inner))).astype(np.float32)


def silu(x):
    return _ops.act_forward(x, SWISH)


swish = silu


def softplus(x):
    return _ops.act_forward(x, SOFTPLUS)


def softsign(x):
    x = np.asarray(x, np.float32)
    return (x / (1.0 + np.abs(x))).astype(np.float32)


def exponential(x):
    return np.exp(np.asarray(x, np.float32)).astype(np.float32)


def hard_sigmoid(x):
    """Keras 3: relu6(x + 3) / 6."""
    x = np.asarray(x, np.float32)
    return (np.clip(x + 3.0, 0.0, 6.0) / 6.0).astype(np.float32)


def hard_silu(x):
    x = np.asarray(x, np.float32)
    return (x * hard_sigmoid(x)).astype(np.float32)


hard_swish = hard_silu


def mish(x):
    x = np.asarray(x, np.float32)
    return (x * np.tanh(_ops.act_forward(x, SOFTPLUS))).astype(np.float32)


# Keras 3's other elementwise activations, in NumPy (float32 in and out).
def celu(x, alpha=1.0):
    x = np.asarray(x, np.float32)
    return (np.maximum(x, 0) + alpha * np.expm1(np.minimum(x, 0) / alpha)).astype(np.float32)


def squareplus(x, b=4):
    x = np.asarray(x, np.float32)
    return ((x + np.sqrt(np.square(x) + np.float32(b))) / 2).astype(np.float32)


def soft_shrink(x, threshold=0.5):
    x = np.asarray(x, np.float32)
    return np.where(x > threshold, x - threshold,
                    np.where(x < -threshold, x + threshold, 0)).astype(np.float32)


def hard_shrink(x, threshold=0.5):
    x = np.asarray(x, np.float32)
    return np.where(np.abs(x) > threshold, x, 0).astype(np.float32)


def sparse_plus(x):
    x = np.asarray(x, np.float32)
    return np.where(x <= -1, 0, np.where(x < 1, 0.25 * np.square(x + 1), x)).astype(np.float32)


def sparse_sigmoid(x):
    x = np.asarray(x, np.float32)
    return np.where(x <= -1, 0, np.where(x >= 1, 1, 0.5 * (x + 1))).astype(np.float32)


def tanh_shrink(x):
    x = np.asarray(x, np.float32)
    return (x - np.tanh(x)).astype(np.float32)


def hard_tanh(x):
    return np.clip(np.asarray(x, np.float32), -1, 1)


def log_sigmoid(x):
    x = np.asarray(x, np.float64)   # -softplus(-x), stable for large |x|
    return (np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))).astype(np.float32)


def _on_last_axis(fn, x, axis):
    """Apply a last-axis kernel along ``axis`` (an int or a tuple of ints)."""
    x = np.asarray(x, np.float32)
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    axes = tuple(a % x.ndim for a in axes)
    # Explicit sizes, not -1: numpy cannot infer -1 when the batch is empty.
    lead = x.ndim - len(axes)
    if axes == tuple(range(lead, x.ndim)):
        flat = x.reshape(x.shape[:lead] + (math.prod(x.shape[lead:]),))
        return fn(flat).reshape(x.shape)
    rest = [a for a in range(x.ndim) if a not in axes]
    moved = np.transpose(x, rest + list(axes))
    out = fn(moved.reshape(moved.shape[:lead] + (math.prod(moved.shape[lead:]),)))
    out = out.reshape(moved.shape)
    return np.ascontiguousarray(np.transpose(out, np.argsort(rest + list(axes))))


def softmax(x, axis=-1):
    return _on_last_axis(lambda v: _ops.act_forward(v, SOFTMAX), x, axis)


def log_softmax(x, axis=-1):
    def last(v):
        v = v.astype(np.float64)
        shifted = v - v.max(axis=-1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return _on_last_axis(last, x, axis).astype(np.float32)


# ----- derivatives of the functions without a kernel code -------------------
def _d_softsign(x, y):
    return 1.0 / np.square(1.0 + np.abs(x))


def _d_exponential(x, y):
    return y


def _d_hard_sigmoid(x, y):
    return ((x > -3.0) & (x < 3.0)) / 6.0


def _d_hard_silu(x, y):
    return hard_sigmoid(x) + x * _d_hard_sigmoid(x, y)


def _d_mish(x, y):
    x = np.asarray(x, np.float64)
    t = np.tanh(np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x))))
    sig = 0.5 * (1.0 + np.tanh(0.5 * x))
    return t + x * (1.0 - t * t) * sig


def _d_gelu_tanh(x, y):
    x = np.asarray(x, np.float64)
    c = np.sqrt(2.0 / np.pi)
    t = np.tanh(c * (x + 0.044715 * x ** 3))
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * c * (1.0 + 3 * 0.044715 * x * x)


def _d_relu6(x, y):
    return ((x > 0) & (x < 6)).astype(np.float32)


_ELEMENTWISE_DERIVATIVES = {
    "celu": lambda x, y: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0))),
    "squareplus": lambda x, y: 0.5 * (1 + x / np.sqrt(np.square(x) + 4.0)),
    "soft_shrink": lambda x, y: (np.abs(x) > 0.5).astype(np.float32),
    "hard_shrink": lambda x, y: (np.abs(x) > 0.5).astype(np.float32),
    "sparse_plus": lambda x, y: np.where(x <= -1, 0.0, np.where(x < 1, 0.5 * (x + 1), 1.0)),
    "sparse_sigmoid": lambda x, y: ((x > -1) & (x < 1)) * 0.5,
    "tanh_shrink": lambda x, y: np.square(np.tanh(x)),
    "hard_tanh": lambda x, y: ((x > -1) & (x < 1)).astype(np.float32),
    "log_sigmoid": lambda x, y: 1.0 / (1.0 + np.exp(np.asarray(x, np.float64))),
}


def _log_softmax_backward(x, y, dy):
    dy = np.asarray(dy, np.float64)
    return dy - np.exp(np.asarray(y, np.float64)) * dy.sum(axis=-1, keepdims=True)


class Activation:
    """An activation as layers use it: kernel code + parameter, or a callable.

    ``backward(x, y, dy) -> dx``: x (pre-activation) may be None when
    ``not needs_input(code, param)``.
    """

    def __init__(self, name, code=None, param=0.0, fn=None, derivative=None, backward=None):
        self.name = name
        self.code = code
        self.param = float(param)
        self._fn = fn
        self._derivative = derivative      # elementwise d(x, y)
        self._backward = backward          # full (x, y, dy) -> dx

    @property
    def needs_input(self):
        return needs_input(self.code, self.param)

    def __call__(self, x):
        if self.code is not None:
            return _ops.act_forward(x, self.code, self.param)
        return _f32(self._fn(_f32(x)))

    def backward(self, x, y, dy):
        if self.code is not None:
            return _ops.act_backward(x, y, dy, self.code, self.param)
        if self._backward is not None:
            return _f32(self._backward(x, y, dy))
        if self._derivative is not None:
            return _f32(np.asarray(dy, np.float64) * self._derivative(x, y))
        return _f32(np.asarray(dy, np.float64) * self._numerical_derivative(x))

    def _numerical_derivative(self, x):
        """Central differences, valid for elementwise callables."""
        x = np.asarray(x, np.float32)
        h = np.float32(1e-2) * np.maximum(np.float32(1.0), np.abs(x))
        up = np.asarray(self._fn(x + h), np.float64)
        down = np.asarray(self._fn(x - h), np.float64)
        return (up - down) / (2.0 * h.astype(np.float64))

    def __repr__(self):
        return f"<Activation {self.name} code={self.code}>"


def _coded(name, code, param=0.0):
    return Activation(name, code, param)


# name -> (function object, factory of its Activation)
_BUILTINS = {
    "linear": (linear, lambda: _coded("linear", LINEAR)),
    "relu": (relu, lambda: _coded("relu", RELU)),
    "sigmoid": (sigmoid, lambda: _coded("sigmoid", SIGMOID)),
    "tanh": (tanh, lambda: _coded("tanh", TANH)),
    "elu": (elu, lambda: _coded("elu", ELU)),
    "selu": (selu, lambda: _coded("selu", SELU)),
    "gelu": (gelu, lambda: _coded("gelu", GELU)),
    "silu": (silu, lambda: _coded("silu", SWISH)),
    "leaky_relu": (leaky_relu, lambda: _coded("leaky_relu", LEAKY_RELU, 0.2)),
    "softplus": (softplus, lambda: _coded("softplus", SOFTPLUS)),
    "softmax": (softmax, lambda: _coded("softmax", SOFTMAX)),
    "relu6": (relu6, lambda: Activation("relu6", fn=relu6, derivative=_d_relu6)),
    "softsign": (softsign, lambda: Activation("softsign", fn=softsign, derivative=_d_softsign)),
    "exponential": (exponential, lambda: Activation("exponential", fn=exponential,
                                                    derivative=_d_exponential)),
    "hard_sigmoid": (hard_sigmoid, lambda: Activation("hard_sigmoid", fn=hard_sigmoid,
                                                      derivative=_d_hard_sigmoid)),
    "hard_silu": (hard_silu, lambda: Activation("hard_silu", fn=hard_silu,
                                                derivative=_d_hard_silu)),
    "mish": (mish, lambda: Activation("mish", fn=mish, derivative=_d_mish)),
    "log_softmax": (log_softmax, lambda: Activation("log_softmax", fn=log_softmax,
                                                    backward=_log_softmax_backward)),
}
for _name, _fn in [("celu", celu), ("squareplus", squareplus), ("soft_shrink", soft_shrink),
                   ("hard_shrink", hard_shrink), ("sparse_plus", sparse_plus),
                   ("sparse_sigmoid", sparse_sigmoid), ("tanh_shrink", tanh_shrink),
                   ("hard_tanh", hard_tanh), ("log_sigmoid", log_sigmoid)]:
    _BUILTINS[_name] = (_fn, lambda n=_name, f=_fn: Activation(
        n, fn=f, derivative=_ELEMENTWISE_DERIVATIVES[n]))
_ALIASES = {"swish": "silu", "hard_swish": "hard_silu"}
_BY_FUNCTION = {id(fn): name for name, (fn, _) in _BUILTINS.items()}
_BY_FUNCTION[id(swish)] = "silu"


def get(identifier):
    """``None``/``'linear'``, a name (``'relu'``, ``'swish'``, ...), one of this
    module's functions, an :class:`Activation`, or any callable (``code=None``)."""
    if identifier is None:
        return _BUILTINS["linear"][1]()
    if isinstance(identifier, Activation):
        return identifier
    if isinstance(identifier, dict):
        identifier = identifier.get("config", identifier.get("class_name"))
    if isinstance(identifier, str):
        name = _ALIASES.get(identifier, identifier)
        if name not in _BUILTINS:
            raise ValueError(f"Could not interpret activation function identifier: {identifier}")
        return _BUILTINS[name][1]()
    if callable(identifier):
        name = _BY_FUNCTION.get(id(identifier))
        if name is not None:
            return _BUILTINS[name][1]()
        return Activation(getattr(identifier, "__name__", type(identifier).__name__),
                          fn=identifier)
    raise ValueError(f"Could not interpret activation function identifier: {identifier!r}")


def serialize(activation):
    """The name Keras saves for an activation (a function, an Activation, a name)."""
    if isinstance(activation, str):
        return get(activation).name
    if isinstance(activation, Activation):
        return activation.name
    if activation is None:
        return "linear"
    name = _BY_FUNCTION.get(id(activation))
    return name if name is not None else getattr(activation, "__name__", repr(activation))


def deserialize(config):
    return get(config)
