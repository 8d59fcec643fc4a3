"""Metrics with the Keras 3 API (``pycnn.metrics`` mirrors ``keras.metrics``)."""
import inspect

from pycnn.backend import to_snake_case
from pycnn.metrics.auc import AUC
from pycnn.metrics.base import Mean, MeanMetricWrapper, Metric, Sum
from pycnn.metrics.confusion import (FalseNegatives, FalsePositives, Precision,
                                     Recall, TrueNegatives, TruePositives)
from pycnn.metrics.functions import (MAE, MAPE, MSE, accuracy, binary_accuracy,
                                     categorical_accuracy, mae, mape,
                                     mean_absolute_error,
                                     mean_absolute_percentage_error,
                                     mean_squared_error, mse,
                                     sparse_categorical_accuracy,
                                     sparse_top_k_categorical_accuracy,
                                     top_k_categorical_accuracy)
from pycnn.metrics.wrappers import (Accuracy, BinaryAccuracy, CategoricalAccuracy,
                                    MeanAbsoluteError, MeanAbsolutePercentageError,
                                    MeanSquaredError, RootMeanSquaredError,
                                    SparseCategoricalAccuracy,
                                    SparseTopKCategoricalAccuracy,
                                    TopKCategoricalAccuracy)

ALL_OBJECTS = [
    Metric, Mean, Sum, MeanMetricWrapper,
    MeanSquaredError, RootMeanSquaredError, MeanAbsoluteError,
    MeanAbsolutePercentageError,
    AUC, FalseNegatives, FalsePositives, Precision, Recall, TrueNegatives,
    TruePositives,
    Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
    TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy,
]
# Class names and their snake_case forms, as keras.metrics.ALL_OBJECTS_DICT.
ALL_OBJECTS_DICT = {cls.__name__: cls for cls in ALL_OBJECTS}
ALL_OBJECTS_DICT.update({to_snake_case(cls.__name__): cls for cls in ALL_OBJECTS})
ALL_OBJECTS_DICT.update({
    "mse": MeanSquaredError, "MSE": MeanSquaredError,
    "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
    "mape": MeanAbsolutePercentageError, "MAPE": MeanAbsolutePercentageError,
})


def serialize(metric):
    return {"class_name": type(metric).__name__, "config": metric.get_config()}


def deserialize(config, custom_objects=None):
    objects = dict(ALL_OBJECTS_DICT)
    objects.update(custom_objects or {})
    name = config["class_name"]
    if name not in objects:
        raise ValueError(f"Could not interpret metric identifier: {config}")
    return objects[name].from_config(config.get("config", {}))


def get(identifier):
    """A metric instance (or function) from a name, class, config or object,
    as ``keras.metrics.get``."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        obj = ALL_OBJECTS_DICT.get(identifier, None)
    else:
        obj = identifier
    if callable(obj):
        if inspect.isclass(obj):
            obj = obj()
        return obj
    raise ValueError(f"Could not interpret metric identifier: {identifier}")


def _shape_of(x):
    if x is None:
        return None
    if hasattr(x, "shape"):
        return tuple(x.shape)
    return tuple(x)


_LOSS_TO_ACCURACY = {
    "binary_crossentropy": "binary", "BinaryCrossentropy": "binary",
    "bce": "binary", "binary_focal_crossentropy": "binary",
    "sparse_categorical_crossentropy": "sparse",
    "SparseCategoricalCrossentropy": "sparse",
    "categorical_crossentropy": "categorical",
    "CategoricalCrossentropy": "categorical",
}


def _accuracy_kind_from_loss(loss):
    if loss is None:
        return None
    name = loss if isinstance(loss, str) else \
        getattr(loss, "__name__", None) or type(loss).__name__
    return _LOSS_TO_ACCURACY.get(name)


def resolve_compile_metric(identifier, loss=None, y_true=None, y_pred=None):
    """One entry of ``compile(metrics=[...])`` as a Metric object, following
    Keras 3 ``compile_utils.get_metric``.

    'accuracy'/'acc' becomes BinaryAccuracy, SparseCategoricalAccuracy or
    CategoricalAccuracy. Keras 3 decides from the shapes of ``y_true`` and
    ``y_pred`` (arrays or shape tuples); the loss is only consulted when the
    shapes are not given. The metric is named by the string the user wrote
    (so history keys read 'accuracy', 'mse', 'MeanSquaredError'), otherwise
    by the object's (or function's) own name.
    """
    if identifier is None:
        raise ValueError("Expected metric, received `None`")
    if str(identifier).lower() in ("accuracy", "acc"):
        kind = _accuracy_kind(y_true, y_pred, loss)
        cls = {"binary": BinaryAccuracy, "sparse": SparseCategoricalAccuracy,
               "categorical": CategoricalAccuracy}[kind]
        metric = cls(name=str(identifier))
    else:
        metric = get(identifier)
    if isinstance(identifier, str):
        name = identifier
    elif isinstance(metric, Metric):
        name = metric.name
    else:
        name = getattr(metric, "__name__", None) or to_snake_case(type(metric).__name__)
    if not isinstance(metric, Metric):
        metric = MeanMetricWrapper(metric)
    metric.name = name
    return metric


def _accuracy_kind(y_true, y_pred, loss):
    true_shape, pred_shape = _shape_of(y_true), _shape_of(y_pred)
    if true_shape is not None and pred_shape is not None and pred_shape:
        # keras.trainers.compile_utils.is_binary_or_sparse_categorical
        true_last = true_shape[-1] if true_shape else None
        if pred_shape[-1] == 1:
            return "binary"
        if len(true_shape) < len(pred_shape) or (true_last == 1 and pred_shape[-1] > 1):
            return "sparse"
        return "categorical"
    return _accuracy_kind_from_loss(loss) or "categorical"


__all__ = [cls.__name__ for cls in ALL_OBJECTS] + [
    "get", "serialize", "deserialize", "resolve_compile_metric",
    "accuracy", "binary_accuracy", "categorical_accuracy",
    "sparse_categorical_accuracy", "top_k_categorical_accuracy",
    "sparse_top_k_categorical_accuracy", "mean_squared_error",
    "mean_absolute_error", "mean_absolute_percentage_error",
    "mse", "mae", "mape", "MSE", "MAE", "MAPE"]
