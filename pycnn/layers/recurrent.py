"""LSTM and GRU (Keras 3 layouts and defaults). One C++ call runs the whole
sequence forward, one runs backpropagation through time (pycnn.ops.rnn).

Masking as Keras 3: ``forward(x, training, mask=None)`` takes a (batch, time)
mask (e.g. from Embedding(mask_zero=True)); a sample skips its masked steps,
its states carry over and, with return_sequences, the output at a masked
step repeats the previous output (zeros before the first unmasked step;
Keras's zero_output_for_mask=False). ``compute_mask`` passes the mask on
with return_sequences, as Keras does. recurrent_dropout is accepted but
not applied (with a warning): Keras 3's cells apply it only in their
implementation=1 path, and LSTM/GRU build their cells with implementation=2,
which does not mask the recurrent state either. stateful=True is not supported.
"""
import warnings

import numpy as np

from pycnn import activations, constraints, initializers, regularizers
from pycnn import random as prandom
from pycnn.layers.base import Layer, shape_str
from pycnn.ops import rnn as rnn_ops

# Activations the recurrent kernels apply elementwise (codes 0..9, and 11:
# hard_sigmoid, which no other kernel takes, so its Activation has no code).
_MAX_ELEMENTWISE_CODE = 9
_HARD_SIGMOID_CODE = 11


def _check_units(layer_name, units):
    if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
        raise ValueError(
            f"Received an invalid value for argument `units`, expected a positive "
            f"integer, got {units!r} (layer '{layer_name}')")
    return int(units)


def _check_rate(layer_name, arg, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) \
            or not 0.0 <= value <= 1.0:
        raise ValueError(
            f"Invalid value received for argument `{arg}` in layer '{layer_name}'. "
            f"Expected a float value between 0 and 1. Received: {arg}={value!r}")
    return float(value)


def _elementwise_activation(layer_name, arg, identifier):
    act = activations.get(identifier)
    if act.code is None and act.name == "hard_sigmoid":  # Keras 2's recurrent default
        return act
    if act.code is None or act.code > _MAX_ELEMENTWISE_CODE:
        raise ValueError(
            f"Layer '{layer_name}': `{arg}`={identifier!r} is not supported by the "
            "recurrent kernels; use one of linear, relu, sigmoid, tanh, elu, selu, "
            "gelu, swish, leaky_relu, softplus, hard_sigmoid")
    return act


def _kernel_code(act):
    """The code the recurrent kernels take for an activation _elementwise_activation accepted."""
    return _HARD_SIGMOID_CODE if act.code is None else act.code


def _output_grad(layer, g, shape):
    """An output gradient as a float32 array of `shape`, or None when the
    model sent a placeholder (that output does not reach the loss)."""
    if g is None:
        return None
    g = np.asarray(g, np.float32)
    if g.shape != tuple(shape):
        if g.size == 1 and not g.any():
            return None
        raise ValueError(
            f"Gradient for the output of layer \"{layer.name}\" has shape "
            f"{shape_str(g.shape)}, expected {shape_str(tuple(shape))}")
    return np.ascontiguousarray(g)


def _add(a, b):
    if a is None:
        return b
    return a if b is None else a + b


class _Recurrent(Layer):
    """What LSTM and GRU share: arguments, shapes, dropout on the inputs,
    time reversal and the split of multi-output gradients."""

    supports_masking = True
    _gates = None       # 4 for LSTM, 3 for GRU
    _cell_name = None   # Keras keeps the weights under "<layer>/<cell>/"
    _num_states = None  # states returned with return_state

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, unroll=False,
                 use_cudnn="auto", **kwargs):
        super().__init__(**kwargs)
        self.units = _check_units(self.name, units)
        self.activation = _elementwise_activation(self.name, "activation", activation)
        self.recurrent_activation = _elementwise_activation(
            self.name, "recurrent_activation", recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)  # layers/activity.py
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = _check_rate(self.name, "dropout", dropout)
        self.recurrent_dropout = _check_rate(self.name, "recurrent_dropout", recurrent_dropout)
        if self.recurrent_dropout > 0.0:
            # Only changes training noise, never inference: run, but say so.
            warnings.warn(
                f"Layer '{self.name}': recurrent_dropout is not applied by pycnn's "
                "recurrent kernels (nor by Keras 3's default implementation=2 cells); "
                "dropout on the inputs is applied", UserWarning)
        if stateful:
            raise NotImplementedError(
                f"Layer '{self.name}': stateful=True is not supported (only stateful=False)")
        self.seed = seed
        self._rng = prandom.make_generator(seed) if seed is not None else None
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = False
        self.unroll = bool(unroll)  # same arithmetic either way
        self.use_cudnn = use_cudnn

    # ----- weights and shapes ------------------------------------------------
    def _cell_weight(self, shape, initializer, name):
        var = self.add_weight(shape, initializer, name)
        var.path = f"{self.name}/{self._cell_name}/{name}"
        return var

    def _bias_initializer(self):
        return self.bias_initializer

    def _bias_shape(self):
        return (self._gates * self.units,)

    def build(self, input_shape):
        self._check_rank(input_shape, rank=3)
        in_dim = input_shape[-1]
        if in_dim is None:
            raise ValueError(
                f"Layer \"{self.name}\": the last dimension of the input must be known, "
                f"got shape {shape_str(input_shape)}")
        width = self._gates * self.units
        self.kernel = self._cell_weight((in_dim, width), self.kernel_initializer, "kernel")
        self.recurrent_kernel = self._cell_weight(
            (self.units, width), self.recurrent_initializer, "recurrent_kernel")
        self.bias = self._cell_weight(self._bias_shape(), self._bias_initializer(), "bias") \
            if self.use_bias else None
        self.built = True

    def compute_output_shape(self, input_shape):
        batch, steps = input_shape[0], input_shape[1]
        out = (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        if self.return_state:
            return [out] + [(batch, self.units)] * self._num_states
        return out

    def _check_call_shape(self, x):
        in_dim = self.kernel.shape[0]
        if x.ndim != 3 or x.shape[-1] != in_dim:
            raise ValueError(
                f"Input 0 of layer \"{self.name}\" is incompatible with the layer: "
                f"expected shape=(None, None, {in_dim}), found shape={shape_str(x.shape)}")
        if x.shape[1] == 0:
            raise ValueError(
                f"Layer \"{self.name}\": the input has no time steps, shape "
                f"{shape_str(x.shape)}")

    def _check_mask(self, mask, x):
        """The (batch, time) mask as bool, in processing order, or None."""
        if mask is None:
            return None
        m = np.asarray(mask)
        if m.ndim == 3 and m.shape[-1] == 1:
            m = m[..., 0]
        if m.shape != x.shape[:2]:
            raise ValueError(
                f"Layer \"{self.name}\": the mask must have shape (batch, time) = "
                f"{shape_str(x.shape[:2])}, found shape={shape_str(m.shape)}")
        m = m != 0
        return np.ascontiguousarray(m[:, ::-1] if self.go_backwards else m)

    def compute_mask(self, inputs, mask=None):
        # Keras: the input mask (not reversed by go_backwards) for the
        # sequence output, none for the states or a last-step output.
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * self._num_states
        return output_mask

    @property
    def _acts(self):
        return dict(act=_kernel_code(self.activation), act_param=self.activation.param,
                    gate_act=_kernel_code(self.recurrent_activation),
                    gate_param=self.recurrent_activation.param)

    # ----- shared forward / backward plumbing --------------------------------
    def _prepare_sequence(self, x, training):
        """Input dropout (one mask per sequence, as Keras) and time reversal.
        Returns (x, dropout multiplier or None)."""
        self._check_call_shape(x)
        drop = None
        if training and self.dropout > 0.0:
            keep = 1.0 - self.dropout
            rng = self._rng or prandom.generator()
            drop = (rng.random((x.shape[0], 1, x.shape[2]), dtype=np.float32) < keep)
            drop = drop.astype(np.float32) * np.float32(1.0 / keep) if keep > 0 else \
                np.zeros_like(drop, np.float32)
            x = x * drop
        if self.go_backwards:
            x = x[:, ::-1]
        return np.ascontiguousarray(x, np.float32), drop

    def _input_grad(self, dx, drop):
        if dx is None:
            return None
        if self.go_backwards:
            dx = dx[:, ::-1]
        if drop is not None:
            dx = dx * drop
        return np.ascontiguousarray(dx)

    def _outputs(self, h_seq, states):
        output = h_seq if self.return_sequences else states[0]
        return [output] + list(states) if self.return_state else output

    def _split_output_grads(self, dy, h_seq_shape):
        """(dh_seq, d_last_states): gradient for every step's h (or None) and
        for each final state (h, and c for LSTM), None where absent."""
        batch, steps, units = h_seq_shape
        dys = list(dy) if self.return_state else [dy]
        state_grads = [_output_grad(self, g, (batch, units)) for g in dys[1:]]
        state_grads += [None] * (self._num_states - len(state_grads))
        if self.return_sequences:
            return _output_grad(self, dys[0], h_seq_shape), state_grads
        state_grads[0] = _add(state_grads[0], _output_grad(self, dys[0], (batch, units)))
        return None, state_grads

    def _grads(self, dkernel, drecurrent, dbias):
        if not self.trainable:
            return []
        return [dkernel, drecurrent] + ([dbias] if self.use_bias else [])

    def get_config(self):
        cfg = super().get_config()
        cfg.update(
            units=self.units, activation=activations.serialize(self.activation),
            recurrent_activation=activations.serialize(self.recurrent_activation),
            use_bias=self.use_bias,
            kernel_initializer=initializers.serialize(self.kernel_initializer),
            recurrent_initializer=initializers.serialize(self.recurrent_initializer),
            bias_initializer=initializers.serialize(self.bias_initializer),
            kernel_regularizer=regularizers.serialize(self.kernel_regularizer),
            recurrent_regularizer=regularizers.serialize(self.recurrent_regularizer),
            bias_regularizer=regularizers.serialize(self.bias_regularizer),
            activity_regularizer=regularizers.serialize(self.activity_regularizer),
            kernel_constraint=constraints.serialize(self.kernel_constraint),
            recurrent_constraint=constraints.serialize(self.recurrent_constraint),
            bias_constraint=constraints.serialize(self.bias_constraint),
            dropout=self.dropout, recurrent_dropout=self.recurrent_dropout, seed=self.seed,
            return_sequences=self.return_sequences, return_state=self.return_state,
            go_backwards=self.go_backwards, stateful=self.stateful, unroll=self.unroll)
        return cfg


class LSTM(_Recurrent):
    """Long Short-Term Memory (Hochreiter 1997), Keras 3 weights: kernel
    (in, 4u), recurrent_kernel (u, 4u), bias (4u,), gates i, f, c, o."""

    _gates = 4
    _cell_name = "lstm_cell"
    _num_states = 2

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, unroll=False,
                 use_cudnn="auto", **kwargs):
        super().__init__(
            units, activation=activation, recurrent_activation=recurrent_activation,
            use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint,
            dropout=dropout, recurrent_dropout=recurrent_dropout, seed=seed,
            return_sequences=return_sequences, return_state=return_state,
            go_backwards=go_backwards, stateful=stateful, unroll=unroll,
            use_cudnn=use_cudnn, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _bias_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        base, units = self.bias_initializer, self.units

        def forget_bias_one(shape):  # Keras: [init(u), ones(u), init(2u)]
            return np.concatenate([base((units,)), np.ones(units, np.float32),
                                   base((2 * units,))]).astype(np.float32)
        return forget_bias_one

    def forward(self, x, training=False, mask=None):
        xs, drop = self._prepare_sequence(x, training)
        steps = self._check_mask(mask, x)
        bias = self.bias.value if self.use_bias else None
        h_seq, c_seq, pre, gates = rnn_ops.lstm_forward(
            xs, self.kernel.value, self.recurrent_kernel.value, bias, mask=steps,
            **self._acts)
        states = [np.ascontiguousarray(h_seq[:, -1]), np.ascontiguousarray(c_seq[:, -1])]
        return self._outputs(h_seq, states), (xs, drop, steps, h_seq, c_seq, pre, gates)

    def backward(self, cache, dy, need_dx=True):
        xs, drop, steps, h_seq, c_seq, pre, gates = cache
        dh_seq, (dh_last, dc_last) = self._split_output_grads(dy, h_seq.shape)
        dx, dk, drec, db, _, _ = rnn_ops.lstm_backward(
            xs, self.kernel.value, self.recurrent_kernel.value, None, None, h_seq, c_seq,
            pre, gates, dh_seq, dh_last, dc_last, need_dx=need_dx, use_bias=self.use_bias,
            mask=steps, **self._acts)
        return self._input_grad(dx, drop), self._grads(dk, drec, db)

    def get_config(self):
        cfg = super().get_config()
        cfg["unit_forget_bias"] = self.unit_forget_bias
        return cfg


class GRU(_Recurrent):
    """Gated Recurrent Unit (Cho 2014), Keras 3 weights: kernel (in, 3u),
    recurrent_kernel (u, 3u), bias (2, 3u) with reset_after=True (input and
    recurrent biases) else (3u,); gates z, r, h."""

    _gates = 3
    _cell_name = "gru_cell"
    _num_states = 1

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, reset_after=True, use_cudnn="auto", **kwargs):
        super().__init__(
            units, activation=activation, recurrent_activation=recurrent_activation,
            use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint,
            dropout=dropout, recurrent_dropout=recurrent_dropout, seed=seed,
            return_sequences=return_sequences, return_state=return_state,
            go_backwards=go_backwards, stateful=stateful, unroll=unroll,
            use_cudnn=use_cudnn, **kwargs)
        self.reset_after = bool(reset_after)

    def _bias_shape(self):
        width = self._gates * self.units
        return (2, width) if self.reset_after else (width,)

    def forward(self, x, training=False, mask=None):
        xs, drop = self._prepare_sequence(x, training)
        steps = self._check_mask(mask, x)
        bias = self.bias.value if self.use_bias else None
        h_seq, pre, gates, rec_h = rnn_ops.gru_forward(
            xs, self.kernel.value, self.recurrent_kernel.value, bias,
            reset_after=self.reset_after, mask=steps, **self._acts)
        cache = (xs, drop, steps, h_seq, pre, gates, rec_h)
        return self._outputs(h_seq, [np.ascontiguousarray(h_seq[:, -1])]), cache

    def backward(self, cache, dy, need_dx=True):
        xs, drop, steps, h_seq, pre, gates, rec_h = cache
        dh_seq, (dh_last,) = self._split_output_grads(dy, h_seq.shape)
        dx, dk, drec, db, _ = rnn_ops.gru_backward(
            xs, self.kernel.value, self.recurrent_kernel.value, None, h_seq, pre, gates,
            rec_h, dh_seq, dh_last, reset_after=self.reset_after, need_dx=need_dx,
            use_bias=self.use_bias, mask=steps, **self._acts)
        return self._input_grad(dx, drop), self._grads(dk, drec, db)

    def get_config(self):
        cfg = super().get_config()
        cfg["reset_after"] = self.reset_after
        return cfg
