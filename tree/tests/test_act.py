"""Activation kernels, bias gradient, Dropout masks, pycnn.activations and the
activation layers, against the NumPy reference and finite differences."""
import numpy as np
import pytest

from pycnn import _C, activations
from pycnn.layers.activation import ELU, Activation, LeakyReLU, ReLU, Softmax
from pycnn.ops import act as ops
from pycnn.reference import act as ref
from pycnn.testing import assert_close, numerical_grad

CODES = list(range(11))
NAMES = ["linear", "relu", "sigmoid", "tanh", "elu", "selu", "gelu", "swish", "leaky_relu",
         "softplus", "softmax"]
SHAPES = [(1, 1), (7, 13), (3, 5, 17), (1000,), (2, 8193), (4, 1)]


@pytest.fixture
def threads():
    """Set the kernel thread count for a test, then restore it."""
    before = _C.get_num_threads()
    yield lambda n: _C.set_num_threads(n)
    _C.set_num_threads(before)


def sample(rng, shape, scale=3.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def uses_x(code, param=0.2):
    return activations.needs_input(code, param)


# ----- kernels vs reference --------------------------------------------------
@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_and_backward_match_reference(isa, rng, code, shape):
    x = sample(rng, shape)
    dy = sample(rng, shape, 1.0)
    y = ops.act_forward(x, code, 0.2)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert_close(y, ref.act_forward(x, code, 0.2), what=f"forward code {code}")
    xin = x if uses_x(code) else None
    dx = ops.act_backward(xin, y, dy, code, 0.2)
    assert_close(dx, ref.act_backward(xin, y, dy, code, 0.2), what=f"backward code {code}")


@pytest.mark.parametrize("code", CODES)
def test_extreme_inputs_stay_finite(isa, code):
    x = np.linspace(-100, 100, 4001, dtype=np.float32).reshape(1, -1)
    y = ops.act_forward(x, code, 0.2)
    assert np.isfinite(y).all()
    assert_close(y, ref.act_forward(x, code, 0.2), what=f"code {code}")
    dx = ops.act_backward(x if uses_x(code) else None, y, np.ones_like(x), code, 0.2)
    assert np.isfinite(dx).all()
    assert_close(dx, ref.act_backward(x if uses_x(code) else None, y, np.ones_like(x),
                                      code, 0.2), what=f"grad code {code}")


@pytest.mark.parametrize("code", [2, 3, 4, 5, 6, 7, 9])
def test_transcendental_codes_are_accurate_relative(isa, code):
    """Kernels use their own vectorised exp/log/erf: about 1e-6 relative."""
    x = np.concatenate([np.linspace(-20, 20, 8001), [1e-6, -1e-6, 1e-3]]).astype(np.float32)
    y = ops.act_forward(x, code).astype(np.float64)
    expected = ref.act_forward(x, code).astype(np.float64)
    significant = np.abs(expected) > 1e-30
    rel = np.abs(y - expected)[significant] / np.abs(expected)[significant]
    assert rel.max() < 2e-6


def test_gelu_is_exact_erf_form():
    import math
    x = np.linspace(-6, 6, 241)
    expected = [0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x]
    assert_close(ops.act_forward(x, 6), expected, rtol=1e-6, atol=1e-7)


def test_softmax_rows_sum_to_one_and_handle_large_logits(isa):
    x = np.array([[1000.0, 0.0, -1000.0], [5.0, 5.0, 5.0], [-100.0, -100.0, 100.0]],
                 np.float32)
    y = ops.act_forward(x, 10)
    assert np.isfinite(y).all()
    assert_close(y.sum(axis=1), np.ones(3))
    assert_close(y[1], np.full(3, 1 / 3))


@pytest.mark.parametrize("code", CODES)
def test_reference_gradients_match_finite_differences(rng, code):
    x = rng.standard_normal((3, 5)) * 2.0
    x = np.where(np.abs(x) < 0.05, 0.3, x)  # keep away from the kinks at 0
    w = rng.standard_normal(x.shape)
    y = ref._forward64(x, code, 0.2)
    analytic = ref.act_backward(x, y, w, code, 0.2)
    numeric = numerical_grad(lambda v: float(np.sum(w * ref._forward64(v, code, 0.2))), x)
    assert_close(analytic, numeric, rtol=1e-4, atol=1e-5, what=f"code {code}")


def test_backward_from_output_only(isa, rng):
    """Codes other than gelu/swish differentiate from y; x is optional."""
    x = sample(rng, (9, 11))
    for code in CODES:
        if uses_x(code):
            continue
        y = ops.act_forward(x, code, 0.2)
        dy = sample(rng, x.shape, 1.0)
        assert_close(ops.act_backward(None, y, dy, code, 0.2),
                     ops.act_backward(x, y, dy, code, 0.2), what=f"code {code}")


def test_leaky_relu_negative_slope_needs_x(rng):
    x = sample(rng, (4, 6))
    y = ops.act_forward(x, 8, -0.5)
    assert activations.needs_input(8, -0.5)
    assert_close(ops.act_backward(x, y, np.ones_like(x), 8, -0.5),
                 np.where(x > 0, 1.0, -0.5))
    with pytest.raises(ValueError):
        ops.act_backward(None, y, np.ones_like(x), 8, -0.5)


def test_bad_arguments_raise_value_error():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="unknown activation code"):
        ops.act_forward(x, 11)
    with pytest.raises(ValueError, match="pre-activation"):
        ops.act_backward(None, x, x, 6)
    with pytest.raises(ValueError, match="does not match"):
        ops.act_backward(None, x, np.zeros((3, 2), np.float32), 1)
    with pytest.raises(ValueError):
        ops.bias_act_forward(x, np.zeros(2, np.float32), 1)


# ----- bias gradient and fused bias + activation ------------------------------
@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (4, 7, 9, 3), (3000, 17), (10000, 2)])
def test_bias_grad_matches_reference(isa, rng, shape):
    dy = sample(rng, shape, 1.0)
    assert_close(ops.bias_grad(dy), ref.bias_grad(dy), rtol=1e-5)


def test_bias_grad_is_deterministic_across_threads(rng, threads):
    dy = sample(rng, (12345, 37), 1.0)
    threads(1)
    one = ops.bias_grad(dy)
    threads(2)
    two = ops.bias_grad(dy)
    assert np.array_equal(one, two)


@pytest.mark.parametrize("code", CODES)
def test_bias_act_forward_matches_reference(isa, rng, code):
    x = sample(rng, (6, 5, 19))
    bias = sample(rng, (19,), 1.0)
    assert_close(ops.bias_act_forward(x, bias, code, 0.2),
                 ref.bias_act_forward(x, bias, code, 0.2), what=f"code {code}")


# ----- Dropout ---------------------------------------------------------------
@pytest.mark.parametrize("rate", [0.0, 0.1, 0.5, 0.9])
def test_dropout_matches_reference_bit_for_bit(isa, rng, rate):
    x = sample(rng, (33, 257))
    y, mask = ops.dropout_forward(x, rate, 987654321)
    y_ref, mask_ref = ref.dropout_forward(x, rate, 987654321)
    assert np.array_equal(mask, mask_ref) and np.array_equal(y, y_ref)
    kept = np.mean(mask > 0)
    assert abs(kept - (1 - rate)) < 0.02
    assert np.allclose(mask[mask > 0], 1 / (1 - rate))
    dy = sample(rng, x.shape)
    assert np.array_equal(ops.dropout_backward(dy, mask), ref.dropout_backward(dy, mask))


def test_dropout_is_thread_independent_and_seeded(rng, threads):
    x = np.ones((300, 301), np.float32)
    threads(1)
    _, one = ops.dropout_forward(x, 0.3, 5)
    threads(2)
    _, two = ops.dropout_forward(x, 0.3, 5)
    _, other = ops.dropout_forward(x, 0.3, 6)
    assert np.array_equal(one, two)
    assert not np.array_equal(one, other)


def test_dropout_rejects_bad_rate():
    with pytest.raises(ValueError):
        ops.dropout_forward(np.zeros(3, np.float32), 1.0, 0)
    with pytest.raises(ValueError):
        ops.dropout_forward(np.zeros(3, np.float32), -0.1, 0)


# ----- pycnn.activations -------------------------------------------------------
@pytest.mark.parametrize("code,name", list(enumerate(NAMES)))
def test_get_by_name_and_function(code, name):
    act = activations.get(name)
    assert act.code == code
    fn = getattr(activations, name)
    assert activations.get(fn).code == code
    assert activations.serialize(fn) == ("silu" if name == "swish" else name)


def test_get_special_identifiers():
    assert activations.get(None).code == 0
    assert activations.get("silu").code == 7
    assert activations.get("leaky_relu").param == pytest.approx(0.2)
    assert activations.get("relu6").code is None
    custom = activations.get(lambda v: v * 2)
    assert custom.code is None and activations.needs_input(custom.code)
    with pytest.raises(ValueError):
        activations.get("no_such_activation")
    assert [activations.needs_input(c) for c in CODES] == [c in (6, 7) for c in CODES]


def test_functions_match_keras_formulas(rng):
    x = sample(rng, (4, 9))
    x64 = x.astype(np.float64)
    assert_close(activations.relu(x), np.maximum(x64, 0))
    assert_close(activations.relu(x, negative_slope=0.1), np.where(x64 > 0, x64, 0.1 * x64))
    assert_close(activations.relu(x, max_value=1.5), np.clip(x64, 0, 1.5))
    assert_close(activations.relu(x, threshold=1.0, negative_slope=0.1),
                 np.where(x64 > 1, x64, 0.1 * (x64 - 1)))
    assert_close(activations.elu(x, alpha=0.5), np.where(x64 > 0, x64, 0.5 * np.expm1(x64)))
    assert_close(activations.leaky_relu(x), np.where(x64 > 0, x64, 0.2 * x64))
    assert_close(activations.hard_sigmoid(x), np.clip(x64 + 3, 0, 6) / 6)
    assert_close(activations.softsign(x), x64 / (1 + np.abs(x64)))
    assert_close(activations.exponential(x), np.exp(x64), rtol=1e-6)
    assert_close(activations.gelu(x, approximate=True),
                 0.5 * x64 * (1 + np.tanh(np.sqrt(2 / np.pi) * (x64 + 0.044715 * x64 ** 3))))
    e = np.exp(x64 - x64.max(axis=0))
    assert_close(activations.softmax(x, axis=0), e / e.sum(axis=0))
    assert_close(np.exp(activations.log_softmax(x)), ref.act_forward(x, 10))


@pytest.mark.parametrize("name", ["relu6", "softsign", "exponential", "hard_sigmoid",
                                  "hard_silu", "mish", "log_softmax"])
def test_numpy_activations_backward_matches_finite_differences(rng, name):
    act = activations.get(name)
    x = (rng.standard_normal((3, 4)) * 2.5).astype(np.float32)
    x = np.where(np.abs(np.abs(x) - 3) < 0.1, 1.0, x).astype(np.float32)
    x = np.where(np.abs(x - 6) < 0.1, 5.0, x).astype(np.float32)
    w = rng.standard_normal(x.shape)
    y = act(x)
    numeric = numerical_grad(lambda v: float(np.sum(w * act(v.astype(np.float32)))), x,
                             eps=1e-2)
    assert_close(act.backward(x, y, w), numeric, rtol=2e-3, atol=2e-3, what=name)


def test_custom_callable_backward_by_differences(rng):
    act = activations.get(lambda v: v ** 3)
    x = sample(rng, (5,), 1.0)
    assert_close(act.backward(x, act(x), np.ones_like(x)), 3 * x.astype(np.float64) ** 2,
                 rtol=1e-3, atol=1e-3)


# ----- layers ------------------------------------------------------------------
def layer_grad(layer, x, dy):
    y, cache = layer.forward(x, training=True)
    dx, grads = layer.backward(cache, dy)
    assert grads == []
    return y, dx


@pytest.mark.parametrize("name", ["relu", "gelu", "softmax", "tanh", "relu6"])
def test_activation_layer(rng, name):
    layer = Activation(name)
    x = sample(rng, (2, 3, 7))
    dy = sample(rng, x.shape, 1.0)
    y, dx = layer_grad(layer, x, dy)
    act = activations.get(name)
    assert_close(y, act(x))
    assert_close(dx, act.backward(x, act(x), dy))
    assert layer.get_config()["activation"] == name


def test_relu_layer_variants(rng):
    x = sample(rng, (6, 10))
    x64 = x.astype(np.float64)
    dy = np.ones_like(x)
    y, dx = layer_grad(ReLU(), x, dy)
    assert_close(y, np.maximum(x64, 0)) and assert_close(dx, x64 > 0)
    y, dx = layer_grad(ReLU(max_value=1.0, negative_slope=0.1, threshold=0.5), x, dy)
    expected = np.where(x64 > 0.5, np.minimum(x64, 1.0), 0.1 * (x64 - 0.5))
    assert_close(y, expected)
    assert_close(dx, np.where(x64 > 0.5, (x64 < 1.0) * 1.0, 0.1))
    for bad in (dict(max_value=-1), dict(negative_slope=-0.1), dict(threshold=-1)):
        with pytest.raises(ValueError):
            ReLU(**bad)


def test_leaky_relu_and_elu_layers(rng):
    x = sample(rng, (5, 8))
    x64 = x.astype(np.float64)
    dy = sample(rng, x.shape, 1.0)
    y, dx = layer_grad(LeakyReLU(), x, dy)
    assert_close(y, np.where(x64 > 0, x64, 0.3 * x64))
    assert_close(dx, dy * np.where(x64 > 0, 1.0, 0.3))
    with pytest.raises(ValueError):
        LeakyReLU(negative_slope=-1)
    for alpha in (1.0, 0.5):
        y, dx = layer_grad(ELU(alpha=alpha), x, dy)
        assert_close(y, np.where(x64 > 0, x64, alpha * np.expm1(x64)))
        assert_close(dx, dy * np.where(x64 > 0, 1.0, alpha * np.exp(x64)))


@pytest.mark.parametrize("axis", [-1, 1, (1, 2)])
def test_softmax_layer_axes(rng, axis):
    x = sample(rng, (2, 3, 4))
    dy = sample(rng, x.shape, 1.0)
    y, dx = layer_grad(Softmax(axis=axis), x, dy)
    x64 = x.astype(np.float64)
    e = np.exp(x64 - x64.max(axis=axis, keepdims=True))
    s = e / e.sum(axis=axis, keepdims=True)
    assert_close(y, s)
    assert_close(dx, s * (dy - np.sum(dy * s, axis=axis, keepdims=True)))
