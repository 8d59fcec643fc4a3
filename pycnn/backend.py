"""Variables, symbolic tensors, name uniquing and the state-update collector.

Everything here is plain Python/NumPy: the arithmetic lives in pycnn._C.
"""
import re
import threading
from collections import defaultdict

import numpy as np

floatx = "float32"

_name_counts = defaultdict(int)
_name_lock = threading.Lock()


class InvalidDtypeError(TypeError, ValueError):
    """Input data of a non-numeric dtype (strings, objects). Keras raises
    ValueError ("Invalid dtype: ..."); pycnn raised TypeError, so this is both."""


def to_snake_case(name):
    """Keras's class-name -> layer-name rule (``Conv2D`` -> ``conv2d``)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
    return name


def unique_name(prefix):
    """``dense``, ``dense_1``, ``dense_2``, ... as Keras numbers auto names."""
    with _name_lock:
        count = _name_counts[prefix]
        _name_counts[prefix] += 1
    return prefix if count == 0 else f"{prefix}_{count}"


def clear_session():
    """Reset auto-naming counters (``keras.backend.clear_session``)."""
    with _name_lock:
        _name_counts.clear()


class Variable:
    """A named float32 weight, updated in place by optimizers and layers.

    Mirrors the parts of ``keras.Variable`` users touch: ``name``, ``path``,
    ``shape``, ``dtype``, ``trainable``, ``numpy()``, ``assign()``, ``value``.
    """

    def __init__(self, value, name, trainable=True, path=None):
        arr = np.array(value, dtype=np.float32, copy=True, order="C")
        self._value = arr
        # Bumped by every change made through pycnn (assign, optimizer step,
        # staged state updates, loading): caches of packed or folded weights
        # compare it instead of the values.
        self._version = 0
        self.name = name
        self.path = path or name
        self._trainable = bool(trainable)
        self.regularizer = None   # set by Layer.add_weight (pycnn.regularizers)
        self.constraint = None    # and pycnn.constraints

    @property
    def value(self):
        return self._value

    @property
    def shape(self):
        return self._value.shape

    @property
    def dtype(self):
        return floatx

    @property
    def ndim(self):
        return self._value.ndim

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)

    def numpy(self):
        return self._value.copy()

    def assign(self, value):
        arr = np.asarray(value, dtype=np.float32)
        if arr.shape != self._value.shape:
            raise ValueError(
                f"Cannot assign a value of shape {arr.shape} to variable "
                f"'{self.path}' of shape {self._value.shape}"
            )
        np.copyto(self._value, arr)
        self._version += 1

    def __array__(self, dtype=None, copy=None):
        return self._value if dtype is None else self._value.astype(dtype)

    def __repr__(self):
        return (f"<Variable path={self.path}, shape={self.shape}, "
                f"dtype={self.dtype}, value={self._value!r}>")


class KerasTensor:
    """A symbolic tensor: a shape (batch dimension ``None``) and where it came from."""

    def __init__(self, shape, dtype=floatx, name=None, history=None):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = dtype
        self.name = name
        # (layer, node_index, tensor_index) as in Keras's _keras_history
        self._keras_history = history

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def __array__(self, *args, **kwargs):
        raise TypeError(
            "A symbolic KerasTensor has no value: pass it to a layer or to "
            "Model(inputs, outputs), or call the model on a NumPy array."
        )


class StateUpdates:
    """Collects non-trainable state changes (BatchNormalization moving
    statistics) during a training forward pass, so a step that fails later
    (loss error, non-finite gradients) leaves the model exactly as it was.
    """

    _local = threading.local()

    def __init__(self):
        self.pending = []

    def __enter__(self):
        stack = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        stack.append(self)
        return self

    def __exit__(self, *exc):
        self._local.stack.pop()
        return False

    def apply(self):
        for variable, value in self.pending:
            np.copyto(variable._value, value)
            variable._version += 1
        self.pending.clear()

    @classmethod
    def record(cls, variable, new_value):
        """Record (or, outside a collector, apply) ``variable <- new_value``."""
        stack = getattr(cls._local, "stack", None)
        if stack:
            stack[-1].pending.append((variable, np.asarray(new_value, np.float32)))
        else:
            np.copyto(variable._value, new_value)
            variable._version += 1


def standardize_shape(shape, what="shape"):
    if shape is None:
        return None
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    try:
        shape = tuple(shape)
    except TypeError:
        raise ValueError(f"Invalid {what}: {shape!r}; expected a tuple of ints")
    out = []
    for d in shape:
        if d is None:
            out.append(None)
            continue
        if not isinstance(d, (int, np.integer)) or isinstance(d, bool):
            raise ValueError(f"Invalid {what} {shape!r}: dimensions must be ints or None")
        if d < 0:
            raise ValueError(f"Invalid {what} {shape!r}: negative dimension")
        out.append(int(d))
    return tuple(out)
