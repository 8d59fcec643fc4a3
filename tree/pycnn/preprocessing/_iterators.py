"""The iterators returned by ``ImageDataGenerator.flow`` and
``.flow_from_directory`` (Keras's ``NumpyArrayIterator`` and
``DirectoryIterator``)."""
import os
import warnings

import numpy as np

from pycnn.preprocessing import _listing, _pil
from pycnn.preprocessing._iterator_base import Iterator
from pycnn.preprocessing._prefetch import decode_pool

_CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}


class _BatchDraws:
    """The random numbers of one batch: augmentation parameters per image,
    then the file-name hashes of ``save_to_dir`` (Keras's order)."""

    def __init__(self, iterator, index_array, rng, height, width, hash_range):
        self.params = iterator.image_data_generator._draw_transforms(
            len(index_array), height, width, rng)
        self.hashes = [rng.randint(hash_range) for _ in index_array] \
            if iterator.save_to_dir else []


def _save_batch(iterator, batch_x, index_array, hashes):
    for image, sample, hash_ in zip(batch_x, index_array, hashes):
        img = _pil.array_to_img(image, iterator.data_format, scale=True)
        img.save(os.path.join(iterator.save_to_dir,
                              f"{iterator.save_prefix}_{sample}_{hash_}.{iterator.save_format}"))


class DirectoryIterator(Iterator):
    """Reads images from class sub-folders of ``directory``; see
    ``ImageDataGenerator.flow_from_directory``."""

    allowed_class_modes = {"categorical", "binary", "sparse", "input", None}

    def __init__(self, directory, image_data_generator, target_size=(256, 256),
                 color_mode="rgb", classes=None, class_mode="categorical", batch_size=32,
                 shuffle=True, seed=None, data_format=None, save_to_dir=None,
                 save_prefix="", save_format="png", follow_links=False, subset=None,
                 interpolation="nearest", keep_aspect_ratio=False, dtype=None):
        directory = os.fspath(directory)
        if color_mode not in _CHANNELS:
            raise ValueError(f"Invalid color mode: {color_mode}"
                             '; expected "rgb", "rgba", or "grayscale".')
        if class_mode not in self.allowed_class_modes:
            raise ValueError(f"Invalid class_mode: {class_mode}; expected one of: "
                             f"{self.allowed_class_modes}")
        if interpolation not in _pil.INTERPOLATION_NAMES:
            raise ValueError(f"Invalid interpolation method {interpolation} specified. "
                             f"Supported methods are {', '.join(_pil.INTERPOLATION_NAMES)}")
        if subset not in (None, "training", "validation"):
            raise ValueError(f"Invalid subset name: {subset};"
                             'expected "training" or "validation"')
        _listing.require_directory(directory)
        self.image_data_generator = image_data_generator
        self.directory = directory
        self.target_size = tuple(int(v) for v in target_size)
        self.color_mode = color_mode
        self.class_mode = class_mode
        self.data_format = data_format or "channels_last"
        self.dtype = dtype or "float32"
        self.save_to_dir, self.save_prefix, self.save_format = (save_to_dir, save_prefix,
                                                                save_format)
        self.interpolation = interpolation
        self.keep_aspect_ratio = keep_aspect_ratio
        channels = _CHANNELS[color_mode]
        self.image_shape = (self.target_size + (channels,)
                            if self.data_format == "channels_last"
                            else (channels,) + self.target_size)
        self.subset = subset
        validation_split = getattr(image_data_generator, "_validation_split", 0.0)
        self.split = None if subset is None else (
            (0, validation_split) if subset == "validation" else (validation_split, 1))

        class_names = list(classes) if classes else _listing.subdirectories(directory)
        self.num_classes = len(class_names)
        self.class_indices = dict(zip(class_names, range(len(class_names))))
        # Class folders are listed in parallel; results keep the class order.
        listings = list(decode_pool().map(
            lambda name: _listing.list_class_files(
                os.path.join(directory, name), self.white_list_formats, follow_links,
                self.split, warn_tiff=True),
            class_names))
        self.filenames = [f for files in listings for f in files]
        self.classes = np.concatenate(
            [np.full(len(files), i, np.int32) for i, files in enumerate(listings)]
            or [np.zeros(0, np.int32)])
        self.samples = len(self.filenames)
        print(f"Found {self.samples} images belonging to {self.num_classes} classes.")
        self._filepaths = [os.path.join(directory, f) for f in self.filenames]
        super().__init__(self.samples, batch_size, shuffle, seed)

    @property
    def filepaths(self):
        """Full paths of the image files, in sample order."""
        return self._filepaths

    @property
    def labels(self):
        return self.classes

    @property
    def sample_weight(self):
        return None

    def _draw_batch(self, index_array, rng):
        return _BatchDraws(self, index_array, rng, *self.target_size, hash_range=int(1e7))

    def _load(self, path):
        img = _pil.load_img(path, color_mode=self.color_mode, target_size=self.target_size,
                            interpolation=self.interpolation,
                            keep_aspect_ratio=self.keep_aspect_ratio)
        x = _pil.img_to_array(img, dtype=self.dtype)
        img.close()
        if x.shape[:2] != self.target_size:  # 16/32-bit grayscale keeps its mode
            raise ValueError(f"Image '{path}' decoded to shape {x.shape}, expected "
                             f"{self.target_size + (self.image_shape[-1],)}")
        return x

    def _get_batches_of_transformed_samples(self, index_array, draws=None):
        if draws is None:
            draws = self._draw_batch(index_array, np.random)
        paths = [self._filepaths[j] for j in index_array]
        batch_x = np.zeros((len(paths),) + self.target_size + (_CHANNELS[self.color_mode],),
                           self.dtype)
        for i, image in enumerate(decode_pool().map(self._load, paths)):
            batch_x[i] = image
        batch_x = self.image_data_generator._transform_and_standardize(batch_x, draws.params)
        if self.data_format == "channels_first":
            batch_x = np.ascontiguousarray(batch_x.transpose(0, 3, 1, 2))
        if self.save_to_dir:
            _save_batch(self, batch_x, index_array, draws.hashes)
        return self._with_labels(batch_x, index_array)

    def _with_labels(self, batch_x, index_array):
        if self.class_mode is None:
            return batch_x
        if self.class_mode == "input":
            return batch_x, batch_x.copy()
        labels = self.classes[index_array]
        if self.class_mode in ("binary", "sparse"):
            return batch_x, labels.astype(self.dtype)
        one_hot = np.zeros((len(labels), len(self.class_indices)), self.dtype)
        one_hot[np.arange(len(labels)), labels] = 1.0
        return batch_x, one_hot


class NumpyArrayIterator(Iterator):
    """Batches of (augmented) images from arrays; see ``ImageDataGenerator.flow``."""

    def __init__(self, x, y, image_data_generator, batch_size=32, shuffle=False,
                 sample_weight=None, seed=None, data_format=None, save_to_dir=None,
                 save_prefix="", save_format="png", subset=None, ignore_class_split=False,
                 dtype=None):
        self.dtype = dtype or "float32"
        self.data_format = data_format or "channels_last"
        x_misc = []
        if isinstance(x, (tuple, list)):
            x_misc = [np.asarray(m) for m in x[1]] if isinstance(x[1], list) \
                else [np.asarray(x[1])]
            x = x[0]
            for m in x_misc:
                if len(x) != len(m):
                    raise ValueError("All of the arrays in `x` should have the same length. "
                                     f"Found a pair with: len(x[0]) = {len(x)}, "
                                     f"len(x[?]) = {len(m)}")
        if y is not None and len(x) != len(y):
            raise ValueError("`x` (images tensor) and `y` (labels) should have the same "
                             f"length. Found: x.shape = {np.asarray(x).shape}, "
                             f"y.shape = {np.asarray(y).shape}")
        if sample_weight is not None and len(x) != len(sample_weight):
            raise ValueError("`x` (images tensor) and `sample_weight` should have the same "
                             f"length. Found: x.shape = {np.asarray(x).shape}, "
                             f"sample_weight.shape = {np.asarray(sample_weight).shape}")
        if subset is not None:
            x, y, x_misc = self._split(x, y, x_misc, subset, image_data_generator,
                                       ignore_class_split)
        self.x = np.asarray(x, dtype=self.dtype)
        if self.x.ndim != 4:
            raise ValueError("Input data in `NumpyArrayIterator` should have rank 4. "
                             f"You passed an array with shape {self.x.shape}")
        channels_axis = 3 if self.data_format == "channels_last" else 1
        if self.x.shape[channels_axis] not in {1, 3, 4}:
            warnings.warn(
                f'NumpyArrayIterator is set to use the data format convention '
                f'"{self.data_format}" (channels on axis {channels_axis}), i.e. expected '
                f"either 1, 3, or 4 channels on axis {channels_axis}. However, it was "
                f"passed an array with shape {self.x.shape} "
                f"({self.x.shape[channels_axis]} channels).")
        self.x_misc = x_misc
        self.y = None if y is None else np.asarray(y)
        self.sample_weight = None if sample_weight is None else np.asarray(sample_weight)
        self.image_data_generator = image_data_generator
        self.save_to_dir, self.save_prefix, self.save_format = (save_to_dir, save_prefix,
                                                                save_format)
        super().__init__(self.x.shape[0], batch_size, shuffle, seed)

    @staticmethod
    def _split(x, y, x_misc, subset, generator, ignore_class_split):
        """Keras's rule: validation is the first ``validation_split`` fraction."""
        if subset not in {"training", "validation"}:
            raise ValueError(f"Invalid subset name: {subset}"
                             '; expected "training" or "validation".')
        split_idx = int(len(x) * generator._validation_split)
        if (y is not None and not ignore_class_split and not np.array_equal(
                np.unique(y[:split_idx]), np.unique(y[split_idx:]))):
            raise ValueError("Training and validation subsets have different number of "
                             "classes after the split. If your numpy arrays are sorted by "
                             "the label, you might want to shuffle them.")
        part = slice(None, split_idx) if subset == "validation" else slice(split_idx, None)
        return (x[part], None if y is None else y[part],
                [np.asarray(m[part]) for m in x_misc])

    def _image_size(self):
        return self.x.shape[1:3] if self.data_format == "channels_last" else self.x.shape[2:4]

    def _draw_batch(self, index_array, rng):
        return _BatchDraws(self, index_array, rng, *self._image_size(), hash_range=int(1e4))

    def _get_batches_of_transformed_samples(self, index_array, draws=None):
        if draws is None:
            draws = self._draw_batch(index_array, np.random)
        batch_x = self.x[index_array]
        if self.data_format == "channels_first":
            batch_x = batch_x.transpose(0, 2, 3, 1)
        batch_x = self.image_data_generator._transform_and_standardize(
            np.array(batch_x, self.dtype), draws.params)
        if self.data_format == "channels_first":
            batch_x = np.ascontiguousarray(batch_x.transpose(0, 3, 1, 2))
        if self.save_to_dir:
            _save_batch(self, batch_x, index_array, draws.hashes)
        misc = [m[index_array] for m in self.x_misc]
        first = batch_x if not misc else [batch_x] + misc
        if self.y is None:
            return first
        if self.sample_weight is None:
            return first, self.y[index_array]
        return first, self.y[index_array], self.sample_weight[index_array]
