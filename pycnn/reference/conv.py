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


def conv2d_pack_weights(kernel):
    """The reference 'packing': the kernel itself, flattened (float32)."""
    kernel = np.asarray(kernel, np.float32)
    if kernel.ndim != 4:
        raise ValueError(f"conv2d_pack_weights: kernel must be 4-D, got {kernel.shape}")
    return kernel.ravel().copy()


def conv2d_forward(x, kernel, bias=None, strides=(1, 1), dilation=(1, 1), pads=(0, 0, 0, 0),
                   act=0, act_param=0.0, packed=None, residual=None):
    if packed is not None:
        packed = np.asarray(packed)
        if packed.ndim != 1 or packed.size != np.size(kernel):
            raise ValueError("conv2d_forward: packed weights were made for other shapes")
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
    if residual is not None:
        z = z + np.asarray(residual, np.float64)
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


# ----- transposed convolution (straightforward scatter form) ----------------
def _transpose_full(x_shape, kernel_shape, strides, dilation, crops):
    """Size of the uncropped output, grown when a crop is negative, per axis."""
    sizes = []
    for a in range(2):
        full = (x_shape[1 + a] - 1) * strides[a] + (kernel_shape[a] - 1) * dilation[a] + 1
        sizes.append(full + max(0, -crops[2 * a + 1]))
    return sizes


def _transpose_tap(i, j, x_shape, strides, dilation):
    """Slices of the full output that input pixel (h, w) with tap (i, j) writes."""
    h, w = x_shape[1:3]
    r0, c0 = i * dilation[0], j * dilation[1]
    return (slice(None), slice(r0, r0 + (h - 1) * strides[0] + 1, strides[0]),
            slice(c0, c0 + (w - 1) * strides[1] + 1, strides[1]))


def _crop(full, x_shape, kernel_shape, strides, dilation, crops):
    from pycnn.ops.conv import conv_transpose_output_size
    oh = conv_transpose_output_size(x_shape[1], kernel_shape[0], strides[0], crops[:2],
                                    dilation[0])
    ow = conv_transpose_output_size(x_shape[2], kernel_shape[1], strides[1], crops[2:],
                                    dilation[1])
    return (slice(None), slice(crops[0], crops[0] + oh), slice(crops[2], crops[2] + ow))


def conv_transpose2d_forward(x, kernel, bias=None, strides=(1, 1), dilation=(1, 1),
                             crops=(0, 0, 0, 0), act=0, act_param=0.0):
    x = np.asarray(x, np.float64)
    kernel = np.asarray(kernel, np.float64)
    fh, fw = _transpose_full(x.shape, kernel.shape, strides, dilation, crops)
    full = np.zeros((x.shape[0], fh, fw, kernel.shape[2]))
    for i in range(kernel.shape[0]):
        for j in range(kernel.shape[1]):
            full[_transpose_tap(i, j, x.shape, strides, dilation)] += x @ kernel[i, j].T
    z = full[_crop(full, x.shape, kernel.shape, strides, dilation, crops)]
    if bias is not None:
        z = z + np.asarray(bias, np.float64)
    return np.asarray(_act(z, act, act_param), np.float32)


def conv_transpose2d_backward(x, kernel, dz, strides=(1, 1), dilation=(1, 1),
                              crops=(0, 0, 0, 0), need_dx=True, need_dw=True):
    x = np.asarray(x, np.float64)
    kernel = np.asarray(kernel, np.float64)
    dz = np.asarray(dz, np.float64)
    fh, fw = _transpose_full(x.shape, kernel.shape, strides, dilation, crops)
    dfull = np.zeros((x.shape[0], fh, fw, kernel.shape[2]))
    dfull[_crop(dfull, x.shape, kernel.shape, strides, dilation, crops)] = dz
    dx = np.zeros_like(x)
    dw = np.zeros_like(kernel)
    for i in range(kernel.shape[0]):
        for j in range(kernel.shape[1]):
            tap = dfull[_transpose_tap(i, j, x.shape, strides, dilation)]
            dx += tap @ kernel[i, j]
            dw[i, j] = np.einsum("nhwf,nhwc->fc", tap, x)
    return (dx.astype(np.float32) if need_dx else None,
            dw.astype(np.float32) if need_dw else None,
            dz.sum(axis=(0, 1, 2)).astype(np.float32) if need_dw else None)


def conv2d_maxpool_forward(x, kernel, bias=None, strides=(1, 1), dilation=(1, 1),
                           pads=(0, 0, 0, 0), act=0, act_param=0.0, pool=(2, 2),
                           pool_strides=(2, 2), pool_pads=(0, 0, 0, 0), with_argmax=True,
                           packed=None):
    from pycnn.reference import pool as pool_ref
    z = conv2d_forward(x, kernel, bias, strides, dilation, pads, act, act_param)
    return pool_ref.max_pool2d_forward(z, pool, pool_strides, pool_pads, with_argmax)


def conv2d_backward_weights_maxpool(x, kernel, dy, argmax, relu_y, strides, dilation, pads,
                                    pool, pool_strides, pool_pads):
    """(dkernel, dbias) of a ReLU conv from its max pool's dy: the pool's
    relu-gated backward, then the conv's weight gradient."""
    from pycnn.reference import pool as pool_ref
    z_shape = _geometry(x.shape, kernel.shape, strides, dilation, pads)
    dz = pool_ref.max_pool2d_backward(dy, argmax, (x.shape[0],) + tuple(z_shape) +
                                      (kernel.shape[3],), relu_y=relu_y)
    _, dw, db = conv2d_backward(x, kernel, dz, strides, dilation, pads, need_dx=False)
    return dw, db
