"""Keras activations as ONNX nodes.

``emit(b, x, act, axis, hint)`` applies a ``pycnn.activations.Activation`` to
the ONNX tensor ``x``; ``axis`` is the ONNX axis softmax-like activations
reduce over (Keras's last axis, wherever the layout put it).
"""
import math

import numpy as np

from pycnn import activations as A


def gelu(b, x, hint):
    """Exact GELU: 0.5 * x * (1 + erf(x / sqrt(2))) (the Gelu op needs opset 20)."""
    if b.opset >= 20:
        return b.op("Gelu", [x], hint)
    erf = b.op("Erf", [b.op("Mul", [x, b.const(np.float32(1 / math.sqrt(2)))],
                            f"{hint}_scaled")], f"{hint}_erf")
    one_plus = b.op("Add", [erf, b.const(np.float32(1.0))], f"{hint}_1p")
    return b.op("Mul", [b.op("Mul", [x, one_plus], f"{hint}_x"),
                        b.const(np.float32(0.5))], hint)


def swish(b, x, hint):
    return b.op("Mul", [x, b.op("Sigmoid", [x], f"{hint}_sig")], hint)


def softplus(b, x, hint):
    # Written out stably (max(x, 0) + log1p(exp(-|x|))) so every runtime agrees
    # with pycnn for large |x|.
    pos = b.op("Relu", [x], f"{hint}_pos")
    neg_abs = b.op("Neg", [b.op("Abs", [x], f"{hint}_abs")], f"{hint}_nabs")
    log1p = b.op("Log", [b.op("Add", [b.op("Exp", [neg_abs], f"{hint}_exp"),
                                      b.const(np.float32(1.0))], f"{hint}_1p")],
                 f"{hint}_log")
    return b.op("Add", [pos, log1p], hint)


def relu_general(b, x, hint, negative_slope=0.0, max_value=None, threshold=0.0):
    """Keras's ReLU(max_value, negative_slope, threshold)."""
    if max_value is None and threshold == 0.0:
        if negative_slope == 0.0:
            return b.op("Relu", [x], hint)
        return b.op("LeakyRelu", [x], hint, alpha=float(negative_slope))
    t = b.const(np.float32(threshold))
    zero = b.const(np.float32(0.0))
    y = b.op("Where", [b.op("Greater", [x, t], f"{hint}_above"), x, zero], f"{hint}_keep")
    if max_value is not None:
        y = b.op("Clip", [y, zero, b.const(np.float32(max_value))], f"{hint}_clip")
    if negative_slope != 0.0:
        below = b.op("Min", [b.op("Sub", [x, t], f"{hint}_shift"), zero], f"{hint}_below")
        leak = b.op("Mul", [below, b.const(np.float32(negative_slope))], f"{hint}_leak")
        y = b.op("Add", [y, leak], hint)
    return y


def softmax_axes(b, x, axes, hint, log=False):
    """Softmax over one or several ONNX axes."""
    if len(axes) == 1:
        return b.op("LogSoftmax" if log else "Softmax", [x], hint, axis=int(axes[0]))
    shifted = b.op("Sub", [x, b.reduce("ReduceMax", x, axes, f"{hint}_max")], f"{hint}_sh")
    e = b.op("Exp", [shifted], f"{hint}_exp")
    total = b.reduce("ReduceSum", e, axes, f"{hint}_sum")
    if log:
        return b.op("Sub", [shifted, b.op("Log", [total], f"{hint}_lsum")], hint)
    return b.op("Div", [e, total], hint)


def _hard_sigmoid(b, x, hint):
    return b.op("HardSigmoid", [x], hint, alpha=1.0 / 6.0, beta=0.5)


# Activations that have no kernel code, by name.
_BY_NAME = {
    "relu6": lambda b, x, h: relu_general(b, x, h, max_value=6.0),
    "softsign": lambda b, x, h: b.op("Softsign", [x], h),
    "exponential": lambda b, x, h: b.op("Exp", [x], h),
    "hard_sigmoid": _hard_sigmoid,
    "hard_silu": lambda b, x, h: b.op("HardSwish", [x], h),
    "mish": lambda b, x, h: b.op("Mul", [x, b.op("Tanh", [softplus(b, x, f"{h}_sp")],
                                                 f"{h}_tanh")], h),
}


def emit(b, x, act, axis, hint):
    """ONNX name of ``act(x)``; linear returns ``x`` itself."""
    code = act.code
    if code == A.LINEAR:
        return x
    if code == A.RELU:
        return b.op("Relu", [x], hint)
    if code == A.SIGMOID:
        return b.op("Sigmoid", [x], hint)
    if code == A.TANH:
        return b.op("Tanh", [x], hint)
    if code == A.ELU:
        return b.op("Elu", [x], hint, alpha=1.0)
    if code == A.SELU:
        return b.op("Selu", [x], hint)
    if code == A.GELU:
        return gelu(b, x, hint)
    if code == A.SWISH:
        return swish(b, x, hint)
    if code == A.LEAKY_RELU:
        return b.op("LeakyRelu", [x], hint, alpha=float(act.param))
    if code == A.SOFTPLUS:
        return softplus(b, x, hint)
    if code == A.SOFTMAX:
        return b.op("Softmax", [x], hint, axis=int(axis))
    if act.name == "log_softmax":
        return b.op("LogSoftmax", [x], hint, axis=int(axis))
    if act.name in _BY_NAME:
        return _BY_NAME[act.name](b, x, hint)
    raise NotImplementedError(
        f"ONNX export: activation {act.name!r} (a custom callable) has no ONNX form")
