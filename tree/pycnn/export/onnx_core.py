"""Converters of the shape-free layers: inputs, Dense, activations, Flatten,
Reshape, dropouts, BatchNormalization, merging layers, Embedding."""
import numpy as np
from onnx import TensorProto

from pycnn.export import onnx_activations as acts
from pycnn.export.onnx_builder import common_layout, identity
from pycnn.export.onnx_registry import converts


def _same(v, name):
    return [(name, v.perm, v.dtype)]


@converts("InputLayer", "Dropout", "SpatialDropout1D", "SpatialDropout2D",
          "GaussianNoise", "GaussianDropout", "AlphaDropout")
def passthrough(b, layer, inputs):
    # Inference graph: the noise layers are identities.
    v = inputs[0]
    return _same(v, v.name)


@converts("Dense")
def dense(b, layer, inputs):
    v = inputs[0]
    x = b.keras(v)  # MatMul works on Keras's last axis, for any rank
    y = b.op("MatMul", [x, b.const(layer.kernel.numpy(), f"{layer.name}_kernel")],
             f"{layer.name}_matmul")
    if layer.use_bias:
        y = b.op("Add", [y, b.const(layer.bias.numpy(), f"{layer.name}_bias")],
                 f"{layer.name}_biasadd")
    y = acts.emit(b, y, layer.activation, -1, layer.name)
    return [(y, identity(v.rank))]


@converts("Activation")
def activation(b, layer, inputs):
    v = inputs[0]
    return _same(v, acts.emit(b, v.name, layer.activation, v.onnx_axis(-1), layer.name))


@converts("ReLU")
def relu(b, layer, inputs):
    v = inputs[0]
    return _same(v, acts.relu_general(b, v.name, layer.name, layer.negative_slope,
                                      layer.max_value, layer.threshold))


@converts("LeakyReLU")
def leaky_relu(b, layer, inputs):
    v = inputs[0]
    return _same(v, b.op("LeakyRelu", [v.name], layer.name, alpha=layer.negative_slope))


@converts("ELU")
def elu(b, layer, inputs):
    v = inputs[0]
    return _same(v, b.op("Elu", [v.name], layer.name, alpha=layer.alpha))


@converts("Softmax")
def softmax(b, layer, inputs):
    v = inputs[0]
    axes = layer._axes(v.rank)
    return _same(v, acts.softmax_axes(b, v.name, [v.onnx_axis(a) for a in axes],
                                      layer.name))


@converts("Flatten")
def flatten(b, layer, inputs):
    # Flatten in Keras's (channels-last) order so the next Dense's rows match.
    v = inputs[0]
    return [(b.op("Flatten", [b.keras(v)], layer.name, axis=1), (0, 1))]


@converts("Reshape")
def reshape(b, layer, inputs):
    v = inputs[0]
    shape = b.ints([0] + list(layer.target_shape), f"{layer.name}_shape")  # 0: keep batch
    out_rank = 1 + len(layer.target_shape)
    return [(b.op("Reshape", [b.keras(v), shape], layer.name), identity(out_rank))]


@converts("BatchNormalization")
def batch_normalization(b, layer, inputs):
    v = inputs[0]
    axis = layer._feature_axis(v.rank)
    mean = layer.moving_mean.numpy()
    var = layer.moving_variance.numpy()
    gamma = layer.gamma.numpy() if layer.scale else np.ones_like(mean)
    beta = layer.beta.numpy() if layer.center else np.zeros_like(mean)
    channel_pos = v.onnx_axis(axis)
    if channel_pos == 1:  # the BatchNormalization op wants channels at axis 1
        y = b.op("BatchNormalization",
                 [v.name, b.const(gamma, f"{layer.name}_gamma"),
                  b.const(beta, f"{layer.name}_beta"),
                  b.const(mean, f"{layer.name}_mean"),
                  b.const(var, f"{layer.name}_var")],
                 layer.name, epsilon=layer.epsilon)
        return _same(v, y)
    # Elsewhere: one scale and one shift, broadcast along the feature axis.
    scale = (gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + layer.epsilon))
    shift = beta.astype(np.float64) - mean.astype(np.float64) * scale
    bshape = [1] * v.rank
    bshape[channel_pos] = mean.shape[0]
    y = b.op("Mul", [v.name, b.const(scale.reshape(bshape), f"{layer.name}_scale")],
             f"{layer.name}_mul")
    y = b.op("Add", [y, b.const(shift.reshape(bshape), f"{layer.name}_shift")], layer.name)
    return _same(v, y)


# ----- merging --------------------------------------------------------------
def _merge_inputs(b, inputs):
    perm = common_layout(inputs)
    return [b.in_layout(v, perm) for v in inputs], perm


def _variadic(op_type, pair_op):
    def convert(b, layer, inputs):
        names, perm = _merge_inputs(b, inputs)
        # Two inputs: the binary op, which runtimes fuse best.
        kind = pair_op if len(names) == 2 else op_type
        return [(b.op(kind, names, layer.name), perm)]
    return convert


converts("Add")(_variadic("Sum", "Add"))
converts("Maximum")(_variadic("Max", "Max"))
converts("Minimum")(_variadic("Min", "Min"))


@converts("Subtract")
def subtract(b, layer, inputs):
    names, perm = _merge_inputs(b, inputs)
    return [(b.op("Sub", names, layer.name), perm)]


@converts("Multiply")
def multiply(b, layer, inputs):
    names, perm = _merge_inputs(b, inputs)
    y = names[0]
    for i, other in enumerate(names[1:]):
        y = b.op("Mul", [y, other], layer.name if i == len(names) - 2 else
                 f"{layer.name}_{i}")
    return [(y, perm)]


@converts("Average")
def average(b, layer, inputs):
    names, perm = _merge_inputs(b, inputs)
    total = b.op("Sum", names, f"{layer.name}_sum")
    return [(b.op("Mul", [total, b.const(np.float32(1.0 / len(names)))], layer.name), perm)]


@converts("Concatenate")
def concatenate(b, layer, inputs):
    names, perm = _merge_inputs(b, inputs)
    axis = perm.index(layer.axis % inputs[0].rank)
    return [(b.op("Concat", names, layer.name, axis=axis), perm)]


@converts("Embedding")
def embedding(b, layer, inputs):
    v = inputs[0]
    idx = b.keras(v)
    if v.dtype != TensorProto.INT64:  # float indices: cast toward zero, as Keras
        idx = b.op("Cast", [idx], f"{layer.name}_indices", to=TensorProto.INT64)
    table = b.const(layer.embeddings.numpy(), f"{layer.name}_embeddings")
    return [(b.op("Gather", [table, idx], layer.name, axis=0), identity(v.rank + 1))]
