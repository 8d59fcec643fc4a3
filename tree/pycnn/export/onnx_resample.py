"""Converters of the layers that change spatial size: Conv2DTranspose,
UpSampling2D, Resizing (channels-first, ONNX's layout)."""
import numpy as np

from pycnn.export import onnx_activations as acts
from pycnn.export.onnx_builder import channels_first
from pycnn.export.onnx_registry import converts
from pycnn.ops import conv as conv_ops
from pycnn.ops import pool as pool_ops


@converts("Conv2DTranspose")
def conv_transpose(b, layer, inputs):
    v = inputs[0]
    rank = len(layer.kernel_size)
    # Keras (k..., out, in) -> ONNX (in, out, k...)
    w = np.transpose(layer.kernel.numpy(), (rank + 1, rank) + tuple(range(rank)))
    begins, ends, extra = [], [], []
    for i in range(rank):
        # The layer's own crops of the full transposed output (they do not
        # depend on the input size); a negative end crop appends zeros.
        op = None if layer.output_padding is None else layer.output_padding[i]
        before, after = conv_ops.conv_transpose_crops(
            layer.padding, 1, layer.kernel_size[i], layer.strides[i],
            layer.dilation_rate[i], op)
        begins.append(before)
        ends.append(max(after, 0))
        extra.append(max(-after, 0))
    args = [b.channels_first(v), b.const(w, f"{layer.name}_kernel")]
    if layer.use_bias:
        args.append(b.const(layer.bias.numpy(), f"{layer.name}_bias"))
    y = b.op("ConvTranspose", args, f"{layer.name}_deconv",
             kernel_shape=list(layer.kernel_size), strides=list(layer.strides),
             dilations=list(layer.dilation_rate), pads=begins + ends, output_padding=extra)
    y = acts.emit(b, y, layer.activation, 1, layer.name)
    return [(y, channels_first(v.rank))]


# nearest and bilinear map onto ONNX Resize exactly (half-pixel centres;
# nearest takes floor((i + 0.5) * in / out)). The other methods and
# antialiasing use pycnn's own interpolation tables as two MatMuls, so the
# weights are pycnn's to the bit and no runtime's Resize limits apply.
_RESIZE_MODES = {
    "nearest": dict(mode="nearest", coordinate_transformation_mode="half_pixel",
                    nearest_mode="round_prefer_ceil"),
    "bilinear": dict(mode="linear", coordinate_transformation_mode="half_pixel"),
}


def _table_matrix(in_size, out_size, method, antialias):
    """(out, in) interpolation matrix from pycnn's sparse resize tables."""
    offsets, index, weights = pool_ops.resize_tables(in_size, out_size, method, antialias)
    matrix = np.zeros((out_size, in_size), np.float32)
    rows = np.repeat(np.arange(out_size), np.diff(offsets))
    np.add.at(matrix, (rows, index), weights)
    return matrix


def _resize_to(b, layer, x, in_hw, out_hw, method, antialias=False):
    """Resize the (N, C, H, W) tensor ``x`` to ``out_hw``."""
    if method in _RESIZE_MODES and not antialias:
        # Sizes from the tensor: the batch may be dynamic.
        shape = b.op("Shape", [x], f"{layer.name}_shape")
        nc = b.op("Slice", [shape, b.ints([0]), b.ints([2])], f"{layer.name}_nc")
        sizes = b.op("Concat", [nc, b.ints(list(out_hw))], f"{layer.name}_sizes", axis=0)
        return b.op("Resize", [x, "", "", sizes], layer.name, **_RESIZE_MODES[method])
    if in_hw[0] is None or in_hw[1] is None:
        raise NotImplementedError(
            f"ONNX export: layer '{layer.name}' ({type(layer).__name__}) resizes with "
            f"interpolation={method!r}{' and antialias' if antialias else ''}, which "
            "needs a known input height and width")
    (h, w), (oh, ow) = in_hw, out_hw
    if h != oh:  # rows: A (oh, h) @ x (..., h, w)
        x = b.op("MatMul", [b.const(_table_matrix(h, oh, method, antialias),
                                    f"{layer.name}_rows"), x], f"{layer.name}_rows")
    if w != ow:  # columns: x (..., oh, w) @ B (w, ow)
        x = b.op("MatMul", [x, b.const(_table_matrix(w, ow, method, antialias).T,
                                       f"{layer.name}_cols")], f"{layer.name}_cols")
    if h == oh and w == ow:
        x = b.op("Identity", [x], layer.name)
    return x


@converts("UpSampling2D")
def upsampling2d(b, layer, inputs):
    v = inputs[0]
    sh, sw = layer.size
    x = b.channels_first(v)
    h, w = v.shape[1:3]
    method = layer.interpolation
    if method == "nearest" or (method in _RESIZE_MODES and (h is None or w is None)):
        # Integer scale factors work for any input size (nearest: a plain repeat).
        attrs = dict(mode="nearest", coordinate_transformation_mode="asymmetric",
                     nearest_mode="floor") if method == "nearest" else _RESIZE_MODES[method]
        scales = b.const(np.array([1, 1, sh, sw], np.float32), f"{layer.name}_scales")
        y = b.op("Resize", [x, "", scales], layer.name, **attrs)
    else:
        y = _resize_to(b, layer, x, (h, w), (None if h is None else h * sh,
                                             None if w is None else w * sw),
                       method)
    return [(y, channels_first(4))]


@converts("UpSampling1D")
def upsampling1d(b, layer, inputs):
    v = inputs[0]
    y = b.op("Resize", [b.keras(v), "", b.const(np.array([1, layer.size, 1], np.float32))],
             layer.name, mode="nearest", coordinate_transformation_mode="asymmetric",
             nearest_mode="floor")
    return [(y, (0, 1, 2))]


@converts("Resizing")
def resizing(b, layer, inputs):
    v = inputs[0]
    if v.rank != 4:
        raise NotImplementedError(
            f"ONNX export: layer '{layer.name}' (Resizing) on unbatched images")
    x = b.channels_first(v)
    h, w = v.shape[1:3]
    if layer.crop_to_aspect_ratio or layer.pad_to_aspect_ratio:
        if h is None or w is None:
            raise NotImplementedError(
                f"ONNX export: layer '{layer.name}' (Resizing) crops or pads to the aspect "
                "ratio, which needs a known input height and width")
        top, left, bh, bw = layer._window(h, w)  # the layer's own box, so they agree
        if layer.crop_to_aspect_ratio:
            x = b.op("Slice", [x, b.ints([top, left]), b.ints([top + bh, left + bw]),
                               b.ints([2, 3])], f"{layer.name}_crop")
            h, w = bh, bw
        elif top or left:
            pads = b.ints([0, 0, top, left, 0, 0, top, left])
            x = b.op("Pad", [x, pads, b.const(np.float32(layer.fill_value))],
                     f"{layer.name}_pad")
            h, w = h + 2 * top, w + 2 * left
    y = _resize_to(b, layer, x, (h, w), (layer.height, layer.width), layer.interpolation,
                   layer.antialias)
    return [(y, channels_first(4))]
