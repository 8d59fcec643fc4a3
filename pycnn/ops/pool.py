"""Pooling kernels (channels-last), thin wrappers over pycnn._C.

x is (N, H, W, C) for 2-D, (N, L, C) for 1-D. ``pads`` are explicit,
(top, bottom, left, right) / (left, right), each smaller than the pool size;
``pycnn.ops.conv.padding_amounts`` gives TensorFlow's 'same' padding.
Padding never takes part: max ignores it and average divides by the number
of in-bounds values. Max pooling returns ``argmax``, int32, the in-sample
spatial index (iy * W + ix) of the first maximum of each window, which its
backward routes the gradient to.
"""
import numpy as np

from pycnn import _C
from pycnn.ops.conv import f32


def _pair(v):
    return (int(v[0]), int(v[1]))


def _quad(v):
    return tuple(int(p) for p in v)


def max_pool2d_forward(x, pool, strides, pads=(0, 0, 0, 0)):
    """(y, argmax), both (N, OH, OW, C), OH = (H + top + bottom - pool_h) // stride_h + 1."""
    return tuple(_C.max_pool2d_forward(f32(x), _pair(pool), _pair(strides), _quad(pads)))


def max_pool2d_backward(dy, argmax, x_shape):
    """dx of shape x_shape: each dy added at its window's argmax."""
    return _C.max_pool2d_backward(f32(dy), np.ascontiguousarray(argmax, np.int32),
                                  _quad(x_shape))


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


def max_pool1d_backward(dy, argmax, x_shape):
    dx = max_pool2d_backward(f32(dy)[:, None], np.asarray(argmax)[:, None],
                             _shape_2d(x_shape))
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
