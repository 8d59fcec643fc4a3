"""Pooling kernels (channels-last), thin wrappers over pycnn._C.

x is (N, H, W, C) for 2-D, (N, L, C) for 1-D. ``pads`` are explicit,
(top, bottom, left, right) / (left, right), each smaller than the pool size;
``pycnn.ops.conv.padding_amounts`` gives TensorFlow's 'same' padding.
Padding never takes part: max ignores it and average divides by the number
of in-bounds values. Max pooling returns ``argmax``, int32, the in-sample
spatial index (iy * W + ix) of the first maximum of each window, which its
backward routes the gradient to.
"""
import functools

import numpy as np

from pycnn import _C
from pycnn.ops.conv import f32


def _pair(v):
    return (int(v[0]), int(v[1]))


def _quad(v):
    return tuple(int(p) for p in v)


def max_pool2d_forward(x, pool, strides, pads=(0, 0, 0, 0), with_argmax=True):
    """(y, argmax), both (N, OH, OW, C), OH = (H + top + bottom - pool_h) // stride_h + 1;
    argmax is None when ``with_argmax`` is false (inference: faster, no backward)."""
    return tuple(_C.max_pool2d_forward(f32(x), _pair(pool), _pair(strides), _quad(pads),
                                       bool(with_argmax)))


def max_pool2d_backward(dy, argmax, x_shape, pool=None, strides=None, pads=None,
                        relu_y=None):
    """dx of shape x_shape: each dy added at its window's argmax. Passing the
    forward's pool/strides/pads (all three) lets the kernel gather in parallel
    over rows of dx instead of scattering per sample; the result is the same.
    relu_y: the pool's output y when a ReLU feeds the pool; dy is gated by
    y > 0 (ReLU's derivative at the argmax), so dx is the pre-ReLU gradient."""
    geometry = {}
    if pool is not None and strides is not None:
        geometry = dict(pool=_pair(pool), strides=_pair(strides),
                        pads=_quad((0, 0, 0, 0) if pads is None else pads))
    if relu_y is not None:
        geometry["relu_y"] = f32(relu_y)
    return _C.max_pool2d_backward(f32(dy), np.ascontiguousarray(argmax, np.int32),
                                  _quad(x_shape), **geometry)


def zero_pad2d(x, pads):
    """x (N, H, W, C) with zero borders, pads = (top, bottom, left, right)."""
    return _C.zero_pad2d(f32(x), _quad(pads))


def avg_pool2d_forward(x, pool, strides, pads=(0, 0, 0, 0)):
    """Window means over in-bounds values, (N, OH, OW, C)."""
    return _C.avg_pool2d_forward(f32(x), _pair(pool), _pair(strides), _quad(pads))


def avg_pool2d_backward(dy, x_shape, pool, strides, pads=(0, 0, 0, 0)):
    """dx of shape x_shape: each dy spread evenly over its window's in-bounds values."""
    return _C.avg_pool2d_backward(f32(dy), _quad(x_shape), _pair(pool), _pair(strides),
                                  _quad(pads))


# 1-D pooling: the 2-D kernels with H = 1 (views, no copies).
def _shape_2d(x_shape):
    n, length, c = x_shape
    return (n, 1, length, c)


def max_pool1d_forward(x, pool, stride, pads=(0, 0)):
    """(y, argmax) of (N, L, C) input, both (N, OL, C); argmax indexes L."""
    y, argmax = max_pool2d_forward(f32(x)[:, None], (1, pool), (1, stride), (0, 0) + tuple(pads))
    return y[:, 0], argmax[:, 0]


def max_pool1d_backward(dy, argmax, x_shape, pool=None, stride=None, pads=(0, 0),
                        relu_y=None):
    geometry = {} if pool is None or stride is None else \
        dict(pool=(1, pool), strides=(1, stride), pads=(0, 0) + tuple(pads))
    if relu_y is not None:
        geometry["relu_y"] = f32(relu_y)[:, None]
    dx = max_pool2d_backward(f32(dy)[:, None], np.asarray(argmax)[:, None],
                             _shape_2d(x_shape), **geometry)
    return dx[:, 0]


def avg_pool1d_forward(x, pool, stride, pads=(0, 0)):
    return avg_pool2d_forward(f32(x)[:, None], (1, pool), (1, stride), (0, 0) + tuple(pads))[:, 0]


def avg_pool1d_backward(dy, x_shape, pool, stride, pads=(0, 0)):
    return avg_pool2d_backward(f32(dy)[:, None], _shape_2d(x_shape), (1, pool), (1, stride),
                               (0, 0) + tuple(pads))[:, 0]


# Global pooling: one window covering the whole image; outputs (N, C).
def global_max_pool2d_forward(x):
    """(y, argmax), both (N, C)."""
    x = f32(x)
    y, argmax = max_pool2d_forward(x, x.shape[1:3], (1, 1))
    return y[:, 0, 0], argmax[:, 0, 0]


def global_max_pool2d_backward(dy, argmax, x_shape):
    return max_pool2d_backward(f32(dy)[:, None, None], np.asarray(argmax)[:, None, None],
                               x_shape)


def global_avg_pool2d_forward(x):
    x = f32(x)
    return avg_pool2d_forward(x, x.shape[1:3], (1, 1))[:, 0, 0]


def global_avg_pool2d_backward(dy, x_shape):
    return avg_pool2d_backward(f32(dy)[:, None, None], x_shape, x_shape[1:3], (1, 1))


def global_max_pool1d_forward(x):
    x = f32(x)
    y, argmax = max_pool1d_forward(x, x.shape[1], 1)
    return y[:, 0], argmax[:, 0]


def global_max_pool1d_backward(dy, argmax, x_shape):
    return max_pool1d_backward(f32(dy)[:, None], np.asarray(argmax)[:, None], x_shape)


def global_avg_pool1d_forward(x):
    x = f32(x)
    return avg_pool1d_forward(x, x.shape[1], 1)[:, 0]


def global_avg_pool1d_backward(dy, x_shape):
    return avg_pool1d_backward(f32(dy)[:, None], x_shape, x_shape[1], 1)


# ----- resizing ----------------------------------------------------------------
# Separable resize as jax.image.resize (Keras 3's JAX backend): each spatial
# axis is one C++ pass (_C.resample_axis) with a sparse table of taps per
# output index; the backward pass runs the transposed tables.
RESIZE_METHODS = ("nearest", "bilinear", "bicubic", "lanczos3", "lanczos5")
_RADIUS = {"bilinear": 1, "bicubic": 2, "lanczos3": 3, "lanczos5": 5}


def resize_kernel(method, t):
    """JAX's interpolation kernels at distance t >= 0 (float32 as JAX)."""
    if method == "bilinear":
        return np.maximum(np.float32(0), np.float32(1) - t)
    if method == "bicubic":  # Keys cubic, a = -0.5
        near = ((np.float32(1.5) * t - np.float32(2.5)) * t) * t + np.float32(1)
        far = ((np.float32(-0.5) * t + np.float32(2.5)) * t - np.float32(4)) * t + np.float32(2)
        return np.where(t >= 2, np.float32(0), np.where(t >= 1, far, near))
    radius = np.float32(_RADIUS[method])  # lanczos
    with np.errstate(divide="ignore", invalid="ignore"):
        y = radius * np.sin(np.pi * t) * np.sin(np.pi * t / radius) / (np.pi ** 2 * t * t)
    return np.where(t > radius, 0, np.where(t > 1e-3, y, 1)).astype(np.float32)


def _readonly(*arrays):
    for a in arrays:
        a.setflags(write=False)
    return arrays


@functools.lru_cache(maxsize=256)
def resize_tables(in_size, out_size, method="bilinear", antialias=False):
    """(offsets, index, weights): output j of one axis is
    sum(weights[t] * x[index[t]] for t in range(offsets[j], offsets[j + 1])).

    nearest: index floor((j + 0.5) * in / out) (computed in float32, as JAX);
    others: kernel at (j + 0.5) * in / out - 0.5 (half-pixel centres), widened
    by in / out when downscaling with antialias, normalised to sum to one.
    """
    if method not in RESIZE_METHODS:
        raise ValueError(f"resize: interpolation must be one of {RESIZE_METHODS}, "
                         f"got {method!r}")
    if in_size < 1 or out_size < 0:
        raise ValueError(f"resize: cannot resize an axis of {in_size} to {out_size}")
    f32_ = np.float32
    if method == "nearest":
        pos = (np.arange(out_size, dtype=f32_) + f32_(0.5)) * f32_(in_size) / f32_(out_size)
        index = np.minimum(np.floor(pos).astype(np.int64), in_size - 1)
        return _readonly(np.arange(out_size + 1, dtype=np.int64), index,
                         np.ones(out_size, np.float32))
    inv_scale = f32_(1) / f32_(out_size / in_size)
    kernel_scale = max(inv_scale, f32_(1)) if antialias else f32_(1)
    sample = (np.arange(out_size, dtype=f32_) + f32_(0.5)) * inv_scale - f32_(0.5)
    reach = _RADIUS[method] * float(kernel_scale)
    width = int(np.ceil(2 * reach)) + 2
    cand = np.floor(sample - reach).astype(np.int64)[:, None] + np.arange(width)
    w = resize_kernel(method, np.abs(sample[:, None] - cand.astype(f32_)) / kernel_scale)
    w = np.where((cand >= 0) & (cand < in_size), w, f32_(0)).astype(f32_)
    total = w.sum(axis=1, keepdims=True)
    w = np.where(np.abs(total) > 1000 * np.finfo(f32_).eps, w / np.where(total != 0, total, 1),
                 f32_(0)).astype(f32_)
    keep = w != 0
    offsets = np.concatenate([[0], np.cumsum(keep.sum(axis=1))]).astype(np.int64)
    return _readonly(offsets, np.ascontiguousarray(cand[keep]), np.ascontiguousarray(w[keep]))


@functools.lru_cache(maxsize=256)
def resize_tables_transposed(in_size, out_size, method="bilinear", antialias=False):
    """The tables of the adjoint pass: input i gathers from the outputs it feeds."""
    offsets, index, weights = resize_tables(in_size, out_size, method, antialias)
    rows = np.repeat(np.arange(out_size, dtype=np.int64), np.diff(offsets))
    order = np.argsort(index, kind="stable")
    t_offsets = np.concatenate([[0], np.cumsum(np.bincount(index, minlength=in_size))])
    return _readonly(t_offsets.astype(np.int64), np.ascontiguousarray(rows[order]),
                     np.ascontiguousarray(weights[order]))


def _resize_axes(x, sizes, tables):
    y = f32(x)
    changed = False
    for axis, (n_in, n_out) in sizes:
        if n_in != n_out:  # an unchanged axis is the identity (JAX skips it too)
            y = _C.resample_axis(y, axis, n_out, *tables(n_in, n_out))
            changed = True
    return y if changed else y.copy()


def _check_images(op, x_shape):
    if len(x_shape) != 4 or x_shape[1] < 1 or x_shape[2] < 1:
        raise ValueError(f"{op}: expected images (N, H, W, C) with H, W >= 1, got "
                         f"shape {tuple(x_shape)}")


def resize2d_forward(x, size, interpolation="bilinear", antialias=False):
    """x (N, H, W, C) -> (N, size[0], size[1], C), as keras.ops.image.resize."""
    x = f32(x)
    _check_images("resize2d_forward", x.shape)
    (h, w), (oh, ow) = x.shape[1:3], (int(size[0]), int(size[1]))
    return _resize_axes(x, [(1, (h, oh)), (2, (w, ow))],
                        lambda a, b: resize_tables(a, b, interpolation, bool(antialias)))


def resize2d_backward(dy, x_shape, interpolation="bilinear", antialias=False):
    """dx of shape x_shape from dy (N, OH, OW, C): the transposed passes."""
    dy = f32(dy)
    _check_images("resize2d_backward", x_shape)
    if dy.ndim != 4 or dy.shape[0] != x_shape[0] or dy.shape[3] != x_shape[3]:
        raise ValueError(f"resize2d_backward: dy shape {dy.shape} does not match x_shape "
                         f"{tuple(x_shape)}")
    (h, w), (oh, ow) = x_shape[1:3], dy.shape[1:3]
    return _resize_axes(dy, [(2, (ow, w)), (1, (oh, h))],
                        lambda a, b: resize_tables_transposed(b, a, interpolation,
                                                              bool(antialias)))
