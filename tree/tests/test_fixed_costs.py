"""Fast paths of a training step: fused multi-tensor optimizer step, scalar
metric state, one-call losses, softmax + crossentropy logits gradient and
the caching allocator behind _C's output arrays."""
import numpy as np
import pytest

from pycnn import _C, layers, metrics, models, optimizers


def test_optimizer_step_nonfinite_changes_nothing():
    p = [np.ones(5, np.float32), np.ones((2, 3), np.float32)]
    m = [np.zeros_like(a) for a in p]
    v = [np.zeros_like(a) for a in p]
    grads = [np.full(5, 0.5, np.float32), np.array([[1, 2, np.inf]] * 2, np.float32)]
    before = [a.copy() for a in p + m + v]
    assert _C.optimizer_step(1, p, grads, [m, v, None], [0.001, 0.9, 0.999, 1e-7], 1) == 1
    assert all(np.array_equal(a, b) for a, b in zip(p + m + v, before))


def test_optimizer_step_checks_shapes_before_writing():
    p = [np.ones(5, np.float32), np.ones(3, np.float32)]
    acc = [np.full_like(a, 0.1) for a in p]
    with pytest.raises(ValueError, match="grads\\[1\\]"):
        _C.optimizer_step(3, p, [np.ones(5, np.float32), np.ones(4, np.float32)], [acc],
                          [0.1, 1e-7], 1)
    assert np.all(p[0] == 1) and np.all(acc[0] == np.float32(0.1))


@pytest.mark.parametrize("opt", [
    optimizers.SGD(0.1), optimizers.SGD(0.1, momentum=0.9, nesterov=True),
    optimizers.Adam(), optimizers.AdamW(), optimizers.Adam(amsgrad=True),
    optimizers.RMSprop(momentum=0.5, centered=True), optimizers.Adagrad()])
def test_fused_step_matches_per_variable_kernels(opt):
    rng = np.random.default_rng(0)
    shapes = [(3, 4), (4,), (7,)]
    from pycnn.backend import Variable
    fused = [Variable(rng.standard_normal(s), f"w{i}") for i, s in enumerate(shapes)]
    ref = [Variable(v.numpy(), v.name) for v in fused]
    ref_opt = type(opt).from_config(opt.get_config())
    for step in range(3):
        grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        opt.apply(grads, fused)
        ref_opt._apply_per_variable(grads, ref, ref_opt._current_learning_rate())
    for a, b in zip(fused, ref):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=2e-6, atol=1e-7)


def test_mean_metric_scalar_state_and_variables():
    m = metrics.Mean()
    m.update_state(np.array([1, 2, 3], np.float32))
    m.update_state(2.0, sample_weight=4)
    assert m.result() == pytest.approx((6 + 8) / 7)
    assert [float(v.numpy()) for v in m.variables] == [14.0, 7.0]
    assert float(m.total.numpy()) == 14.0
    m.reset_state()
    assert m.result() == 0.0 and all(not np.any(v.numpy()) for v in m.variables)


def _softmax_model():
    m = models.Sequential([layers.Dense(6, activation="relu", input_shape=(4,)),
                           layers.Dense(3, activation="softmax")])
    rng = np.random.default_rng(1)
    m.set_weights([rng.standard_normal(w.shape).astype(np.float32) * 2
                   for w in m.get_weights()])
    return m


@pytest.mark.parametrize("loss", ["categorical_crossentropy",
                                  "sparse_categorical_crossentropy"])
def test_softmax_crossentropy_logits_gradient_matches_unfused(loss):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 4)).astype(np.float32)
    labels = rng.integers(0, 3, 16)
    y = labels if loss.startswith("sparse") else np.eye(3, dtype=np.float32)[labels]
    runs = []
    for fused in (True, False):
        m = _softmax_model()
        m.compile("adam", loss, metrics=["accuracy"])
        if not fused:
            m._logits_grad_layer = lambda: None
        else:
            assert m._logits_grad_layer() is m.layers[-1]
        logs = [m.train_on_batch(x, y) for _ in range(5)]
        runs.append((m.get_weights(), logs))
    for a, b in zip(runs[0][0], runs[1][0]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(runs[0][1], runs[1][1], rtol=1e-6)


def test_output_arrays_reuse_cached_memory():
    a = np.ones((64, 64), np.float32)
    _C.gemm(a, a)  # warm the cache for this size
    before = _C.allocator_stats()
    for _ in range(10):
        _C.gemm(a, a)
    after = _C.allocator_stats()
    assert after["misses"] == before["misses"]
    assert after["live_bytes"] == before["live_bytes"]
    out = _C.gemm(a, a)
    assert out.flags.writeable and out.flags.c_contiguous
    np.testing.assert_allclose(out, a @ a)
