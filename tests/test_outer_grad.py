"""Dense kernel gradients handed to Adam as the pair (x, dz) standing for
x^T dz (pycnn/ops/outer_grad.py, adam_update_outer): the same step as with
the gradient array, every ISA; fallbacks and checks."""
import numpy as np
import pytest

import pycnn
from pycnn import _C, layers, optimizers
from pycnn.ops import outer_grad
from pycnn.ops.gemm import gemm
from pycnn.reference import optim as ref_optim
from pycnn.testing import assert_close

ADAM = 1


def _state(rng, rows, cols, amsgrad=False):
    w = rng.standard_normal((rows, cols)).astype(np.float32)
    m = (rng.standard_normal((rows, cols)) * 0.1).astype(np.float32)
    v = np.abs(rng.standard_normal((rows, cols)) * 0.01).astype(np.float32)
    vh = np.abs(rng.standard_normal((rows, cols)) * 0.01).astype(np.float32) if amsgrad else None
    return w, m, v, vh


def _step(w, m, v, vh, grad, decay=0.0, step=3):
    slots = [[m], [v], [vh] if vh is not None else None]
    return _C.optimizer_step(ADAM, [w], [grad], slots, [1e-3, 0.9, 0.999, 1e-7], step, decay)


@pytest.mark.parametrize("batch,rows,cols", [(16, 300, 128), (1, 70, 64), (5, 33, 70),
                                             (64, 129, 200), (3, 17, 1), (2, 20, 1100)])
@pytest.mark.parametrize("amsgrad,decay", [(False, 0.0), (True, 0.0), (False, 0.004)])
def test_adam_from_pair_matches_adam_from_array(isa, batch, rows, cols, amsgrad, decay):
    rng = np.random.default_rng(rows * cols + batch)
    a = rng.standard_normal((batch, rows)).astype(np.float32)
    b = rng.standard_normal((batch, cols)).astype(np.float32)
    want = _state(rng, rows, cols, amsgrad)
    got = [None if s is None else s.copy() for s in want]
    assert _step(*want, gemm(a, b, trans_a=True), decay) == -1
    assert _step(*got, (a, b), decay) == -1
    for g, w in zip(got, want):
        if w is not None:
            # The same sums, in the same order except where the GEMM splits a
            # thin tile's K into two interleaved halves: last-bit differences.
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_adam_from_pair_matches_reference(isa, rng):
    a = rng.standard_normal((8, 50)).astype(np.float32)
    b = rng.standard_normal((8, 40)).astype(np.float32)
    got = _state(rng, 50, 40, True)
    want = [s.copy() for s in got]
    assert _step(*got, (a, b), 0.002, step=1) == -1
    t = np.float32(1)
    alpha = np.float32(1e-3) * np.sqrt(1 - np.float32(0.999) ** t) / (1 - np.float32(0.9) ** t)
    ref_optim.adam_update_outer(want[0], a, b, want[1], want[2], want[3], alpha, 0.9, 0.999,
                                1e-7, 0.002)
    for g, w in zip(got, want):
        assert_close(g, w, what=f"adam from pair {isa}")


def test_pair_that_is_not_finite_changes_nothing(rng):
    w, m, v, _ = _state(rng, 40, 20)
    before = [w.copy(), m.copy(), v.copy()]
    a = rng.standard_normal((4, 40)).astype(np.float32)
    b = rng.standard_normal((4, 20)).astype(np.float32)
    a_nan = a.copy()
    a_nan[2, 7] = np.nan
    assert _step(w, m, v, None, (a_nan, b)) == 0
    # Finite inputs whose products overflow: no shortcut, the sum is checked.
    assert _step(w, m, v, None, (a * np.float32(1e30), b * np.float32(1e20))) == 0
    for x, y in zip((w, m, v), before):
        np.testing.assert_array_equal(x, y)


def test_pair_shapes_are_checked(rng):
    w, m, v, _ = _state(rng, 40, 20)
    a = rng.standard_normal((4, 40)).astype(np.float32)
    b = rng.standard_normal((4, 20)).astype(np.float32)
    with pytest.raises(ValueError, match=r"grads\[0\].*\(3, 40\).*\(4, 20\).*\(40, 20\)"):
        _step(w, m, v, None, (a[:3], b))
    with pytest.raises(ValueError, match="param's shape"):
        _step(w, m, v, None, (a[:, :30], b))
    with pytest.raises(ValueError, match="pair"):
        _step(w, m, v, None, (a, b, b))


def test_other_optimizers_take_the_pair_as_its_product(rng):
    w = rng.standard_normal((30, 10)).astype(np.float32)
    w2 = w.copy()
    a = rng.standard_normal((4, 30)).astype(np.float32)
    b = rng.standard_normal((4, 10)).astype(np.float32)
    assert _C.optimizer_step(0, [w], [(a, b)], [None], [0.1, 0.0, 0.0], 1) == -1
    assert _C.optimizer_step(0, [w2], [gemm(a, b, trans_a=True)], [None], [0.1, 0.0, 0.0], 1) == -1
    np.testing.assert_array_equal(w, w2)


def test_outer_product_grad_reads_as_its_array(rng):
    a = rng.standard_normal((3, 8)).astype(np.float32)
    b = rng.standard_normal((3, 5)).astype(np.float32)
    g = outer_grad.OuterProductGrad(a, b)
    assert g.shape == (8, 5)
    np.testing.assert_allclose(np.asarray(g), a.T @ b, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(g.numpy(), gemm(a, b, trans_a=True))


def _train(optimizer, monkeypatch, pairs, steps=3):
    monkeypatch.setattr(outer_grad, "MIN_ELEMENTS", 1 if pairs else 1 << 62)
    rng = np.random.default_rng(7)
    pycnn.utils.set_random_seed(3)
    model = pycnn.Sequential([layers.InputLayer(shape=(6, 6, 2)), layers.Flatten(),
                              layers.Dense(16, activation="relu"), layers.Dense(3)])
    model.compile(optimizer=optimizer, loss="mse")
    x = rng.standard_normal((5, 6, 6, 2)).astype(np.float32)
    y = rng.standard_normal((5, 3)).astype(np.float32)
    for _ in range(steps):
        model.train_on_batch(x, y)
    return [w.numpy() for w in model.weights]


@pytest.mark.parametrize("make", [
    lambda: optimizers.Adam(1e-2),
    lambda: optimizers.AdamW(1e-2, weight_decay=0.01),
    lambda: optimizers.Adam(1e-2, clipnorm=0.5),
    lambda: optimizers.SGD(1e-2, momentum=0.9),
])
def test_training_step_with_pairs_matches_arrays(monkeypatch, make):
    calls = []
    original = outer_grad.OuterProductGrad.__init__
    monkeypatch.setattr(outer_grad.OuterProductGrad, "__init__",
                        lambda self, a, b: calls.append(1) or original(self, a, b))
    with_pairs = _train(make(), monkeypatch, True)
    opt = make()
    assert bool(calls) == opt._sums_outer_grads()  # pairs only where Adam sums them
    plain = _train(opt, monkeypatch, False)
    for a, b in zip(with_pairs, plain):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
