"""NumPy twins of pycnn.ops.conv (float64 inside): a sum over kernel taps,
each tap one strided slice of the padded input times a (Cin, Cout) matrix."""
import numpy as np

from pycnn.ops.conv import padding_amounts  # noqa: F401  (same helper for both)


def _geometry(x_shape, kernel_shape, strides, dilation, pads):
    n, h, w, _ = x_shape
    kh, kw = kernel_shape[:2]
    top, bottom, left, right = pads
    oh = (h + top + bottom - ((kh - 1) * dilation[0] + 1)) // strides[0] + 1
    ow = (w + left + right - ((kw - 1) * dilation[1] + 1)) // strides[1] + 1
    return oh, ow


def _tap(i, j, oh, ow, strides, dilation):
    """Slices of the padded input that kernel tap (i, j) reads."""
    r0, c0 = i * dilation[0], j * dilation[1]
    return (slice(None), slice(r0, r0 + (oh - 1) * strides[0] + 1, strides[0]),
            slice(c0, c0 + (ow - 1) * strides[1] + 1, strides[1]))


def _act(z, act, act_param):
    if act == 0:
        return z
    from pycnn.reference.act import act_forward
    return act_forward(z, act, act_param)


def conv2d_forward(x, kernel, bias=None, strides=(1, 1), dilation=(1, 1), pads=(0, 0, 0, 0),
                   act=0, act_param=0.0):
    x = np.asarray(x, np.float64)
    kernel = np.asarray(kernel, np.float64)
    top, bottom, left, right = pads
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    oh, ow = _geometry(x.shape, kernel.shape, strides, dilation, pads)
    z = np.zeros((x.shape[0], oh, ow, kernel.shape[3]))
    for i in range(kernel.shape[0]):
        for j in range(kernel.shape[1]):
            z += xp[_tap(i, j, oh, ow, strides, dilation)] @ kernel[i, j]
    if bias is not None:
        z = z + np.asarray(bias, np.float64)
    return np.asarray(_act(z, act, act_param), np.float32)


def conv2d_backward(x, kernel, dz, strides=(1, 1), dilation=(1, 1), pads=(0, 0, 0, 0),
                    need_dx=True, need_dw=True):
    x = np.asarray(x, np.float64)
    kernel = np.asarray(kernel, np.float64)
    dz = np.asarray(dz, np.float64)
    top, bottom, left, right = pads
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    oh, ow = _geometry(x.shape, kernel.shape, strides, dilation, pads)
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(kernel)
    for i in range(kernel.shape[0]):
        for j in range(kernel.shape[1]):
            tap = _tap(i, j, oh, ow, strides, dilation)
            dxp[tap] += dz @ kernel[i, j].T
            dw[i, j] = np.einsum("nhwc,nhwo->co", xp[tap], dz)
    h, w = x.shape[1:3]
    dx = dxp[:, top:top + h, left:left + w]
    return (dx.astype(np.float32) if need_dx else None,
            dw.astype(np.float32) if need_dw else None,
            dz.sum(axis=(0, 1, 2)).astype(np.float32) if need_dw else None)


def conv1d_forward(x, kernel, bias=None, stride=1, dilation=1, pads=(0, 0), act=0,
                   act_param=0.0):
    x = np.asarray(x)
    kernel = np.asarray(kernel)
    y = conv2d_forward(x[:, None], kernel[None], bias, (1, stride), (1, dilation),
                       (0, 0) + tuple(pads), act, act_param)
    return y[:, 0]


def conv1d_backward(x, kernel, dz, stride=1, dilation=1, pads=(0, 0), need_dx=True,
                    need_dw=True):
    x = np.asarray(x)
    kernel = np.asarray(kernel)
    dx, dw, db = conv2d_backward(x[:, None], kernel[None], np.asarray(dz)[:, None],
                                 (1, stride), (1, dilation), (0, 0) + tuple(pads),
                                 need_dx, need_dw)
    return (None if dx is None else dx[:, 0], None if dw is None else dw[0], db)
