"""Per-sample metric functions, as ``keras.metrics.<name>`` functions.

Each returns one value per sample (the last axis reduced) for
``MeanMetricWrapper`` to average.
"""
import numpy as np

from pycnn.metrics.base import squeeze_or_expand_to_same_rank, to_float_array


def accuracy(y_true, y_pred):
    y_pred = to_float_array(y_pred)
    y_true = to_float_array(y_true)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return (y_true == y_pred).astype(np.float32)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    y_pred = to_float_array(y_pred)
    y_true = to_float_array(y_true)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    predicted = (y_pred > threshold).astype(np.float32)
    return (y_true == predicted).astype(np.float32)


def _argmax_matches(true_ids, y_pred):
    """1.0 where argmax(y_pred) equals the integer label, keeping the
    label's (num_samples, 1) shape when it had one."""
    y_pred = to_float_array(y_pred)
    original_shape = true_ids.shape
    reshape = true_ids.ndim == y_pred.ndim
    if reshape:
        true_ids = np.squeeze(true_ids, -1)
    matches = (true_ids == np.argmax(y_pred, axis=-1).astype(np.float32)).astype(np.float32)
    return matches.reshape(original_shape) if reshape else matches


def categorical_accuracy(y_true, y_pred):
    true_ids = np.argmax(to_float_array(y_true), axis=-1).astype(np.float32)
    return _argmax_matches(true_ids, y_pred)


def sparse_categorical_accuracy(y_true, y_pred):
    y_true = to_float_array(y_true)
    y_pred = to_float_array(y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] != 1:
        # Keras compares elementwise after argmax; shapes then must broadcast.
        matches = (y_true == np.argmax(y_pred, axis=-1).astype(np.float32)).astype(np.float32)
    else:
        matches = _argmax_matches(y_true, y_pred)
    if matches.ndim > 1 and matches.shape[-1] == 1:
        matches = np.squeeze(matches, -1)
    return matches


def _in_top_k(targets, predictions, k):
    """True where the target class's score is among the k largest (ties
    count as inside, as JAX's in_top_k)."""
    num_classes = predictions.shape[-1]
    k = min(int(k), num_classes)
    kth_largest = -np.partition(-predictions, k - 1, axis=-1)[:, k - 1]
    target_scores = np.take_along_axis(
        predictions, targets.astype(np.int64)[:, None], axis=-1)[:, 0]
    return target_scores >= kth_largest


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    y_pred = to_float_array(y_pred)
    true_ids = np.argmax(to_float_array(y_true), axis=-1)
    original_shape = true_ids.shape
    predictions = y_pred.reshape(-1, y_pred.shape[-1])
    matches = _in_top_k(true_ids.reshape(-1), predictions, k).astype(np.float32)
    return matches.reshape(original_shape)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    y_pred = to_float_array(y_pred)
    true_ids = np.asarray(y_true).astype(np.int64)
    original_shape = true_ids.shape
    predictions = y_pred.reshape(-1, y_pred.shape[-1])
    matches = _in_top_k(true_ids.reshape(-1), predictions, k).astype(np.float32)
    return matches.reshape(original_shape)


def _mean_last(x):
    """np.mean(x, axis=-1) without np.mean's Python overhead (same float32
    sum, and division by the count rounds the same)."""
    return np.add.reduce(x, axis=-1) / np.float32(x.shape[-1])


def _regression_pair(y_true, y_pred):
    y_pred = to_float_array(y_pred)
    y_true = to_float_array(y_true)
    return squeeze_or_expand_to_same_rank(y_true, y_pred)


def mean_squared_error(y_true, y_pred):
    y_true, y_pred = _regression_pair(y_true, y_pred)
    return _mean_last(np.square(y_true - y_pred))


def mean_absolute_error(y_true, y_pred):
    y_true, y_pred = _regression_pair(y_true, y_pred)
    return _mean_last(np.abs(y_true - y_pred))


def mean_absolute_percentage_error(y_true, y_pred):
    y_true, y_pred = _regression_pair(y_true, y_pred)
    eps = np.float32(1e-7)
    diff = np.abs((y_true - y_pred) / np.maximum(np.abs(y_true), eps))
    return 100.0 * np.mean(diff, axis=-1)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
