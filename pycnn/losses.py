"""Keras 3 losses: ``Loss`` classes, loss functions and ``get``.

Every built-in loss computes, in one C++ pass, the per-sample values and
their gradient w.r.t. ``y_pred``; ``Loss.value_and_grad`` is what the
training loop calls. Reductions, shape handling and defaults follow Keras 3.
"""
import inspect

import numpy as np

from pycnn import _C, backend
from pycnn.ops import loss as loss_ops

_REDUCTIONS = ("sum_over_batch_size", "sum", None, "none", "mean", "mean_with_sample_weight")


def standardize_reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(
            "Invalid value for argument `reduction`. Expected one of "
            f"{set(_REDUCTIONS)}. Received: reduction={reduction}")
    return reduction


# ---------------------------------------------------------------- inputs ---

def _as_float_array(x, what, loss_name):
    try:
        arr = np.asarray(x.numpy() if hasattr(x, "numpy") else x)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{loss_name}: could not read {what} as an array: {exc}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{loss_name}: {what} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float32, copy=False)
    if arr.size and not np.isfinite(arr).all():
        bad = "NaN" if np.isnan(arr).any() else "infinite"
        raise ValueError(f"{loss_name}: {what} contains {bad} values (shape {arr.shape})")
    return arr


def _squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
    """Keras's rule: fix a rank difference of exactly one on a last dim of 1."""
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        if x2.ndim == 1 and expand_rank_1:
            x2 = x2[..., None]
        else:
            x1 = x1[..., 0]
    elif x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        if x1.ndim == 1 and expand_rank_1:
            x1 = x1[..., None]
        else:
            x2 = x2[..., 0]
    return x1, x2


def _check_batch(loss_name, y_true, y_pred):
    if y_pred.ndim == 0:
        raise ValueError(f"{loss_name}: y_pred must be at least rank 1, got shape ()")
    if y_pred.size == 0:
        raise ValueError(f"{loss_name}: empty batch, y_pred shape {y_pred.shape}")
    if y_true.ndim and y_true.shape[0] != y_pred.shape[0]:
        raise ValueError(
            f"{loss_name}: y_true and y_pred have different lengths: y_true shape "
            f"{y_true.shape}, y_pred shape {y_pred.shape}")


def _sum_to_shape(weights, shape):
    """Sum a broadcast weight array back down to ``shape`` (d total / d values)."""
    extra = weights.ndim - len(shape)
    if extra:
        weights = weights.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, d in enumerate(shape) if d == 1 and weights.shape[i] != 1)
    return weights.sum(axis=axes, keepdims=True) if axes else weights


# --------------------------------------------------------------- classes ---

class Loss:
    """Base class; subclasses implement ``call(y_true, y_pred)`` (NumPy,
    per-sample values). Built-in losses also provide gradients."""

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        self.name = name or backend.unique_name(backend.to_snake_case(type(self).__name__))
        self.reduction = standardize_reduction(reduction)
        self._dtype = dtype or backend.floatx

    @property
    def dtype(self):
        return self._dtype

    # Subclass hooks -------------------------------------------------------
    def call(self, y_true, y_pred):
        raise NotImplementedError(f"{type(self).__name__} must implement call()")

    def _values_and_grad(self, y_true, y_pred, need_grad):
        """Built-ins: (per-sample values, grad_fn(row_scale) -> dL/dy_pred, mask)."""
        raise NotImplementedError(
            f"Loss {self.name!r} has no gradient: pycnn trains with its built-in losses "
            "(a custom Loss subclass can be evaluated but not trained on)")

    # Public API -----------------------------------------------------------
    def __call__(self, y_true, y_pred, sample_weight=None):
        if type(self)._values_and_grad is Loss._values_and_grad:
            values = np.asarray(self.call(y_true, y_pred), np.float32)
            mask = None
        else:
            values, _, mask = self._values_and_grad(y_true, y_pred, need_grad=False)
        total, _ = self._reduce(values, sample_weight, mask)
        return total

    def value_and_grad(self, y_true, y_pred, sample_weight=None):
        """(reduced loss as a float, d loss / d y_pred float32 shaped like y_pred).
        With reduction None/'none' the value and gradient are those of the mean."""
        if sample_weight is None:
            fast = self._fast_value_and_grad(y_true, y_pred, None)
            if fast is not None:
                return fast
        values, grad_fn, mask = self._values_and_grad(y_true, y_pred, need_grad=True)
        total, row_scale = self._reduce(values, sample_weight, mask, for_grad=True)
        return total, grad_fn(row_scale)

    def value_and_logits_grad(self, y_true, y_pred, activation, sample_weight=None):
        """(loss, d loss / d logits) when ``y_pred = activation(logits)`` and this
        loss can take the gradient through the activation in its own kernel
        (softmax + categorical crossentropy on probabilities); None otherwise.
        Same loss value as value_and_grad."""
        if sample_weight is not None:
            return None
        return self._fast_value_and_grad(y_true, y_pred, activation)

    def _fast_value_and_grad(self, y_true, y_pred, activation):
        """Built-ins: one kernel call for plain float32 arrays, no sample
        weights; None sends the call down the general (validating) path."""
        return None

    def _row_scale(self, rows, divisor):
        """d total / d row_loss without weights: 1/divisor per row (cached)."""
        cache = self.__dict__.setdefault("_row_scale_cache", {})
        key = (rows, divisor)
        scale = cache.get(key)
        if scale is None:
            if len(cache) > 8:
                cache.clear()
            scale = cache[key] = np.full(rows, np.float32(1.0 / divisor), np.float32)
        return scale

    def _fast_total(self, values, rows):
        """The reduced loss of unweighted per-row values (as _reduce computes it)."""
        divisor = 1.0 if self.reduction == "sum" else float(rows)
        return float(values.astype(np.float64).sum()) / divisor

    def _reduce(self, values, sample_weight, mask, for_grad=False):
        """Keras reduce_weighted_values; also returns d total / d values."""
        reduction = self.reduction
        weights = None
        if mask is not None:
            if reduction in ("mean", "sum_over_batch_size"):
                valid = float(mask.sum())
                weights = np.where(mask, mask.size / valid if valid else 0.0, 0.0)
            else:
                weights = mask.astype(np.float64)
        if sample_weight is not None:
            sw = _as_float_array(sample_weight, "sample_weight", self.name).astype(np.float64)
            if weights is not None:
                weights, sw = _squeeze_or_expand_to_same_rank(weights, sw)
                sw = weights * sw
            weights = sw
        vals = values.astype(np.float64)
        if weights is not None:
            vals, weights = _squeeze_or_expand_to_same_rank(vals, weights)
            try:
                weights = np.broadcast_to(weights, np.broadcast_shapes(vals.shape, weights.shape))
            except ValueError:
                raise ValueError(
                    f"{self.name}: sample_weight shape {np.shape(sample_weight)} does not "
                    f"match the per-sample loss shape {values.shape}") from None
            weighted = vals * weights
        else:
            weighted = vals
        unreduced = reduction in (None, "none") or weighted.shape in ((), (0,))
        if unreduced and not for_grad:
            if weighted.ndim == 0 and reduction not in (None, "none"):
                return float(weighted), None
            return weighted.astype(np.float32), None
        total = float(weighted.sum())
        if reduction == "sum":
            divisor = 1.0
        elif reduction == "mean_with_sample_weight" and sample_weight is not None:
            divisor = float(weights.sum())
        else:
            divisor = float(weighted.size)
        total = total / divisor if divisor else 0.0
        if not for_grad:
            return total, None
        scale = (np.ones(weighted.shape) if weights is None else weights) / (divisor or np.inf)
        row_scale = _sum_to_shape(scale, vals.shape).reshape(values.shape)
        return total, row_scale

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


class _LastAxisLoss(Loss):
    """Losses over the last (or ``axis``) axis of y_true/y_pred of equal shape."""

    _kernel = None  # name of the pycnn.ops.loss function
    _axis = -1

    def _prepare(self, y_true, y_pred):
        y_pred_in = _as_float_array(y_pred, "y_pred", self.name)
        y_true_in = _as_float_array(y_true, "y_true", self.name)
        _check_batch(self.name, y_true_in, y_pred_in)
        t, p = _squeeze_or_expand_to_same_rank(y_true_in, y_pred_in)
        if t.shape != p.shape:
            raise ValueError(
                f"{self.name}: y_true and y_pred shapes are incompatible: y_true shape "
                f"{y_true_in.shape}, y_pred shape {y_pred_in.shape}")
        return self._transform_targets(t), p, y_pred_in.shape

    def _transform_targets(self, y_true):
        return y_true

    def _kernel_args(self):
        return ()

    # softmax / sigmoid output whose logits gradient this loss's kernel can give
    _logits_mode = {}

    def _fast_value_and_grad(self, y_true, y_pred, activation):
        extra = self._kernel_args()
        if activation is not None:
            if activation not in self._logits_mode or extra != self._logits_mode[activation][0]:
                return None
            extra = self._logits_mode[activation][1]
        if type(y_pred) is not np.ndarray or type(y_true) is not np.ndarray:
            return None
        shape = y_pred.shape
        if y_true.shape != shape or not shape or y_pred.dtype != np.float32 or \
                y_true.dtype.kind not in "fiub" or y_pred.size == 0 or \
                self._axis not in (-1, len(shape) - 1):
            return None
        if y_true.dtype != np.float32:
            y_true = y_true.astype(np.float32)
        if not (np.isfinite(y_pred).all() and np.isfinite(y_true).all()):
            return None  # the general path raises the error
        cols = shape[-1]
        rows = y_pred.size // cols
        t = self._transform_targets(y_true)
        values, grad = getattr(_C, self._kernel + "_rows")(
            t.reshape(rows, cols), y_pred.reshape(rows, cols), *extra,
            self._row_scale(rows, 1.0 if self.reduction == "sum" else float(rows)), True)
        total = self._fast_total(values, rows)
        return total, grad.reshape(shape)

    def _values_and_grad(self, y_true, y_pred, need_grad):
        t, p, pred_shape = self._prepare(y_true, y_pred)
        axis = self._axis % p.ndim
        moved = axis != p.ndim - 1
        if moved:
            t, p = np.moveaxis(t, axis, -1), np.moveaxis(p, axis, -1)
        kernel = getattr(loss_ops, self._kernel)
        values, _ = kernel(t, p, *self._kernel_args(), need_grad=False)

        def grad_fn(row_scale):
            _, grad = kernel(t, p, *self._kernel_args(), row_scale=row_scale)
            if moved:
                grad = np.moveaxis(grad, -1, axis)
            return np.ascontiguousarray(grad).reshape(pred_shape)

        return values, grad_fn, None


class MeanSquaredError(_LastAxisLoss):
    _kernel = "mean_squared_error"

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)


class MeanAbsoluteError(_LastAxisLoss):
    _kernel = "mean_absolute_error"

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)


class _CrossentropyLoss(_LastAxisLoss):
    def __init__(self, from_logits, label_smoothing, axis, reduction, name, dtype):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(f"`axis` must be of type `int`. Received: axis={axis}")
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = int(axis)
        self._axis = self.axis

    def get_config(self):
        config = super().get_config()
        config.update(from_logits=self.from_logits, label_smoothing=self.label_smoothing,
                      axis=self.axis)
        return config


class BinaryCrossentropy(_CrossentropyLoss):
    _kernel = "binary_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="binary_crossentropy", dtype=None):
        super().__init__(from_logits, label_smoothing, axis, reduction, name, dtype)

    def _transform_targets(self, y_true):
        if self.label_smoothing:
            ls = np.float32(self.label_smoothing)
            return y_true * (np.float32(1.0) - ls) + np.float32(0.5) * ls
        return y_true

    def _kernel_args(self):
        return (bool(self.from_logits),)


class CategoricalCrossentropy(_CrossentropyLoss):
    _kernel = "categorical_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_crossentropy", dtype=None):
        super().__init__(from_logits, label_smoothing, axis, reduction, name, dtype)

    def _transform_targets(self, y_true):
        if self.label_smoothing:
            ls = np.float32(self.label_smoothing)
            classes = np.float32(y_true.shape[self.axis])
            return y_true * (np.float32(1.0) - ls) + ls / classes
        return y_true

    def _kernel_args(self):
        return (loss_ops.LOGITS if self.from_logits else loss_ops.PROBABILITIES,)

    # softmax output + crossentropy on probabilities: the kernel's mode 2 gives
    # d loss / d logits with Keras's clipping (the softmax backward is skipped).
    _logits_mode = {"softmax": ((loss_ops.PROBABILITIES,),
                                (loss_ops.SOFTMAX_OUTPUT_GRAD_LOGITS,))}


class SparseCategoricalCrossentropy(Loss):
    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 axis=-1, name="sparse_categorical_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = from_logits
        self.ignore_class = ignore_class
        self.axis = axis

    def _fast_value_and_grad(self, y_true, y_pred, activation):
        if activation is not None and (activation != "softmax" or self.from_logits):
            return None
        if type(y_pred) is not np.ndarray or type(y_true) is not np.ndarray or \
                self.ignore_class is not None:
            return None
        shape = y_pred.shape
        if not shape or y_pred.dtype != np.float32 or y_pred.size == 0 or \
                self.axis not in (-1, len(shape) - 1):
            return None
        labels = y_true
        if labels.ndim == len(shape) and labels.shape[-1] == 1:
            labels = labels[..., 0]
        if labels.shape != shape[:-1]:
            return None
        kind = labels.dtype.kind
        if kind == "f":
            if not np.isfinite(labels).all():
                return None
            labels = labels.astype(np.float32, copy=False).astype(np.int64)  # Keras truncates
        elif kind in "iu":
            labels = labels.astype(np.int64, copy=False)
        else:
            return None
        cols = shape[-1]
        if labels.size and (labels.min() < 0 or labels.max() >= cols):
            return None  # the general path names the bad label
        if not np.isfinite(y_pred).all():
            return None
        rows = y_pred.size // cols
        mode = loss_ops.SOFTMAX_OUTPUT_GRAD_LOGITS if activation else \
            (loss_ops.LOGITS if self.from_logits else loss_ops.PROBABILITIES)
        values, grad = _C.sparse_categorical_crossentropy_rows(
            labels.reshape(rows), y_pred.reshape(rows, cols), mode, None,
            self._row_scale(rows, 1.0 if self.reduction == "sum" else float(rows)), True)
        total = self._fast_total(values, rows)
        return total, grad.reshape(shape)

    def _values_and_grad(self, y_true, y_pred, need_grad):
        p = _as_float_array(y_pred, "y_pred", self.name)
        labels_in = _as_float_array(y_true, "y_true", self.name)
        _check_batch(self.name, labels_in, p)
        pred_shape = p.shape
        axis = self.axis % p.ndim
        if axis != p.ndim - 1:
            p = np.moveaxis(p, axis, -1)
        labels = labels_in
        if labels.ndim == p.ndim and labels.shape[-1] == 1:
            labels = labels[..., 0]
        if labels.shape != p.shape[:-1]:
            raise ValueError(
                f"{self.name}: y_true shape {labels_in.shape} does not match y_pred shape "
                f"{pred_shape}: expected integer labels of shape {p.shape[:-1]}")
        labels = labels.astype(np.int64)  # Keras casts to int (truncating)
        classes = p.shape[-1]
        ignored = labels == self.ignore_class if self.ignore_class is not None else None
        bad = (labels < 0) | (labels >= classes)
        if ignored is not None:
            bad &= ~ignored
        if bad.any():
            raise ValueError(
                f"{self.name}: labels must be in [0, {classes}), found {labels[bad].flat[0]}; "
                f"y_true shape {labels_in.shape}, y_pred shape {pred_shape}")
        mode = loss_ops.LOGITS if self.from_logits else loss_ops.PROBABILITIES
        kernel = loss_ops.sparse_categorical_crossentropy
        values, _ = kernel(labels, p, mode, self.ignore_class, need_grad=False)

        def grad_fn(row_scale):
            _, grad = kernel(labels, p, mode, self.ignore_class, row_scale=row_scale)
            if axis != p.ndim - 1:
                grad = np.moveaxis(grad, -1, axis)
            return np.ascontiguousarray(grad).reshape(pred_shape)

        mask = None if ignored is None else ~ignored
        return values, grad_fn, mask

    def get_config(self):
        config = super().get_config()
        config.update(from_logits=self.from_logits, ignore_class=self.ignore_class)
        return config


class LossFunctionWrapper(Loss):
    """Wraps a loss function ``fn(y_true, y_pred, **kwargs)`` as a ``Loss``
    (what ``compile(loss=fn)`` does). pycnn's own functions keep their C++
    gradient; other functions can be evaluated but have no gradient."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", None), reduction=reduction,
                         dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs
        loss_class = getattr(fn, "_pycnn_loss_class", None)
        self._builtin = None if loss_class is None else loss_class(
            reduction=reduction, name=self.name, **kwargs)

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def __call__(self, y_true, y_pred, sample_weight=None):
        if self._builtin is not None:
            return self._builtin(y_true, y_pred, sample_weight)
        return super().__call__(y_true, y_pred, sample_weight)

    def value_and_grad(self, y_true, y_pred, sample_weight=None):
        if self._builtin is None:
            return super().value_and_grad(y_true, y_pred, sample_weight)
        return self._builtin.value_and_grad(y_true, y_pred, sample_weight)

    def value_and_logits_grad(self, y_true, y_pred, activation, sample_weight=None):
        if self._builtin is None:
            return None
        return self._builtin.value_and_logits_grad(y_true, y_pred, activation, sample_weight)

    def get_config(self):
        config = super().get_config()
        config.update(fn=getattr(self.fn, "__name__", None), **self._fn_kwargs)
        return config


# ------------------------------------------------------------- functions ---

def _per_sample(loss_class, y_true, y_pred, **kwargs):
    return loss_class(reduction=None, **kwargs)(y_true, y_pred)


def mean_squared_error(y_true, y_pred):
    """Per-sample mean of squared errors over the last axis."""
    return _per_sample(MeanSquaredError, y_true, y_pred)


def mean_absolute_error(y_true, y_pred):
    """Per-sample mean of absolute errors over the last axis."""
    return _per_sample(MeanAbsoluteError, y_true, y_pred)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    return _per_sample(BinaryCrossentropy, y_true, y_pred, from_logits=from_logits,
                       label_smoothing=label_smoothing, axis=axis)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    return _per_sample(CategoricalCrossentropy, y_true, y_pred, from_logits=from_logits,
                       label_smoothing=label_smoothing, axis=axis)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None,
                                    axis=-1):
    return _per_sample(SparseCategoricalCrossentropy, y_true, y_pred, from_logits=from_logits,
                       ignore_class=ignore_class, axis=axis)


for _fn, _cls in ((mean_squared_error, MeanSquaredError),
                  (mean_absolute_error, MeanAbsoluteError),
                  (binary_crossentropy, BinaryCrossentropy),
                  (categorical_crossentropy, CategoricalCrossentropy),
                  (sparse_categorical_crossentropy, SparseCategoricalCrossentropy)):
    _fn._pycnn_loss_class = _cls

mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
bce = BCE = binary_crossentropy

ALL_OBJECTS = (Loss, LossFunctionWrapper, MeanSquaredError, MeanAbsoluteError,
               BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy,
               mean_squared_error, mean_absolute_error, binary_crossentropy,
               categorical_crossentropy, sparse_categorical_crossentropy)
ALL_OBJECTS_DICT = {obj.__name__: obj for obj in ALL_OBJECTS}
ALL_OBJECTS_DICT.update(mse=mse, MSE=mse, mae=mae, MAE=mae, bce=bce, BCE=bce)


def serialize(loss):
    if isinstance(loss, Loss):
        return {"class_name": type(loss).__name__, "config": loss.get_config()}
    return getattr(loss, "__name__", loss)


def deserialize(config, custom_objects=None):
    objects = dict(ALL_OBJECTS_DICT, **(custom_objects or {}))
    if isinstance(config, str):
        return objects.get(config)
    cls = objects.get(config.get("class_name"))
    if cls is None:
        raise ValueError(f"Unknown loss: {config.get('class_name')!r}")
    return cls.from_config(dict(config.get("config", {})))


def get(identifier):
    """Keras ``losses.get``: a function for function names ('mse'), a ``Loss``
    instance for class names ('MeanSquaredError'), dicts, classes; instances
    and callables pass through."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        obj = ALL_OBJECTS_DICT.get(identifier)
    else:
        obj = identifier
    if callable(obj):
        return obj() if inspect.isclass(obj) else obj
    raise ValueError(f"Could not interpret loss identifier: {identifier}")


def as_loss(identifier):
    """A ``Loss`` object for training (what Keras's ``compile`` wraps a loss
    function into): strings, functions, classes and instances."""
    obj = get(identifier)
    if obj is None or isinstance(obj, Loss):
        return obj
    return LossFunctionWrapper(obj)
