"""Loss kernels (C++ vs NumPy reference on every ISA, reference vs finite
differences) and the Keras-compatible pycnn.losses API (values from Keras 3)."""
import numpy as np
import pytest

from pycnn import losses
from pycnn.ops import loss as ops_loss
from pycnn.reference import loss as ref_loss
from pycnn.testing import assert_close, numerical_grad

SHAPES = [(1, 1), (1, 5), (7, 3), (33, 10), (4, 2, 6)]


def _targets(rng, shape, kind):
    if kind == "binary":
        return rng.integers(0, 2, shape).astype(np.float32)
    if kind == "onehot":
        return np.eye(shape[-1], dtype=np.float32)[rng.integers(0, shape[-1], shape[:-1])]
    return rng.standard_normal(shape).astype(np.float32)


def _cases(rng, shape):
    """(name, ops/ref function name, y_true, y_pred, extra args)."""
    probs = rng.uniform(0.02, 0.98, shape).astype(np.float32)
    logits = (rng.standard_normal(shape) * 3).astype(np.float32)
    labels = rng.integers(0, shape[-1], shape[:-1])
    return [
        ("mse", "mean_squared_error", _targets(rng, shape, "real"), logits, ()),
        ("mae", "mean_absolute_error", _targets(rng, shape, "real"), logits, ()),
        ("bce", "binary_crossentropy", _targets(rng, shape, "binary"), probs, (False,)),
        ("bce_logits", "binary_crossentropy", _targets(rng, shape, "binary"), logits, (True,)),
        ("cce", "categorical_crossentropy", _targets(rng, shape, "onehot"), probs, (0,)),
        ("cce_soft", "categorical_crossentropy", probs[..., ::-1].copy(), probs, (0,)),
        ("cce_logits", "categorical_crossentropy", _targets(rng, shape, "onehot"), logits, (1,)),
        ("scce", "sparse_categorical_crossentropy", labels, probs, (0,)),
        ("scce_logits", "sparse_categorical_crossentropy", labels, logits, (1,)),
        ("scce_ignore", "sparse_categorical_crossentropy", labels, logits, (1, 0)),
    ]


@pytest.mark.parametrize("shape", SHAPES)
def test_kernels_match_reference(isa, rng, shape):
    for name, fn, y_true, y_pred, extra in _cases(rng, shape):
        row_scale = rng.random(shape[:-1]).astype(np.float32)
        got_loss, got_grad = getattr(ops_loss, fn)(y_true, y_pred, *extra, row_scale=row_scale)
        want_loss, want_grad = getattr(ref_loss, fn)(y_true, y_pred, *extra, row_scale=row_scale)
        assert_close(got_loss, want_loss, what=f"{name} loss {shape} {isa}")
        assert_close(got_grad, want_grad, what=f"{name} grad {shape} {isa}")
        value_only, no_grad = getattr(ops_loss, fn)(y_true, y_pred, *extra, need_grad=False)
        assert no_grad is None
        assert_close(value_only, want_loss, what=f"{name} value-only {shape}")


@pytest.mark.parametrize("shape", [(1, 3), (4, 5)])
def test_reference_gradients_match_finite_differences(rng, shape):
    for name, fn, y_true, y_pred, extra in _cases(rng, shape):
        reference = getattr(ref_loss, fn)
        total = lambda p: float(np.sum(reference(y_true, p, *extra, need_grad=False)[0]
                                       .astype(np.float64)))
        _, grad = reference(y_true, y_pred, *extra)
        numeric = numerical_grad(total, y_pred.astype(np.float64), eps=1e-3)
        assert_close(grad, numeric, rtol=2e-2, atol=2e-3, what=f"{name} finite differences")


def test_fused_softmax_crossentropy_gradient(isa, rng):
    logits = (rng.standard_normal((9, 6)) * 2).astype(np.float64)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs = (probs / probs.sum(-1, keepdims=True)).astype(np.float32)
    onehot = np.eye(6, dtype=np.float32)[rng.integers(0, 6, 9)]
    labels = onehot.argmax(-1)
    _, fused = ops_loss.categorical_crossentropy(onehot, probs, ops_loss.SOFTMAX_OUTPUT_GRAD_LOGITS)
    _, through_logits = ops_loss.categorical_crossentropy(onehot, logits, ops_loss.LOGITS)
    assert_close(fused, through_logits, what="fused cce vs logits")
    _, fused_sparse = ops_loss.sparse_categorical_crossentropy(
        labels, probs, ops_loss.SOFTMAX_OUTPUT_GRAD_LOGITS)
    assert_close(fused_sparse, through_logits, what="fused sparse cce vs logits")
    _, ref = ref_loss.categorical_crossentropy(onehot, probs, 2)
    assert_close(fused, ref, what="fused vs reference")


def test_edge_values_are_finite_and_keras_exact(isa):
    # Probabilities exactly 0 and 1 are clipped to [1e-7, 1 - 1e-7]; no gradient there.
    value, grad = losses.BinaryCrossentropy().value_and_grad([[0.0, 1.0]], [[1.0, 0.0]])
    assert value == pytest.approx(16.03023910522461, rel=1e-6)
    assert np.all(grad == 0)
    value, grad = losses.BinaryCrossentropy(from_logits=True).value_and_grad(
        [[0.0, 1.0]], [[100.0, -100.0]])
    assert value == pytest.approx(100.0, rel=1e-6) and np.all(np.isfinite(grad))
    assert losses.BinaryCrossentropy(from_logits=True)([[1.0, 0.0]], [[100.0, -100.0]]) < 1e-30
    value, grad = losses.CategoricalCrossentropy(from_logits=True).value_and_grad(
        [[0.0, 1.0, 0.0]], [[100.0, -100.0, 3.0]])
    assert value == pytest.approx(200.0, rel=1e-6)
    assert_close(grad, [[1.0, -1.0, 0.0]])
    # One class: log-softmax is 0, the loss and its gradient vanish.
    value, grad = losses.CategoricalCrossentropy(from_logits=True).value_and_grad(
        np.ones((3, 1)), [[5.0], [-2.0], [0.0]])
    assert value == 0.0 and np.all(grad == 0)


# Values computed with Keras 3.15 (JAX backend): docstring examples and more.
KERAS_VALUES = [
    (losses.MeanSquaredError(), [1.0, 0.0, 1.0], [0.9, 0.1, 0.8], 0.02),
    (losses.BinaryCrossentropy(reduction=None), [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]],
     [0.9162907, 0.7135582]),
    (losses.CategoricalCrossentropy(reduction=None), [[0, 1, 0], [0, 0, 1]],
     [[0.05, 0.95, 0], [0.1, 0.8, 0.1]], [0.0512933, 2.3025851]),
    (losses.SparseCategoricalCrossentropy(reduction=None), [1, 2],
     [[0.05, 0.95, 0], [0.1, 0.8, 0.1]], [0.0512933, 2.3025851]),
    (losses.MeanAbsoluteError(), [[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 0.0]], 0.5),
]


@pytest.mark.parametrize("loss,y_true,y_pred,want", KERAS_VALUES)
def test_known_keras_values(loss, y_true, y_pred, want):
    got = loss(np.array(y_true), np.array(y_pred))
    assert_close(got, np.array(want, np.float32), rtol=1e-5)


def test_keras_values_and_gradients_random_batch():
    """Value and d loss / d y_pred from keras (jax.value_and_grad) on fixed data."""
    y_true = np.array([[1, 0, 0], [0, 0, 1]], np.float32)
    y_pred = np.array([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]], np.float32)
    value, grad = losses.CategoricalCrossentropy().value_and_grad(y_true, y_pred)
    assert value == pytest.approx(0.948560, rel=1e-5)
    # d/dp of -log(p_k / sum p) / 2 with sum p = 1: (1 - 1/p_k at k, else 1) / 2
    assert_close(grad, [[-0.5, 0.5, 0.5], [0.5, 0.5, 0.5 - 0.5 / 0.3]], rtol=1e-5)
    value, grad = losses.MeanSquaredError().value_and_grad([[1.0], [2.0]], [[0.0], [4.0]])
    assert value == pytest.approx(2.5) and np.allclose(grad, [[-1.0], [2.0]])


def test_reductions_and_sample_weight():
    y_true = np.array([[0.0, 1.0], [1.0, 1.0], [0.0, 0.0]], np.float32)
    y_pred = np.array([[0.5, 0.5], [1.0, 0.0], [2.0, 0.0]], np.float32)
    per_sample = np.array([0.25, 0.5, 2.0])
    sw = np.array([1.0, 2.0, 0.5])
    assert losses.MeanSquaredError()(y_true, y_pred) == pytest.approx(per_sample.mean())
    assert losses.MeanSquaredError(reduction="sum")(y_true, y_pred) == pytest.approx(2.75)
    assert_close(losses.MeanSquaredError(reduction=None)(y_true, y_pred), per_sample)
    assert_close(losses.MeanSquaredError(reduction="none")(y_true, y_pred), per_sample)
    assert losses.MeanSquaredError()(y_true, y_pred, sample_weight=sw) == \
        pytest.approx((per_sample * sw).sum() / 3)
    assert losses.MeanSquaredError(reduction="mean_with_sample_weight")(
        y_true, y_pred, sample_weight=sw) == pytest.approx((per_sample * sw).sum() / sw.sum())
    value, grad = losses.MeanSquaredError().value_and_grad(y_true, y_pred, sample_weight=sw)
    want = 2 * (y_pred - y_true) / 2 * sw[:, None] / 3
    assert value == pytest.approx((per_sample * sw).sum() / 3)
    assert_close(grad, want)
    with pytest.raises(ValueError):
        losses.MeanSquaredError(reduction="avg")


def test_ignore_class_averages_over_valid_entries():
    y_pred = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]], np.float32)
    loss = losses.SparseCategoricalCrossentropy(ignore_class=-1)
    want = (-np.log(0.9) - np.log(0.8)) / 2
    assert loss([0, 1, -1], y_pred) == pytest.approx(want, rel=1e-5)
    _, grad = loss.value_and_grad([0, 1, -1], y_pred)
    assert np.all(grad[2] == 0)


def test_shape_handling_as_keras():
    # (N,) labels against (N, 1) predictions are expanded, the gradient keeps y_pred's shape.
    value, grad = losses.BinaryCrossentropy().value_and_grad([1, 0, 1], [[0.8], [0.3], [0.6]])
    assert grad.shape == (3, 1)
    assert value == pytest.approx(np.mean(-np.log([0.8, 0.7, 0.6])), rel=1e-5)
    _, grad = losses.MeanSquaredError().value_and_grad([[1.0], [0.0]], [0.5, 0.5])
    assert grad.shape == (2,)
    assert losses.SparseCategoricalCrossentropy()([[1], [0]], [[0.3, 0.7], [0.6, 0.4]]) == \
        pytest.approx(np.mean(-np.log([0.7, 0.6])), rel=1e-5)


def test_bad_inputs_raise_value_error():
    with pytest.raises(ValueError, match=r"\(4, 3\).*\(4, 2\)"):
        losses.MeanSquaredError()(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="different lengths"):
        losses.BinaryCrossentropy()(np.zeros((5, 1)), np.zeros((4, 1)))
    with pytest.raises(ValueError, match="NaN"):
        losses.MeanSquaredError()(np.array([[np.nan]]), np.zeros((1, 1)))
    with pytest.raises(ValueError, match=r"sparse_categorical_crossentropy.*\(3,\).*\(3, 4\)"):
        losses.SparseCategoricalCrossentropy()([0, 4, 1], np.full((3, 4), 0.25))
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        losses.SparseCategoricalCrossentropy()([0, -1, 1], np.full((3, 4), 0.25))
    with pytest.raises(ValueError, match="empty"):
        losses.MeanSquaredError()(np.zeros((0, 2)), np.zeros((0, 2)))


def test_kernel_checks_labels_before_writing(isa):
    with pytest.raises(ValueError, match="outside"):
        ops_loss.sparse_categorical_crossentropy(np.array([0, 9]), np.full((2, 3), 0.3))
    with pytest.raises(ValueError):
        ops_loss.mean_squared_error(np.zeros((2, 3)), np.zeros((3, 2)))


def test_names_get_and_functions():
    assert losses.BinaryCrossentropy().name == "binary_crossentropy"
    assert losses.CategoricalCrossentropy().name == "categorical_crossentropy"
    assert losses.SparseCategoricalCrossentropy().name == "sparse_categorical_crossentropy"
    assert losses.MeanSquaredError().name == "mean_squared_error"
    assert losses.MeanAbsoluteError().name == "mean_absolute_error"
    assert losses.get("mse") is losses.mean_squared_error
    assert losses.get("mean_absolute_error") is losses.mean_absolute_error
    assert isinstance(losses.get("MeanSquaredError"), losses.MeanSquaredError)
    assert isinstance(losses.get(losses.BinaryCrossentropy), losses.BinaryCrossentropy)
    instance = losses.CategoricalCrossentropy(from_logits=True)
    assert losses.get(instance) is instance
    assert isinstance(losses.get({"class_name": "CategoricalCrossentropy",
                                  "config": {"from_logits": True}}),
                      losses.CategoricalCrossentropy)
    with pytest.raises(ValueError):
        losses.get("no_such_loss")
    wrapped = losses.as_loss("binary_crossentropy")
    value, grad = wrapped.value_and_grad([[1.0]], [[0.5]])
    assert wrapped.name == "binary_crossentropy" and value == pytest.approx(np.log(2), rel=1e-6)
    assert_close(losses.mse([[1.0, 2.0]], [[0.0, 0.0]]), [2.5])
    assert_close(losses.sparse_categorical_crossentropy([1], [[1.0, 2.0]], from_logits=True),
                 [np.log1p(np.exp(-1.0))])
    config = losses.BinaryCrossentropy(label_smoothing=0.1).get_config()
    assert config["label_smoothing"] == 0.1 and config["name"] == "binary_crossentropy"
    assert losses.BinaryCrossentropy.from_config(config).label_smoothing == 0.1


def test_results_do_not_depend_on_thread_count(rng):
    import pycnn
    y_true = np.eye(50, dtype=np.float32)[rng.integers(0, 50, 4000)]
    y_pred = rng.standard_normal((4000, 50)).astype(np.float32)
    before = pycnn.get_num_threads()
    try:
        pycnn.set_num_threads(1)
        one = ops_loss.categorical_crossentropy(y_true, y_pred, 1)
        pycnn.set_num_threads(2)
        two = ops_loss.categorical_crossentropy(y_true, y_pred, 1)
    finally:
        pycnn.set_num_threads(before)
    assert np.array_equal(one[0], two[0]) and np.array_equal(one[1], two[1])
