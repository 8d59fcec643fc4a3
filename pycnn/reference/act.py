"""NumPy twins of ``pycnn.ops.act``: activations (codes of csrc/core/types.hpp),
their gradients, the bias gradient and Dropout. float64 inside, float32 out.
"""
import numpy as np

LINEAR, RELU, SIGMOID, TANH, ELU, SELU, GELU, SWISH, LEAKY_RELU, SOFTPLUS, SOFTMAX = range(11)
HARD_SIGMOID = 11  # the recurrent kernels' gates only

SELU_ALPHA = 1.67326324235437728481
SELU_SCALE = 1.05070098735548049342


def _erfc(x):
    """erfc with relative error below 1.2e-7 in both tails (Chebyshev fit,
    Numerical Recipes' erfcc), vectorised so the reference needs no SciPy."""
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (
        0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (
            1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
    tail = t * np.exp(poly)
    return np.where(x >= 0, tail, 2.0 - tail)


def _normal_cdf(x):
    return 0.5 * _erfc(-x / np.sqrt(2.0))


def _sigmoid(x):
    # exp of -|x| never overflows; both branches are the same function.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softplus(x):
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def _softmax(x):
    z = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return z / np.sum(z, axis=-1, keepdims=True)


def _forward64(x, act, p):
    if act == LINEAR:
        return x
    if act == RELU:
        return np.maximum(x, 0.0)
    if act == SIGMOID:
        return _sigmoid(x)
    if act == TANH:
        return np.tanh(x)
    if act == ELU:
        return np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))
    if act == SELU:
        return SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0.0)))
    if act == GELU:
        return x * _normal_cdf(x)
    if act == SWISH:
        return x * _sigmoid(x)
    if act == LEAKY_RELU:
        return np.where(x > 0, x, p * x)
    if act == SOFTPLUS:
        return _softplus(x)
    if act == SOFTMAX:
        return _softmax(x)
    if act == HARD_SIGMOID:
        return np.clip(x + 3.0, 0.0, 6.0) / 6.0
    raise ValueError(f"act_forward: unknown activation code {act}")


def act_forward(x, act, act_param=0.0):
    """y = act(x) elementwise (softmax: over the last axis)."""
    x = np.asarray(x, np.float64)
    return _forward64(x, int(act), float(act_param)).astype(np.float32)


def act_backward(x, y, dy, act, act_param=0.0):
    """dx = dy * act'(x). Uses x only for gelu, swish (and leaky_relu with a
    negative slope); every other code is differentiated from y = act(x)."""
    act, p = int(act), float(act_param)
    y = np.asarray(y, np.float64)
    dy = np.asarray(dy, np.float64)
    if act == LINEAR:
        d = np.ones_like(y)
    elif act == RELU:
        d = (y > 0).astype(np.float64)
    elif act == SIGMOID:
        d = y * (1.0 - y)
    elif act == TANH:
        d = 1.0 - y * y
    elif act == ELU:
        d = np.where(y > 0, 1.0, y + 1.0)
    elif act == SELU:
        d = np.where(y > 0, SELU_SCALE, y + SELU_SCALE * SELU_ALPHA)
    elif act == LEAKY_RELU:
        positive = (np.asarray(x, np.float64) > 0) if x is not None else (y > 0)
        d = np.where(positive, 1.0, p)
    elif act == SOFTPLUS:
        d = -np.expm1(-y)  # sigmoid(x) = 1 - exp(-softplus(x))
    elif act == SOFTMAX:
        dx = y * (dy - np.sum(dy * y, axis=-1, keepdims=True))
        return dx.astype(np.float32)
    elif act in (GELU, SWISH):
        if x is None:
            raise ValueError("act_backward: gelu and swish need the pre-activation x")
        x = np.asarray(x, np.float64)
        if act == GELU:
            cdf = _normal_cdf(x)
            d = cdf + x * np.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)
        else:
            s = _sigmoid(x)
            d = s * (1.0 + x * (1.0 - s))
    else:
        raise ValueError(f"act_backward: unknown activation code {act}")
    return (dy * d).astype(np.float32)


def bias_grad(dy):
    """Sum of dy over every axis but the last: the gradient of a bias add."""
    dy = np.asarray(dy, np.float64)
    return dy.reshape(-1, dy.shape[-1]).sum(axis=0).astype(np.float32)


def bias_act_forward(x, bias, act, act_param=0.0):
    """act(x + bias), bias broadcast over the last axis."""
    z = np.asarray(x, np.float64) + np.asarray(bias, np.float64)
    return _forward64(z, int(act), float(act_param)).astype(np.float32)


def _hash_u32(seed, n):
    """splitmix64 of seed + (i + 1) * golden ratio, top 32 bits (as the kernel)."""
    with np.errstate(over="ignore"):
        i = np.arange(1, n + 1, dtype=np.uint64)
        z = np.uint64(seed) + i * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return (z >> np.uint64(32)).astype(np.uint64)


def dropout_forward(x, rate, seed):
    """(x * mask, mask), mask = 1/(1-rate) where the element's draw survives."""
    x = np.asarray(x, np.float32)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout_forward: rate must be in [0, 1), got {rate}")
    threshold = np.uint64(int(np.floor(rate * 4294967296.0)))
    keep = _hash_u32(int(seed) & 0xFFFFFFFFFFFFFFFF, x.size) >= threshold
    mask = np.where(keep, np.float32(1.0 / (1.0 - rate)), np.float32(0.0)).reshape(x.shape)
    return (x * mask).astype(np.float32), mask.astype(np.float32)


def dropout_backward(dy, mask):
    return (np.asarray(dy, np.float32) * np.asarray(mask, np.float32)).astype(np.float32)


def sum_act(xs, act=0, act_param=0.0):
    total = np.asarray(xs[0], np.float32).copy()
    for x in xs[1:]:
        total = total + np.asarray(x, np.float32)
    return act_forward(total, act, act_param) if act else total
