"""Weight gradients left as the pair (a, b) standing for a^T b.

A Dense kernel's gradient is x^T dz: for seed 000's 87616 x 128 kernel that
is 45 MB written by the backward pass and read back by the optimizer. During
a training step whose optimizer sums such pairs itself (Adam's fused step,
``adam_update_outer``: block by block in cache, then the update), the
backward pass hands over the pair instead. Anything else that meets one gets
the ordinary array (``numpy()`` / ``np.asarray``).
"""
import contextlib
import contextvars

import numpy as np

from pycnn.ops.gemm import gemm

# Below this many gradient elements the array is cheap; the pair is not worth it.
MIN_ELEMENTS = 1 << 20

_ENABLED = contextvars.ContextVar("pycnn_outer_grads", default=False)


class OuterProductGrad:
    """The gradient a^T b of a (rows, cols) weight: a (batch, rows), b (batch, cols)."""

    __slots__ = ("a", "b")
    dtype = np.dtype(np.float32)

    def __init__(self, a, b):
        self.a, self.b = a, b

    @property
    def shape(self):
        return (self.a.shape[1], self.b.shape[1])

    def numpy(self):
        return gemm(self.a, self.b, trans_a=True)

    def __array__(self, dtype=None, copy=None):
        g = self.numpy()
        return g if dtype is None else g.astype(dtype, copy=False)


@contextlib.contextmanager
def outer_grads(enabled):
    """Within the block, ``weight_grad`` may return OuterProductGrad pairs."""
    token = _ENABLED.set(bool(enabled))
    try:
        yield
    finally:
        _ENABLED.reset(token)


def weight_grad(a, b):
    """a^T b: an OuterProductGrad inside ``outer_grads(True)`` for a big
    weight, else the array."""
    if _ENABLED.get() and a.shape[1] * b.shape[1] >= MIN_ELEMENTS:
        return OuterProductGrad(a, b)
    return gemm(a, b, trans_a=True)


def materialized(grads):
    """grads with every OuterProductGrad replaced by its array."""
    return [g.numpy() if type(g) is OuterProductGrad else g for g in grads]
