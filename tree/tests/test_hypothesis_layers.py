"""Random shapes and hyper-parameters against the NumPy references: every
ops function and its pycnn.reference twin must agree, forward and backward.
Modest example counts and derandomize=True keep this fast and reproducible."""
import importlib

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

SETTINGS = settings(max_examples=12, deadline=None, derandomize=True, database=None)
dims = st.integers(1, 6)


def _both(family, name, *args, **kwargs):
    ops = getattr(importlib.import_module(f"pycnn.ops.{family}"), name)
    ref = getattr(importlib.import_module(f"pycnn.reference.{family}"), name)
    return ops(*args, **kwargs), ref(*args, **kwargs)


def _close(got, want, rtol=2e-4, atol=2e-5):
    if isinstance(want, (tuple, list)):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            _close(g, w, rtol, atol)
    elif want is None:
        assert got is None
    else:
        np.testing.assert_allclose(np.asarray(got, np.float64), np.asarray(want, np.float64),
                                   rtol=rtol, atol=atol)


def _arr(seed, shape, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


@SETTINGS
@given(m=dims, k=dims, n=dims, ta=st.booleans(), tb=st.booleans(),
       act=st.sampled_from([0, 1, 2, 3, 6, 7]), seed=st.integers(0, 99))
def test_gemm_dense(m, k, n, ta, tb, act, seed):
    a = _arr(seed, (k, m) if ta else (m, k))
    b = _arr(seed + 1, (n, k) if tb else (k, n))
    bias = _arr(seed + 2, (n,))
    _close(*_both("gemm", "gemm", a, b, trans_a=ta, trans_b=tb, bias=bias, act=act))


@SETTINGS
@given(shape=st.lists(dims, min_size=1, max_size=3), act=st.integers(0, 10),
       seed=st.integers(0, 99))
def test_activations_forward_backward(shape, act, seed):
    x = _arr(seed, tuple(shape), 2.0)
    y, y_ref = _both("act", "act_forward", x, act, 0.2)
    _close(y, y_ref)
    dy = _arr(seed + 1, x.shape)
    _close(*_both("act", "act_backward", x, y_ref, dy, act, 0.2))


@SETTINGS
@given(n=st.integers(1, 2), h=st.integers(1, 7), w=st.integers(1, 7), cin=st.integers(1, 3),
       cout=st.integers(1, 3), kh=st.integers(1, 3), kw=st.integers(1, 3),
       sh=st.integers(1, 3), sw=st.integers(1, 3), d=st.integers(1, 2),
       pad=st.integers(0, 1), seed=st.integers(0, 99))
def test_conv2d(n, h, w, cin, cout, kh, kw, sh, sw, d, pad, seed):
    if (kh - 1) * d + 1 > h + 2 * pad or (kw - 1) * d + 1 > w + 2 * pad:
        return
    x, k, b = _arr(seed, (n, h, w, cin)), _arr(seed + 1, (kh, kw, cin, cout)), _arr(seed + 2, (cout,))
    geo = dict(strides=(sh, sw), dilation=(d, d), pads=(pad, pad, pad, pad))
    y, y_ref = _both("conv", "conv2d_forward", x, k, b, **geo)
    _close(y, y_ref)
    dz = _arr(seed + 3, np.shape(y_ref))
    _close(*_both("conv", "conv2d_backward", x, k, dz, **geo))


@SETTINGS
@given(n=st.integers(1, 2), length=st.integers(1, 9), cin=st.integers(1, 3),
       cout=st.integers(1, 3), ks=st.integers(1, 4), s=st.integers(1, 3),
       d=st.integers(1, 2), seed=st.integers(0, 99))
def test_conv1d(n, length, cin, cout, ks, s, d, seed):
    if (ks - 1) * d + 1 > length:
        return
    x, k = _arr(seed, (n, length, cin)), _arr(seed + 1, (ks, cin, cout))
    y, y_ref = _both("conv", "conv1d_forward", x, k, None, stride=s, dilation=d)
    _close(y, y_ref)
    dz = _arr(seed + 2, np.shape(y_ref))
    _close(*_both("conv", "conv1d_backward", x, k, dz, stride=s, dilation=d))


@SETTINGS
@given(n=st.integers(1, 2), h=st.integers(1, 7), w=st.integers(1, 7), c=st.integers(1, 4),
       ph=st.integers(1, 3), pw=st.integers(1, 3), sh=st.integers(1, 3), sw=st.integers(1, 3),
       seed=st.integers(0, 99))
def test_pool2d(n, h, w, c, ph, pw, sh, sw, seed):
    if ph > h or pw > w:
        return
    x = _arr(seed, (n, h, w, c))
    (y, am), (y_ref, am_ref) = _both("pool", "max_pool2d_forward", x, (ph, pw), (sh, sw))
    _close(y, y_ref)
    dy = _arr(seed + 1, np.shape(y_ref))
    _close(*_both("pool", "max_pool2d_backward", dy, am_ref, x.shape))
    _close(*_both("pool", "avg_pool2d_forward", x, (ph, pw), (sh, sw)))
    _close(*_both("pool", "avg_pool2d_backward", dy, x.shape, (ph, pw), (sh, sw)))


@SETTINGS
@given(rows=st.integers(2, 12), c=st.integers(1, 6), affine=st.booleans(),
       seed=st.integers(0, 99))
def test_batchnorm(rows, c, affine, seed):
    x = _arr(seed, (rows, c), 3.0)
    gamma = _arr(seed + 1, (c,)) if affine else None
    beta = _arr(seed + 2, (c,)) if affine else None
    out, ref = _both("norm", "batchnorm_train_forward", x, gamma, beta, 1e-3)
    _close(out, ref, rtol=1e-3, atol=1e-4)
    dy = _arr(seed + 3, x.shape)
    _close(*_both("norm", "batchnorm_backward", x, dy, gamma, ref[1], ref[3]),
           rtol=1e-3, atol=1e-4)


@SETTINGS
@given(shape=st.lists(dims, min_size=2, max_size=3), k=st.integers(2, 3),
       op=st.sampled_from(["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum",
                           "Concatenate"]), seed=st.integers(0, 99))
def test_merges_forward_backward(shape, k, op, seed):
    from pycnn import layers
    if op == "Subtract":
        k = 2
    xs = [_arr(seed + i, tuple(shape)) for i in range(k)]
    layer = getattr(layers, op)()
    y = layer(xs)
    ref = {"Add": lambda: sum(xs), "Subtract": lambda: xs[0] - xs[1],
           "Multiply": lambda: np.prod(xs, axis=0), "Average": lambda: np.mean(xs, axis=0),
           "Maximum": lambda: np.max(xs, axis=0), "Minimum": lambda: np.min(xs, axis=0),
           "Concatenate": lambda: np.concatenate(xs, axis=-1)}[op]()
    _close(y, ref)
    _, cache = layer.forward(xs)
    dy = _arr(seed + 9, np.shape(ref))
    dxs, _ = layer.backward(cache, dy)
    if op == "Concatenate":
        want = np.split(dy, k, axis=-1)
    elif op in ("Maximum", "Minimum"):
        pick = np.argmax(xs, 0) if op == "Maximum" else np.argmin(xs, 0)
        want = [dy * (pick == i) for i in range(k)]
    elif op == "Multiply":
        want = [dy * np.prod([x for j, x in enumerate(xs) if j != i], axis=0) for i in range(k)]
    else:
        scale = {"Add": [1] * k, "Subtract": [1, -1], "Average": [1 / k] * k}[op]
        want = [dy * s for s in scale]
    _close(dxs, want)


@SETTINGS
@given(b=st.integers(1, 3), t=st.integers(1, 5), i=st.integers(1, 4), u=st.integers(1, 4),
       cell=st.sampled_from(["lstm", "gru"]), seed=st.integers(0, 99))
def test_recurrent(b, t, i, u, cell, seed):
    x = _arr(seed, (b, t, i))
    gates = 4 if cell == "lstm" else 3
    k, rk = _arr(seed + 1, (i, gates * u), 0.5), _arr(seed + 2, (u, gates * u), 0.5)
    bias = _arr(seed + 3, (gates * u,) if cell == "lstm" else (2, gates * u), 0.1)
    out, ref = _both("rnn", f"{cell}_forward", x, k, rk, bias)
    _close(out, ref, rtol=1e-3, atol=1e-5)
    dh = _arr(seed + 4, (b, t, u))
    if cell == "lstm":
        h_seq, c_seq, pre, g = ref
        _close(*_both("rnn", "lstm_backward", x, k, rk, None, None, h_seq, c_seq, pre, g,
                      dh_seq=dh), rtol=1e-3, atol=1e-4)
    else:
        h_seq, pre, g, rec = ref
        _close(*_both("rnn", "gru_backward", x, k, rk, None, h_seq, pre, g, rec, dh_seq=dh),
               rtol=1e-3, atol=1e-4)


@SETTINGS
@given(vocab=st.integers(1, 12), dim=st.integers(1, 5),
       shape=st.lists(st.integers(1, 4), min_size=1, max_size=2), seed=st.integers(0, 99))
def test_embedding(vocab, dim, shape, seed):
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, vocab, tuple(shape))
    table = _arr(seed, (vocab, dim))
    _close(*_both("embedding", "embedding_lookup", idx, table))
    dy = _arr(seed + 1, tuple(shape) + (dim,))
    _close(*_both("embedding", "embedding_grad", idx, dy, vocab))
