"""NumPy twins of pycnn.ops.loss (float64 inside, float32 out), written
straight from Keras 3's formulas. Same names, signatures and returns."""
import numpy as np

EPSILON = np.float32(1e-7)
ONE_MINUS_EPSILON = np.float32(1.0 - 1e-7)


def _f64(x):
    return np.asarray(x, dtype=np.float64)


def _finish(row_loss, grad, row_scale, need_grad):
    row_loss = row_loss.astype(np.float32)
    if not need_grad:
        return row_loss, None
    if row_scale is not None:
        grad = grad * _f64(row_scale).reshape(row_loss.shape)[..., None]
    return row_loss, grad.astype(np.float32)


def _clip(p):
    return np.clip(p, EPSILON, ONE_MINUS_EPSILON)


def _clip_slope(p):
    """d clip(p) / dp: 1 inside, 0 outside, 1/2 on a bound (as JAX)."""
    inside = (p > EPSILON) & (p < ONE_MINUS_EPSILON)
    on_bound = (p == EPSILON) | (p == ONE_MINUS_EPSILON)
    return np.where(inside, 1.0, np.where(on_bound, 0.5, 0.0))


def mean_squared_error(y_true, y_pred, row_scale=None, need_grad=True):
    t, p = _f64(y_true), _f64(y_pred)
    cols = p.shape[-1]
    return _finish(np.mean((p - t) ** 2, axis=-1), 2.0 * (p - t) / cols, row_scale, need_grad)


def mean_absolute_error(y_true, y_pred, row_scale=None, need_grad=True):
    t, p = _f64(y_true), _f64(y_pred)
    cols = p.shape[-1]
    # JAX's abs has slope +1 at 0, so d|t - p|/dp is -1 where p == t.
    grad = np.where(t - p >= 0, -1.0, 1.0) / cols
    return _finish(np.mean(np.abs(t - p), axis=-1), grad, row_scale, need_grad)


def binary_crossentropy(y_true, y_pred, from_logits=False, row_scale=None, need_grad=True):
    t, x = _f64(y_true), _f64(y_pred)
    cols = x.shape[-1]
    if from_logits:
        element = np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))
        grad = (0.5 * (1.0 + np.tanh(0.5 * x)) - t) / cols
    else:
        raw = np.asarray(y_pred, np.float32)
        q = _f64(_clip(raw))
        element = -(t * np.log(q) + (1 - t) * np.log1p(-q))
        grad = _clip_slope(raw) * ((1 - t) / (1 - q) - t / q) / cols
    return _finish(np.mean(element, axis=-1), grad, row_scale, need_grad)


def _log_softmax(x):
    shifted = x - np.max(x, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def _crossentropy(t, y_pred, mode):
    """Loss and gradient for dense targets t (float64)."""
    if mode == 1:
        log_p = _log_softmax(_f64(y_pred))
        loss = -np.sum(t * log_p, axis=-1)
        grad = np.sum(t, axis=-1, keepdims=True) * np.exp(log_p) - t
        return loss, grad
    p = _f64(y_pred)
    row_sum = np.sum(p, axis=-1, keepdims=True)
    q32 = (np.asarray(y_pred, np.float32) / row_sum.astype(np.float32)).astype(np.float32)
    q = _f64(q32)
    loss = -np.sum(t * np.log(_f64(_clip(q32))), axis=-1)
    dq = -t / _f64(_clip(q32)) * _clip_slope(q32)
    grad = (dq - np.sum(dq * q, axis=-1, keepdims=True)) / row_sum
    if mode == 2:  # back through the softmax that produced y_pred
        grad = p * (grad - np.sum(p * grad, axis=-1, keepdims=True))
    return loss, grad


def categorical_crossentropy(y_true, y_pred, mode=0, row_scale=None, need_grad=True):
    loss, grad = _crossentropy(_f64(y_true), y_pred, mode)
    return _finish(loss, grad, row_scale, need_grad)


def sparse_categorical_crossentropy(labels, y_pred, mode=0, ignore_class=None, row_scale=None,
                                    need_grad=True):
    labels = np.asarray(labels, np.int64).reshape(np.shape(y_pred)[:-1])
    classes = np.shape(y_pred)[-1]
    ignored = (labels == ignore_class) if ignore_class is not None else np.zeros(labels.shape, bool)
    bad = ~ignored & ((labels < 0) | (labels >= classes))
    if np.any(bad):
        raise ValueError(
            f"sparse_categorical_crossentropy: label {labels[bad].flat[0]} is outside "
            f"[0, {classes}); labels shape {labels.shape}, y_pred shape {np.shape(y_pred)}")
    one_hot = (np.where(ignored, 0, labels)[..., None] == np.arange(classes)).astype(np.float64)
    loss, grad = _crossentropy(one_hot, y_pred, mode)
    loss = np.where(ignored, 0.0, loss)
    grad = np.where(ignored[..., None], 0.0, grad)
    return _finish(loss, grad, row_scale, need_grad)
