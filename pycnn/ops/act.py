"""Activations, their gradients, the bias gradient and Dropout masks.

Activation codes are those of csrc/core/types.hpp (``pycnn.activations``
keeps the name table). Every function has a NumPy twin in
``pycnn.reference.act`` with the same name and signature.
"""

from pycnn import _C
from pycnn.ops.gemm import f32


def act_forward(x, act, act_param=0.0):
    """y = act(x) elementwise; code 10 (softmax) normalises over the last axis."""
    return _C.act_forward(f32(x), int(act), float(act_param))


def act_backward(x, y, dy, act, act_param=0.0):
    """dx = dy * act'(x). ``x`` (the pre-activation) may be None unless
    ``pycnn.activations.needs_input(act, act_param)``: the other codes are
    differentiated from the output ``y`` alone."""
    return _C.act_backward(None if x is None else f32(x), f32(y), f32(dy), int(act),
                           float(act_param))


def bias_grad(dy):
    """Sum of dy over every axis but the last (same result with any thread count)."""
    return _C.bias_grad(f32(dy))


def bias_act_forward(x, bias, act, act_param=0.0):
    """act(x + bias), bias of shape (x.shape[-1],); for producers that are not
    a GEMM (whose epilogue fuses this already)."""
    return _C.bias_act_forward(f32(x), f32(bias), int(act), float(act_param))


def sum_act(xs, act=0, act_param=0.0):
    """act(xs[0] + xs[1] + ...) for same-shaped arrays, summed left to right (the
    same bits as NumPy's chained +); ``act`` is a code 0..9 (no softmax)."""
    return _C.sum_act_forward([f32(x) for x in xs], int(act), float(act_param))


def dropout_forward(x, rate, seed):
    """Inverted dropout: returns (y, mask) where mask holds 0 or 1/(1-rate)
    and y = x * mask. Units drop independently with probability ``rate``;
    the mask depends only on ``seed`` and the element index (not on threads)."""
    return _C.dropout_forward(f32(x), float(rate), int(seed) & 0xFFFFFFFFFFFFFFFF)


def dropout_backward(dy, mask):
    """dx = dy * mask."""
    return _C.dropout_backward(f32(dy), f32(mask))

