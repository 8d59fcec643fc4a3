"""LSTM and GRU over whole sequences: one C++ call runs every time step
(forward) or backpropagation through time (backward).

Activation codes are those of pycnn.activations (elementwise codes 0..9):
``act`` is Keras's ``activation``, ``gate_act`` its ``recurrent_activation``.
What backward needs (state sequences, gate pre-activations and activations)
is returned by forward as arrays. ``pycnn.reference.rnn`` holds the NumPy
twin of each function.

``mask`` (B,T), optional: where False (0) the sample skips that step as in
Keras masking: states and the step's output are the previous step's (zeros
before the first taken step), and no gradient reaches that step's input.
"""
import numpy as np

from pycnn import _C
from pycnn.ops.gemm import f32

TANH, SIGMOID = 3, 2


def _opt(a):
    return None if a is None else f32(a)


def _mask(mask):
    """A (B,T) mask (bool or integers, nonzero = take the step) as uint8."""
    return None if mask is None else np.ascontiguousarray(np.asarray(mask) != 0, np.uint8)


def lstm_forward(x, kernel, recurrent_kernel, bias=None, h0=None, c0=None, act=TANH,
                 act_param=0.0, gate_act=SIGMOID, gate_param=0.0, mask=None):
    """x (B,T,I), kernel (I,4U), recurrent_kernel (U,4U), bias (4U,), h0/c0 (B,U)
    or None (zeros). Returns (h_seq, c_seq, gates_pre, gates): (B,T,U) twice,
    (B,T,4U) twice (gates i, f, c, o before / after their activations)."""
    return _C.lstm_forward(f32(x), f32(kernel), f32(recurrent_kernel), _opt(bias), _opt(h0),
                           _opt(c0), int(act), float(act_param), int(gate_act),
                           float(gate_param), _mask(mask))


def lstm_backward(x, kernel, recurrent_kernel, h0, c0, h_seq, c_seq, gates_pre, gates,
                  dh_seq=None, dh_last=None, dc_last=None, act=TANH, act_param=0.0,
                  gate_act=SIGMOID, gate_param=0.0, need_dx=True, use_bias=True, mask=None):
    """Gradients given dL/dh at every step (dh_seq, (B,T,U)) and/or at the last
    step (dh_last), and dL/dc at the last step (dc_last); any may be None.
    Returns (dx or None, dkernel, drecurrent_kernel, dbias or None, dh0, dc0)."""
    return _C.lstm_backward(f32(x), f32(kernel), f32(recurrent_kernel), _opt(h0), _opt(c0),
                            f32(h_seq), f32(c_seq), f32(gates_pre), f32(gates), _opt(dh_seq),
                            _opt(dh_last), _opt(dc_last), int(act), float(act_param),
                            int(gate_act), float(gate_param), bool(need_dx), bool(use_bias),
                            _mask(mask))


def gru_forward(x, kernel, recurrent_kernel, bias=None, h0=None, reset_after=True, act=TANH,
                act_param=0.0, gate_act=SIGMOID, gate_param=0.0, mask=None):
    """x (B,T,I), kernel (I,3U), recurrent_kernel (U,3U), bias (2,3U) when
    reset_after else (3U,), h0 (B,U) or None. Returns (h_seq, gates_pre, gates,
    rec_h): (B,T,U), (B,T,3U) twice (gates z, r, h), (B,T,U) (h_prev U_h + b_hh
    with reset_after, else r * h_prev)."""
    return _C.gru_forward(f32(x), f32(kernel), f32(recurrent_kernel), _opt(bias), _opt(h0),
                          bool(reset_after), int(act), float(act_param), int(gate_act),
                          float(gate_param), _mask(mask))


def gru_backward(x, kernel, recurrent_kernel, h0, h_seq, gates_pre, gates, rec_h,
                 dh_seq=None, dh_last=None, reset_after=True, act=TANH, act_param=0.0,
                 gate_act=SIGMOID, gate_param=0.0, need_dx=True, use_bias=True, mask=None):
    """Returns (dx or None, dkernel, drecurrent_kernel, dbias or None, dh0);
    dbias has the bias's shape."""
    return _C.gru_backward(f32(x), f32(kernel), f32(recurrent_kernel), _opt(h0), f32(h_seq),
                           f32(gates_pre), f32(gates), f32(rec_h), _opt(dh_seq), _opt(dh_last),
                           bool(reset_after), int(act), float(act_param), int(gate_act),
                           float(gate_param), bool(need_dx), bool(use_bias), _mask(mask))
