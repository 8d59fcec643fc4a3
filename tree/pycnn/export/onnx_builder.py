"""The ONNX graph under construction: nodes, initializers, unique names, and
the layout of every value.

A value keeps its Keras shape and a ``perm``: the ONNX tensor is
``transpose(keras_tensor, perm)``. Identity is Keras's channels-last layout;
``channels_first(rank)`` is ONNX's (N, C, ...). Convolutions and pooling ask
for channels-first, Dense/Flatten/Reshape for Keras's layout, elementwise
layers take whatever comes; each conversion is one Transpose, made once per
value and layout, so a conv stack transposes only at its ends.
"""
import hashlib
from dataclasses import dataclass

import numpy as np
from onnx import TensorProto, helper, numpy_helper


@dataclass(frozen=True)
class Value:
    name: str
    shape: tuple            # Keras shape, batch first (None = unknown)
    perm: tuple             # ONNX tensor = transpose(Keras tensor, perm)
    dtype: int = TensorProto.FLOAT

    @property
    def rank(self):
        return len(self.shape)

    def onnx_axis(self, keras_axis):
        """Where a Keras axis sits in the ONNX tensor."""
        return self.perm.index(keras_axis % self.rank)


def identity(rank):
    return tuple(range(rank))


def channels_first(rank):
    return (0, rank - 1) + tuple(range(1, rank - 1)) if rank > 2 else identity(rank)


class GraphBuilder:
    def __init__(self, opset):
        self.opset = opset
        self.nodes = []
        self.initializers = []
        self._names = set()
        self._consts = {}
        self._transposed = {}

    # ----- names and constants ------------------------------------------------
    def fresh(self, hint):
        hint = hint.replace("/", "_") or "t"
        name, i = hint, 1
        while name in self._names:
            name = f"{hint}_{i}"
            i += 1
        self._names.add(name)
        return name

    def reserve(self, name):
        """Claim an exact name (graph inputs/outputs); suffixes on a clash."""
        return self.fresh(name)

    def const(self, array, hint="const"):
        """An initializer. Equal constants are stored once (shared layers and
        sub-models called twice keep one copy of their weights)."""
        array = np.ascontiguousarray(array)
        if array.dtype == np.float64:
            array = array.astype(np.float32)
        data = array.tobytes()
        key = (array.dtype.str, array.shape,
               data if len(data) <= 64 else hashlib.sha256(data).digest())
        if key not in self._consts:
            name = self.fresh(hint)
            self.initializers.append(numpy_helper.from_array(array, name))
            self._consts[key] = name
        return self._consts[key]

    def ints(self, values, hint="ints"):
        return self.const(np.asarray(values, np.int64), hint)

    # ----- nodes -----------------------------------------------------------------
    def op(self, op_type, inputs, hint, n_out=1, **attrs):
        """Add a node; returns its output name (or list of names)."""
        outs = [self.fresh(f"{hint}" if n_out == 1 else f"{hint}_{i}")
                for i in range(n_out)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs,
                                           name=self.fresh(f"{hint}_{op_type}"), **attrs))
        return outs[0] if n_out == 1 else outs

    def squeeze(self, x, axes, hint):
        return self.op("Squeeze", [x, self.ints(axes)], hint)

    def unsqueeze(self, x, axes, hint):
        return self.op("Unsqueeze", [x, self.ints(axes)], hint)

    def reduce(self, op_type, x, axes, hint, keepdims=1):
        """Reduce* with axes as an attribute or an input, as the opset wants
        (ReduceSum moved to an input in 13, the others in 18)."""
        as_input = self.opset >= (13 if op_type == "ReduceSum" else 18)
        if as_input:
            return self.op(op_type, [x, self.ints(axes)], hint, keepdims=keepdims)
        return self.op(op_type, [x], hint, axes=list(axes), keepdims=keepdims)

    # ----- layouts ---------------------------------------------------------------
    def in_layout(self, value, perm):
        """The ONNX name of ``value`` laid out as ``perm`` (one Transpose, cached)."""
        perm = tuple(perm)
        if value.perm == perm:
            return value.name
        key = (value.name, perm)
        if key not in self._transposed:
            inverse = np.argsort(value.perm)
            step = [int(inverse[p]) for p in perm]
            self._transposed[key] = self.op("Transpose", [value.name],
                                            f"{value.name}_T", perm=step)
        return self._transposed[key]

    def keras(self, value):
        return self.in_layout(value, identity(value.rank))

    def channels_first(self, value):
        return self.in_layout(value, channels_first(value.rank))


def common_layout(values):
    """The layout several same-rank inputs meet in: theirs if they agree,
    else Keras's."""
    perms = {v.perm for v in values}
    return perms.pop() if len(perms) == 1 else identity(values[0].rank)
