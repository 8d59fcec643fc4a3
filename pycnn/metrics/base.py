"""Metric base class and the reducing metrics (Mean, Sum, MeanMetricWrapper).

Sum/Mean keep their state in float32 NumPy scalars (``metric.variables``
mirrors them as Keras Variables); every update is a handful of vectorised
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


class _ScalarStateMetric(Metric):
    """Sum/Mean: the state is a few float32 NumPy scalars updated with plain
    scalar arithmetic (a metric update is on every training step; Variable
    assigns cost far more than the sums). ``variables``/``total``/``count``
    are Variables mirroring the scalars, refreshed whenever they are read."""

    _state_names = ()

    def __init__(self, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        for state in self._state_names:
            self.add_variable((), name=state)
        self.reset_state()

    def reset_state(self):
        self._state = [_ZERO] * len(self._state_names)

    @property
    def variables(self):
        for var, value in zip(self._variables, self._state):
            var._value[()] = value
        return list(self._variables)

    def __getattr__(self, name):
        # `metric.total` / `metric.count`, as Keras exposes them.
        names = type(self)._state_names
        if name in names:
            return self.variables[names.index(name)]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


_ZERO = np.float32(0.0)
_ONE = np.float32(1.0)


def _plain_values(values, sample_weight):
    """(sum of values, number of samples) as float32 scalars for the common
    cases -- a Python/NumPy scalar with a scalar weight, or a 1-D float32
    array without weights -- else None. Same float32 arithmetic as
    reduce_to_samplewise_values followed by np.sum."""
    if isinstance(values, np.ndarray):
        if sample_weight is None and values.ndim == 1 and values.dtype == np.float32:
            return np.add.reduce(values), np.float32(values.shape[0])
        return None
    if isinstance(values, (float, int, np.floating, np.integer)) and not isinstance(values, bool):
        if sample_weight is None:
            return np.float32(values), _ONE
        if isinstance(sample_weight, (float, int, np.floating, np.integer)):
            w = np.float32(sample_weight)
            return np.float32(values) * w, w
    return None


class Sum(_ScalarStateMetric):
    """The (weighted) sum of the given values."""

    _state_names = ("total",)

    def __init__(self, name="sum", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, values, sample_weight=None):
        plain = _plain_values(values, sample_weight)
        if plain is not None:
            self._state[0] = self._state[0] + plain[0]
            return
        values, _ = reduce_to_samplewise_values(values, sample_weight, np.sum)
        self._state[0] = self._state[0] + np.float32(np.sum(values))

    def result(self):
        return float(self._state[0])


class Mean(_ScalarStateMetric):
    """The (weighted) mean of the given values."""

    _state_names = ("total", "count")

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, values, sample_weight=None):
        plain = _plain_values(values, sample_weight)
        if plain is None:
            values, sample_weight = reduce_to_samplewise_values(values, sample_weight, np.mean)
            if sample_weight is not None:
                num_samples = np.sum(sample_weight)
            elif values.ndim >= 1:
                num_samples = values.shape[0]
            else:
                num_samples = 1
            plain = np.float32(np.sum(values)), np.float32(num_samples)
        state = self._state
        state[0] = state[0] + plain[0]
        state[1] = state[1] + plain[1]

    def result(self):
        total, count = self._state
        # divide_no_nan in float64, as before
        return float(total) / float(count) if count else 0.0


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
