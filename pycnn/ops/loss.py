"""Loss kernels: per-row loss values and d(loss)/d(y_pred) in one C++ pass.

Every function takes arrays whose last axis is the reduced (class) axis and
returns ``(row_loss, grad)``: ``row_loss`` has shape ``y_pred.shape[:-1]``,
``grad`` has ``y_pred``'s shape and row ``r`` is scaled by ``row_scale[r]``
(``None``: 1), or is ``None`` when ``need_grad`` is False. Crossentropy
``mode``: 0 probabilities, 1 logits, 2 softmax output with the gradient taken
w.r.t. the softmax's logits (fused softmax + crossentropy backward).
"""
import numpy as np

from pycnn import _C
from pycnn.ops._convert import f32

PROBABILITIES, LOGITS, SOFTMAX_OUTPUT_GRAD_LOGITS = 0, 1, 2


def _rows(x, cols):
    return f32(x).reshape(-1, cols)


def _scale(row_scale, rows):
    return None if row_scale is None else f32(row_scale).reshape(rows)


def _unflatten(result, shape):
    row_loss, grad = result
    return row_loss.reshape(shape[:-1]), None if grad is None else grad.reshape(shape)


def _dense(fn, y_true, y_pred, row_scale, need_grad, *extra):
    y_pred = np.asarray(y_pred)
    shape = y_pred.shape
    cols = shape[-1]
    p = _rows(y_pred, cols)
    out = fn(_rows(y_true, cols) if np.shape(y_true) == shape else f32(y_true), p, *extra,
             _scale(row_scale, p.shape[0]), bool(need_grad))
    return _unflatten(out, shape)


def mean_squared_error(y_true, y_pred, row_scale=None, need_grad=True):
    return _dense(_C.mean_squared_error_rows, y_true, y_pred, row_scale, need_grad)


def mean_absolute_error(y_true, y_pred, row_scale=None, need_grad=True):
    return _dense(_C.mean_absolute_error_rows, y_true, y_pred, row_scale, need_grad)


def binary_crossentropy(y_true, y_pred, from_logits=False, row_scale=None, need_grad=True):
    return _dense(_C.binary_crossentropy_rows, y_true, y_pred, row_scale, need_grad,
                  bool(from_logits))


def categorical_crossentropy(y_true, y_pred, mode=PROBABILITIES, row_scale=None, need_grad=True):
    return _dense(_C.categorical_crossentropy_rows, y_true, y_pred, row_scale, need_grad,
                  int(mode))


def sparse_categorical_crossentropy(labels, y_pred, mode=PROBABILITIES, ignore_class=None,
                                   row_scale=None, need_grad=True):
    y_pred = np.asarray(y_pred)
    shape = y_pred.shape
    p = _rows(y_pred, shape[-1])
    labels = np.ascontiguousarray(labels, dtype=np.int64).reshape(-1)
    out = _C.sparse_categorical_crossentropy_rows(
        labels, p, int(mode), None if ignore_class is None else int(ignore_class),
        _scale(row_scale, p.shape[0]), bool(need_grad))
    return _unflatten(out, shape)
