"""Embedding gather / scatter-add kernels and layer, and SpatialDropout1D."""
import numpy as np
import pytest

import pycnn
from pycnn.layers.embedding import Embedding, SpatialDropout1D
from pycnn.ops import embedding as ops
from pycnn.reference import embedding as ref
from pycnn.testing import assert_close


@pytest.mark.parametrize("index_shape,vocab,dim", [
    ((4, 7), 10, 3), ((1,), 1, 1), ((3, 2, 5), 50, 130), ((0, 4), 5, 2), ((200,), 3, 64)])
def test_gather_and_scatter_match_reference(isa, rng, index_shape, vocab, dim):
    idx = rng.integers(0, vocab, size=index_shape)
    table = rng.normal(size=(vocab, dim)).astype(np.float32)
    out = ops.embedding_lookup(idx, table)
    np.testing.assert_array_equal(out, ref.embedding_lookup(idx, table))
    dy = rng.normal(size=index_shape + (dim,)).astype(np.float32)
    assert_close(ops.embedding_grad(idx, dy, vocab), ref.embedding_grad(idx, dy, vocab))


def test_scatter_add_is_thread_count_independent(rng):
    idx = rng.integers(0, 7, size=(300, 40))  # many repeats of each row
    dy = rng.normal(size=(300, 40, 256)).astype(np.float32)
    before = pycnn.get_num_threads()
    try:
        pycnn.set_num_threads(1)
        one = ops.embedding_grad(idx, dy, 7)
        pycnn.set_num_threads(2)
        two = ops.embedding_grad(idx, dy, 7)
    finally:
        pycnn.set_num_threads(before)
    np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("bad", [-1, 10, 1 << 40])
def test_kernels_reject_out_of_range_indices(bad):
    table = np.zeros((10, 2), np.float32)
    idx = np.array([[1, 2], [3, bad]])
    with pytest.raises(ValueError, match=str(bad)):
        ops.embedding_lookup(idx, table)
    with pytest.raises(ValueError, match=str(bad)):
        ops.embedding_grad(idx, np.zeros((2, 2, 2), np.float32), 10)


@pytest.mark.parametrize("bad", [-1, 10, 12.0])
def test_layer_rejects_bad_indices_naming_layer_value_and_shape(bad):
    layer = Embedding(10, 4, name="emb_check")
    x = np.array([[1, 2, 3], [4, 5, bad]], dtype=type(bad))
    with pytest.raises(ValueError) as info:
        layer(x)
    msg = str(info.value)
    assert "emb_check" in msg and str(int(bad)) in msg and "(2, 3)" in msg


def test_layer_forward_backward(rng):
    layer = Embedding(12, 5)
    idx = rng.integers(0, 12, size=(4, 6))
    y = layer(idx)
    assert y.shape == (4, 6, 5)
    assert layer.compute_output_shape((None, 6)) == (None, 6, 5)
    table = layer.get_weights()[0]
    assert table.shape == (12, 5) and np.abs(table).max() <= 0.05
    np.testing.assert_array_equal(y, table[idx])
    # float inputs holding integers, as Keras casts them
    np.testing.assert_array_equal(layer(idx.astype(np.float32)), y)
    _, cache = layer.forward(idx)
    dy = rng.normal(size=y.shape).astype(np.float32)
    dx, grads = layer.backward(cache, dy)
    assert dx is None
    assert_close(grads[0], ref.embedding_grad(idx, dy, 12))
    layer.trainable = False
    assert layer.backward(cache, dy) == (None, [])


def test_layer_arguments():
    with pytest.raises(ValueError, match="input_dim"):
        Embedding(0, 3)
    with pytest.raises(ValueError, match="output_dim"):
        Embedding(3, 2.5)
    w = np.arange(6, dtype=np.float32).reshape(3, 2)
    layer = Embedding(3, 2, weights=[w], mask_zero=True)
    np.testing.assert_array_equal(layer(np.array([[2, 0]])), w[[[2, 0]]])
    np.testing.assert_array_equal(layer.compute_mask(np.array([[2, 0]])), [[True, False]])
    with pytest.warns(UserWarning):
        Embedding(3, 2, input_length=5)
    cfg = Embedding(3, 2).get_config()
    assert cfg["input_dim"] == 3 and cfg["output_dim"] == 2 and cfg["mask_zero"] is False


def test_spatial_dropout_drops_whole_channels(rng):
    x = rng.normal(size=(8, 10, 16)).astype(np.float32) + 5.0
    layer = SpatialDropout1D(0.5, seed=3)
    layer.build((None, 10, 16))
    y, _ = layer.forward(x, training=False)
    np.testing.assert_array_equal(y, x)
    y, (shape, mask) = layer.forward(x, training=True)
    assert shape == x.shape and mask.shape == (8, 1, 16)
    kept = y != 0
    # a channel is dropped at every step or at none
    assert (kept.all(axis=1) | (~kept).all(axis=1)).all()
    assert_close(y[kept], (2.0 * x)[kept])
    assert 0 < kept.mean() < 1
    dy = np.ones_like(x)
    dx, grads = layer.backward((shape, mask), dy)
    np.testing.assert_array_equal(dx, np.broadcast_to(mask, x.shape))
    assert grads == []
    with pytest.raises(ValueError):
        SpatialDropout1D(1.5)
    with pytest.raises(ValueError):
        layer.build((None, 10))
