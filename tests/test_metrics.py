"""Metrics against values computed by Keras 3 (JAX backend) on the same data,
plus the vectorised AUC counting against a direct threshold-loop formula."""
import numpy as np
import pytest

from pycnn import metrics

Y_BIN = np.array([[0], [0], [1], [1], [1], [0], [1], [0]], "float32")
P_BIN = np.array([[0.1], [0.6], [0.35], [0.8], [0.5], [0.0], [1.0], [0.45]], "float32")
WEIGHTS = np.array([1, 2, 0.5, 1, 1, 3, 1, 0.25], "float32")
Y_CAT = np.eye(3, dtype="float32")[[0, 2, 1, 1, 0]]
Y_SPARSE = np.array([0, 2, 1, 1, 0])
P_CAT = np.array([[.7, .2, .1], [.1, .3, .6], [.5, .4, .1], [.2, .3, .5], [.4, .4, .2]],
                 "float32")

# (metric factory, args, value printed by Keras 3.15 for the same call)
KERAS_CASES = {
    "auc": (lambda: metrics.AUC(), (Y_BIN, P_BIN), 0.8125),
    "auc_weighted": (lambda: metrics.AUC(), (Y_BIN, P_BIN, WEIGHTS), 0.8571428656578064),
    "auc_pr": (lambda: metrics.AUC(curve="PR"), (Y_BIN, P_BIN), 0.8369187116622925),
    "auc_logits": (lambda: metrics.AUC(from_logits=True), (Y_BIN, P_BIN * 4 - 2), 0.8125),
    "auc_10": (lambda: metrics.AUC(num_thresholds=10), (Y_BIN, P_BIN), 0.78125),
    "auc_pr_majoring": (lambda: metrics.AUC(curve="PR", summation_method="majoring"),
                        (Y_BIN, P_BIN), 0.8541666865348816),
    "precision": (lambda: metrics.Precision(), (Y_BIN, P_BIN), 0.6666666865348816),
    "recall_weighted": (lambda: metrics.Recall(), (Y_BIN, P_BIN, WEIGHTS), 0.5714285969734192),
    "precision_thresholds": (lambda: metrics.Precision(thresholds=[0.3, 0.7]),
                             (Y_BIN, P_BIN), [0.6666666865348816, 1.0]),
    "precision_top1": (lambda: metrics.Precision(top_k=1), (Y_CAT, P_CAT), 0.6),
    "recall_class2": (lambda: metrics.Recall(class_id=2), (Y_CAT, P_CAT), 1.0),
    "false_negatives": (lambda: metrics.FalseNegatives(), (Y_BIN, P_BIN), 2.0),
    "false_positives_weighted": (lambda: metrics.FalsePositives(), (Y_BIN, P_BIN, WEIGHTS), 2.0),
    "true_negatives_3": (lambda: metrics.TrueNegatives(thresholds=[0.0, 0.5, 1.0]),
                         (Y_BIN, P_BIN), [1.0, 3.0, 4.0]),
    "true_positives": (lambda: metrics.TruePositives(), (Y_BIN, P_BIN), 2.0),
    "binary_accuracy": (lambda: metrics.BinaryAccuracy(), (Y_BIN, P_BIN), 0.625),
    "binary_accuracy_weighted": (lambda: metrics.BinaryAccuracy(threshold=0.4),
                                 (Y_BIN, P_BIN, WEIGHTS), 0.7179487347602844),
    "categorical_accuracy": (lambda: metrics.CategoricalAccuracy(), (Y_CAT, P_CAT), 0.6),
    "sparse_categorical_accuracy": (lambda: metrics.SparseCategoricalAccuracy(),
                                    (Y_SPARSE, P_CAT), 0.6),
    "top2": (lambda: metrics.TopKCategoricalAccuracy(k=2), (Y_CAT, P_CAT), 1.0),
    "mse": (lambda: metrics.MeanSquaredError(), (Y_CAT, P_CAT), 0.1573333442211151),
    "mae_weighted": (lambda: metrics.MeanAbsoluteError(),
                     (Y_CAT, P_CAT, np.array([1, 0, 2, 1, 1.])), 0.3733333647251129),
    "rmse": (lambda: metrics.RootMeanSquaredError(), (Y_CAT, P_CAT), 0.3966526687145233),
    "mean_weighted": (lambda: metrics.Mean(), ([1., 3, 5, 7], [1, 1, 0, 0]), 2.0),
    "sum": (lambda: metrics.Sum(), ([1., 3, 5, 7],), 16.0),
}


@pytest.mark.parametrize("case", sorted(KERAS_CASES))
def test_matches_keras(case):
    make, args, expected = KERAS_CASES[case]
    metric = make()
    metric.update_state(*args)
    np.testing.assert_allclose(metric.result(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", ["auc", "precision", "mse", "binary_accuracy_weighted"])
def test_batches_accumulate_and_reset(case):
    make, args, expected = KERAS_CASES[case]
    metric = make()
    n = len(args[0])
    for start, stop in [(0, 3), (3, n)]:
        metric.update_state(*[np.asarray(a)[start:stop] for a in args])
    np.testing.assert_allclose(metric.result(), expected, rtol=1e-5, atol=1e-6)
    metric.reset_state()
    assert all(not np.any(v.numpy()) for v in metric.variables)


def test_call_updates_and_returns_result():
    m = metrics.Mean()
    assert m([1.0, 3.0]) == 2.0
    assert m([5.0]) == 3.0      # state persists between calls


def test_default_names():
    expected = {
        metrics.MeanSquaredError: "mean_squared_error",
        metrics.MeanAbsoluteError: "mean_absolute_error",
        metrics.RootMeanSquaredError: "root_mean_squared_error",
        metrics.Accuracy: "accuracy", metrics.BinaryAccuracy: "binary_accuracy",
        metrics.CategoricalAccuracy: "categorical_accuracy",
        metrics.SparseCategoricalAccuracy: "sparse_categorical_accuracy",
        metrics.TopKCategoricalAccuracy: "top_k_categorical_accuracy",
        metrics.Mean: "mean", metrics.Sum: "sum",
    }
    for cls, name in expected.items():
        assert cls().name == name
        assert cls().name == name
    assert metrics.AUC().name.startswith("auc")


def test_auto_named_metrics_are_numbered():
    # Keras 3 gives these no fixed default name: auto_name numbers them per
    # session (a second Precision() is "precision_1"), as it does for layers.
    import pycnn
    pycnn.clear_session()
    for cls, name in {metrics.FalseNegatives: "false_negatives",
                      metrics.FalsePositives: "false_positives",
                      metrics.TrueNegatives: "true_negatives",
                      metrics.TruePositives: "true_positives",
                      metrics.Precision: "precision", metrics.Recall: "recall",
                      metrics.AUC: "auc"}.items():
        assert [cls().name, cls().name, cls(name="x").name] == [name, f"{name}_1", "x"]
    assert metrics.get("precision").name == "precision_2"
    pycnn.clear_session()


def _auc_by_threshold_loop(y, p, w, num_thresholds=200):
    """Keras's definition, written out threshold by threshold."""
    eps = 1e-7
    ts = [0 - eps] + [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)] \
        + [1 + eps]
    tp = np.array([np.sum(w * ((p > t) & (y == 1))) for t in ts])
    fp = np.array([np.sum(w * ((p > t) & (y == 0))) for t in ts])
    fn = np.array([np.sum(w * ((p <= t) & (y == 1))) for t in ts])
    tn = np.array([np.sum(w * ((p <= t) & (y == 0))) for t in ts])
    tpr = tp / np.maximum(tp + fn, 1e-30)
    fpr = fp / np.maximum(fp + tn, 1e-30)
    return np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2)


def test_vectorised_auc_matches_threshold_loop(rng):
    y = (rng.random(1000) > 0.4).astype("float32")
    # Scores on a coarse grid avoid float32 ties with the threshold grid.
    p = np.round(np.clip(0.3 * y + rng.random(1000) * 0.7, 0, 1), 3).astype("float32") + 1e-4
    w = rng.random(1000).astype("float32")
    m = metrics.AUC()
    m.update_state(y, p, w)
    assert m.result() == pytest.approx(_auc_by_threshold_loop(y, p, w), rel=1e-5)


def test_multi_label_auc_is_mean_of_per_label_auc(rng):
    y = (rng.random((200, 3)) > 0.5).astype("float32")
    p = rng.random((200, 3)).astype("float32")
    per_label = []
    for j in range(3):
        single = metrics.AUC()
        single.update_state(y[:, j], p[:, j])
        per_label.append(single.result())
    multi = metrics.AUC(multi_label=True)
    multi.update_state(y, p)
    assert multi.result() == pytest.approx(np.mean(per_label), rel=1e-6)
    assert multi.true_positives.shape == (200, 3)


def test_uneven_thresholds_keep_user_order():
    m = metrics.TruePositives(thresholds=[0.7, 0.2, 0.4])
    m.update_state([1, 1, 1, 0], [0.3, 0.5, 0.9, 0.95])
    np.testing.assert_array_equal(m.result(), [1, 3, 2])


def test_get_resolves_names():
    assert isinstance(metrics.get("mse"), metrics.MeanSquaredError)
    assert isinstance(metrics.get("mean_squared_error"), metrics.MeanSquaredError)
    assert isinstance(metrics.get("MeanSquaredError"), metrics.MeanSquaredError)
    assert isinstance(metrics.get("FalseNegatives"), metrics.FalseNegatives)
    assert isinstance(metrics.get("auc"), metrics.AUC)
    assert isinstance(metrics.get("AUC"), metrics.AUC)
    assert isinstance(metrics.get("binary_accuracy"), metrics.BinaryAccuracy)
    assert isinstance(metrics.get({"class_name": "Precision", "config": {"thresholds": 0.3}}),
                      metrics.Precision)
    m = metrics.Recall()
    assert metrics.get(m) is m
    with pytest.raises(ValueError):
        metrics.get("no_such_metric")


@pytest.mark.parametrize("y_shape, p_shape, cls", [
    ((8, 1), (8, 1), metrics.BinaryAccuracy),
    ((8,), (8, 1), metrics.BinaryAccuracy),
    ((8,), (8, 10), metrics.SparseCategoricalAccuracy),
    ((8, 1), (8, 10), metrics.SparseCategoricalAccuracy),
    ((8, 10), (8, 10), metrics.CategoricalAccuracy),
])
def test_compile_accuracy_from_shapes(y_shape, p_shape, cls):
    m = metrics.resolve_compile_metric("accuracy", "mse", np.zeros(y_shape), np.zeros(p_shape))
    assert type(m) is cls and m.name == "accuracy"
    assert metrics.resolve_compile_metric("acc", None, y_shape, p_shape).name == "acc"


def test_compile_accuracy_from_loss_when_shapes_unknown():
    pick = lambda loss: type(metrics.resolve_compile_metric("accuracy", loss))
    assert pick("binary_crossentropy") is metrics.BinaryAccuracy
    assert pick("sparse_categorical_crossentropy") is metrics.SparseCategoricalAccuracy
    assert pick("categorical_crossentropy") is metrics.CategoricalAccuracy


def test_compile_metric_names_follow_user_strings():
    resolve = lambda ident: metrics.resolve_compile_metric(ident, "mse", (4, 1), (4, 1))
    assert resolve("MeanSquaredError").name == "MeanSquaredError"
    assert resolve("FalseNegatives").name == "FalseNegatives"
    assert resolve("mse").name == "mse"
    assert resolve(metrics.AUC(name="my_auc")).name == "my_auc"
    wrapped = resolve(lambda yt, yp: np.abs(np.asarray(yt) - np.asarray(yp)))
    assert isinstance(wrapped, metrics.MeanMetricWrapper) and wrapped.name == "<lambda>"


def test_bad_arguments_raise():
    with pytest.raises(ValueError):
        metrics.Precision(thresholds=[1.5])
    with pytest.raises(ValueError):
        metrics.AUC(curve="bogus")
    with pytest.raises(ValueError):
        metrics.AUC(num_thresholds=1)
    with pytest.raises(ValueError):
        metrics.Recall().update_state(np.zeros((4, 2)), np.zeros((4, 3)))
