"""Converters of the layers with spatial axes: Conv1D/Conv2D, pooling,
global pooling, ZeroPadding. They work channels-first, ONNX's layout."""
import numpy as np

from pycnn.export import onnx_activations as acts
from pycnn.export.onnx_builder import channels_first
from pycnn.export.onnx_registry import converts
from pycnn.ops.conv import padding_amounts


def pad_attrs(v, padding, kernel, strides, dilation=None):
    """``pads`` as TensorFlow pads 'same' (the odd one at the end); when a
    spatial size is unknown, SAME_UPPER (the same rule, left to the runtime)."""
    spatial = v.shape[1:-1]
    dilation = dilation or (1,) * len(spatial)
    if padding == "valid":
        return {}
    if padding == "causal":  # Conv1D: everything on the left
        return {"pads": [(kernel[0] - 1) * dilation[0], 0]}
    if any(s is None for s in spatial):
        return {"auto_pad": "SAME_UPPER"}
    pairs = [padding_amounts("same", s, k, st, d)
             for s, k, st, d in zip(spatial, kernel, strides, dilation)]
    return {"pads": [p[0] for p in pairs] + [p[1] for p in pairs]}


@converts("Conv1D", "Conv2D")
def conv(b, layer, inputs):
    v = inputs[0]
    rank = len(layer.kernel_size)
    # Keras (k..., in, out) -> ONNX (out, in, k...)
    w = np.transpose(layer.kernel.numpy(), (rank + 1, rank) + tuple(range(rank)))
    args = [b.channels_first(v), b.const(w, f"{layer.name}_kernel")]
    if layer.use_bias:
        args.append(b.const(layer.bias.numpy(), f"{layer.name}_bias"))
    y = b.op("Conv", args, f"{layer.name}_conv", kernel_shape=list(layer.kernel_size),
             strides=list(layer.strides), dilations=list(layer.dilation_rate),
             **pad_attrs(v, layer.padding, layer.kernel_size, layer.strides,
                         layer.dilation_rate))
    y = acts.emit(b, y, layer.activation, 1, layer.name)
    return [(y, channels_first(v.rank))]


@converts("MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D")
def pooling(b, layer, inputs):
    v = inputs[0]
    attrs = dict(kernel_shape=list(layer.pool_size), strides=list(layer.strides),
                 **pad_attrs(v, layer.padding, layer.pool_size, layer.strides))
    if layer.mode == "max":
        y = b.op("MaxPool", [b.channels_first(v)], layer.name, **attrs)
    else:  # TensorFlow averages only the in-bounds values
        y = b.op("AveragePool", [b.channels_first(v)], layer.name, count_include_pad=0,
                 **attrs)
    return [(y, channels_first(v.rank))]


@converts("GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalAveragePooling1D",
          "GlobalAveragePooling2D")
def global_pooling(b, layer, inputs):
    v = inputs[0]
    op_type = "GlobalMaxPool" if layer.mode == "max" else "GlobalAveragePool"
    y = b.op(op_type, [b.channels_first(v)], f"{layer.name}_pool")
    if layer.keepdims:  # (N, C, 1, ...) is the channels-first form of (N, 1, ..., C)
        return [(y, channels_first(v.rank))]
    return [(b.op("Flatten", [y], layer.name, axis=1), (0, 1))]


@converts("ZeroPadding1D", "ZeroPadding2D")
def zero_padding(b, layer, inputs):
    v = inputs[0]
    pairs = [tuple(layer.padding)] if v.rank == 3 else [tuple(p) for p in layer.padding]
    keras_pads = [(0, 0)] + pairs + [(0, 0)]
    # Pad in whatever layout the value has: reorder the per-axis amounts.
    onnx_pads = [keras_pads[k] for k in v.perm]
    pads = b.ints([p[0] for p in onnx_pads] + [p[1] for p in onnx_pads],
                  f"{layer.name}_pads")
    return [(b.op("Pad", [v.name, pads], layer.name), v.perm)]
