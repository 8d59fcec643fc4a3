"""``pycnn.utils.image_dataset_from_directory`` (Keras's
``keras.utils.image_dataset_from_directory``) without TensorFlow.

Files are listed and split exactly as Keras does (sorted listing, one global
shuffle with ``RandomState(seed)``, validation = the last fraction), so
``file_paths`` and ``class_names`` equal Keras's. The result is a batched
dataset: ``len()`` batches, iteration (reshuffled every epoch when
``shuffle``), and ``ds[i]`` / ``on_epoch_end()`` so ``fit`` can consume it.
Images are float32 in 0..255, resized with tf.image.resize semantics.
"""
import math
import os

import numpy as np

from pycnn.preprocessing import _listing, _pil, _resize
from pycnn.preprocessing._prefetch import batch_pool, decode_pool

ALLOWLIST_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_CHANNELS = {"rgb": 3, "rgba": 4, "grayscale": 1}


class ImageDataset:
    """Batches of (images, labels) from image files (a ``tf.data``-like view)."""

    def __init__(self, file_paths, labels, label_mode, class_names, image_size,
                 num_channels, batch_size, shuffle, seed, interpolation,
                 crop_to_aspect_ratio, pad_to_aspect_ratio, data_format):
        self.file_paths = list(file_paths)
        self.class_names = class_names
        self.labels = None if labels is None else np.asarray(labels, np.int32)
        self.label_mode = label_mode
        self.image_size = tuple(image_size)
        self.num_channels = num_channels
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = crop_to_aspect_ratio
        self.pad_to_aspect_ratio = pad_to_aspect_ratio
        self.data_format = data_format
        self._epoch = 0
        self._order = self._epoch_order()

    # -- sizes -------------------------------------------------------------
    def __len__(self):
        if self.batch_size is None:
            return len(self.file_paths)
        return math.ceil(len(self.file_paths) / self.batch_size)

    def cardinality(self):
        return len(self)

    # -- epochs ------------------------------------------------------------
    def _epoch_order(self):
        if not self.shuffle:
            return np.arange(len(self.file_paths))
        return np.random.RandomState(self.seed + self._epoch).permutation(len(self.file_paths))

    def on_epoch_end(self):
        """Start a new epoch: a new order when ``shuffle``."""
        self._epoch += 1
        self._order = self._epoch_order()

    def __iter__(self):
        """One epoch of batches; the next batch is decoded in the background."""
        pending = batch_pool().submit(self.__getitem__, 0) if len(self) else None
        for i in range(len(self)):
            batch = pending.result()
            pending = batch_pool().submit(self.__getitem__, i + 1) if i + 1 < len(self) \
                else None
            yield batch
        self.on_epoch_end()

    def take(self, count):
        """The first ``count`` batches of an epoch (as ``tf.data``'s ``take``)."""
        return [self[i] for i in range(min(count, len(self)))]

    # -- batches -----------------------------------------------------------
    def __getitem__(self, idx):
        if not 0 <= idx < len(self):
            raise IndexError(f"Batch index {idx} out of range for a dataset of "
                             f"{len(self)} batches")
        size = self.batch_size or 1
        picked = self._order[idx * size:(idx + 1) * size]
        images = np.stack(list(decode_pool().map(
            self._load, [self.file_paths[i] for i in picked])))
        if self.data_format == "channels_first":
            images = np.ascontiguousarray(images.transpose(0, 3, 1, 2))
        labels = None if self.label_mode is None else self._encode(self.labels[picked])
        if self.batch_size is None:  # unbatched: single elements
            images = images[0]
            labels = None if labels is None else labels[0]
        return images if labels is None else (images, labels)

    def _encode(self, labels):
        if self.label_mode == "binary":
            return labels.astype(np.float32)[:, None]
        if self.label_mode == "categorical":
            one_hot = np.zeros((len(labels), len(self.class_names)), np.float32)
            one_hot[np.arange(len(labels)), labels] = 1.0
            return one_hot
        return labels.astype(np.int32)

    def _load(self, path):
        mode = {1: "grayscale", 3: "rgb", 4: "rgba"}[self.num_channels]
        image = _pil.img_to_array(_pil.load_img(path, color_mode=mode))
        if self.crop_to_aspect_ratio:
            image = _resize.resize(_resize.crop_to_aspect_ratio(image, self.image_size),
                                   self.image_size, self.interpolation)
        elif self.pad_to_aspect_ratio:
            image = _resize.resize_with_pad(image, self.image_size, self.interpolation)
        else:
            image = _resize.resize(image, self.image_size, self.interpolation)
        return image.astype(np.float32, copy=False)


def _index_directory(directory, labels, class_names, shuffle, seed, follow_links,
                     verbose):
    """(file_paths, labels, class_names) in Keras's order (see index_directory)."""
    if labels == "inferred":
        subdirs = _listing.subdirectories(directory, skip_hidden=True)
        if class_names is not None:
            if not set(class_names).issubset(set(subdirs)):
                raise ValueError(
                    "The `class_names` passed did not match the names of the "
                    f"subdirectories of the target directory. Expected: {subdirs} (or a "
                    f"subset of it), but received: class_names={class_names}")
            subdirs = list(class_names)
    else:
        subdirs = [""]
        if class_names is not None:
            raise ValueError("When `labels=None` (no labels), argument `class_names` cannot "
                             "be specified." if labels is None else
                             "When argument `labels` is specified, argument `class_names` "
                             "cannot be specified (the `class_names` will be the sorted "
                             "list of labels).")
    listings = list(decode_pool().map(
        lambda sub: _listing.list_class_files(os.path.join(directory, sub),
                                              ALLOWLIST_FORMATS, follow_links),
        subdirs))
    filenames = [f for files in listings for f in files]
    if labels == "inferred":
        class_names = subdirs
        labels = np.concatenate([np.full(len(files), i, np.int32)
                                 for i, files in enumerate(listings)] or
                                [np.zeros(0, np.int32)])
    elif labels is None:
        class_names = None
    else:
        if len(labels) != len(filenames):
            raise ValueError(
                "Expected the lengths of `labels` to match the number of files in the "
                f"target directory. len(labels) is {len(labels)} while we found "
                f"{len(filenames)} files in directory {directory}.")
        class_names = [str(label) for label in sorted(set(labels))]
        labels = np.asarray(labels, np.int32)
    if verbose:
        if labels is None:
            print(f"Found {len(filenames)} files.")
        else:
            print(f"Found {len(filenames)} files belonging to {len(class_names)} classes.")
    file_paths = [os.path.join(directory, f) for f in filenames]
    if shuffle:
        # The same RandomState(seed) shuffles paths and labels identically.
        np.random.RandomState(seed).shuffle(file_paths)
        if labels is not None:
            np.random.RandomState(seed).shuffle(labels)
    return file_paths, labels, class_names


def _split(paths, labels, validation_split, subset):
    """Keras's rule: validation is the *last* fraction of the shuffled files."""
    if not validation_split:
        return paths, labels
    num_val = int(validation_split * len(paths))
    # Slices as Keras writes them (so a fraction rounding to 0 files behaves
    # the same: no training files, all files for validation).
    if subset == "training":
        print(f"Using {len(paths) - num_val} files for training.")
        part = slice(None, -num_val)
    else:
        print(f"Using {num_val} files for validation.")
        part = slice(-num_val, None)
    return paths[part], None if labels is None else labels[part]


def _check_arguments(labels, label_mode, class_names, color_mode, image_size,
                     interpolation, validation_split, subset, shuffle, seed,
                     crop_to_aspect_ratio, pad_to_aspect_ratio):
    if labels not in ("inferred", None) and not isinstance(labels, (list, tuple, np.ndarray)):
        raise ValueError("`labels` argument should be a list/tuple of integer labels, of "
                         "the same size as the number of image files in the target "
                         "directory. If you wish to infer the labels from the "
                         'subdirectory names in the target directory, pass '
                         f'`labels="inferred"`. If you wish to get a dataset that only '
                         f"contains images (no labels), pass `labels=None`. "
                         f"Received: labels={labels}")
    if label_mode not in {"int", "categorical", "binary", None}:
        raise ValueError('`label_mode` argument must be one of "int", "categorical", '
                         f'"binary", or None. Received: label_mode={label_mode}')
    if color_mode not in _CHANNELS:
        raise ValueError('`color_mode` must be one of {"rgb", "rgba", "grayscale"}. '
                         f"Received: color_mode={color_mode}")
    if not isinstance(image_size, int) and (
            not isinstance(image_size, (list, tuple)) or len(image_size) != 2):
        raise ValueError("Invalid `image_size` value. Expected a tuple of 2 integers. "
                         f"Received: image_size={image_size}")
    if interpolation not in _resize.INTERPOLATIONS:
        raise ValueError(f"Argument `interpolation` should be one of "
                         f"{_resize.INTERPOLATIONS}. Received: interpolation={interpolation}")
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError("Only one of `pad_to_aspect_ratio`, `crop_to_aspect_ratio` can be "
                         "set to `True`.")
    if validation_split and not 0 < validation_split < 1:
        raise ValueError("`validation_split` must be between 0 and 1, received: "
                         f"{validation_split}")
    if (validation_split or subset) and not (validation_split and subset):
        raise ValueError("If `subset` is set, `validation_split` must be set, and inversely.")
    if subset not in ("training", "validation", "both", None):
        raise ValueError('`subset` must be either "training", "validation" or "both", '
                         f"received: {subset}")
    if validation_split and shuffle and seed is None:
        raise ValueError("If using `validation_split` and shuffling the data, you must "
                         "provide a `seed` argument, to make sure that there is no overlap "
                         "between the training and validation subset.")


def image_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                 class_names=None, color_mode="rgb", batch_size=32,
                                 image_size=(256, 256), shuffle=True, seed=None,
                                 validation_split=None, subset=None,
                                 interpolation="bilinear", follow_links=False,
                                 crop_to_aspect_ratio=False, pad_to_aspect_ratio=False,
                                 data_format=None, verbose=True):
    """Generate a dataset from image files in a directory (Keras's API).

    Returns an ``ImageDataset`` (or ``[train, validation]`` for
    ``subset="both"``, as Keras returns) yielding ``(images, labels)``:
    images float32 (batch, h, w, c) in 0..255; labels int32 (batch,) for
    ``"int"``, float32 one-hot for ``"categorical"``, float32 (batch, 1) for
    ``"binary"``; images only when ``label_mode=None``.
    """
    interpolation = interpolation.lower()
    _check_arguments(labels, label_mode, class_names, color_mode, image_size, interpolation,
                     validation_split, subset, shuffle, seed, crop_to_aspect_ratio,
                     pad_to_aspect_ratio)
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    directory = os.fspath(directory)
    _listing.require_directory(directory)
    if seed is None:
        seed = np.random.randint(1e6)
    paths, labels, class_names = _index_directory(directory, labels, class_names, shuffle,
                                                  seed, follow_links, verbose)
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError('When passing `label_mode="binary"`, there must be exactly 2 '
                         f"class_names. Received: class_names={class_names}")
    data_format = data_format or "channels_last"

    def dataset(subset_paths, subset_labels, shuffle_batches, what):
        if not subset_paths:
            raise ValueError(f"No {what}images found in directory {directory}. "
                             f"Allowed formats: {ALLOWLIST_FORMATS}")
        return ImageDataset(subset_paths, subset_labels, label_mode, class_names, image_size,
                            _CHANNELS[color_mode], batch_size, shuffle_batches, seed,
                            interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio,
                            data_format)

    if subset == "both":
        train = _split(paths, labels, validation_split, "training")
        val = _split(paths, labels, validation_split, "validation")
        return [dataset(*train, shuffle, "training "), dataset(*val, False, "validation ")]
    return dataset(*_split(paths, labels, validation_split, subset), shuffle, "")
