"""The batch-order logic shared by the ImageDataGenerator iterators.

It follows Keras's legacy ``Iterator`` exactly, so a given ``seed`` yields the
same sample order (and the same augmentation draws) as Keras: before each
batch the NumPy RNG is seeded with ``seed + total_batches_seen``; the index
array is a permutation when ``shuffle``; ``next()`` walks epochs forever
(reshuffling at each epoch start) and ``it[i]`` / ``on_epoch_end()`` give the
``PyDataset`` protocol used by ``fit``.

Instead of reseeding NumPy's global generator, each batch gets its own
``RandomState`` with that seed (the same stream); without a seed NumPy's
global generator is used. All random draws of a batch (order, augmentation
parameters) happen when the batch is planned, on the calling thread, so the
pixel work of the next batch runs on a background thread while the current
one is in use without changing any result.
"""
import threading

import numpy as np

from pycnn.preprocessing._prefetch import batch_pool

_GLOBAL_RNG = np.random.random.__self__  # NumPy's global RandomState


class _Plan:
    """Which samples one batch holds and the iterator state after it."""
    __slots__ = ("key", "before", "after", "indices", "rng", "draws", "future")

    def __init__(self, key, before, after, indices, rng, draws):
        self.key, self.before, self.after = key, before, after
        self.indices, self.rng, self.draws, self.future = indices, rng, draws, None


class Iterator:
    """Base class of image iterators (Keras ``Iterator``/``PyDataset``)."""

    white_list_formats = ("png", "jpg", "jpeg", "bmp", "ppm", "tif", "tiff")

    def __init__(self, n, batch_size, shuffle, seed):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.n = int(n)
        self.batch_size = int(batch_size)
        self.seed = seed
        self.shuffle = shuffle
        self.batch_index = 0
        self.total_batches_seen = 0
        self.lock = threading.Lock()
        self.index_array = None
        self._last_rng = None
        self._pending = None

    # -- Keras's public protocol -------------------------------------------
    def __len__(self):
        return (self.n + self.batch_size - 1) // self.batch_size

    def __getitem__(self, idx):
        if idx >= len(self):
            raise ValueError(f"Asked to retrieve element {idx}, but the Sequence "
                             f"has length {len(self)}")
        if idx < 0:
            idx += len(self)
        with self.lock:
            plan = self._claim(("item", idx)) or self._plan_item(idx)
            self._commit(plan)
            if idx + 1 < len(self):
                self._prefetch(self._plan_item(idx + 1))
        return self._result(plan)

    def __iter__(self):
        return self

    def __next__(self):
        with self.lock:
            plan = self._claim(("next",)) or self._plan_next()
            self._commit(plan)
            if self.n:
                self._prefetch(self._plan_next())
        return self._result(plan)

    def on_epoch_end(self):
        with self.lock:
            self._drop_pending()
            self._set_index_array(self._last_rng or _GLOBAL_RNG)

    def reset(self):
        with self.lock:
            self._drop_pending()
            self.batch_index = 0

    # -- planning (cheap, main thread, under the lock) ---------------------
    def _state(self):
        return (self.batch_index, self.total_batches_seen, self.index_array)

    def _rng_for(self, batches_seen):
        if self.seed is None:
            return _GLOBAL_RNG
        return np.random.RandomState(self.seed + batches_seen)

    def _new_index_array(self, rng):
        return rng.permutation(self.n) if self.shuffle else np.arange(self.n)

    def _set_index_array(self, rng):
        self.index_array = self._new_index_array(rng)

    def _plan_item(self, idx):
        before = self._state()
        batch_index, seen, index_array = before
        rng = self._rng_for(seen)
        if index_array is None:
            index_array = self._new_index_array(rng)
        indices = index_array[self.batch_size * idx: self.batch_size * (idx + 1)]
        return _Plan(("item", idx), before, (batch_index, seen + 1, index_array),
                     indices, rng, self._draw_batch(indices, rng))

    def _plan_next(self):
        before = self._state()
        batch_index, seen, index_array = before
        rng = self._rng_for(seen)
        if batch_index == 0:  # a new epoch starts: reshuffle
            index_array = self._new_index_array(rng)
        current = (batch_index * self.batch_size) % self.n if self.n else 0
        next_index = batch_index + 1 if self.n > current + self.batch_size else 0
        indices = index_array[current: current + self.batch_size]
        return _Plan(("next",), before, (next_index, seen + 1, index_array),
                     indices, rng, self._draw_batch(indices, rng))

    def _commit(self, plan):
        self.batch_index, self.total_batches_seen, self.index_array = plan.after
        self._last_rng = plan.rng if self.seed is not None else None

    # -- one-slot prefetch -------------------------------------------------
    def _prefetch(self, plan):
        plan.future = batch_pool().submit(self._get_batches_of_transformed_samples,
                                          plan.indices, plan.draws)
        self._pending = plan

    def _claim(self, key):
        plan, self._pending = self._pending, None
        if plan is None:
            return None
        batch_index, seen, index_array = self._state()
        same_state = plan.before[:2] == (batch_index, seen) and plan.before[2] is index_array
        if plan.key == key and same_state:
            return plan
        plan.future.cancel()
        return None

    def _drop_pending(self):
        if self._pending is not None:
            self._pending.future.cancel()
            self._pending = None

    def _result(self, plan):
        if plan.future is not None:
            return plan.future.result()
        return self._get_batches_of_transformed_samples(plan.indices, plan.draws)

    def _draw_batch(self, index_array, rng):
        """Every random number building this batch needs, drawn from ``rng``."""
        return None

    def _get_batches_of_transformed_samples(self, index_array, draws=None):
        """The batch of ``index_array`` (pure: no random draws, thread-safe)."""
        raise NotImplementedError
