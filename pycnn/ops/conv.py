"""Convolution kernels (channels-last), thin wrappers over pycnn._C.

Layouts: x (N, H, W, Cin) / (N, L, Cin); kernel in Keras layout
(KH, KW, Cin, Cout) / (K, Cin, Cout). ``pads`` are explicit:
(top, bottom, left, right) for 2-D, (left, right) for 1-D; use
``padding_amounts`` to get Keras/TensorFlow 'same' padding. ``act`` is an
activation code 0..9 (pycnn.activations) fused after the bias.
Backward functions take ``dz``, the gradient of the pre-activation output
(apply the activation derivative first).
"""
import math

import numpy as np

from pycnn import _C
from pycnn.ops._convert import f32


def padding_amounts(padding, size, kernel, stride, dilation=1):
    """(before, after) padding along one axis, as Keras/TensorFlow pad.

    'valid' pads nothing; 'same' pads
    total = max((ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    with the odd element at the end (bottom/right).
    """
    if padding == "valid":
        return (0, 0)
    if padding != "same":
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    span = (kernel - 1) * dilation + 1
    total = max((math.ceil(size / stride) - 1) * stride + span - size, 0)
    return (total // 2, total - total // 2)


def _pair(v):
    return (int(v[0]), int(v[1]))


def _quad(v):
    return tuple(int(p) for p in v)


def conv2d_pack_weights(kernel):
    """The kernel (KH, KW, Cin, Cout) packed for ``conv2d_forward(..., packed=)``:
    an opaque 1-D float32 array for the active ISA. Pack once per weight
    version (per optimizer step, once for inference) instead of per call."""
    return _C.conv2d_pack_weights(f32(kernel))


def conv2d_forward(x, kernel, bias=None, strides=(1, 1), dilation=(1, 1), pads=(0, 0, 0, 0),
                   act=0, act_param=0.0, packed=None, residual=None):
    """y = act(conv2d(x, kernel) + bias), y of shape (N, OH, OW, Cout) with
    OH = (H + top + bottom - ((KH - 1) * dilation_h + 1)) // stride_h + 1.
    ``packed``: ``conv2d_pack_weights(kernel)`` (same results, no per-call
    packing); ValueError when it was made for another kernel shape or ISA.
    ``residual``: a float32 C-contiguous array of y's shape, overwritten with
    act(conv2d(x, kernel) + bias + residual) and returned."""
    return _C.conv2d_forward(f32(x), f32(kernel), None if bias is None else f32(bias),
                             _pair(strides), _pair(dilation), _quad(pads), int(act),
                             float(act_param), packed, residual)


def conv2d_maxpool_forward(x, kernel, bias=None, strides=(1, 1), dilation=(1, 1),
                           pads=(0, 0, 0, 0), act=0, act_param=0.0, pool=(2, 2),
                           pool_strides=(2, 2), pool_pads=(0, 0, 0, 0), with_argmax=True,
                           packed=None):
    """max_pool2d_forward(conv2d_forward(x, ...), pool, pool_strides, pool_pads) in one
    pass: (y, argmax) with argmax indexing the (never stored) conv output, or None.
    ``packed``: as conv2d_forward's."""
    return tuple(_C.conv2d_maxpool_forward(
        f32(x), f32(kernel), None if bias is None else f32(bias), _pair(strides),
        _pair(dilation), _quad(pads), int(act), float(act_param), _pair(pool),
        _pair(pool_strides), _quad(pool_pads), bool(with_argmax), packed))


def conv2d_backward(x, kernel, dz, strides=(1, 1), dilation=(1, 1), pads=(0, 0, 0, 0),
                    need_dx=True, need_dw=True):
    """(dx, dkernel, dbias) from dz = dL/d(pre-activation output); an entry is
    None when not asked for (dkernel and dbias come together with need_dw)."""
    return tuple(_C.conv2d_backward(f32(x), f32(kernel), f32(dz), _pair(strides),
                                    _pair(dilation), _quad(pads), bool(need_dx),
                                    bool(need_dw)))


def conv2d_backward_weights_maxpool(x, kernel, dy, argmax, relu_y, strides, dilation, pads,
                                    pool, pool_strides, pool_pads):
    """(dkernel, dbias) of a ReLU conv whose output a 2-D max pooling took,
    from that pool's dy, argmax and output relu_y: the same values as
    conv2d_backward(x, kernel, max_pool2d_backward(dy, argmax, ..., relu_y))
    without the conv-sized pre-activation gradient in memory."""
    return tuple(_C.conv2d_backward_weights_maxpool(
        f32(x), f32(kernel), f32(dy), np.ascontiguousarray(argmax, np.int32), f32(relu_y),
        _pair(strides), _pair(dilation), _quad(pads), _pair(pool), _pair(pool_strides),
        _quad(pool_pads)))


def _as_2d(x, kernel):
    """Conv1D as Conv2D with H = 1 (views, no copies)."""
    x = f32(x)
    kernel = f32(kernel)
    if x.ndim != 3 or kernel.ndim != 3:
        raise ValueError(f"conv1d: x must be (N, L, C) and kernel (K, Cin, Cout), got "
                         f"{x.shape} and {kernel.shape}")
    return x[:, None], kernel[None]


def conv1d_forward(x, kernel, bias=None, stride=1, dilation=1, pads=(0, 0), act=0,
                   act_param=0.0):
    """y = act(conv1d(x, kernel) + bias): x (N, L, Cin), kernel (K, Cin, Cout),
    pads (left, right); y (N, OL, Cout)."""
    x4, k4 = _as_2d(x, kernel)
    y = conv2d_forward(x4, k4, bias, (1, stride), (1, dilation), (0, 0) + tuple(pads), act,
                       act_param)
    return y[:, 0]


def conv1d_backward(x, kernel, dz, stride=1, dilation=1, pads=(0, 0), need_dx=True,
                    need_dw=True):
    """(dx, dkernel, dbias) of conv1d_forward from dz (N, OL, Cout)."""
    x4, k4 = _as_2d(x, kernel)
    dz4 = f32(dz)[:, None]
    dx, dw, db = conv2d_backward(x4, k4, dz4, (1, stride), (1, dilation),
                                 (0, 0) + tuple(pads), need_dx, need_dw)
    return (None if dx is None else dx[:, 0], None if dw is None else dw[0], db)


# ----- transposed convolution -------------------------------------------------
def conv_transpose_crops(padding, size, kernel, stride, dilation=1, output_padding=None):
    """(before, after) crops of one axis, so that the output is Keras 3's:
    (size - 1) * stride + span - before - after with span the dilated kernel.

    Keras 3 (JAX backend) pads the stride-dilated input by (left, right) and
    runs a flipped-kernel conv; crop = span - 1 - pad on each side. A negative
    ``after`` appends zeros (output_padding, or stride > kernel with 'valid').
    """
    span = (kernel - 1) * dilation + 1
    if padding == "valid":
        extra = max(span, stride) - span if output_padding is None else output_padding
        left, right = span - 1, span - 1 + extra
    elif padding == "same":
        pad_len = stride + span - 2 if output_padding is None else \
            span + span % 2 - 2 + output_padding
        left = min(pad_len // 2 + pad_len % 2, span - 1)
        right = pad_len - left
    else:
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    return (span - 1 - left, span - 1 - right)


def conv_transpose_output_size(size, kernel, stride, crops, dilation=1):
    """Output length of one axis of conv_transpose2d_forward."""
    return (size - 1) * stride + (kernel - 1) * dilation + 1 - crops[0] - crops[1]


def conv_transpose2d_forward(x, kernel, bias=None, strides=(1, 1), dilation=(1, 1),
                             crops=(0, 0, 0, 0), act=0, act_param=0.0):
    """y = act(conv_transpose(x, kernel) + bias): x (N, H, W, Cin), kernel in Keras's
    Conv2DTranspose layout (KH, KW, Cout, Cin), crops (top, bottom, left, right) from
    ``conv_transpose_crops``; y (N, OH, OW, Cout). Runs as a conv's input gradient."""
    return _C.conv_transpose2d_forward(f32(x), f32(kernel),
                                       None if bias is None else f32(bias), _pair(strides),
                                       _pair(dilation), _quad(crops), int(act),
                                       float(act_param))


def conv_transpose2d_backward(x, kernel, dz, strides=(1, 1), dilation=(1, 1),
                              crops=(0, 0, 0, 0), need_dx=True, need_dw=True):
    """(dx, dkernel, dbias) of conv_transpose2d_forward from dz (N, OH, OW, Cout)."""
    return tuple(_C.conv_transpose2d_backward(f32(x), f32(kernel), f32(dz), _pair(strides),
                                              _pair(dilation), _quad(crops), bool(need_dx),
                                              bool(need_dw)))
