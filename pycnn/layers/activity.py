"""Activity regularization (``activity_regularizer=`` on Dense, Conv and RNN
layers), as Keras 3: while a training or evaluation step runs, each such
layer adds ``regularizer(output) / batch size`` to the loss, and backward
adds that penalty's gradient to the gradient arriving at its output.

The step opens ``penalties()``; ``call_forward`` (layers/base.py) records a
regularized layer's penalty there and wraps its cache in an ActivityCache;
``call_backward`` (models/functional.py) unwraps it with ``output_grad``.
Outside a step (predict, a plain call) nothing is recorded. Fusions that
never materialise a layer's output (conv + pool, the logits gradient) skip
regularized layers (``regularized``).
"""
import contextlib
import contextvars

import numpy as np

_STEP = contextvars.ContextVar("pycnn_activity_penalties", default=None)


class Penalties:
    """The activity penalties summed over one step's forward pass."""

    __slots__ = ("total",)

    def __init__(self):
        self.total = 0.0


@contextlib.contextmanager
def penalties():
    """Collects the activity penalties of the forward passes run inside."""
    acc = Penalties()
    token = _STEP.set(acc)
    try:
        yield acc
    finally:
        _STEP.reset(token)


class ActivityCache:
    """A regularized layer's cache, with the outputs its penalty was taken of."""

    __slots__ = ("inner", "outputs", "regularizer")

    def __init__(self, inner, outputs, regularizer):
        self.inner, self.outputs, self.regularizer = inner, outputs, regularizer


def regularized(layer):
    return getattr(layer, "activity_regularizer", None) is not None


def _arrays(y):
    return y if isinstance(y, (list, tuple)) else [y]


def record(layer, y, cache):
    """cache, wrapped with y when a step is collecting and ``layer`` is regularized."""
    acc = _STEP.get()
    if acc is None or not regularized(layer):
        return cache
    reg = layer.activity_regularizer
    for out in _arrays(y):
        acc.total += reg(out) / out.shape[0]
    return ActivityCache(cache, y, reg)


def output_grad(cache, dy):
    """(inner cache, dy plus the penalty's gradient) for an ActivityCache."""
    reg = cache.regularizer
    outs = _arrays(cache.outputs)
    dys = _arrays(dy) if dy is not None else [None] * len(outs)
    grads = []
    for out, g in zip(outs, dys):
        extra = reg.gradient(out) / np.float32(out.shape[0])
        grads.append(extra if g is None else np.asarray(g, np.float32) + extra)
    return cache.inner, (grads if isinstance(cache.outputs, (list, tuple)) else grads[0])
