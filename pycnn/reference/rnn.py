"""NumPy twins of pycnn.ops.rnn: LSTM and GRU step by step over time, in
float64, with backpropagation through time written out one step at a time.
Same names, signatures and return tuples as the ops (arrays are float64)."""
import numpy as np

from pycnn.reference.act import (ELU, GELU, HARD_SIGMOID, LEAKY_RELU, LINEAR, RELU, SELU,
                                 SELU_ALPHA,
                                 SELU_SCALE, SIGMOID, SOFTPLUS, SWISH, TANH, _forward64,
                                 _normal_cdf, _sigmoid)


def _f64(a):
    return None if a is None else np.asarray(a, np.float64)


def _act(x, code, param):
    return _forward64(x, int(code), float(param))


def _act_derivative(x, y, code, param):
    """d act / d x at pre-activation x with y = act(x)."""
    code = int(code)
    if code == LINEAR:
        return np.ones_like(x)
    if code == RELU:
        return (x > 0).astype(np.float64)
    if code == SIGMOID:
        return y * (1.0 - y)
    if code == TANH:
        return 1.0 - y * y
    if code == ELU:
        return np.where(x > 0, 1.0, y + 1.0)
    if code == SELU:
        return np.where(x > 0, SELU_SCALE, y + SELU_SCALE * SELU_ALPHA)
    if code == GELU:
        return _normal_cdf(x) + x * np.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)
    if code == SWISH:
        s = _sigmoid(x)
        return s * (1.0 + x * (1.0 - s))
    if code == LEAKY_RELU:
        return np.where(x > 0, 1.0, float(param))
    if code == SOFTPLUS:
        return _sigmoid(x)
    if code == HARD_SIGMOID:
        return np.where((x > -3.0) & (x < 3.0), 1.0 / 6.0, 0.0)
    raise ValueError(f"unsupported recurrent activation code {code}")


def _zeros_state(x, units):
    return np.zeros((x.shape[0], units))


def _step_mask(mask, x, t):
    """(B,1) float: 1 where the sample takes step t, 0 where it is masked."""
    if mask is None:
        return np.ones((x.shape[0], 1))
    return (np.asarray(mask)[:, t] != 0).astype(np.float64)[:, None]


def lstm_forward(x, kernel, recurrent_kernel, bias=None, h0=None, c0=None, act=TANH,
                 act_param=0.0, gate_act=SIGMOID, gate_param=0.0, mask=None):
    """Returns (h_seq, c_seq, gates_pre, gates): (B,T,U), (B,T,U), (B,T,4U) x2.
    A masked step carries h and c over (Keras masking)."""
    x, kernel, rec = _f64(x), _f64(kernel), _f64(recurrent_kernel)
    batch, steps, _ = x.shape
    u = rec.shape[0]
    h = _zeros_state(x, u) if h0 is None else _f64(h0)
    c = _zeros_state(x, u) if c0 is None else _f64(c0)
    h_seq, c_seq = np.zeros((batch, steps, u)), np.zeros((batch, steps, u))
    pre_seq, gate_seq = np.zeros((batch, steps, 4 * u)), np.zeros((batch, steps, 4 * u))
    for t in range(steps):
        z = x[:, t] @ kernel + h @ rec
        if bias is not None:
            z = z + _f64(bias)
        gate = np.concatenate([_act(z[:, :2 * u], gate_act, gate_param),
                               _act(z[:, 2 * u:3 * u], act, act_param),
                               _act(z[:, 3 * u:], gate_act, gate_param)], axis=1)
        i, f, g, o = np.split(gate, 4, axis=1)
        m = _step_mask(mask, x, t)
        c_new = f * c + i * g
        h_new = o * _act(c_new, act, act_param)
        c = m * c_new + (1.0 - m) * c
        h = m * h_new + (1.0 - m) * h
        h_seq[:, t], c_seq[:, t], pre_seq[:, t], gate_seq[:, t] = h, c, z, gate
    return h_seq, c_seq, pre_seq, gate_seq


def lstm_backward(x, kernel, recurrent_kernel, h0, c0, h_seq, c_seq, gates_pre, gates,
                  dh_seq=None, dh_last=None, dc_last=None, act=TANH, act_param=0.0,
                  gate_act=SIGMOID, gate_param=0.0, need_dx=True, use_bias=True, mask=None):
    """Returns (dx or None, dkernel, drecurrent_kernel, dbias or None, dh0, dc0)."""
    x, kernel, rec = _f64(x), _f64(kernel), _f64(recurrent_kernel)
    h_seq, c_seq, pre, gates = _f64(h_seq), _f64(c_seq), _f64(gates_pre), _f64(gates)
    batch, steps, _ = x.shape
    u = rec.shape[0]
    h_init = _zeros_state(x, u) if h0 is None else _f64(h0)
    c_init = _zeros_state(x, u) if c0 is None else _f64(c0)
    dh_next = _zeros_state(x, u) if dh_last is None else _f64(dh_last).copy()
    dc_next = _zeros_state(x, u) if dc_last is None else _f64(dc_last).copy()
    dx, dk = np.zeros_like(x), np.zeros_like(kernel)
    drec, db = np.zeros_like(rec), np.zeros(4 * u)
    for t in reversed(range(steps)):
        dh = dh_next + (0.0 if dh_seq is None else _f64(dh_seq)[:, t])
        m = _step_mask(mask, x, t)
        i, f, g, o = np.split(gates[:, t], 4, axis=1)
        zi, zf, zg, zo = np.split(pre[:, t], 4, axis=1)
        c = c_seq[:, t]
        c_prev = c_seq[:, t - 1] if t > 0 else c_init
        h_prev = h_seq[:, t - 1] if t > 0 else h_init
        act_c = _act(c, act, act_param)
        dc = dc_next + dh * o * _act_derivative(c, act_c, act, act_param)
        dz = m * np.concatenate([dc * g * _act_derivative(zi, i, gate_act, gate_param),
                                 dc * c_prev * _act_derivative(zf, f, gate_act, gate_param),
                                 dc * i * _act_derivative(zg, g, act, act_param),
                                 dh * act_c * _act_derivative(zo, o, gate_act, gate_param)],
                                axis=1)
        # A masked step passes both gradients straight to the previous states.
        dc_next = m * (dc * f) + (1.0 - m) * dc_next
        dh_next = dz @ rec.T + (1.0 - m) * dh
        dk += x[:, t].T @ dz
        drec += h_prev.T @ dz
        db += dz.sum(axis=0)
        dx[:, t] = dz @ kernel.T
    return (dx if need_dx else None, dk, drec, db if use_bias else None, dh_next, dc_next)


def gru_forward(x, kernel, recurrent_kernel, bias=None, h0=None, reset_after=True, act=TANH,
                act_param=0.0, gate_act=SIGMOID, gate_param=0.0, mask=None):
    """Returns (h_seq, gates_pre, gates, rec_h): (B,T,U), (B,T,3U) x2, (B,T,U).
    A masked step carries h over.
    rec_h is h_prev U_h + b_hh (reset_after) or r * h_prev."""
    x, kernel, rec = _f64(x), _f64(kernel), _f64(recurrent_kernel)
    batch, steps, _ = x.shape
    u = rec.shape[0]
    bias = None if bias is None else _f64(bias)
    b_in = np.zeros(3 * u) if bias is None else (bias[0] if reset_after else bias)
    b_rec = np.zeros(3 * u) if bias is None or not reset_after else bias[1]
    h = _zeros_state(x, u) if h0 is None else _f64(h0)
    h_seq, rec_h_seq = np.zeros((batch, steps, u)), np.zeros((batch, steps, u))
    pre_seq, gate_seq = np.zeros((batch, steps, 3 * u)), np.zeros((batch, steps, 3 * u))
    for t in range(steps):
        xp = x[:, t] @ kernel + b_in
        if reset_after:
            r_all = h @ rec + b_rec
            pzr = xp[:, :2 * u] + r_all[:, :2 * u]
            zr = _act(pzr, gate_act, gate_param)
            rec_h = r_all[:, 2 * u:]
            ph = xp[:, 2 * u:] + zr[:, u:] * rec_h
        else:
            pzr = xp[:, :2 * u] + h @ rec[:, :2 * u]
            zr = _act(pzr, gate_act, gate_param)
            rec_h = zr[:, u:] * h
            ph = xp[:, 2 * u:] + rec_h @ rec[:, 2 * u:]
        hh = _act(ph, act, act_param)
        z = zr[:, :u]
        m = _step_mask(mask, x, t)
        h = m * (z * h + (1.0 - z) * hh) + (1.0 - m) * h
        h_seq[:, t], rec_h_seq[:, t] = h, rec_h
        pre_seq[:, t] = np.concatenate([pzr, ph], axis=1)
        gate_seq[:, t] = np.concatenate([zr, hh], axis=1)
    return h_seq, pre_seq, gate_seq, rec_h_seq


def gru_backward(x, kernel, recurrent_kernel, h0, h_seq, gates_pre, gates, rec_h,
                 dh_seq=None, dh_last=None, reset_after=True, act=TANH, act_param=0.0,
                 gate_act=SIGMOID, gate_param=0.0, need_dx=True, use_bias=True, mask=None):
    """Returns (dx or None, dkernel, drecurrent_kernel, dbias or None, dh0); dbias
    has the bias's shape ((2, 3U) with reset_after, else (3U,))."""
    x, kernel, rec = _f64(x), _f64(kernel), _f64(recurrent_kernel)
    h_seq, pre, gates, rec_h = _f64(h_seq), _f64(gates_pre), _f64(gates), _f64(rec_h)
    batch, steps, _ = x.shape
    u = rec.shape[0]
    h_init = _zeros_state(x, u) if h0 is None else _f64(h0)
    dh_next = _zeros_state(x, u) if dh_last is None else _f64(dh_last).copy()
    dx, dk, drec = np.zeros_like(x), np.zeros_like(kernel), np.zeros_like(rec)
    db = np.zeros((2, 3 * u)) if reset_after else np.zeros(3 * u)
    for t in reversed(range(steps)):
        dh_in = dh_next + (0.0 if dh_seq is None else _f64(dh_seq)[:, t])
        m = _step_mask(mask, x, t)
        dh = m * dh_in  # a masked step's gates get nothing; dh_in passes through
        z, r, hh = np.split(gates[:, t], 3, axis=1)
        pz, pr, ph = np.split(pre[:, t], 3, axis=1)
        h_prev = h_seq[:, t - 1] if t > 0 else h_init
        dz = dh * (h_prev - hh) * _act_derivative(pz, z, gate_act, gate_param)
        dph = dh * (1.0 - z) * _act_derivative(ph, hh, act, act_param)
        dr_gate = _act_derivative(pr, r, gate_act, gate_param)
        if reset_after:
            dr = dph * rec_h[:, t] * dr_gate
            d_in = np.concatenate([dz, dr, dph], axis=1)
            d_rec = np.concatenate([dz, dr, dph * r], axis=1)
            dh_next = dh * z + d_rec @ rec.T + (1.0 - m) * dh_in
            drec += h_prev.T @ d_rec
            db[0] += d_in.sum(axis=0)
            db[1] += d_rec.sum(axis=0)
        else:
            d_rh = dph @ rec[:, 2 * u:].T
            dr = d_rh * h_prev * dr_gate
            d_in = np.concatenate([dz, dr, dph], axis=1)
            dh_next = (dh * z + d_rh * r + d_in[:, :2 * u] @ rec[:, :2 * u].T
                       + (1.0 - m) * dh_in)
            drec[:, :2 * u] += h_prev.T @ d_in[:, :2 * u]
            drec[:, 2 * u:] += rec_h[:, t].T @ dph
            db += d_in.sum(axis=0)
        dk += x[:, t].T @ d_in
        dx[:, t] = d_in @ kernel.T
    return (dx if need_dx else None, dk, drec, db if use_bias else None, dh_next)
