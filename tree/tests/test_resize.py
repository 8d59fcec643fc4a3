"""Resize kernels (separable tap tables) vs the dense NumPy reference on
every ISA, the reference backward vs finite differences, Keras 3 numbers,
and the UpSampling1D / UpSampling2D / Resizing layers."""
import numpy as np
import pytest

import pycnn
from pycnn.layers.resizing import Resizing, UpSampling1D, UpSampling2D
from pycnn.ops import pool as ops
from pycnn.reference import pool as ref
from pycnn.testing import assert_close, numerical_grad


def det(shape, a):
    """Deterministic inputs shared with the script that produced the Keras numbers."""
    n = int(np.prod(shape))
    return np.sin(np.arange(n) * a + 0.3).reshape(shape).astype(np.float32)


def fingerprint(y):
    y = np.asarray(y, np.float64)
    return float((y * det(y.shape, 0.11)).sum())


def assert_keras(y, shape, value):
    assert y.shape == shape
    assert abs(fingerprint(y) - value) < 1e-4 * max(1.0, abs(value))


# keras.ops.image.resize (Keras 3.15, JAX) of det(x_shape, 0.37): shape, fingerprint
RESIZE_KERAS = [
    (((2, 5, 4, 3), (10, 8), "bilinear", False), (2, 10, 8, 3), -3.09535),
    (((1, 7, 6, 2), (3, 4), "bilinear", False), (1, 3, 4, 2), 0.13541),
    (((1, 7, 6, 2), (3, 4), "bilinear", True), (1, 3, 4, 2), 0.01956),
    (((2, 5, 7, 1), (8, 3), "nearest", False), (2, 8, 3, 1), 1.33064),
    (((1, 6, 9, 2), (13, 5), "nearest", False), (1, 13, 5, 2), 1.51127),
    (((1, 9, 8, 2), (4, 11), "bicubic", False), (1, 4, 11, 2), -1.47419),
    (((1, 9, 8, 2), (4, 11), "bicubic", True), (1, 4, 11, 2), -0.87533),
    (((1, 6, 6, 1), (9, 4), "lanczos3", True), (1, 9, 4, 1), 1.95822),
    (((1, 6, 6, 1), (9, 4), "lanczos5", False), (1, 9, 4, 1), 1.75872),
    (((1, 4, 6, 2), (4, 3), "bilinear", True), (1, 4, 3, 2), 0.21737),
]


@pytest.mark.parametrize("case,shape,value", RESIZE_KERAS)
def test_resize_matches_keras(isa, case, shape, value):
    x_shape, size, method, antialias = case
    x = det(x_shape, 0.37)
    assert_keras(ops.resize2d_forward(x, size, method, antialias), shape, value)
    assert_keras(ref.resize2d_forward(x, size, method, antialias), shape, value)


SHAPES = [((2, 5, 4, 3), (10, 8)), ((1, 7, 6, 2), (3, 4)), ((3, 1, 1, 5), (4, 3)),
          ((1, 9, 8, 1), (9, 17)), ((2, 33, 20, 16), (64, 7)), ((1, 6, 9, 2), (6, 9))]


@pytest.mark.parametrize("method", ["nearest", "bilinear", "bicubic", "lanczos3"])
@pytest.mark.parametrize("antialias", [False, True])
@pytest.mark.parametrize("x_shape,size", SHAPES)
def test_kernels_match_reference(isa, rng, method, antialias, x_shape, size):
    x = rng.standard_normal(x_shape).astype(np.float32)
    y = ops.resize2d_forward(x, size, method, antialias)
    assert_close(y, ref.resize2d_forward(x, size, method, antialias), what=f"forward {isa}")
    dy = rng.standard_normal(y.shape).astype(np.float32)
    assert_close(ops.resize2d_backward(dy, x_shape, method, antialias),
                 ref.resize2d_backward(dy, x_shape, method, antialias), what=f"backward {isa}")


@pytest.mark.parametrize("method,antialias", [("bilinear", False), ("bilinear", True),
                                              ("bicubic", False), ("nearest", False)])
def test_reference_backward_matches_finite_differences(rng, method, antialias):
    x = rng.standard_normal((1, 4, 5, 2))
    w = rng.standard_normal((1, 7, 3, 2))

    def loss(v):
        return float(np.sum(w * ref.resize2d_forward(v, (7, 3), method, antialias)))

    assert_close(ref.resize2d_backward(w, x.shape, method, antialias),
                 numerical_grad(loss, x), rtol=1e-3, what=method)


def test_same_results_with_one_and_two_threads(rng):
    x = rng.standard_normal((3, 40, 30, 8)).astype(np.float32)
    dy = rng.standard_normal((3, 75, 61, 8)).astype(np.float32)
    before = pycnn.get_num_threads()
    try:
        results = []
        for n in (1, 2):
            pycnn.set_num_threads(n)
            results.append((ops.resize2d_forward(x, (75, 61)),
                            ops.resize2d_backward(dy, x.shape)))
    finally:
        pycnn.set_num_threads(before)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_tables_are_normalised_and_transposed_consistently():
    for method in ("bilinear", "bicubic", "lanczos5"):
        offsets, index, weights = ops.resize_tables(7, 3, method, True)
        sums = np.add.reduceat(weights, offsets[:-1])
        np.testing.assert_allclose(sums, 1.0, rtol=1e-6)
        dense = np.zeros((3, 7))
        np.add.at(dense, (np.repeat(np.arange(3), np.diff(offsets)), index), weights)
        t_off, t_idx, t_w = ops.resize_tables_transposed(7, 3, method, True)
        dense_t = np.zeros((7, 3))
        np.add.at(dense_t, (np.repeat(np.arange(7), np.diff(t_off)), t_idx), t_w)
        np.testing.assert_array_equal(dense.T, dense_t)


@pytest.mark.parametrize("call", [
    lambda: ops.resize2d_forward(np.zeros((2, 4, 4)), (3, 3)),
    lambda: ops.resize2d_forward(np.zeros((2, 0, 4, 1)), (3, 3)),
    lambda: ops.resize2d_forward(np.zeros((2, 4, 4, 1)), (3, 3), "area"),
    lambda: ops.resize2d_backward(np.zeros((2, 3, 3, 2)), (2, 4, 4, 1)),
    lambda: pycnn._C.resample_axis(np.zeros((2, 4), np.float32), 1, 2, np.array([0, 1, 2]),
                                   np.array([0, 9]), np.ones(2, np.float32)),
    lambda: pycnn._C.resample_axis(np.zeros((2, 4), np.float32), 1, 2, np.array([0, 2, 1]),
                                   np.array([0, 1]), np.ones(2, np.float32)),
    lambda: pycnn._C.resample_axis(np.zeros((2, 4), np.float32), 2, 2, np.array([0, 1, 2]),
                                   np.array([0, 1]), np.ones(2, np.float32)),
])
def test_bad_arguments_raise_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_empty_batch():
    y = ops.resize2d_forward(np.zeros((0, 4, 5, 2)), (8, 3))
    assert y.shape == (0, 8, 3, 2)
    assert ops.resize2d_backward(y, (0, 4, 5, 2)).shape == (0, 4, 5, 2)


# ----- layers ------------------------------------------------------------------
@pytest.mark.parametrize("size,interpolation,shape,value", [  # Keras 3.15 on det((2,4,5,3))
    ((2, 2), "nearest", (2, 8, 10, 3), -1.8789),
    ((2, 3), "bilinear", (2, 8, 15, 3), 13.25674),
    ((3, 1), "bilinear", (2, 12, 5, 3), -2.92383),
    ((1, 2), "nearest", (2, 4, 10, 3), -5.49237),
])
def test_upsampling2d_matches_keras(size, interpolation, shape, value):
    layer = UpSampling2D(size, interpolation=interpolation)
    x = det((2, 4, 5, 3), 0.37)
    y, cache = layer.forward(x)
    assert_keras(y, shape, value)
    assert layer.compute_output_shape((None, 4, None, 3)) == \
        (None, 4 * size[0], None, 3)
    dy = det(y.shape, 0.7)
    dx, grads = layer.backward(cache, dy)
    assert grads == []
    assert_close(dx, ref.resize2d_backward(dy, x.shape, interpolation), what="dx")


def test_upsampling2d_nearest_repeats_and_its_gradient_sums_blocks():
    x = det((1, 3, 2, 2), 0.9)
    layer = UpSampling2D((2, 3))
    np.testing.assert_array_equal(layer(x), np.repeat(np.repeat(x, 2, axis=1), 3, axis=2))
    dx, _ = layer.backward(x.shape, np.ones((1, 6, 6, 2), np.float32))
    np.testing.assert_array_equal(dx, np.full(x.shape, 6.0))


def test_upsampling_config_and_errors():
    cfg = UpSampling2D(3, interpolation="bilinear").get_config()
    assert cfg["size"] == (3, 3) and cfg["interpolation"] == "bilinear"
    assert cfg["data_format"] == "channels_last"
    assert UpSampling1D(4).get_config()["size"] == 4
    for bad in (dict(size=0), dict(size=(2, 2, 2)), dict(interpolation="cubic"),
                dict(data_format="channels_first")):
        with pytest.raises(ValueError):
            UpSampling2D(**bad)
    with pytest.raises(ValueError, match="my_up.*ndim=4"):
        UpSampling2D(name="my_up").build((None, 4, 4))


def test_upsampling1d_matches_keras():
    layer = UpSampling1D(3)
    x = det((2, 4, 3), 0.37)
    y, cache = layer.forward(x)
    assert_keras(y, (2, 12, 3), 33.7895)
    np.testing.assert_array_equal(y, np.repeat(x, 3, axis=1))
    dx, _ = layer.backward(cache, np.ones_like(y))
    np.testing.assert_array_equal(dx, np.full(x.shape, 3.0))
    assert layer.compute_output_shape((None, None, 3)) == (None, None, 3)


@pytest.mark.parametrize("kwargs,shape,value", [  # Keras 3.15 on det((2, 7, 8, 2), 0.37)
    (dict(height=6, width=4), (2, 6, 4, 2), 0.67706),
    (dict(height=6, width=4, crop_to_aspect_ratio=True), (2, 6, 4, 2), -2.84805),
    (dict(height=6, width=4, pad_to_aspect_ratio=True, fill_value=0.5), (2, 6, 4, 2),
     -5.03282),
    (dict(height=3, width=9, interpolation="nearest", crop_to_aspect_ratio=True), (2, 3, 9, 2),
     -0.55593),
    (dict(height=3, width=9, pad_to_aspect_ratio=True), (2, 3, 9, 2), 0.71225),
    (dict(height=4, width=4, antialias=True), (2, 4, 4, 2), 0.08161),
])
def test_resizing_matches_keras(kwargs, shape, value):
    layer = Resizing(**kwargs)
    x = det((2, 7, 8, 2), 0.37)
    y, cache = layer.forward(x)
    assert_keras(y, shape, value)
    assert layer.compute_output_shape((None, None, None, 2)) == (None,) + shape[1:]
    # Backward is the adjoint of forward: <dy, f(x)> = <f^T(dy), x> (f is linear
    # apart from the constant fill, so use fill 0 via x and x + e).
    dy = det(y.shape, 0.23)
    dx, grads = layer.backward(cache, dy)
    assert grads == [] and dx.shape == x.shape
    e = det(x.shape, 0.61)
    lhs = float(np.sum(dy * (layer(x + e) - layer(x))))
    assert abs(lhs - float(np.sum(dx * e))) < 1e-4 * max(1.0, abs(lhs))


def test_resizing_unbatched_image_and_config():
    layer = Resizing(5, 3)
    y, cache = layer.forward(det((7, 8, 2), 0.37))
    assert_keras(y, (5, 3, 2), -0.39354)
    assert layer.backward(cache, np.ones_like(y))[0].shape == (7, 8, 2)
    assert layer.compute_output_shape((7, 8, 2)) == (5, 3, 2)
    cfg = Resizing(3, 4, interpolation="nearest", pad_to_aspect_ratio=True).get_config()
    for key in ("height", "width", "interpolation", "crop_to_aspect_ratio",
                "pad_to_aspect_ratio", "fill_mode", "fill_value", "antialias", "data_format"):
        assert key in cfg
    clone = Resizing.from_config({**cfg, "name": cfg["name"] + "_clone"})
    assert clone.pad_to_aspect_ratio and clone.interpolation == "nearest"


@pytest.mark.parametrize("kwargs", [
    dict(height=0, width=3), dict(height=3, width=2.5), dict(height=3, width=3, interpolation="x"),
    dict(height=3, width=3, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True),
    dict(height=3, width=3, fill_mode="reflect"),
])
def test_resizing_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        Resizing(**kwargs)


def test_resizing_bad_rank_names_the_layer():
    with pytest.raises(ValueError, match="my_resize.*ndim=2"):
        Resizing(3, 3, name="my_resize").build((4, 4))
