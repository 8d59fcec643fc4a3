"""Converters of the layers that change spatial size: Conv2DTranspose,
UpSampling2D, Resizing (channels-first, ONNX's layout)."""
import numpy as np

from pycnn.export import onnx_activations as acts
from pycnn.export.onnx_builder import channels_first
from pycnn.export.onnx_registry import converts
from pycnn.ops import conv as conv_ops


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


# Keras interpolation -> ONNX Resize attributes (half-pixel centres, as
# TensorFlow's resize; nearest rounds half up).
_RESIZE_MODES = {
    "nearest": dict(mode="nearest", coordinate_transformation_mode="half_pixel",
                    nearest_mode="round_prefer_ceil"),
    "bilinear": dict(mode="linear", coordinate_transformation_mode="half_pixel"),
    "bicubic": dict(mode="cubic", coordinate_transformation_mode="half_pixel",
                    cubic_coeff_a=-0.5),
}


def _resize_attrs(layer, interpolation):
    if interpolation not in _RESIZE_MODES:
        raise NotImplementedError(
            f"ONNX export: layer '{layer.name}' ({type(layer).__name__}) uses "
            f"interpolation={interpolation!r}, which has no ONNX Resize form here")
    return dict(_RESIZE_MODES[interpolation])


def _resize_to(b, layer, v, height, width, attrs):
    """Resize the (N, C, H, W) form of ``v`` to height x width; the batch and
    channel sizes come from the tensor (the batch may be dynamic)."""
    x = b.channels_first(v)
    shape = b.op("Shape", [x], f"{layer.name}_shape")
    nc = b.op("Slice", [shape, b.ints([0]), b.ints([2])], f"{layer.name}_nc")
    sizes = b.op("Concat", [nc, b.ints([height, width])], f"{layer.name}_sizes", axis=0)
    y = b.op("Resize", [x, "", "", sizes], layer.name, **attrs)
    return [(y, channels_first(4))]


@converts("UpSampling2D")
def upsampling2d(b, layer, inputs):
    v = inputs[0]
    sh, sw = layer.size
    interpolation = getattr(layer, "interpolation", "nearest")
    if interpolation == "nearest":  # integer repeat: exact with any rounding
        attrs = dict(mode="nearest", coordinate_transformation_mode="asymmetric",
                     nearest_mode="floor")
    else:
        attrs = _resize_attrs(layer, interpolation)
    if v.shape[1] is None or v.shape[2] is None:
        scales = b.const(np.array([1, 1, sh, sw], np.float32), f"{layer.name}_scales")
        y = b.op("Resize", [b.channels_first(v), "", scales], layer.name, **attrs)
        return [(y, channels_first(4))]
    return _resize_to(b, layer, v, v.shape[1] * sh, v.shape[2] * sw, attrs)


@converts("Resizing")
def resizing(b, layer, inputs):
    v = inputs[0]
    if getattr(layer, "crop_to_aspect_ratio", False) or \
            getattr(layer, "pad_to_aspect_ratio", False):
        raise NotImplementedError(
            f"ONNX export: layer '{layer.name}' (Resizing) with crop_to_aspect_ratio or "
            "pad_to_aspect_ratio is not supported")
    attrs = _resize_attrs(layer, getattr(layer, "interpolation", "bilinear"))
    return _resize_to(b, layer, v, layer.height, layer.width, attrs)
