"""NumPy twins of pycnn.ops.pool: loops over the pool taps, each tap one
strided slice of the padded input (float64 inside)."""
import numpy as np


def _out_size(size, pool, stride, before, after):
    return (size + before + after - pool) // stride + 1


def _taps(x_shape, pool, strides, pads):
    """Yield (i, j, slices into the padded input) for every pool tap, and the
    output size (oh, ow) first."""
    _, h, w, _ = x_shape
    top, bottom, left, right = pads
    oh = _out_size(h, pool[0], strides[0], top, bottom)
    ow = _out_size(w, pool[1], strides[1], left, right)
    yield oh, ow
    for i in range(pool[0]):
        for j in range(pool[1]):
            yield i, j, (slice(None), slice(i, i + (oh - 1) * strides[0] + 1, strides[0]),
                         slice(j, j + (ow - 1) * strides[1] + 1, strides[1]))


def _pad(x, pads, value):
    top, bottom, left, right = pads
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=value)


def max_pool2d_forward(x, pool, strides, pads=(0, 0, 0, 0), with_argmax=True):
    x = np.asarray(x, np.float64)
    n, h, w, c = x.shape
    xp = _pad(x, pads, -np.inf)
    taps = _taps(x.shape, pool, strides, pads)
    oh, ow = next(taps)
    best = np.full((n, oh, ow, c), -np.inf)
    where = np.zeros((n, oh, ow, c), np.int64)
    oy = np.arange(oh)[:, None] * strides[0] - pads[0]
    ox = np.arange(ow)[None, :] * strides[1] - pads[2]
    for i, j, tap in taps:
        v = xp[tap]
        larger = (v > best) | (np.isnan(v) & ~np.isnan(best))  # ties keep the first; NaN wins
        best = np.where(larger, v, best)
        pos = ((oy + i) * w + (ox + j))[None, :, :, None]
        where = np.where(larger, pos, where)
    return best.astype(np.float32), (where.astype(np.int32) if with_argmax else None)


def max_pool2d_backward(dy, argmax, x_shape, pool=None, strides=None, pads=None,
                        relu_y=None):
    # pool/strides/pads only steer the C++ kernel's gather; the argmax says it all.
    del pool, strides, pads
    dy = np.asarray(dy, np.float64)
    if relu_y is not None:  # ReLU in front of the pool: its derivative at the argmax
        dy = dy * (np.asarray(relu_y) > 0)
    n, h, w, c = x_shape
    dx = np.zeros((n, h * w, c))
    nn, _, _, cc = np.indices(dy.shape)
    np.add.at(dx, (nn, np.asarray(argmax), cc), dy)
    return dx.reshape(x_shape).astype(np.float32)


def _window_counts(x_shape, pool, strides, pads):
    ones = _pad(np.ones((1,) + tuple(x_shape[1:3]) + (1,)), pads, 0.0)
    taps = _taps(x_shape, pool, strides, pads)
    next(taps)
    return sum(ones[tap] for _, _, tap in taps)


def avg_pool2d_forward(x, pool, strides, pads=(0, 0, 0, 0)):
    x = np.asarray(x, np.float64)
    xp = _pad(x, pads, 0.0)
    taps = _taps(x.shape, pool, strides, pads)
    next(taps)
    total = sum(xp[tap] for _, _, tap in taps)
    return (total / _window_counts(x.shape, pool, strides, pads)).astype(np.float32)


def avg_pool2d_backward(dy, x_shape, pool, strides, pads=(0, 0, 0, 0)):
    dy = np.asarray(dy, np.float64) / _window_counts(x_shape, pool, strides, pads)
    dxp = _pad(np.zeros(x_shape), pads, 0.0)
    taps = _taps(x_shape, pool, strides, pads)
    next(taps)
    for _, _, tap in taps:
        dxp[tap] += dy
    top, left = pads[0], pads[2]
    return dxp[:, top:top + x_shape[1], left:left + x_shape[2]].astype(np.float32)


def _shape_2d(x_shape):
    n, length, c = x_shape
    return (n, 1, length, c)


def max_pool1d_forward(x, pool, stride, pads=(0, 0)):
    y, argmax = max_pool2d_forward(np.asarray(x)[:, None], (1, pool), (1, stride),
                                   (0, 0) + tuple(pads))
    return y[:, 0], argmax[:, 0]


def max_pool1d_backward(dy, argmax, x_shape, pool=None, stride=None, pads=(0, 0),
                        relu_y=None):
    del pool, stride, pads
    return max_pool2d_backward(np.asarray(dy)[:, None], np.asarray(argmax)[:, None],
                               _shape_2d(x_shape),
                               relu_y=None if relu_y is None else np.asarray(relu_y)[:, None]
                               )[:, 0]


def avg_pool1d_forward(x, pool, stride, pads=(0, 0)):
    return avg_pool2d_forward(np.asarray(x)[:, None], (1, pool), (1, stride),
                              (0, 0) + tuple(pads))[:, 0]


def avg_pool1d_backward(dy, x_shape, pool, stride, pads=(0, 0)):
    return avg_pool2d_backward(np.asarray(dy)[:, None], _shape_2d(x_shape), (1, pool),
                               (1, stride), (0, 0) + tuple(pads))[:, 0]


def global_max_pool2d_forward(x):
    x = np.asarray(x)
    y, argmax = max_pool2d_forward(x, x.shape[1:3], (1, 1))
    return y[:, 0, 0], argmax[:, 0, 0]


def global_max_pool2d_backward(dy, argmax, x_shape):
    return max_pool2d_backward(np.asarray(dy)[:, None, None],
                               np.asarray(argmax)[:, None, None], x_shape)


def global_avg_pool2d_forward(x):
    return np.asarray(x, np.float64).mean(axis=(1, 2)).astype(np.float32)


def global_avg_pool2d_backward(dy, x_shape):
    dy = np.asarray(dy, np.float64) / (x_shape[1] * x_shape[2])
    return np.broadcast_to(dy[:, None, None], x_shape).astype(np.float32)


def global_max_pool1d_forward(x):
    x = np.asarray(x)
    y, argmax = max_pool1d_forward(x, x.shape[1], 1)
    return y[:, 0], argmax[:, 0]


def global_max_pool1d_backward(dy, argmax, x_shape):
    return max_pool1d_backward(np.asarray(dy)[:, None], np.asarray(argmax)[:, None], x_shape)


def global_avg_pool1d_forward(x):
    return np.asarray(x, np.float64).mean(axis=1).astype(np.float32)


def global_avg_pool1d_backward(dy, x_shape):
    dy = np.asarray(dy, np.float64) / x_shape[1]
    return np.broadcast_to(dy[:, None], x_shape).astype(np.float32)


# ----- resizing: dense per-axis matrices, float64 -------------------------------
def _resize_matrix(in_size, out_size, method, antialias):
    """(out, in) matrix of one axis, straight from jax.image.resize's rules."""
    from pycnn.ops.pool import resize_kernel
    if in_size == out_size:
        return np.eye(in_size)
    m = np.zeros((out_size, in_size))
    j = np.arange(out_size)
    if method == "nearest":  # float32 positions, as JAX computes them
        pos = (j.astype(np.float32) + np.float32(0.5)) * np.float32(in_size) / \
            np.float32(out_size)
        m[j, np.minimum(np.floor(pos).astype(int), in_size - 1)] = 1.0
        return m
    inv_scale = in_size / out_size
    kernel_scale = max(inv_scale, 1.0) if antialias else 1.0
    sample = (j + 0.5) * inv_scale - 0.5
    dist = np.abs(sample[:, None] - np.arange(in_size)[None, :]) / kernel_scale
    m = np.asarray(resize_kernel(method, dist), np.float64)
    return m / m.sum(axis=1, keepdims=True)


def resize2d_forward(x, size, interpolation="bilinear", antialias=False):
    x = np.asarray(x, np.float64)
    my = _resize_matrix(x.shape[1], int(size[0]), interpolation, antialias)
    mx = _resize_matrix(x.shape[2], int(size[1]), interpolation, antialias)
    return np.einsum("ah,bw,nhwc->nabc", my, mx, x).astype(np.float32)


def resize2d_backward(dy, x_shape, interpolation="bilinear", antialias=False):
    dy = np.asarray(dy, np.float64)
    my = _resize_matrix(x_shape[1], dy.shape[1], interpolation, antialias)
    mx = _resize_matrix(x_shape[2], dy.shape[2], interpolation, antialias)
    return np.einsum("ah,bw,nabc->nhwc", my, mx, dy).astype(np.float32)


def zero_pad2d(x, pads):
    return _pad(np.asarray(x, np.float32), pads, 0.0).astype(np.float32)
