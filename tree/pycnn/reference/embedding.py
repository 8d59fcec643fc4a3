"""NumPy twins of pycnn.ops.embedding."""
import numpy as np


def embedding_lookup(indices, embeddings):
    """embeddings[indices]: shape indices.shape + (output_dim,)."""
    indices = np.asarray(indices, np.int64)
    embeddings = np.asarray(embeddings, np.float32)
    if indices.size and (indices.min() < 0 or indices.max() >= embeddings.shape[0]):
        raise ValueError("embedding_lookup: index out of range")
    return embeddings[indices]


def embedding_grad(indices, dy, input_dim):
    """d embeddings: every dy row added to the row of its index."""
    indices = np.asarray(indices, np.int64).reshape(-1)
    dy = np.asarray(dy, np.float64)
    out = np.zeros((int(input_dim), dy.shape[-1]))
    np.add.at(out, indices, dy.reshape(indices.size, dy.shape[-1]))
    return out.astype(np.float32)
