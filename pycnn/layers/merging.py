"""Merging layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate.

Each takes a list of tensors. The element-wise ones accept shapes that are
equal or broadcast as Keras allows (a dimension of 1 stretches); the gradient
of a broadcast input is summed back to its shape.
"""
import numpy as np

from pycnn.layers.base import Layer, shape_str
from pycnn.ops import act as act_ops


def _broadcast_shape(layer, shapes):
    """Keras's elementwise merge rule, on the non-batch dimensions."""
    ranks = {len(s) for s in shapes}
    out = list(shapes[0])
    for s in shapes[1:]:
        if len(s) != len(out):
            raise ValueError(
                f"Layer \"{layer.name}\": inputs have incompatible shapes. Received shapes "
                + " and ".join(shape_str(t) for t in shapes))
        for i, (a, b) in enumerate(zip(out, s)):
            if i == 0 or a == b:
                out[i] = a if a is not None else b
            elif a is None or b is None:
                out[i] = a if b in (None, 1) else b if a in (None, 1) else None
            elif a == 1:
                out[i] = b
            elif b != 1:
                raise ValueError(
                    f"Layer \"{layer.name}\": inputs have incompatible shapes. Received "
                    "shapes " + " and ".join(shape_str(t) for t in shapes))
    del ranks
    return tuple(out)


def _unbroadcast(grad, shape):
    """Sum ``grad`` over the axes that broadcasting stretched to reach ``shape``."""
    if grad.shape == tuple(shape):
        return grad
    axes = tuple(i for i, (g, s) in enumerate(zip(grad.shape, shape)) if s == 1 and g != 1)
    return np.ascontiguousarray(grad.sum(axis=axes, keepdims=True), dtype=np.float32)


def _check_mask_list(layer, inputs, mask):
    if not isinstance(mask, (list, tuple)):
        raise ValueError(f"Layer \"{layer.name}\": `mask` should be a list, got {mask!r}")
    if len(mask) != len(inputs):
        raise ValueError(f"Layer \"{layer.name}\": the lists `inputs` and `mask` should have "
                         f"the same length, got {len(inputs)} and {len(mask)}")


class _Merge(Layer):
    _multi_input = True
    _min_inputs = 1
    supports_masking = True

    def compute_mask(self, inputs, mask=None):
        """Keras: a step is kept when every input that has a mask keeps it."""
        if mask is None:
            return None
        _check_mask_list(self, inputs, mask)
        masks = [np.asarray(m, bool) for m in mask if m is not None]
        if not masks:
            return None
        out = masks[0]
        for m in masks[1:]:
            out = np.logical_and(out, m)
        return out

    def build(self, input_shape):
        if not isinstance(input_shape, list) or len(input_shape) < self._min_inputs:
            n = len(input_shape) if isinstance(input_shape, list) else 1
            raise ValueError(
                f"Layer \"{self.name}\" should be called on a list of at least "
                f"{self._min_inputs} inputs. Received: {n} input(s)")
        _broadcast_shape(self, input_shape)

    def compute_output_shape(self, input_shape):
        return _broadcast_shape(self, input_shape)

    def _check_arrays(self, xs):
        _broadcast_shape(self, [tuple(x.shape) for x in xs])

    def forward(self, xs, training=False):
        self._check_arrays(xs)
        y = self._merge(xs)
        return y, (list(xs), y.shape)

    def backward(self, cache, dy, need_dx=True):
        xs, y_shape = cache
        dy = self._check_dy(dy, y_shape)
        return [_unbroadcast(g, x.shape) for g, x in zip(self._grads(xs, dy), xs)], []


class Add(_Merge):
    def _merge(self, xs):
        if all(x.shape == xs[0].shape for x in xs):
            return act_ops.sum_act(xs)  # one pass, output from pycnn's buffer cache
        out = xs[0] + xs[1] if len(xs) > 1 else xs[0].copy()
        for x in xs[2:]:
            out += x
        return out

    def _grads(self, xs, dy):
        return [dy] * len(xs)


class Subtract(_Merge):
    _min_inputs = 2

    def build(self, input_shape):
        if not isinstance(input_shape, list) or len(input_shape) != 2:
            raise ValueError(
                f"Layer \"{self.name}\" should be called on exactly 2 inputs. Received: "
                f"{len(input_shape) if isinstance(input_shape, list) else 1} input(s)")
        _broadcast_shape(self, input_shape)

    def _merge(self, xs):
        return xs[0] - xs[1]

    def _grads(self, xs, dy):
        return [dy, -dy]


class Multiply(_Merge):
    def _merge(self, xs):
        out = xs[0] * xs[1] if len(xs) > 1 else xs[0].copy()
        for x in xs[2:]:
            out *= x
        return out

    def _grads(self, xs, dy):
        grads = []
        for i in range(len(xs)):
            g = dy
            for j, x in enumerate(xs):
                if j != i:
                    g = g * x
            grads.append(g)
        return grads


class Average(_Merge):
    def _merge(self, xs):
        return Add._merge(self, xs) * np.float32(1.0 / len(xs))

    def _grads(self, xs, dy):
        return [dy * np.float32(1.0 / len(xs))] * len(xs)


class Maximum(_Merge):
    _pick = staticmethod(np.maximum)

    def _merge(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = self._pick(out, x)
        return np.ascontiguousarray(out, np.float32)

    def _grads(self, xs, dy):
        # The gradient goes to the first input holding the extreme value (the
        # TensorFlow convention for ties), so exactly one input gets each element.
        out = self._merge(xs)
        taken = np.zeros(out.shape, bool)
        grads = []
        for x in xs:
            hit = (np.broadcast_to(x, out.shape) == out) & ~taken
            taken |= hit
            grads.append(np.where(hit, dy, np.float32(0)).astype(np.float32))
        return grads


class Minimum(Maximum):
    _pick = staticmethod(np.minimum)


class Concatenate(Layer):
    """Join inputs along ``axis``; all other dimensions must match."""

    _multi_input = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(f"Concatenate '{self.name}': axis must be an int, got {axis!r}")
        self.axis = int(axis)

    def _check(self, shapes):
        if not isinstance(shapes, list) or len(shapes) < 1:
            raise ValueError(
                f"Layer \"{self.name}\" should be called on a list of at least 1 input.")
        rank = len(shapes[0])
        axis = self.axis % rank if -rank <= self.axis < rank else None
        if axis is None or axis == 0 or any(len(s) != rank for s in shapes):
            raise ValueError(
                f"A `Concatenate` layer \"{self.name}\" requires inputs with matching "
                f"shapes except for the concatenation axis (axis={self.axis}). Received: "
                f"input_shape={[shape_str(s) for s in shapes]}")
        for i in range(1, rank):
            if i == axis:
                continue
            dims = {s[i] for s in shapes if s[i] is not None}
            if len(dims) > 1:
                raise ValueError(
                    f"A `Concatenate` layer \"{self.name}\" requires inputs with matching "
                    f"shapes except for the concatenation axis (axis={self.axis}). "
                    f"Received: input_shape={[shape_str(s) for s in shapes]}")
        return axis

    supports_masking = True

    def compute_mask(self, inputs, mask=None):
        """Keras: each input's mask (all-true where it has none) broadcast to the
        input's shape, concatenated on ``axis``, then any over the last axis."""
        if mask is None:
            return None
        _check_mask_list(self, inputs, mask)
        if all(m is None for m in mask):
            return None
        parts = []
        for x, m in zip(inputs, mask):
            shape = np.shape(x)
            if m is None:
                parts.append(np.ones(shape, bool))
                continue
            m = np.asarray(m, bool)
            if m.ndim < len(shape):
                m = np.broadcast_to(m[..., None], shape)
            parts.append(m)
        return np.concatenate(parts, axis=self.axis).any(axis=-1)

    def build(self, input_shape):
        self._check(input_shape)

    def compute_output_shape(self, input_shape):
        axis = self._check(input_shape)
        out = list(input_shape[0])
        sizes = [s[axis] for s in input_shape]
        out[axis] = None if any(d is None for d in sizes) else sum(sizes)
        for i in range(1, len(out)):
            if out[i] is None and i != axis:
                out[i] = next((s[i] for s in input_shape if s[i] is not None), None)
        return tuple(out)

    def forward(self, xs, training=False):
        axis = self._check([tuple(x.shape) for x in xs])
        if len({x.shape[0] for x in xs}) > 1:
            raise ValueError(
                f"Layer \"{self.name}\": inputs have different batch sizes: "
                f"{[shape_str(x.shape) for x in xs]}")
        y = np.concatenate(xs, axis=axis)
        return y, (axis, [x.shape[axis] for x in xs], y.shape)

    def backward(self, cache, dy, need_dx=True):
        axis, sizes, y_shape = cache
        dy = self._check_dy(dy, y_shape)
        cuts = np.cumsum(sizes)[:-1]
        return [np.ascontiguousarray(g) for g in np.split(dy, cuts, axis=axis)], []

    def get_config(self):
        cfg = super().get_config()
        cfg["axis"] = self.axis
        return cfg


def add(inputs, **kwargs):
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    return Concatenate(axis=axis, **kwargs)(inputs)
