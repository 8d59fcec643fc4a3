"""Embedding gather and its scatter-add gradient (C++ kernels in csrc/rnn)."""
import numpy as np

from pycnn import _C
from pycnn.ops.gemm import f32


def _i64(indices):
    return np.ascontiguousarray(indices, dtype=np.int64)


def embedding_lookup(indices, embeddings):
    """embeddings[indices]: shape indices.shape + (output_dim,). Indices
    outside [0, input_dim) raise ValueError before any row is read."""
    return _C.embedding_lookup(_i64(indices), f32(embeddings))


def embedding_grad(indices, dy, input_dim):
    """(input_dim, output_dim) gradient: dy rows summed into the rows of their
    indices, in a fixed order (same result with any thread count)."""
    return _C.embedding_grad(_i64(indices), f32(dy), int(input_dim))
