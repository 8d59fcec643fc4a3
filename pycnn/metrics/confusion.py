"""Threshold-based counts: TP/FP/TN/FN, Precision, Recall, AUC.

Counting is vectorised: each prediction is mapped to the index of the
highest threshold it exceeds (``searchsorted``, or Keras's ``ceil`` bucket
formula when thresholds are evenly spaced), weights are summed per bucket
with one ``bincount``, and a reversed cumulative sum turns buckets into
"predictions above threshold j" for every j at once.
"""
import numpy as np

from pycnn.metrics.base import (Metric, as_result, divide_no_nan,
                                squeeze_or_expand_to_same_rank, to_float_array)

NEG_INF = -1e10
EPSILON = 1e-7


def to_list(x):
    if isinstance(x, (list, tuple)):
        return list(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    return [x]


def parse_init_thresholds(thresholds, default_threshold=0.5):
    if thresholds is not None:
        bad = [t for t in to_list(thresholds) if t is None or t < 0 or t > 1]
        if bad:
            raise ValueError(f"Threshold values must be in [0, 1]. Received: {bad}")
    return to_list(default_threshold if thresholds is None else thresholds)


def is_evenly_distributed_thresholds(thresholds):
    num_thresholds = len(thresholds)
    if num_thresholds < 3:
        return False
    even = np.arange(num_thresholds, dtype=np.float32) / (num_thresholds - 1)
    return bool(np.allclose(thresholds, even, atol=EPSILON))


def _filter_top_k(x, k):
    """Keep the k largest values of the last axis; the rest become NEG_INF."""
    order = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    keep = np.zeros(x.shape, np.float32)
    np.put_along_axis(keep, order, 1.0, axis=-1)
    return x * keep + np.float32(NEG_INF) * (1 - keep)


def _counts_above_thresholds(bucket, weights, num_thresholds, num_columns):
    """bucket[i, c] = highest threshold index that value i of column c
    exceeds (-1 for none). Returns (num_thresholds, num_columns) sums of the
    weights of values above each threshold."""
    valid = bucket >= 0
    flat_index = (bucket + num_thresholds * np.arange(num_columns)[None, :])[valid]
    per_bucket = np.bincount(flat_index, weights=weights[valid],
                             minlength=num_thresholds * num_columns)
    per_bucket = per_bucket.reshape(num_columns, num_thresholds).T
    return np.cumsum(per_bucket[::-1], axis=0)[::-1]


def update_confusion_matrix_variables(variables_to_update, y_true, y_pred, thresholds,
                                      top_k=None, class_id=None, sample_weight=None,
                                      multi_label=False, label_weights=None,
                                      thresholds_distributed_evenly=False):
    """Add the weighted TP/FP/TN/FN counts of one batch for every threshold.

    ``variables_to_update`` maps 'tp', 'fp', 'tn', 'fn' to Variables of shape
    (num_thresholds,) or (num_thresholds, num_labels) when multi_label.
    """
    y_true = to_float_array(y_true)
    y_pred = to_float_array(y_pred)
    y_pred, y_true = squeeze_or_expand_to_same_rank(y_pred, y_true)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same shape, got "
                         f"{y_true.shape} and {y_pred.shape}")
    if sample_weight is not None:
        sample_weight = np.expand_dims(to_float_array(sample_weight), -1)
        _, sample_weight = squeeze_or_expand_to_same_rank(y_true, sample_weight,
                                                          expand_rank_1=False)
    if top_k is not None:
        y_pred = _filter_top_k(y_pred, top_k)
    if class_id is not None:
        if y_pred.ndim == 1:
            raise ValueError(
                "When class_id is provided, y_pred must be a 2D array with shape "
                f"(num_samples, num_classes), found shape: {y_pred.shape}")
        y_true = y_true[..., class_id, None]
        y_pred = y_pred[..., class_id, None]

    weights = np.ones(y_pred.shape, np.float32) if sample_weight is None else \
        np.broadcast_to(sample_weight, y_pred.shape).astype(np.float32)
    if label_weights is not None and not multi_label:
        weights = weights * np.broadcast_to(to_float_array(label_weights), y_pred.shape)
    thresholds = np.asarray(thresholds, np.float32)
    num_thresholds = thresholds.shape[0]

    if thresholds_distributed_evenly:
        # Keras's bucket formula: value p exceeds threshold j iff j <= bucket.
        y_pred = np.clip(y_pred, 0.0, 1.0)
        bucket = np.ceil(y_pred * np.float32(num_thresholds - 1)) - 1
        if thresholds[0] < 0.0 or thresholds[-1] > 1.0:
            bucket = np.maximum(bucket, 0)
        bucket = bucket.astype(np.int64)
        order = None
    else:
        order = np.argsort(thresholds, kind="stable")
        bucket = np.searchsorted(thresholds[order], y_pred, side="left") - 1

    is_positive = (y_true != 0).astype(np.float32)
    if multi_label:
        columns = lambda a: a.reshape(a.shape[0], -1)
    else:
        columns = lambda a: a.reshape(-1, 1)
    bucket, is_positive, weights = columns(bucket), columns(is_positive), columns(weights)
    num_columns = bucket.shape[1]
    true_weights = is_positive * weights
    false_weights = (1.0 - is_positive) * weights

    tp = _counts_above_thresholds(bucket, true_weights, num_thresholds, num_columns)
    fp = _counts_above_thresholds(bucket, false_weights, num_thresholds, num_columns)
    if order is not None:  # back to the user's threshold order
        unsort = np.empty_like(order)
        unsort[order] = np.arange(num_thresholds)
        tp, fp = tp[unsort], fp[unsort]
    counts = {"tp": tp, "fp": fp,
              "fn": true_weights.sum(axis=0)[None, :] - tp,
              "tn": false_weights.sum(axis=0)[None, :] - fp}
    for key, variable in variables_to_update.items():
        amount = counts[key]
        if not multi_label:
            amount = amount[:, 0]
        variable.assign(variable.value + amount.astype(np.float32))


class _ConfusionMatrixConditionCount(Metric):
    """One accumulator of TP, FP, TN or FN per threshold."""

    _condition = None

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.thresholds = parse_init_thresholds(thresholds, default_threshold=0.5)
        self._thresholds_distributed_evenly = is_evenly_distributed_thresholds(
            self.thresholds)
        self.accumulator = self.add_variable((len(self.thresholds),), name="accumulator")

    def update_state(self, y_true, y_pred, sample_weight=None):
        update_confusion_matrix_variables(
            {self._condition: self.accumulator}, y_true, y_pred,
            thresholds=self.thresholds,
            thresholds_distributed_evenly=self._thresholds_distributed_evenly,
            sample_weight=sample_weight)

    def result(self):
        value = self.accumulator.value
        return as_result(value[0] if len(self.thresholds) == 1 else value)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "thresholds": self.init_thresholds}


class FalsePositives(_ConfusionMatrixConditionCount):
    _condition = "fp"

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(thresholds=thresholds, name=name, dtype=dtype)


class FalseNegatives(_ConfusionMatrixConditionCount):
    _condition = "fn"

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(thresholds=thresholds, name=name, dtype=dtype)


class TrueNegatives(_ConfusionMatrixConditionCount):
    _condition = "tn"

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(thresholds=thresholds, name=name, dtype=dtype)


class TruePositives(_ConfusionMatrixConditionCount):
    _condition = "tp"

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(thresholds=thresholds, name=name, dtype=dtype)


class _PrecisionRecallBase(Metric):
    """Shared state of Precision and Recall: TP plus FP or FN per threshold."""

    _other = None  # "fp" for precision, "fn" for recall

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None,
                 dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._direction = "up"   # for EarlyStopping/ModelCheckpoint mode='auto'
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        default_threshold = 0.5 if top_k is None else NEG_INF
        self.thresholds = parse_init_thresholds(thresholds, default_threshold)
        self._thresholds_distributed_evenly = is_evenly_distributed_thresholds(
            self.thresholds)
        n = len(self.thresholds)
        self.true_positives = self.add_variable((n,), name="true_positives")
        other_name = "false_positives" if self._other == "fp" else "false_negatives"
        self._other_counts = self.add_variable((n,), name=other_name)

    def update_state(self, y_true, y_pred, sample_weight=None):
        update_confusion_matrix_variables(
            {"tp": self.true_positives, self._other: self._other_counts},
            y_true, y_pred, thresholds=self.thresholds,
            thresholds_distributed_evenly=self._thresholds_distributed_evenly,
            top_k=self.top_k, class_id=self.class_id, sample_weight=sample_weight)

    def result(self):
        tp = self.true_positives.value
        value = divide_no_nan(tp, tp + self._other_counts.value)
        return as_result(value[0] if len(self.thresholds) == 1 else value)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype,
                "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_PrecisionRecallBase):
    _other = "fp"

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None,
                 dtype=None):
        super().__init__(thresholds, top_k, class_id, name=name, dtype=dtype)

    @property
    def false_positives(self):
        return self._other_counts


class Recall(_PrecisionRecallBase):
    _other = "fn"

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None,
                 dtype=None):
        super().__init__(thresholds, top_k, class_id, name=name, dtype=dtype)

    @property
    def false_negatives(self):
        return self._other_counts
