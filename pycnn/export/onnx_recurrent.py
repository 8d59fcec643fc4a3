"""LSTM and GRU as ONNX's LSTM and GRU ops.

ONNX wants time-major input (seq, batch, features), weights (dirs, gates*H,
in) with LSTM gates ordered i, o, f, c (Keras: i, f, c, o; GRU z, r, h in
both), and a bias of input and recurrent halves.
"""
import numpy as np

from pycnn import activations as A
from pycnn.export.onnx_builder import identity
from pycnn.export.onnx_registry import converts

# Keras activation code -> (ONNX RNN activation name, alpha, beta)
_RNN_ACTS = {
    A.LINEAR: ("Affine", 1.0, 0.0), A.RELU: ("Relu", None, None),
    A.SIGMOID: ("Sigmoid", None, None), A.TANH: ("Tanh", None, None),
    A.ELU: ("Elu", 1.0, None), A.SOFTPLUS: ("Softplus", None, None),
}


def _activation_attrs(layer, acts):
    names, alphas, betas = [], [], []
    for act in acts:
        if act.code == A.LEAKY_RELU:
            spec = ("LeakyRelu", act.param, None)
        elif act.code in _RNN_ACTS:
            spec = _RNN_ACTS[act.code]
        elif act.code is None and act.name == "hard_sigmoid":  # relu6(x + 3) / 6
            spec = ("HardSigmoid", 1.0 / 6.0, 0.5)
        else:
            raise NotImplementedError(
                f"ONNX export: layer '{layer.name}' ({type(layer).__name__}) uses the "
                f"activation {act.name!r}, which ONNX recurrent ops do not offer")
        names.append(spec[0])
        # Runtimes read alpha/beta only for the functions that take them.
        if spec[1] is not None:
            alphas.append(float(spec[1]))
        if spec[2] is not None:
            betas.append(float(spec[2]))
    attrs = {"activations": names}
    if alphas:
        attrs["activation_alpha"] = alphas
    if betas:
        attrs["activation_beta"] = betas
    return attrs


def _time_major(b, layer, v):
    x = b.op("Transpose", [b.keras(v)], f"{layer.name}_tmajor", perm=[1, 0, 2])
    if layer.go_backwards:  # Keras reverses the input and keeps that order
        x = b.op("Slice", [x, b.ints([-1]), b.ints([np.iinfo(np.int64).min]), b.ints([0]),
                           b.ints([-1])], f"{layer.name}_reversed")
    return x


def _outputs(b, layer, y_seq, states):
    """Keras's outputs from ONNX's Y (seq, 1, batch, H) and final states
    (1, batch, H)."""
    finals = [b.squeeze(s, [0], f"{layer.name}_state{i}") for i, s in enumerate(states)]
    if layer.return_sequences:
        seq = b.squeeze(y_seq, [1], f"{layer.name}_seq")
        main = b.op("Transpose", [seq], f"{layer.name}_sequences", perm=[1, 0, 2])
    else:
        main = finals[0]
    outs = [main] + (finals if layer.return_state else [])
    return [(name, identity(3 if i == 0 and layer.return_sequences else 2))
            for i, name in enumerate(outs)]


def _gates(matrix, order):
    """Split the last axis into gates and reorder them; returns (gates*H, rows)."""
    parts = np.split(matrix, len(order), axis=-1)
    return np.concatenate([parts[i] for i in order], axis=-1).T


@converts("LSTM")
def lstm(b, layer, inputs):
    order = (0, 3, 1, 2)  # Keras i, f, c, o -> ONNX i, o, f, c
    u = layer.units
    name = layer.name
    args = [_time_major(b, layer, inputs[0]),
            b.const(_gates(layer.kernel.numpy(), order)[None], f"{name}_W"),
            b.const(_gates(layer.recurrent_kernel.numpy(), order)[None], f"{name}_R")]
    if layer.use_bias:
        bias = _gates(layer.bias.numpy()[None], order)[:, 0]
        args.append(b.const(np.concatenate([bias, np.zeros(4 * u, np.float32)])[None],
                            f"{name}_B"))
    y, y_h, y_c = b.op("LSTM", args, name, n_out=3, hidden_size=u,
                       **_activation_attrs(layer, [layer.recurrent_activation,
                                                   layer.activation, layer.activation]))
    return _outputs(b, layer, y, [y_h, y_c])


@converts("GRU")
def gru(b, layer, inputs):
    u = layer.units
    name = layer.name
    order = (0, 1, 2)  # z, r, h in both
    args = [_time_major(b, layer, inputs[0]),
            b.const(_gates(layer.kernel.numpy(), order)[None], f"{name}_W"),
            b.const(_gates(layer.recurrent_kernel.numpy(), order)[None], f"{name}_R")]
    if layer.use_bias:
        bias = layer.bias.numpy()
        if not layer.reset_after:  # one bias, added with the input projection
            bias = np.stack([bias, np.zeros_like(bias)])
        args.append(b.const(bias.reshape(1, 6 * u), f"{name}_B"))
    y, y_h = b.op("GRU", args, name, n_out=2, hidden_size=u,
                  linear_before_reset=int(layer.reset_after),
                  **_activation_attrs(layer, [layer.recurrent_activation,
                                              layer.activation]))
    return _outputs(b, layer, y, [y_h])
