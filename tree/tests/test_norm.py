"""Batch normalization: kernels vs reference, reference vs finite differences,
thread-count determinism, and the BatchNormalization layer (Keras 3 rules)."""
import numpy as np
import pytest

from pycnn import _C
from pycnn.backend import StateUpdates
from pycnn.layers.normalization import BatchNormalization
from pycnn.ops import norm as ops
from pycnn.reference import norm as ref
from pycnn.testing import assert_close, numerical_grad

SHAPES = [(2, 3), (1, 1), (5, 7, 3), (4, 6, 6, 17), (64, 1), (3000, 5), (2, 9, 9, 64)]
EPS = 1e-3


@pytest.fixture
def threads():
    before = _C.get_num_threads()
    yield lambda n: _C.set_num_threads(n)
    _C.set_num_threads(before)


def data(rng, shape, shift=0.5, scale=2.0):
    return (rng.standard_normal(shape) * scale + shift).astype(np.float32)


def params(rng, c, with_gamma=True, with_beta=True):
    gamma = (rng.standard_normal(c) + 1.0).astype(np.float32) if with_gamma else None
    beta = rng.standard_normal(c).astype(np.float32) if with_beta else None
    return gamma, beta


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("affine", [(True, True), (False, False), (True, False)])
def test_train_forward_and_backward_match_reference(isa, rng, shape, affine):
    x = data(rng, shape)
    gamma, beta = params(rng, shape[-1], *affine)
    got = ops.batchnorm_train_forward(x, gamma, beta, EPS)
    want = ref.batchnorm_train_forward(x, gamma, beta, EPS)
    for g, w, name in zip(got, want, ["y", "mean", "var", "inv_std"]):
        assert g.dtype == np.float32
        assert_close(g, w, what=name)
    dy = data(rng, shape, 0.0, 1.0)
    _, mean, _, inv_std = got
    got = ops.batchnorm_backward(x, dy, gamma, mean, inv_std)
    want = ref.batchnorm_backward(x, dy, gamma, mean, inv_std)
    for g, w, name in zip(got, want, ["dx", "dgamma", "dbeta"]):
        assert_close(g, w, what=name)


@pytest.mark.parametrize("shape", SHAPES)
def test_infer_forward_and_backward_match_reference(isa, rng, shape):
    x = data(rng, shape)
    c = shape[-1]
    gamma, beta = params(rng, c)
    mm = rng.standard_normal(c).astype(np.float32)
    mv = rng.uniform(0.1, 3.0, c).astype(np.float32)
    assert_close(ops.batchnorm_infer_forward(x, gamma, beta, mm, mv, EPS),
                 ref.batchnorm_infer_forward(x, gamma, beta, mm, mv, EPS))
    dy = data(rng, shape, 0.0, 1.0)
    got = ops.batchnorm_infer_backward(x, dy, gamma, mm, mv, EPS)
    want = ref.batchnorm_infer_backward(x, dy, gamma, mm, mv, EPS)
    for g, w, name in zip(got, want, ["dx", "dgamma", "dbeta"]):
        assert_close(g, w, what=name)


def test_variance_is_accurate_with_a_large_mean(isa, rng):
    x = (1000.0 + rng.standard_normal((4096, 3)) * 0.01).astype(np.float32)
    _, mean, var, _ = ops.batchnorm_train_forward(x, None, None, EPS)
    x64 = x.astype(np.float64)
    assert_close(mean, x64.mean(0), rtol=1e-7, atol=0)
    assert_close(var, x64.var(0), rtol=1e-4, atol=1e-9)


def test_reference_train_gradients_match_finite_differences(rng):
    x = rng.standard_normal((6, 4)) * 1.5
    gamma = rng.standard_normal(4) + 1.0
    beta = rng.standard_normal(4)
    w = rng.standard_normal(x.shape)

    def loss(x_, g_, b_):
        return float(np.sum(w * ref.train_forward64(x_, g_, b_, EPS)[0]))

    _, mean, _, inv_std = ref.train_forward64(x, gamma, beta, EPS)
    dx, dgamma, dbeta = ref.batchnorm_backward(x, w, gamma, mean, inv_std)
    assert_close(dx, numerical_grad(lambda v: loss(v, gamma, beta), x), what="dx")
    assert_close(dgamma, numerical_grad(lambda v: loss(x, v, beta), gamma), what="dgamma")
    assert_close(dbeta, numerical_grad(lambda v: loss(x, gamma, v), beta), what="dbeta")


def test_reference_infer_gradients_match_finite_differences(rng):
    x = rng.standard_normal((5, 3))
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    mm, mv = rng.standard_normal(3), rng.uniform(0.5, 2.0, 3)
    w = rng.standard_normal(x.shape)

    def loss(x_, g_):
        inv = 1.0 / np.sqrt(mv + EPS)
        return float(np.sum(w * ((x_ - mm) * inv * g_ + beta)))

    dx, dgamma, _ = ref.batchnorm_infer_backward(x, w, gamma, mm, mv, EPS)
    assert_close(dx, numerical_grad(lambda v: loss(v, gamma), x))
    assert_close(dgamma, numerical_grad(lambda v: loss(x, v), gamma))


def test_results_do_not_depend_on_thread_count(rng, threads):
    x = data(rng, (20000, 24))
    dy = data(rng, x.shape, 0.0, 1.0)
    gamma, beta = params(rng, 24)
    runs = []
    for n in (1, 2):
        threads(n)
        fwd = ops.batchnorm_train_forward(x, gamma, beta, EPS)
        bwd = ops.batchnorm_backward(x, dy, gamma, fwd[1], fwd[3])
        runs.append(fwd + bwd)
    for a, b in zip(*runs):
        assert np.array_equal(a, b)


def test_bad_shapes_raise_value_error(rng):
    x = data(rng, (4, 3))
    with pytest.raises(ValueError, match="gamma"):
        ops.batchnorm_train_forward(x, np.ones(4, np.float32), None, EPS)
    with pytest.raises(ValueError, match="empty batch"):
        ops.batchnorm_train_forward(np.zeros((0, 3), np.float32), None, None, EPS)
    with pytest.raises(ValueError, match="moving_var"):
        ops.batchnorm_infer_forward(x, None, None, np.zeros(3, np.float32),
                                    np.ones(2, np.float32), EPS)
    with pytest.raises(ValueError, match="dy"):
        ops.batchnorm_backward(x, np.zeros((3, 4), np.float32), None,
                               np.zeros(3, np.float32), np.ones(3, np.float32))


# ----- the layer ----------------------------------------------------------------
def built_layer(input_shape, **kwargs):
    layer = BatchNormalization(**kwargs)
    layer.build((None,) + tuple(input_shape[1:]))
    return layer


def test_weights_order_shapes_and_flags():
    layer = built_layer((2, 5, 5, 8))
    assert [w.name for w in layer.weights] == ["gamma", "beta", "moving_mean",
                                               "moving_variance"]
    assert all(w.shape == (8,) for w in layer.weights)
    assert [w.name for w in layer.trainable_weights] == ["gamma", "beta"]
    assert layer.count_params() == 32
    assert [w.name for w in built_layer((2, 8), center=False).weights] == \
        ["gamma", "moving_mean", "moving_variance"]
    assert [w.name for w in built_layer((2, 8), scale=False).weights] == \
        ["beta", "moving_mean", "moving_variance"]


def test_training_call_records_keras_moving_update(rng):
    x = data(rng, (16, 4, 4, 3), 2.0, 3.0)
    layer = built_layer(x.shape, momentum=0.9)
    layer.moving_mean.assign(np.array([0.5, -1.0, 2.0]))
    mm0, mv0 = layer.moving_mean.numpy(), layer.moving_variance.numpy()
    with StateUpdates() as updates:
        y, _ = layer.forward(x, training=True)
        assert np.array_equal(layer.moving_mean.numpy(), mm0)  # not applied yet
    updates.apply()
    x64 = x.reshape(-1, 3).astype(np.float64)
    assert_close(layer.moving_mean.numpy(), mm0 * 0.9 + x64.mean(0) * 0.1, rtol=1e-6)
    assert_close(layer.moving_variance.numpy(), mv0 * 0.9 + x64.var(0) * 0.1, rtol=1e-6)
    assert_close(y, ref.batchnorm_train_forward(x, layer.gamma.value, layer.beta.value,
                                                0.001)[0])


def test_inference_and_frozen_layers_use_moving_statistics(rng):
    x = data(rng, (8, 5))
    layer = built_layer(x.shape)
    layer.set_weights([rng.standard_normal(5), rng.standard_normal(5),
                       rng.standard_normal(5), rng.uniform(0.5, 2, 5)])
    gamma, beta, mm, mv = layer.get_weights()
    expected = ref.batchnorm_infer_forward(x, gamma, beta, mm, mv, 0.001)
    y, cache = layer.forward(x, training=False)
    assert_close(y, expected)
    dy = data(rng, x.shape, 0.0, 1.0)
    dx, grads = layer.backward(cache, dy)
    want = ref.batchnorm_infer_backward(x, dy, gamma, mm, mv, 0.001)
    assert_close(dx, want[0])
    assert_close(grads[0], want[1]) and assert_close(grads[1], want[2])
    layer.trainable = False
    with StateUpdates() as updates:
        y, cache = layer.forward(x, training=True)
    assert updates.pending == []
    assert_close(y, expected)
    dx, grads = layer.backward(cache, dy)
    assert grads == [] and layer.trainable_weights == []
    assert_close(dx, want[0])


def test_training_backward_matches_reference(rng):
    x = data(rng, (6, 3, 3, 4))
    layer = built_layer(x.shape)
    layer.gamma.assign(rng.standard_normal(4))
    y, cache = layer.forward(x, training=True)
    dy = data(rng, x.shape, 0.0, 1.0)
    dx, grads = layer.backward(cache, dy)
    _, mean, _, inv_std = ref.batchnorm_train_forward(x, layer.gamma.value, None, 0.001)
    want = ref.batchnorm_backward(x, dy, layer.gamma.value, mean, inv_std)
    assert_close(dx, want[0])
    assert len(grads) == 2
    assert_close(grads[0], want[1]) and assert_close(grads[1], want[2])


def test_other_feature_axis_matches_channels_last(rng):
    x = data(rng, (4, 3, 5, 6))
    layer = built_layer(x.shape, axis=1)
    assert layer.gamma.shape == (3,)
    y, cache = layer.forward(x, training=True)
    want = ref.batchnorm_train_forward(np.moveaxis(x, 1, -1), None, None, 0.001)[0]
    assert_close(y, np.moveaxis(want, -1, 1))
    dy = data(rng, x.shape)
    dx, grads = layer.backward(cache, dy)
    assert dx.shape == x.shape and len(grads) == 2


def test_layer_errors_name_the_layer(rng):
    layer = built_layer((2, 4), name="bn_test")
    with pytest.raises(ValueError, match="bn_test"):
        layer.forward(data(rng, (2, 5)))
    with pytest.raises(ValueError, match="invalid axis 3"):
        built_layer((2, 4), axis=3)
    with pytest.raises(ValueError):
        BatchNormalization(axis=[1, 2])


def test_call_in_training_mode_updates_moving_stats(rng):
    x = data(rng, (10, 3), 1.0)
    layer = BatchNormalization()
    layer(x, training=True)  # outside a collector the update applies at once
    assert_close(layer.moving_mean.numpy(), 0.01 * x.astype(np.float64).mean(0), rtol=1e-5)
    cfg = layer.get_config()
    assert cfg["momentum"] == 0.99 and cfg["epsilon"] == 0.001 and cfg["axis"] == -1
