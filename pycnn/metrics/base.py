"""Metric base class and the reducing metrics (Mean, Sum, MeanMetricWrapper).

State lives in float32 ``Variable``s as in Keras, so ``metric.variables`` and
``reset_state()`` behave the same; every update is a handful of vectorised
NumPy calls on the whole batch.
"""
import numpy as np

from pycnn.backend import Variable, to_snake_case, unique_name


def to_float_array(x):
    """Anything array-like (lists, ints, Variables) as a float32 array."""
    return np.asarray(x, dtype=np.float32)


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
    """Keras's rule: if the ranks differ by one and the longer one ends in a
    size-1 axis, squeeze it (or expand the rank-1 partner)."""
    r1, r2 = x1.ndim, x2.ndim
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = np.expand_dims(x2, -1)
        else:
            x1 = np.squeeze(x1, -1)
    if r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = np.expand_dims(x1, -1)
        else:
            x2 = np.squeeze(x2, -1)
    return x1, x2


def reduce_to_samplewise_values(values, sample_weight, reduce_fn):
    """Per-sample values (and weights) as Keras's reduction metrics use them."""
    values = to_float_array(values)
    if sample_weight is not None:
        sample_weight = to_float_array(sample_weight)
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        weight_ndim = sample_weight.ndim
        if values.ndim > weight_ndim:
            values = reduce_fn(values, axis=tuple(range(weight_ndim, values.ndim)))
        sample_weight = np.broadcast_to(sample_weight, values.shape)
        values = values * sample_weight
        if weight_ndim > 1:
            sample_weight = reduce_fn(sample_weight, axis=tuple(range(1, weight_ndim)))
    if values.ndim > 1:
        values = reduce_fn(values, axis=tuple(range(1, values.ndim)))
    return values, sample_weight


def divide_no_nan(numerator, denominator):
    numerator = np.asarray(numerator, np.float64)
    denominator = np.asarray(denominator, np.float64)
    safe = np.where(denominator == 0, 1.0, denominator)
    return np.where(denominator == 0, 0.0, numerator / safe)


def as_result(value):
    """A scalar result as a Python float, a vector as a float32 array."""
    value = np.asarray(value)
    if value.ndim == 0:
        return float(value)
    return value.astype(np.float32)


class Metric:
    """Encapsulates a metric's state and logic (``keras.metrics.Metric``).

    Subclasses create state with ``add_variable`` and implement
    ``update_state(y_true, y_pred, sample_weight=None)`` and ``result()``.
    """

    def __init__(self, dtype=None, name=None):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"Metric name must be a string, got {name!r}")
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self._dtype = "float32" if dtype is None else str(np.dtype(dtype))
        self._variables = []

    @property
    def dtype(self):
        return self._dtype

    def add_variable(self, shape, initializer="zeros", dtype=None, name=None):
        shape = tuple(int(s) for s in shape)
        if initializer not in ("zeros", None):
            raise ValueError(f"Metric '{self.name}': only zeros initializers are supported")
        var = Variable(np.zeros(shape, np.float32), name=name or "variable",
                       trainable=False, path=f"{self.name}/{name or 'variable'}")
        self._variables.append(var)
        return var

    add_weight = add_variable

    @property
    def variables(self):
        return list(self._variables)

    def update_state(self, *args, **kwargs):
        raise NotImplementedError

    def result(self):
        raise NotImplementedError

    def reset_state(self):
        for var in self._variables:
            var.assign(np.zeros(var.shape, np.float32))

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"

    def __str__(self):
        return self.__repr__()


def _accumulate(variable, amount):
    variable.assign(variable.value + np.asarray(amount, np.float32))


class Sum(Metric):
    """The (weighted) sum of the given values."""

    def __init__(self, name="sum", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable((), name="total")

    def update_state(self, values, sample_weight=None):
        values, _ = reduce_to_samplewise_values(values, sample_weight, np.sum)
        _accumulate(self.total, np.sum(values))

    def result(self):
        return float(self.total.value)


class Mean(Metric):
    """The (weighted) mean of the given values."""

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable((), name="total")
        self.count = self.add_variable((), name="count")

    def update_state(self, values, sample_weight=None):
        values, sample_weight = reduce_to_samplewise_values(values, sample_weight, np.mean)
        _accumulate(self.total, np.sum(values))
        if sample_weight is not None:
            num_samples = np.sum(sample_weight)
        elif values.ndim >= 1:
            num_samples = values.shape[0]
        else:
            num_samples = 1
        _accumulate(self.count, num_samples)

    def result(self):
        return float(divide_no_nan(self.total.value, self.count.value))


class MeanMetricWrapper(Mean):
    """Wraps a per-sample function ``fn(y_true, y_pred, **kwargs)`` as a Mean."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        super().update_state(values, sample_weight=sample_weight)

    def get_config(self):
        config = {"name": self.name, "dtype": self.dtype}
        config.update(self._fn_kwargs)
        return config
