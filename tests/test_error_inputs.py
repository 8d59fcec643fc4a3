"""Error inputs, in the spirit of PyTorch's OpInfo error_inputs: every bad
input raises a clear ValueError / TypeError / MemoryError naming the layer or
op, before a kernel touches memory; layout variants are accepted.

Known gaps (reported, owners to fix) are xfail(strict=False) with the reason,
so they show up as XFAIL until fixed and then as XPASS.
"""
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import pycnn
from pycnn import layers as L
from pycnn.ops import conv as conv_ops
from pycnn.ops import gemm as gemm_ops
from pycnn.ops import norm as norm_ops
from pycnn.ops import optim as optim_ops
from pycnn.ops import pool as pool_ops

# name -> (factory, input shape without batch; a list for merge layers)
TABLE = {
    "Activation": (lambda: L.Activation("relu"), (5,)),
    "ELU": (lambda: L.ELU(), (5,)),
    "LeakyReLU": (lambda: L.LeakyReLU(), (5,)),
    "ReLU": (lambda: L.ReLU(), (5,)),
    "Softmax": (lambda: L.Softmax(), (5,)),
    "Dense": (lambda: L.Dense(3), (5,)),
    "Dropout": (lambda: L.Dropout(0.5), (5,)),
    "Flatten": (lambda: L.Flatten(), (2, 3)),
    "Reshape": (lambda: L.Reshape((3, 2)), (6,)),
    "Conv1D": (lambda: L.Conv1D(2, 3), (7, 2)),
    "Conv2D": (lambda: L.Conv2D(2, 3), (6, 7, 2)),
    "Embedding": (lambda: L.Embedding(10, 4), (5,)),
    "SpatialDropout1D": (lambda: L.SpatialDropout1D(0.5), (5, 3)),
    "BatchNormalization": (lambda: L.BatchNormalization(), (4,)),
    "MaxPooling1D": (lambda: L.MaxPooling1D(2), (6, 3)),
    "AveragePooling1D": (lambda: L.AveragePooling1D(2), (6, 3)),
    "MaxPooling2D": (lambda: L.MaxPooling2D(2), (6, 6, 3)),
    "AveragePooling2D": (lambda: L.AveragePooling2D(2), (6, 6, 3)),
    "GlobalMaxPooling1D": (lambda: L.GlobalMaxPooling1D(), (6, 3)),
    "GlobalAveragePooling1D": (lambda: L.GlobalAveragePooling1D(), (6, 3)),
    "GlobalMaxPooling2D": (lambda: L.GlobalMaxPooling2D(), (5, 6, 3)),
    "GlobalAveragePooling2D": (lambda: L.GlobalAveragePooling2D(), (5, 6, 3)),
    "LSTM": (lambda: L.LSTM(3), (4, 2)),
    "GRU": (lambda: L.GRU(3), (4, 2)),
    "ZeroPadding1D": (lambda: L.ZeroPadding1D(1), (4, 2)),
    "ZeroPadding2D": (lambda: L.ZeroPadding2D(1), (4, 5, 2)),
    "Add": (lambda: L.Add(), [(4,), (4,)]),
    "Subtract": (lambda: L.Subtract(), [(4,), (4,)]),
    "Multiply": (lambda: L.Multiply(), [(4,), (4,)]),
    "Average": (lambda: L.Average(), [(4,), (4,)]),
    "Maximum": (lambda: L.Maximum(), [(4,), (4,)]),
    "Minimum": (lambda: L.Minimum(), [(4,), (4,)]),
    "Concatenate": (lambda: L.Concatenate(), [(4,), (3,)]),
}
# Layers added after this table was written; entries only when pycnn has them.
for _name, _entry in {
        "Conv2DTranspose": (lambda: L.Conv2DTranspose(2, 3), (4, 5, 2)),
        "Resizing": (lambda: L.Resizing(4, 6), (5, 7, 2)),
        "UpSampling1D": (lambda: L.UpSampling1D(2), (4, 2)),
        "UpSampling2D": (lambda: L.UpSampling2D(2), (3, 4, 2)),
}.items():
    if hasattr(L, _name):
        TABLE[_name] = _entry
NAMES = sorted(TABLE)

# Layers whose backward does not check dy's shape (numpy error or silent);
# the fix is a Layer._check_dy(dy, output shape from the cache) at the top.
NO_DY_CHECK = set()  # every layer checks dy now
# numpy messages that name neither the layer nor the op.
_OPAQUE = re.compile(r"operands could not be broadcast|cannot reshape array|"
                     r"negative dimensions|index can't contain")


def _xfail_if(cond, reason):
    return pytest.mark.xfail(strict=False, reason=reason) if cond else []


def _input(name, shape, batch=2, dtype="float32", rng=None):
    rng = rng or np.random.default_rng(0)
    if isinstance(shape, list):
        return [_input(name, s, batch, dtype, rng) for s in shape]
    if name == "Embedding":
        return rng.integers(0, 10, (batch,) + shape).astype(dtype)
    return rng.standard_normal((batch,) + shape).astype(dtype)


def _map(x, fn):
    return [fn(a) for a in x] if isinstance(x, list) else fn(x)


def _clear(excinfo, *needles):
    msg = str(excinfo.value)
    assert not _OPAQUE.search(msg), f"opaque message: {msg}"
    assert any(n in msg for n in needles), f"message names none of {needles}: {msg}"


def test_table_covers_every_exported_layer():
    exported = {n for n in dir(L) if isinstance(getattr(L, n), type)
                and issubclass(getattr(L, n), L.Layer)
                and getattr(L, n) not in (L.Layer, L.InputLayer)}
    classes = {getattr(L, n).__name__ for n in exported}
    missing = sorted(classes - set(TABLE))
    assert not missing, f"add error-input entries for: {missing}"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [object, "U1", np.complex64])
def test_bad_dtype_is_type_error(name, dtype):
    fac, shape = TABLE[name]
    layer = fac()
    x = _map(_input(name, shape), lambda a: a.astype(dtype))
    with pytest.raises(TypeError) as e:
        layer(x)
    _clear(e, layer.name)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("change", ["add_axis", "drop_axis", "last_dim"])
def test_wrong_shape_after_build(name, change):
    fac, shape = TABLE[name]
    layer = fac()
    layer(_input(name, shape))
    fn = {"add_axis": lambda a: a[..., None], "drop_axis": lambda a: a[..., 0],
          "last_dim": lambda a: np.concatenate([a, a[..., :1]], axis=-1)}[change]
    with pytest.raises(ValueError) as e:
        layer(_map(_input(name, shape), fn))
    _clear(e, layer.name)


@pytest.mark.parametrize("name", NAMES)
def test_layout_variants_are_accepted(name):
    """Fortran order, strided views, read-only and float64 inputs give the
    same result as a C-contiguous float32 array."""
    fac, shape = TABLE[name]
    layer = fac()
    x = _input(name, shape)
    want = layer(x)

    def readonly(a):
        a = a.copy()
        a.flags.writeable = False
        return a
    variants = {
        "fortran": lambda a: np.asfortranarray(a),
        "strided": lambda a: np.repeat(a, 2, axis=-1)[..., ::2],
        "readonly": readonly,
        "float64": lambda a: a.astype(np.float64),
    }
    for label, fn in variants.items():
        got = layer(_map(x, fn))
        np.testing.assert_array_equal(got, want, err_msg=label)


@pytest.mark.parametrize("name", [n for n in NAMES if n != "Embedding"])
def test_nan_input_does_not_crash(name):
    fac, shape = TABLE[name]
    x = _input(name, shape)
    y = fac()(_map(x, lambda a: np.full_like(a, np.nan)))
    assert (y[0] if isinstance(y, list) else y).shape[0] == 2


@pytest.mark.parametrize("name", NAMES)
def test_empty_batch_returns_empty_or_raises_clearly(name):
    fac, shape = TABLE[name]
    layer = fac()
    try:
        y = layer(_input(name, shape, batch=0))
    except ValueError as e:
        assert layer.name in str(e) and not _OPAQUE.search(str(e)), str(e)
        return
    ys = y if isinstance(y, list) else [y]
    assert all(a.shape[0] == 0 for a in ys)


@pytest.mark.parametrize("name", [pytest.param(n, marks=_xfail_if(
    n in NO_DY_CHECK, "backward does not check dy's shape (see report)")) for n in NAMES])
@pytest.mark.parametrize("bad", ["last+1", "batch+1", "reversed"])
def test_backward_with_wrong_dy_shape(name, bad):
    fac, shape = TABLE[name]
    layer = fac()
    x = _input(name, shape)
    layer(x)
    y, cache = layer.forward(x, training=True)
    s = y.shape
    dy_shape = {"last+1": s[:-1] + (s[-1] + 1,), "batch+1": (s[0] + 1,) + s[1:],
                "reversed": s[::-1]}[bad]
    if tuple(dy_shape) == tuple(s):
        pytest.skip("reversed shape equals the shape")
    with pytest.raises(ValueError) as e:
        layer.backward(cache, np.ones(dy_shape, np.float32))
    _clear(e, layer.name, "_backward", "dy", "dz")


def test_backward_dy_message_names_layer_and_both_shapes():
    layer = L.Dense(3, name="dense_dy")
    x = np.ones((2, 5), np.float32)
    layer(x)
    _, cache = layer.forward(x, training=True)
    with pytest.raises(ValueError, match=re.escape(
            'Gradient for the output of layer "dense_dy" has shape (3, 2), expected (2, 3)')):
        layer.backward(cache, np.ones((3, 2), np.float32))


@pytest.mark.parametrize("name", NAMES)
def test_empty_batch_backward(name):
    """An empty batch goes forward and backward with empty arrays (as Keras)."""
    fac, shape = TABLE[name]
    layer = fac()
    layer(_input(name, shape))
    x = _input(name, shape, batch=0)
    y, cache = layer.forward(x, training=False)
    dx, _ = layer.backward(cache, np.zeros(y.shape, np.float32))
    for a, b in zip(dx if isinstance(dx, list) else [dx], x if isinstance(x, list) else [x]):
        assert a is None or a.shape == b.shape   # Embedding: no gradient for indices


@pytest.mark.parametrize("m", [1, 2, 17])
def test_gemm_relu_epilogue_propagates_nan(m, isa):
    # Keras/JAX relu is maximum(x, 0), which keeps NaN.
    a = np.ones((m, 3), np.float32)
    a[0, 0] = np.nan
    a[-1, 1:] = -4.0 if m > 1 else 1.0
    y = gemm_ops.gemm(a, np.ones((3, 35), np.float32), act=1)
    assert np.isnan(y[0]).all()
    if m > 1:
        assert (y[-1] == 0).all()


@pytest.mark.parametrize("make,nan_out", [
    (lambda: L.ReLU(), True),
    (lambda: L.Activation("relu"), True),
    (lambda: L.ReLU(max_value=6.0), True),
    (lambda: L.ReLU(max_value=3.0, negative_slope=0.1), True),
    (lambda: L.ReLU(threshold=0.5, negative_slope=0.1), True),
    (lambda: L.ReLU(threshold=0.5), False),   # Keras: x * (x > threshold)
    (lambda: L.LeakyReLU(), True),
])
def test_relu_nan_as_keras(make, nan_out):
    """Values from keras 3 (JAX backend) on [nan, -1, 2]."""
    y = make()(np.array([[np.nan, -1.0, 2.0]], np.float32))
    assert np.isnan(y[0, 0]) == nan_out and not np.isnan(y[0, 1:]).any()


@pytest.mark.parametrize("name", NAMES)
def test_backward_accepts_fortran_dy(name):
    fac, shape = TABLE[name]
    layer = fac()
    x = _input(name, shape)
    layer(x)
    y, cache = layer.forward(x, training=False)
    dy = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    dx1, g1 = layer.backward(cache, dy)
    dx2, g2 = layer.backward(cache, np.asfortranarray(dy))
    for a, b in zip(_map(dx1, lambda a: a) if isinstance(dx1, list) else [dx1],
                    dx2 if isinstance(dx2, list) else [dx2]):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(g1, g2):
        np.testing.assert_array_equal(a, b)


# ----- hyper-parameters -------------------------------------------------------------------
BAD_ARGS = [
    ("Dense units=0", lambda: L.Dense(0)),
    ("Dense units=-1", lambda: L.Dense(-1)),
    ("Conv2D filters=0", lambda: L.Conv2D(0, 3)),
    ("Conv2D kernel=0", lambda: L.Conv2D(2, 0)),
    ("Conv2D strides=0", lambda: L.Conv2D(2, 3, strides=0)),
    ("Conv2D dilation=0", lambda: L.Conv2D(2, 3, dilation_rate=0)),
    ("Conv1D filters=-2", lambda: L.Conv1D(-2, 3)),
    ("Conv1D kernel=-1", lambda: L.Conv1D(2, -1)),
    ("Conv1D strides=0", lambda: L.Conv1D(2, 3, strides=0)),
    ("MaxPooling2D pool=0", lambda: L.MaxPooling2D(0)),
    ("MaxPooling2D strides=0", lambda: L.MaxPooling2D(2, strides=0)),
    ("AveragePooling1D pool=0", lambda: L.AveragePooling1D(0)),
    ("MaxPooling1D pool=-1", lambda: L.MaxPooling1D(-1)),
    ("Embedding input_dim=0", lambda: L.Embedding(0, 4)),
    ("Embedding output_dim=0", lambda: L.Embedding(4, 0)),
    ("LSTM units=0", lambda: L.LSTM(0)),
    ("GRU units=-1", lambda: L.GRU(-1)),
    ("Dropout rate=1.5", lambda: L.Dropout(1.5)),
    ("Dropout rate=-0.1", lambda: L.Dropout(-0.1)),
    ("SpatialDropout1D rate=2", lambda: L.SpatialDropout1D(2)),
    ("ZeroPadding2D padding=-1", lambda: L.ZeroPadding2D(-1)),
    ("ZeroPadding2D padding=(1, -2)", lambda: L.ZeroPadding2D((1, -2))),
    ("ZeroPadding1D padding=-1", lambda: L.ZeroPadding1D(-1)),
]


@pytest.mark.parametrize("label,make", BAD_ARGS)
def test_bad_hyper_parameters(label, make):
    with pytest.raises(ValueError):
        make()


GEOMETRY = [
    ("Conv2D kernel > input", lambda: L.Conv2D(2, 7), (5, 5, 1)),
    ("Conv1D kernel > input", lambda: L.Conv1D(2, 7), (5, 1)),
    ("Conv2D dilation overflows int64", lambda: L.Conv2D(1, 3, dilation_rate=2 ** 62),
     (5, 5, 1)),
    ("MaxPooling2D window > input", lambda: L.MaxPooling2D(7), (5, 5, 1)),
    ("MaxPooling2D window overflows", lambda: L.MaxPooling2D(2 ** 62), (5, 5, 1)),
    ("AveragePooling1D window > input", lambda: L.AveragePooling1D(9), (5, 1)),
    ("Reshape size mismatch", lambda: L.Reshape((4, 2)), (6,)),
    ("Concatenate rank mismatch", lambda: L.Concatenate(), [(4,), (3, 1)]),
    ("Add shape mismatch", lambda: L.Add(), [(4,), (3,)]),
]


@pytest.mark.parametrize("label,make,shape", GEOMETRY)
def test_impossible_geometry(label, make, shape):
    layer = make()
    with pytest.raises(ValueError) as e:
        layer(_input(label, shape))
    _clear(e, layer.name)


@pytest.mark.parametrize("label,make", [
    ("Dense with 2**40 units", lambda: L.Dense(2 ** 40).build((None, 4))),
    ("Dense on a 16 TiB input", lambda: L.Dense(3)(
        np.broadcast_to(np.float32(1), (2 ** 20, 2 ** 20, 4)))),
    ("Conv2D on a 64 TiB input", lambda: L.Conv2D(1, 1)(
        np.broadcast_to(np.float32(1), (1, 2 ** 22, 2 ** 22, 1)))),
])
def test_huge_allocations_raise(label, make):
    with pytest.raises((MemoryError, ValueError)):
        make()


def test_layer_still_usable_after_memory_error():
    layer = L.Dense(3)
    x = np.ones((2, 4), np.float32)
    want = layer(x)
    with pytest.raises((MemoryError, ValueError)):
        layer(np.broadcast_to(np.float32(1), (2 ** 36, 4)))
    np.testing.assert_array_equal(layer(x), want)


def test_out_of_memory_mid_fit_leaves_model_usable():
    """Under an address-space limit, a batch too large for memory raises
    MemoryError inside the layers; the model then still trains and predicts."""
    code = textwrap.dedent("""
        import resource, numpy as np, pycnn
        from pycnn import layers
        m = pycnn.Sequential([layers.Input((256,)), layers.Dense(1024, activation="relu"),
                              layers.Dense(1)])
        m.compile("sgd", "mse")
        x = np.ones((8, 256), np.float32); y = np.ones((8, 1), np.float32)
        m.train_on_batch(x, y)
        before = [w.copy() for w in m.get_weights()]
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        import psutil if False else None
    """)
    code = code.replace("import psutil if False else None\n", "")
    code += textwrap.dedent("""
        used = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (used + (256 << 20), hard))
        big = np.ones((1, 256), np.float32)
        try:
            m.train_on_batch(np.broadcast_to(big, (200000, 256)), np.ones((200000, 1), np.float32))
        except MemoryError:
            print("memoryerror")
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        after = m.get_weights()
        print("unchanged", all(np.array_equal(a, b) for a, b in zip(before, after)))
        m.train_on_batch(x, y)
        print("finite", bool(np.isfinite(m.predict(x, verbose=0)).all()))
    """)
    env = _env()
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120, env=env, cwd=env["PYTHONPATH"])
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["memoryerror", "unchanged", "True", "finite", "True"], r.stdout


@pytest.mark.parametrize("layer", ["LSTM", "GRU"])
@pytest.mark.parametrize("threads", ["1", "2"])
def test_recurrent_layer_out_of_memory_raises(layer, threads):
    """A recurrent layer whose scratch (about the size of its recurrent
    kernel) does not fit raises MemoryError, with every thread of its
    barrier-synchronised region out of the region, and works again after."""
    code = textwrap.dedent(f"""
        import resource, numpy as np, pycnn
        from pycnn import layers
        layer = layers.{layer}(4096, recurrent_initializer="zeros")  # orthogonal: a slow QR
        x = np.ones((1, 2, 8), np.float32)
        layer.build(x.shape)
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        used = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (used + (96 << 20), hard))
        try:
            layer(x)
            print("no-error")
        except MemoryError:
            print("memoryerror")
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        print("finite", bool(np.isfinite(layer(x)).all()))
    """)
    env = dict(_env(), OMP_NUM_THREADS=threads)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120, env=env, cwd=env["PYTHONPATH"])
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["memoryerror", "finite", "True"], r.stdout


def _env():
    import os
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(pycnn.__file__))
    env["OMP_NUM_THREADS"] = "1"   # thread stacks would eat the address-space budget
    return env


# ----- pooling: windows of NaN / -inf ----------------------------------------------------
# Documented: a window whose values are all NaN pools to NaN, all -inf to -inf
# (max and average, local and global).
@pytest.mark.parametrize("value", [np.nan, -np.inf])
@pytest.mark.parametrize("make,shape", [
    (lambda: L.MaxPooling2D(2), (4, 4, 2)), (lambda: L.AveragePooling2D(2), (4, 4, 2)),
    (lambda: L.MaxPooling1D(2), (4, 2)), (lambda: L.AveragePooling1D(2), (4, 2)),
    (lambda: L.GlobalMaxPooling2D(), (4, 4, 2)), (lambda: L.GlobalAveragePooling2D(), (4, 4, 2)),
    (lambda: L.GlobalMaxPooling1D(), (4, 2)), (lambda: L.GlobalAveragePooling1D(), (4, 2)),
    (lambda: L.MaxPooling2D(2, padding="same"), (3, 3, 1)),
])
def test_pool_windows_all_nan_or_neg_inf(make, shape, value, isa):
    y = make()(np.full((2,) + shape, value, np.float32))
    if np.isnan(value):
        assert np.isnan(y).all()
    else:
        assert (y == -np.inf).all()


@pytest.mark.parametrize("pos", [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_max_pool_nan_anywhere_in_window_propagates(isa, pos):
    x = np.ones((1, 4, 4, 1), np.float32)
    x[0, pos[0], pos[1], 0] = np.nan
    x[0, 1 - pos[0], 1 - pos[1], 0] = np.nan if pos == (1, 1) else 5.0
    y, argmax = pool_ops.max_pool2d_forward(x, (2, 2), (2, 2))
    assert np.isnan(y[0, 0, 0, 0]) and not np.isnan(y[0, 1:, 1:]).any()
    first_nan = min(i * 4 + j for i in range(2) for j in range(2) if np.isnan(x[0, i, j, 0]))
    assert argmax[0, 0, 0, 0] == first_nan
    y2, _ = pool_ops.max_pool2d_forward(x, (2, 2), (2, 2), with_argmax=False)
    np.testing.assert_array_equal(y, y2)


# ----- ops called directly ------------------------------------------------------------------
X = np.ones((1, 5, 5, 2), np.float32)
K = np.ones((3, 3, 2, 4), np.float32)
OP_ERRORS = [
    ("conv2d channel mismatch", lambda: conv_ops.conv2d_forward(X, np.ones((3, 3, 3, 4), np.float32))),
    ("conv2d kernel > input", lambda: conv_ops.conv2d_forward(X, np.ones((6, 6, 2, 4), np.float32))),
    ("conv2d stride 0", lambda: conv_ops.conv2d_forward(X, K, strides=(0, 1))),
    ("conv2d stride < 0", lambda: conv_ops.conv2d_forward(X, K, strides=(-1, 1))),
    ("conv2d dilation 0", lambda: conv_ops.conv2d_forward(X, K, dilation=(0, 1))),
    ("conv2d pads overflow", lambda: conv_ops.conv2d_forward(X, K, pads=(2 ** 62, 2 ** 62, 0, 0))),
    ("conv2d negative pads", lambda: conv_ops.conv2d_forward(X, K, pads=(-3, 0, 0, 0))),
    ("conv2d bias shape", lambda: conv_ops.conv2d_forward(X, K, bias=np.ones(3, np.float32))),
    ("conv2d rank", lambda: conv_ops.conv2d_forward(X[0], K)),
    ("conv2d zero height", lambda: conv_ops.conv2d_forward(np.ones((1, 0, 5, 2), np.float32), K)),
    ("conv2d zero filters", lambda: conv_ops.conv2d_forward(X, np.ones((3, 3, 2, 0), np.float32))),
    ("conv2d backward dz", lambda: conv_ops.conv2d_backward(X, K, np.ones((1, 3, 3, 5), np.float32))),
    ("conv2d dilation overflow", lambda: conv_ops.conv2d_forward(X, K, dilation=(2 ** 62, 1))),
    ("max_pool window > input", lambda: pool_ops.max_pool2d_forward(X, (6, 6), (1, 1))),
    ("max_pool stride 0", lambda: pool_ops.max_pool2d_forward(X, (2, 2), (0, 1))),
    ("max_pool window 0", lambda: pool_ops.max_pool2d_forward(X, (0, 2), (1, 1))),
    ("max_pool window overflow", lambda: pool_ops.max_pool2d_forward(X, (2 ** 62, 2), (1, 1))),
    ("max_pool pads overflow", lambda: pool_ops.max_pool2d_forward(X, (2, 2), (1, 1),
                                                                   pads=(2 ** 62, 0, 0, 0))),
    ("avg_pool backward x_shape", lambda: pool_ops.avg_pool2d_backward(
        np.ones((1, 2, 2, 2), np.float32), (1, 5, 5, 3), (2, 2), (2, 2))),
    ("max_pool backward argmax < 0", lambda: pool_ops.max_pool2d_backward(
        np.ones((1, 2, 2, 2), np.float32), np.full((1, 2, 2, 2), -5, np.int32), X.shape)),
    ("gemm inner mismatch", lambda: gemm_ops.gemm(np.ones((2, 3), np.float32),
                                                  np.ones((4, 5), np.float32))),
    ("gemm rank 3", lambda: gemm_ops.gemm(np.ones((2, 3, 1), np.float32),
                                          np.ones((3, 5), np.float32))),
    ("batchnorm gamma shape", lambda: norm_ops.batchnorm_train_forward(
        np.ones((4, 3), np.float32), np.ones(2, np.float32), np.ones(3, np.float32), 1e-3)),
    ("sgd grad shape", lambda: optim_ops.sgd_update(np.ones(4, np.float32), np.ones(5, np.float32),
                                                    None, 0.1, 0.0, False)),
]


@pytest.mark.parametrize("label,call", OP_ERRORS)
def test_op_error_inputs(label, call, isa):
    with pytest.raises((ValueError, OverflowError)) as e:
        call()
    assert not _OPAQUE.search(str(e.value)), str(e.value)


@pytest.mark.parametrize("dtype", [object, np.complex64, "U1"])
def test_ops_refuse_non_real_dtypes(dtype):
    # Complex must not lose its imaginary part silently; every op names itself.
    with pytest.raises(TypeError, match="conv2d_forward"):
        conv_ops.conv2d_forward(X.astype(dtype), K)
    with pytest.raises(TypeError, match="gemm"):
        gemm_ops.gemm(np.ones((2, 3), dtype), np.ones((3, 2), np.float32))
    with pytest.raises(TypeError, match="batchnorm_train_forward"):
        norm_ops.batchnorm_train_forward(np.ones((4, 3), dtype), None, None, 1e-3)


def _ro(a):
    a = a.copy()
    a.flags.writeable = False
    return a


def test_optimizer_refuses_read_only_in_place_arrays():
    p, g = np.ones(4, np.float32), np.ones(4, np.float32)
    with pytest.raises(ValueError, match="read-only"):
        optim_ops.sgd_update(_ro(p), g, None, 0.1, 0.0, False)
    with pytest.raises(ValueError, match="read-only"):
        optim_ops.sgd_update(p.copy(), g, _ro(p), 0.1, 0.9, False)
    with pytest.raises(ValueError, match="read-only"):
        optim_ops.adam_update(p.copy(), g, _ro(p), np.zeros(4, np.float32), None,
                              0.1, 0.9, 0.999, 1e-7)
    q = p.copy()
    optim_ops.sgd_update(q, _ro(g), None, 0.1, 0.0, False)   # a read-only grad is fine
    np.testing.assert_allclose(q, 0.9)


@pytest.mark.parametrize("param", [np.asfortranarray(np.ones((3, 4), np.float32)),
                                   np.ones(8, np.float32)[::2], np.ones(4, np.float64)])
def test_optimizer_refuses_in_place_arrays_it_would_copy(param):
    # A converted copy would be updated instead of the caller's array.
    with pytest.raises(TypeError):
        optim_ops.sgd_update(param, np.ones(param.shape, np.float32), None, 0.1, 0.0, False)


@pytest.mark.parametrize("alias", ["m is param", "m is v", "grad is m"])
def test_optimizer_refuses_aliased_buffers(alias):
    p, g = np.ones(4, np.float32), np.ones(4, np.float32)
    m, v = np.zeros(4, np.float32), np.zeros(4, np.float32)
    args = {"m is param": (p, g, p, v), "m is v": (p, g, m, m), "grad is m": (p, m, m, v)}[alias]
    with pytest.raises(ValueError):
        optim_ops.adam_update(*args, None, 0.1, 0.9, 0.999, 1e-7)


# ----- non-finite losses during fit ---------------------------------------------------------
def _nan_model():
    m = pycnn.Sequential([L.Input((3,)), L.Dense(2)])
    m.compile(optimizer="sgd", loss="mse")
    return m


def _data_with_nan_batch():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((12, 3)).astype(np.float32)
    y = rng.standard_normal((12, 2)).astype(np.float32)
    # fit refuses NaN inputs; finite inputs this large overflow the loss to inf
    x[4:8] = 1e30
    return x, y


def test_terminate_on_nan_stops_training():
    m = _nan_model()
    x, y = _data_with_nan_batch()
    seen = []

    class Count(pycnn.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(batch)
    with pytest.warns(RuntimeWarning):
        h = m.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0,
                  callbacks=[pycnn.callbacks.TerminateOnNaN(), Count()])
    assert seen == [0, 1]
    assert m.stop_training
    assert len(h.history["loss"]) <= 1


def test_nan_loss_without_callback_keeps_last_finite_weights():
    m = _nan_model()
    x, y = _data_with_nan_batch()
    m.train_on_batch(x[:4], y[:4])
    finite = m.get_weights()
    with pytest.warns(RuntimeWarning):
        h = m.fit(x[4:8], y[4:8], batch_size=4, epochs=2, shuffle=False, verbose=0)
    assert not any(np.isfinite(v) for v in h.history["loss"])
    for a, b in zip(m.get_weights(), finite):
        np.testing.assert_array_equal(a, b)
    assert np.isfinite(m.predict(x[:4], verbose=0)).all()


def test_fused_optimizer_step_refuses_aliased_slots():
    from pycnn import _C
    p, g, m = np.ones(4, np.float32), np.ones(4, np.float32), np.zeros(4, np.float32)
    with pytest.raises(ValueError, match="share memory"):
        _C.optimizer_step(1, [p], [g], [[m], [m]], [0.1, 0.9, 0.999, 1e-7], 1, 0.0, None)
    assert (p == 1).all() and (m == 0).all()
