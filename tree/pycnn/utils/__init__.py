"""Utilities (``keras.utils`` names)."""
import numpy as np

from pycnn import random as _random


def set_random_seed(seed):
    """Seed pycnn's initializers, Dropout and shuffling, plus Python's and
    NumPy's global generators, so a run is reproducible."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"Expected `seed` argument to be an integer. Received: seed={seed}")
    _random.set_seed(int(seed))


def to_categorical(x, num_classes=None):
    """One-hot encode integer labels (as ``keras.utils.to_categorical``)."""
    x = np.asarray(x, dtype=np.int64)
    shape = x.shape
    if shape and shape[-1] == 1 and len(shape) > 1:
        shape = shape[:-1]
    x = x.reshape(-1)
    if x.size and x.min() < 0:
        raise ValueError("to_categorical: labels must be non-negative")
    if num_classes is None:
        num_classes = int(x.max()) + 1 if x.size else 0
    if x.size and x.max() >= num_classes:
        raise ValueError(f"to_categorical: label {int(x.max())} out of range for "
                         f"num_classes={num_classes}")
    out = np.zeros((x.size, num_classes), np.float32)
    out[np.arange(x.size), x] = 1.0
    return out.reshape(shape + (num_classes,))


def normalize(x, axis=-1, order=2):
    x = np.asarray(x, np.float32)
    norm = np.linalg.norm(x, ord=order, axis=axis, keepdims=True)
    return x / np.maximum(norm, 1e-12)
from pycnn.utils.image_dataset import image_dataset_from_directory  # noqa: E402,F401
from pycnn.utils.plotting import plot_history  # noqa: E402,F401
