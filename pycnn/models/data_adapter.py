"""Turning what users pass to fit/evaluate/predict into batches.

Arrays (one or a list of them), Keras-style sequences (objects with
``__len__`` and ``__getitem__`` returning batches, such as the iterators of
``ImageDataGenerator``) and plain Python iterators/generators are accepted.
Arrays are checked once, up front, so a bad dataset fails before any weight
changes: lengths that differ, empty arrays, non-numeric dtypes, NaN or Inf.
"""
import math
import warnings

import numpy as np

from pycnn import _C
from pycnn import random as prandom
from pycnn.backend import InvalidDtypeError


def is_array_like(x):
    return isinstance(x, np.ndarray) or (
        hasattr(x, "__array__") and not hasattr(x, "__next__"))


def is_array_data(x):
    if isinstance(x, (list, tuple)):
        return len(x) > 0 and all(is_array_like(a) or isinstance(a, (list, tuple))
                                  for a in x) and not _is_sequence(x)
    if isinstance(x, dict):
        return True
    return is_array_like(x)


def _is_sequence(x):
    return (not isinstance(x, (np.ndarray, list, tuple, dict)) and hasattr(x, "__len__")
            and hasattr(x, "__getitem__"))


def batch_len(x):
    return int((x[0] if isinstance(x, list) else x).shape[0])


def _as_input_arrays(x, model, what):
    """The model's input(s) as a list of float32 C-contiguous arrays."""
    n_inputs = len(model.inputs) if getattr(model, "inputs", None) else 1
    if isinstance(x, dict):
        x = [x[t.name] for t in model.inputs]
    if isinstance(x, (list, tuple)) and n_inputs > 1:
        arrays = list(x)
        if len(arrays) != n_inputs:
            raise ValueError(f"{what}: model '{model.name}' expects {n_inputs} inputs, "
                             f"but received {len(arrays)} arrays")
    elif isinstance(x, (list, tuple)) and len(x) == 1 and is_array_like(x[0]):
        arrays = [x[0]]
    else:
        arrays = [x]
    return adjust_input_rank(model, [_checked_array(a, what, "x") for a in arrays])


def adjust_input_rank(model, arrays):
    """Keras's Functional._adjust_input_rank: an array with one axis more than
    the model's input, the last of size 1, loses it ((n, 4, 1) for (None, 4));
    one with an axis less gains a last axis of 1 when the input's last size is
    1 ((n, 28, 28) for (None, 28, 28, 1), (n,) for (None, 1)). Other ranks
    are left for the input check to report."""
    try:
        inputs = model.inputs
    except AttributeError:   # an unbuilt Sequential
        return arrays
    if not inputs or len(inputs) != len(arrays):
        return arrays
    out = arrays
    for i, (t, a) in enumerate(zip(inputs, arrays)):
        want = t.shape
        if not isinstance(a, np.ndarray) or a.ndim == len(want):
            continue   # the common case: nothing to adjust
        if a.ndim == len(want) + 1 and a.shape[-1] == 1:
            a = a.reshape(a.shape[:-1])
        elif a.ndim == len(want) - 1 and want[-1] == 1:
            a = a.reshape(a.shape + (1,))
        else:
            continue
        out = list(out) if out is arrays else out
        out[i] = a
    return out


def _all_finite(arr):
    """No NaN or Inf in a float array: one SIMD pass in C++ for float32
    C-contiguous data (4x NumPy's sum), np.isfinite otherwise."""
    if arr.dtype == np.float32 and arr.flags.c_contiguous:
        return _C.all_finite(arr)
    return bool(np.isfinite(arr).all())


def _checked_array(a, what, role, float32=True):
    arr = np.asarray(a)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise InvalidDtypeError(
            f"{what}: `{role}` must be a numeric array, got dtype {arr.dtype}")
    if arr.ndim == 0:
        raise ValueError(f"{what}: `{role}` must have a batch dimension, got a scalar")
    if arr.shape[0] == 0:
        raise ValueError(f"{what}: `{role}` is empty (shape {arr.shape}); expected at least "
                         "one sample")
    if arr.dtype.kind == "f" and not _all_finite(arr):
        raise ValueError(f"{what}: `{role}` contains NaN or Inf values (shape {arr.shape})")
    if float32 and arr.dtype != np.float32:
        arr = arr.astype(np.float32)
    return np.ascontiguousarray(arr) if float32 else arr


def _as_target_arrays(y, what, model=None):
    if y is None:
        return None
    if isinstance(y, dict):
        names = [t._keras_history[0].name for t in getattr(model, "outputs", None) or []]
        missing = [n for n in names if n not in y]
        if missing or set(y) - set(names):
            raise ValueError(f"{what}: `y` keys {sorted(y)} do not match the model's "
                             f"output names {names}")
        y = [y[n] for n in names]
    if isinstance(y, (list, tuple)) and len(y) and is_array_like(y[0]) and \
            not isinstance(y[0], (int, float)):
        return [_checked_array(a, what, "y", float32=False) for a in y]
    return [_checked_array(y, what, "y", float32=False)]


def _class_weights_to_sample_weights(y, class_weight):
    if not class_weight:
        return None
    y = np.asarray(y)
    labels = np.argmax(y, axis=-1) if y.ndim > 1 and y.shape[-1] > 1 else \
        np.rint(y.reshape(y.shape[0], -1)[:, 0]).astype(np.int64)
    table = np.ones(max(int(labels.max()) + 1, max(class_weight) + 1), np.float32)
    for k, v in class_weight.items():
        table[int(k)] = v
    return table[labels]


class ArrayAdapter:
    def __init__(self, x, y, sample_weight, batch_size, steps, shuffle, class_weight,
                 model, require_y, what):
        self.xs = _as_input_arrays(x, model, what)
        self.ys = _as_target_arrays(y, what, model)
        if require_y and self.ys is None:
            raise ValueError(f"{what}: targets `y` are required")
        sizes = {len(a) for a in self.xs}
        ysizes = {len(a) for a in self.ys} if self.ys else set()
        if len(sizes | ysizes) > 1:
            raise ValueError(
                "Data cardinality is ambiguous. Make sure all arrays contain the same "
                f"number of samples. 'x' sizes: {', '.join(str(len(a)) for a in self.xs)}"
                + (f"; 'y' sizes: {', '.join(str(len(a)) for a in self.ys)}"
                   if self.ys else ""))
        self.n = len(self.xs[0])
        if sample_weight is not None:
            sample_weight = _checked_array(sample_weight, what, "sample_weight")
            if len(sample_weight) != self.n:
                raise ValueError(f"{what}: sample_weight has {len(sample_weight)} entries "
                                 f"but x has {self.n} samples")
        elif class_weight and self.ys:
            sample_weight = _class_weights_to_sample_weights(self.ys[0], class_weight)
        self.sw = sample_weight
        if batch_size is not None and (isinstance(batch_size, bool) or
                                       not isinstance(batch_size, (int, np.integer)) or
                                       batch_size <= 0):
            raise ValueError(f"{what}: batch_size must be a positive integer, got "
                             f"{batch_size!r}")
        self.batch_size = int(batch_size or 32)
        self.shuffle = shuffle
        total = math.ceil(self.n / self.batch_size)
        self.num_batches = min(total, int(steps)) if steps else total
        self.steps, self.total_batches = steps, total
        self.carry_over = False   # fit's training data: see epoch_batches
        self._resume_at, self._order = 0, None

    def peek_x(self):
        return self.xs[0][:1] if len(self.xs) == 1 else [a[:1] for a in self.xs]

    def _take(self, arrays, idx):
        if arrays is None:
            return None
        out = [a[idx] for a in arrays]
        return out if len(out) > 1 else out[0]

    def epoch_batches(self):
        # With carry_over (fit with steps_per_epoch), as Keras's EpochIterator:
        # an epoch goes on where the last one stopped, the epoch that reaches the
        # end of the data stops there, and the next one starts a new pass.
        start = self._resume_at if self.carry_over and self.steps else 0
        if start == 0:
            self._order = prandom.generator().permutation(self.n) if self.shuffle else None
        order, bs = self._order, self.batch_size
        stop = min(start + (int(self.steps) if self.steps else self.total_batches),
                   self.total_batches)
        for i in range(start, stop):
            self._resume_at = 0 if i + 1 >= self.total_batches else i + 1
            idx = slice(i * bs, min(self.n, (i + 1) * bs)) if order is None \
                else order[i * bs:(i + 1) * bs]
            yield (self._take(self.xs, idx), self._take(self.ys, idx),
                   None if self.sw is None else self.sw[idx])
        if self.steps and stop - start < int(self.steps) and self.carry_over:
            warnings.warn(
                "Your input ran out of data; interrupting training. Make sure that your "
                "dataset or generator can generate at least `steps_per_epoch * epochs` "
                "batches. You may need to use the `.repeat()` function when building "
                "your dataset.", UserWarning, stacklevel=2)

    def on_epoch_end(self):
        pass


def _unpack_batch(batch):
    if isinstance(batch, tuple):
        if len(batch) == 1:
            return batch[0], None, None
        if len(batch) == 2:
            return batch[0], batch[1], None
        if len(batch) == 3:
            return batch
        raise ValueError(f"A data batch must be x, (x,), (x, y) or (x, y, sample_weight); "
                         f"got a tuple of {len(batch)} elements")
    return batch, None, None


def _clean_batch(batch, model, what, require_y):
    x, y, sw = _unpack_batch(batch)
    xs = _as_input_arrays(x, model, what)
    ys = _as_target_arrays(y, what, model)
    if require_y and ys is None:
        raise ValueError(f"{what}: the data yields batches without targets")
    return (xs if len(xs) > 1 else xs[0],
            None if ys is None else (ys if len(ys) > 1 else ys[0]),
            None if sw is None else np.asarray(sw, np.float32))


class SequenceAdapter:
    """Keras ``PyDataset``/``Sequence``-style objects: ``len()`` batches by index."""

    def __init__(self, data, steps, model, require_y, what):
        self.data, self.model, self.require_y, self.what = data, model, require_y, what
        total = len(data)
        if total == 0:
            raise ValueError(f"{what}: the data source has no batches (len() == 0)")
        self.num_batches = min(total, int(steps)) if steps else total

    def peek_x(self):
        x, _, _ = _clean_batch(self.data[0], self.model, self.what, False)
        return x

    def epoch_batches(self):
        for i in range(self.num_batches):
            yield _clean_batch(self.data[i], self.model, self.what, self.require_y)

    def on_epoch_end(self):
        if hasattr(self.data, "on_epoch_end"):
            self.data.on_epoch_end()


class IteratorAdapter:
    """Python generators/iterators; ``steps`` batches per epoch (or until exhausted)."""

    def __init__(self, data, steps, model, require_y, what):
        self.it = iter(data)
        self.model, self.require_y, self.what = model, require_y, what
        self.num_batches = int(steps) if steps else None
        self._peeked = None

    def peek_x(self):
        if self._peeked is None:
            self._peeked = next(self.it)
        x, _, _ = _clean_batch(self._peeked, self.model, self.what, False)
        return x

    def epoch_batches(self):
        count = 0
        while self.num_batches is None or count < self.num_batches:
            if self._peeked is not None:
                batch, self._peeked = self._peeked, None
            else:
                try:
                    batch = next(self.it)
                except StopIteration:
                    return
            yield _clean_batch(batch, self.model, self.what, self.require_y)
            count += 1

    def on_epoch_end(self):
        pass


def get_data_adapter(x, y, sample_weight, batch_size, steps, shuffle, model, require_y,
                     what, class_weight=None):
    if x is None:
        raise ValueError(f"{what}: no input data (x is None)")
    if is_array_data(x):
        return ArrayAdapter(x, y, sample_weight, batch_size, steps, shuffle, class_weight,
                            model, require_y, what)
    if y is not None:
        raise ValueError(f"{what}: `y` must not be given when `x` is a dataset or "
                         "generator (it yields the targets)")
    if _is_sequence(x):
        return SequenceAdapter(x, steps, model, require_y, what)
    if hasattr(x, "__iter__") or hasattr(x, "__next__"):
        return IteratorAdapter(x, steps, model, require_y, what)
    raise TypeError(f"{what}: unsupported input data of type {type(x).__name__}")


def _plain_batch(x, y, model):
    """(x, y) when both are ready-to-use arrays for a one-input model (x
    float32 C-contiguous, y numeric, same non-zero length, all finite), else
    None. The checks are those of ArrayAdapter, minus the conversions."""
    if type(x) is not np.ndarray or x.dtype != np.float32 or x.ndim == 0 or \
            not x.flags.c_contiguous or x.shape[0] == 0:
        return None
    if y is not None and (type(y) is not np.ndarray or y.ndim == 0 or
                          y.dtype.kind not in "biuf" or y.shape[0] != x.shape[0]):
        return None
    inputs = getattr(model, "inputs", None)
    if inputs and (len(inputs) > 1 or x.ndim != len(inputs[0].shape)):
        return None   # several inputs, or a rank to adjust: ArrayAdapter's path
    # Non-finite values take ArrayAdapter's path, which raises the error.
    if not _C.all_finite(x) or (y is not None and y.dtype.kind == "f" and not _all_finite(y)):
        return None
    return x, y


def single_batch(x, y, sample_weight, class_weight, model, require_y, what):
    if sample_weight is None and not class_weight and (y is not None or not require_y):
        plain = _plain_batch(x, y, model)
        if plain is not None:
            return plain[0], plain[1], None
    adapter = ArrayAdapter(x, y, sample_weight, batch_size=None, steps=None, shuffle=False,
                           class_weight=class_weight, model=model, require_y=require_y,
                           what=what)
    xs = adapter.xs if len(adapter.xs) > 1 else adapter.xs[0]
    ys = None if adapter.ys is None else (adapter.ys if len(adapter.ys) > 1 else adapter.ys[0])
    return xs, ys, adapter.sw


def train_validation_split(arrays, validation_split):
    """Keras's rule: the last ``validation_split`` fraction, before any shuffling."""
    if not 0 < validation_split < 1:
        raise ValueError(f"validation_split must be in (0, 1), got {validation_split}")
    x, y, sw = arrays

    def split(a, lo, hi):
        if a is None:
            return None
        if isinstance(a, (list, tuple)) and not is_array_like(a):
            return [np.asarray(v)[lo:hi] for v in a]
        if isinstance(a, (list, tuple)) and len(a) and is_array_like(a[0]) and \
                np.ndim(a[0]) > 0:
            return [np.asarray(v)[lo:hi] for v in a]
        return np.asarray(a)[lo:hi]

    first = x[0] if isinstance(x, (list, tuple)) and np.ndim(x[0]) > 0 else x
    n = len(first)
    split_at = int(math.floor(n * (1.0 - validation_split)))
    if split_at == 0 or split_at == n:
        raise ValueError(
            f"Training data contains {n} samples, which is not sufficient to split it "
            f"into a validation and training set as specified by "
            f"`validation_split={validation_split}`.")
    train = (split(x, 0, split_at), split(y, 0, split_at), split(sw, 0, split_at))
    val = (split(x, split_at, n), split(y, split_at, n), split(sw, split_at, n))
    return train, val


def unpack_validation(validation_data):
    if isinstance(validation_data, tuple):
        if len(validation_data) == 2:
            return validation_data[0], validation_data[1], None
        if len(validation_data) == 3:
            return validation_data
        raise ValueError("validation_data must be (x_val, y_val) or "
                         "(x_val, y_val, val_sample_weight), or a dataset/generator")
    return validation_data, None, None
