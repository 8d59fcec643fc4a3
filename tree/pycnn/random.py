"""The global random state behind initializers, Dropout and shuffling.

``pycnn.utils.set_random_seed(s)`` reseeds it (and Python's and NumPy's global
generators, as Keras does), so a run is reproducible.
"""
import random as _pyrandom
import threading

import numpy as np

_lock = threading.Lock()
_rng = np.random.default_rng()


def set_seed(seed):
    global _rng
    seed = int(seed)
    with _lock:
        _rng = np.random.default_rng(seed)
    _pyrandom.seed(seed)
    np.random.seed(seed % (2**32))


def generator():
    """The shared numpy Generator (draws are serialized by the GIL)."""
    return _rng


def make_generator(seed=None):
    """A private Generator: seeded if ``seed`` is given, else drawn from the global one."""
    if seed is not None:
        return np.random.default_rng(int(seed))
    return np.random.default_rng(_rng.integers(0, 2**63 - 1))
