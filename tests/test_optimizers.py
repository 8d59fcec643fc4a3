"""Optimizer kernels (C++ vs NumPy reference on every ISA) and the Keras 3
optimizer API: first steps equal Keras's numbers, failed steps change nothing."""
import numpy as np
import pytest

from pycnn import backend, optimizers
from pycnn.ops import optim as ops_optim
from pycnn.optimizers import schedules
from pycnn.reference import optim as ref_optim
from pycnn.testing import assert_close

# (kernel, slot count, slot initial value, keyword arguments)
KERNEL_CASES = [
    ("sgd_update", 0, 0.0, dict(lr=0.05, momentum=0.0, nesterov=False)),
    ("sgd_update", 1, 0.0, dict(lr=0.05, momentum=0.9, nesterov=False)),
    ("sgd_update", 1, 0.0, dict(lr=0.05, momentum=0.9, nesterov=True, decay=0.01)),
    ("adam_update", 2, 0.0, dict(alpha=0.003, beta_1=0.9, beta_2=0.999, epsilon=1e-7)),
    ("adam_update", 3, 0.0, dict(alpha=0.003, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                                 decay=0.004)),
    ("rmsprop_update", 1, 0.0, dict(lr=0.01, rho=0.9, momentum=0.0, epsilon=1e-7)),
    ("rmsprop_update", 3, 0.0, dict(lr=0.01, rho=0.9, momentum=0.5, epsilon=1e-7)),
    ("adagrad_update", 1, 0.1, dict(lr=0.01, epsilon=1e-7, decay=0.001)),
]


def _slot_args(kernel, slots):
    """Positional slot arguments for a kernel, None for unused ones."""
    if kernel == "sgd_update":
        return [slots[0] if slots else None]
    if kernel == "adam_update":
        return [slots[0], slots[1], slots[2] if len(slots) > 2 else None]
    if kernel == "rmsprop_update":
        return [slots[0], slots[1] if len(slots) > 1 else None,
                slots[2] if len(slots) > 2 else None]
    return [slots[0]]


@pytest.mark.parametrize("size", [1, 7, 1000, 70001])
@pytest.mark.parametrize("case", range(len(KERNEL_CASES)))
def test_kernels_match_reference_over_steps(isa, rng, case, size):
    kernel, nslots, init, kwargs = KERNEL_CASES[case]
    param = rng.standard_normal(size).astype(np.float32)
    ref_param = param.copy()
    slots = [np.full(size, init, np.float32) for _ in range(nslots)]
    ref_slots = [s.copy() for s in slots]
    for _ in range(3):
        grad = rng.standard_normal(size).astype(np.float32)
        getattr(ops_optim, kernel)(param, grad, *_slot_args(kernel, slots), **kwargs)
        getattr(ref_optim, kernel)(ref_param, grad, *_slot_args(kernel, ref_slots), **kwargs)
    assert_close(param, ref_param, rtol=1e-6, atol=1e-6, what=f"{kernel} param")
    for got, want in zip(slots, ref_slots):
        assert_close(got, want, rtol=1e-6, atol=1e-6, what=f"{kernel} slot")


def test_kernel_rejects_copies_and_shape_mismatch():
    param = np.zeros(4, np.float64)  # a float32 copy would be updated instead: refuse
    with pytest.raises(TypeError):
        ops_optim.sgd_update(param, np.zeros(4), None, 0.1, 0.0, False)
    with pytest.raises(ValueError, match="grad"):
        ops_optim.sgd_update(np.zeros(4, np.float32), np.zeros(5), None, 0.1, 0.0, False)
    with pytest.raises(ValueError, match="m shape"):
        ops_optim.adam_update(np.zeros(4, np.float32), np.zeros(4), np.zeros(3, np.float32),
                              np.zeros(4, np.float32), None, 0.1, 0.9, 0.999, 1e-7)


# First two steps on w = [1, -2] with gradients [0.5, -1] then [0.25, 2],
# computed with Keras 3.15 (JAX backend), default arguments.
KERAS_TWO_STEPS = [
    (lambda: optimizers.Adam(), [[0.9990000128746033, -1.9989999532699585],
                                 [0.9980678558349609, -1.999366044998169]]),
    (lambda: optimizers.SGD(momentum=0.9), [[0.9950000047683716, -1.9900000095367432],
                                            [0.9879999756813049, -2.000999927520752]]),
    (lambda: optimizers.RMSprop(), [[0.9968377351760864, -1.9968377351760864],
                                    [0.9953632950782776, -1.99969482421875]]),
    (lambda: optimizers.Adagrad(), [[0.9991548657417297, -1.9990465641021729],
                                    [0.9987655878067017, -1.9999321699142456]]),
    (lambda: optimizers.AdamW(), [[0.9989960193634033, -1.9989919662475586],
                                  [0.998059868812561, -1.9993500709533691]]),
]


@pytest.mark.parametrize("make,want", KERAS_TWO_STEPS)
def test_first_two_steps_equal_keras(isa, make, want):
    opt = make()
    w = backend.Variable([1.0, -2.0], name="w")
    for grad, expected in zip(([0.5, -1.0], [0.25, 2.0]), want):
        opt.apply_gradients([(np.array(grad, np.float32), w)])
        np.testing.assert_allclose(w.numpy(), expected, rtol=2e-7, atol=1e-7)
    assert opt.iterations == 2


def test_sgd_rules_by_hand():
    w = backend.Variable([1.0], name="w")
    optimizers.SGD().apply([np.array([2.0])], [w])
    assert w.numpy()[0] == pytest.approx(1.0 - 0.01 * 2.0)
    w = backend.Variable([1.0], name="w")
    opt = optimizers.SGD(learning_rate=0.1, momentum=0.5, nesterov=True)
    opt.apply([np.array([1.0])], [w])  # m = -0.1; w += 0.5 * m - 0.1 = -0.15
    assert w.numpy()[0] == pytest.approx(0.85)


def test_failed_step_changes_nothing():
    a = backend.Variable(np.ones((2, 3)), name="a")
    b = backend.Variable(np.ones(4), name="b")
    opt = optimizers.Adam()
    opt.apply([np.ones((2, 3)), np.ones(4)], [a, b])
    snapshot = [a.numpy(), b.numpy()] + [s.numpy() for s in opt.variables[2:]]
    with pytest.raises(ValueError, match="'b'.*(NaN|infinite)"):
        opt.apply([np.ones((2, 3)), np.array([1.0, np.nan, 0.0, 0.0])], [a, b])
    with pytest.raises(ValueError, match=r"\(3, 2\).*'a'.*\(2, 3\)"):
        opt.apply([np.ones((3, 2)), np.ones(4)], [a, b])
    after = [a.numpy(), b.numpy()] + [s.numpy() for s in opt.variables[2:]]
    assert all(np.array_equal(x, y) for x, y in zip(snapshot, after))
    assert opt.iterations == 1


def test_slots_are_lazy_and_state_round_trips():
    a = backend.Variable(np.ones(3), name="a")
    b = backend.Variable(np.ones(2), name="b")
    opt = optimizers.Adam(learning_rate=0.01)
    assert len(opt.variables) == 2  # iteration, learning_rate
    opt.apply([np.ones(3)], [a])
    assert len(opt.variables) == 4
    opt.apply([np.ones(3), np.full(2, 0.5)], [a, b])
    state = opt.get_state()
    assert [np.shape(s) for s in state] == [(), (), (3,), (3,), (2,), (2,)]
    assert int(state[0]) == 2
    fresh = optimizers.Adam(learning_rate=0.01)
    a2 = backend.Variable(a.numpy(), name="a")
    b2 = backend.Variable(b.numpy(), name="b")
    fresh.set_state(state, variables=[a2, b2])
    grads = [np.full(3, 0.3), np.full(2, -0.2)]
    opt.apply(grads, [a, b])
    fresh.apply(grads, [a2, b2])
    assert np.array_equal(a.numpy(), a2.numpy()) and np.array_equal(b.numpy(), b2.numpy())
    with pytest.raises(ValueError):
        optimizers.Adam().set_state(state)


def test_rmsprop_state_order_follows_keras():
    a = backend.Variable(np.ones(3), name="a")
    b = backend.Variable(np.ones(2), name="b")
    opt = optimizers.RMSprop(momentum=0.5)
    opt.apply([np.ones(3), np.ones(2)], [a, b])
    names = [v.name for v in opt.variables]
    assert names == ["iteration", "learning_rate", "a_velocity", "b_velocity",
                     "a_momentum", "b_momentum"]


def test_clipping_and_weight_decay():
    w = backend.Variable([0.0, 0.0], name="w")
    optimizers.SGD(learning_rate=1.0, clipnorm=1.0).apply([np.array([3.0, 4.0])], [w])
    assert_close(w.numpy(), [-0.6, -0.8])
    w = backend.Variable([0.0, 0.0], name="w")
    optimizers.SGD(learning_rate=1.0, clipvalue=0.5).apply([np.array([3.0, -0.25])], [w])
    assert_close(w.numpy(), [-0.5, 0.25])
    w1, w2 = backend.Variable([0.0], name="w1"), backend.Variable([0.0], name="w2")
    optimizers.SGD(learning_rate=1.0, global_clipnorm=1.0).apply(
        [np.array([3.0]), np.array([4.0])], [w1, w2])
    assert_close([w1.numpy()[0], w2.numpy()[0]], [-0.6, -0.8])
    with pytest.raises(ValueError):
        optimizers.SGD(clipnorm=1.0, clipvalue=1.0)
    w = backend.Variable([2.0], name="w")
    optimizers.SGD(learning_rate=0.1, weight_decay=0.5).apply([np.array([0.0])], [w])
    assert w.numpy()[0] == pytest.approx(2.0 - 2.0 * 0.5 * 0.1)


def test_learning_rate_property_and_schedules():
    opt = optimizers.Adam()
    assert opt.learning_rate == pytest.approx(0.001)
    opt.learning_rate = 0.5
    assert opt.learning_rate == 0.5
    schedule = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    opt = optimizers.SGD(learning_rate=schedule)
    w = backend.Variable([0.0], name="w")
    for _ in range(10):
        opt.apply([np.array([1.0])], [w])
    assert opt.learning_rate == pytest.approx(0.05)
    expected = -sum(0.1 * 0.5 ** (i / 10) for i in range(10))
    assert w.numpy()[0] == pytest.approx(expected, rel=1e-5)
    with pytest.raises(TypeError):
        opt.learning_rate = 0.1
    assert schedules.ExponentialDecay(1.0, 10, 0.5, staircase=True)(15) == pytest.approx(0.5)
    piecewise = schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    assert [float(piecewise(s)) for s in (0, 10, 11, 20, 21)] == [1.0, 1.0, 0.5, 0.5,
                                                                   pytest.approx(0.1)]
    cosine = schedules.CosineDecay(1.0, decay_steps=100, alpha=0.1)
    assert cosine(0) == pytest.approx(1.0) and cosine(100) == pytest.approx(0.1)
    assert cosine(50) == pytest.approx(0.55, rel=1e-5) and cosine(500) == pytest.approx(0.1)
    warm = schedules.CosineDecay(0.0, 100, warmup_target=1.0, warmup_steps=10)
    assert warm(5) == pytest.approx(0.5) and warm(10) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        optimizers.Adam(learning_rate="fast")


def test_get_and_config():
    for name, cls in [("sgd", optimizers.SGD), ("adam", optimizers.Adam),
                      ("AdamW", optimizers.AdamW), ("RMSPROP", optimizers.RMSprop),
                      ("adagrad", optimizers.Adagrad)]:
        assert type(optimizers.get(name)) is cls
    adam = optimizers.Adam(learning_rate=0.01)
    assert optimizers.get(adam) is adam
    # Keras's message names the string as given
    with pytest.raises(ValueError, match="identifier: no_such_optimizer$"):
        optimizers.get("no_such_optimizer")
    config = optimizers.AdamW().get_config()
    assert config["weight_decay"] == 0.004 and config["learning_rate"] == pytest.approx(0.001)
    assert config["beta_1"] == 0.9 and config["epsilon"] == 1e-7 and not config["amsgrad"]
    assert optimizers.SGD().get_config()["learning_rate"] == pytest.approx(0.01)
    rms = optimizers.RMSprop.from_config(optimizers.RMSprop(rho=0.8, centered=True).get_config())
    assert rms.rho == 0.8 and rms.centered
    scheduled = optimizers.Adam(learning_rate=schedules.CosineDecay(0.1, 100))
    restored = optimizers.deserialize(optimizers.serialize(scheduled))
    assert isinstance(restored._learning_rate, schedules.CosineDecay)
    assert optimizers.Adagrad().get_config()["initial_accumulator_value"] == 0.1
    with pytest.raises(ValueError):
        optimizers.Adam(unknown_argument=1)


# ----- the finite check shared by the optimizer step and the fit / predict inputs ----------
@pytest.mark.parametrize("n", [0, 1, 15, 16, 17, 4096, 100_003])
def test_all_finite_matches_reference(isa, rng, n):
    from pycnn import _C
    from pycnn.reference import optim as ref
    x = rng.standard_normal(n).astype(np.float32) * 1e30   # large but finite
    assert _C.all_finite(x) is ref.all_finite(x) is True
    for value in (np.nan, np.inf, -np.inf):
        for pos in {0, n // 2, n - 1} if n else ():
            y = x.copy()
            y[pos] = value
            assert _C.all_finite(y) is ref.all_finite(y) is False, (value, pos)


def test_all_finite_rejects_other_dtypes():
    from pycnn import _C
    with pytest.raises(TypeError):
        _C.all_finite(np.zeros(3))      # float64: never silently copied


def test_fit_and_predict_reject_nan_inputs_by_name():
    from pycnn import Sequential, layers
    m = Sequential([layers.Input((4,)), layers.Dense(2)])
    m.compile(optimizer="sgd", loss="mse")
    x = np.ones((8, 4), np.float32)
    x[5, 2] = np.inf
    with pytest.raises(ValueError, match="NaN or Inf"):
        m.predict(x, verbose=0)
    with pytest.raises(ValueError, match="NaN or Inf"):
        m.fit(x, np.zeros((8, 2), np.float32), verbose=0)


def test_polynomial_and_restart_schedules_equal_keras():
    # keras.optimizers.schedules values for steps 0..11 (Keras 3.15)
    cases = [
        (schedules.PolynomialDecay(0.1, 4, end_learning_rate=0.01, power=2, cycle=True),
         [0.1, 0.060625, 0.0325, 0.015625, 0.01, 0.0226563, 0.015625, 0.0114063, 0.01,
          0.015625, 0.0125, 0.010625]),
        (schedules.PolynomialDecay(0.1, 5),
         [0.1, 0.08002, 0.06004, 0.04006, 0.02008] + [0.0001] * 7),
        (schedules.CosineDecayRestarts(0.1, 3),
         [0.1, 0.075, 0.025, 0.1, 0.0933013, 0.075, 0.05, 0.025, 0.0066987, 0.1, 0.0982963,
          0.0933013]),
        (schedules.CosineDecayRestarts(0.2, 3, t_mul=1.5, m_mul=0.8),
         [0.2, 0.15, 0.05, 0.16, 0.1412836, 0.0938919, 0.04, 0.0048246, 0.1262749, 0.1130268,
          0.0893491, 0.0602787]),
    ]
    for schedule, want in cases:
        assert [float(schedule(i)) for i in range(12)] == pytest.approx(want, abs=2e-7)
        clone = optimizers.deserialize(optimizers.serialize(optimizers.SGD(schedule)))
        assert float(clone._learning_rate(5)) == pytest.approx(want[5], abs=2e-7)


def test_gradient_accumulation_equals_keras():
    # Keras 3.15, same model/data: losses, iterations (updates), first kernel
    # row and BatchNormalization's moving mean after 2 epochs of 5 batches.
    import pycnn as keras
    rng = np.random.default_rng(3)
    x = rng.standard_normal((10, 3)).astype("float32")
    y = rng.standard_normal((10, 2)).astype("float32")
    cases = [
        (lambda: optimizers.SGD(0.1, momentum=0.5, gradient_accumulation_steps=2),
         [4.92625, 1.29551], 5, [0.34885, 0.82435, 0.34012, -1.3029]),
        (lambda: optimizers.Adam(0.05, gradient_accumulation_steps=3),
         [7.99372, 5.25346], 3, [0.20664, 0.96886, 0.35943, -1.40058]),
        (lambda: optimizers.RMSprop(0.01, gradient_accumulation_steps=2, clipnorm=0.1),
         [7.85898, 6.01293], 5, [0.286, 0.90691, 0.36505, -1.32012]),
    ]
    for make, losses, iterations, row in cases:
        m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"),
                              keras.layers.BatchNormalization(), keras.layers.Dense(2)])
        r = np.random.default_rng(1)
        m.set_weights([np.abs(r.standard_normal(w.shape)).astype("float32") + 0.5
                       if "variance" in w.path else r.standard_normal(w.shape).astype("float32")
                       for w in m.weights])
        opt = make()
        m.compile(opt, "mse")
        h = m.fit(x, y, epochs=2, batch_size=2, shuffle=False, verbose=0).history
        assert h["loss"] == pytest.approx(losses, abs=3e-5)
        assert opt.iterations == iterations
        np.testing.assert_allclose(m.get_weights()[0][0], row, atol=2e-5)
    with pytest.raises(ValueError, match=">= 2"):
        optimizers.SGD(gradient_accumulation_steps=1)
