"""Real-time image augmentation: ``pycnn.preprocessing.image.ImageDataGenerator``
(Keras's legacy ``keras.preprocessing.image.ImageDataGenerator``).

Random parameters are drawn per image in Keras's order from the same NumPy
stream Keras uses, so a seeded iterator gives Keras's batches; the pixels are
then transformed for the whole batch at once (see ``_affine``).
"""
import math
import warnings

import numpy as np

from pycnn.preprocessing import _affine
from pycnn.preprocessing._iterator_base import Iterator
from pycnn.preprocessing._iterators import DirectoryIterator, NumpyArrayIterator
from pycnn.preprocessing._pil import array_to_img, img_to_array, load_img, save_img

__all__ = ["ImageDataGenerator", "Iterator", "DirectoryIterator", "NumpyArrayIterator",
           "load_img", "img_to_array", "array_to_img", "save_img",
           "apply_affine_transform"]


def _shift(shift_range, size, rng):
    """Keras's shift draw: an int or a list picks a value (times +-1), a float
    draws uniformly; fractions (< 1) are of the image size."""
    try:
        value = rng.choice(shift_range)
        value *= rng.choice([-1, 1])
    except ValueError:  # a float range
        value = rng.uniform(-shift_range, shift_range)
    if np.max(shift_range) < 1:
        value *= size
    return value


class ImageDataGenerator:
    """Generate batches of image data with real-time data augmentation.

    Arguments, defaults and behaviour follow Keras. Images are float32,
    ``channels_last`` by default.
    """

    def __init__(self, featurewise_center=False, samplewise_center=False,
                 featurewise_std_normalization=False, samplewise_std_normalization=False,
                 zca_whitening=False, zca_epsilon=1e-6, rotation_range=0,
                 width_shift_range=0.0, height_shift_range=0.0, brightness_range=None,
                 shear_range=0.0, zoom_range=0.0, channel_shift_range=0.0,
                 fill_mode="nearest", cval=0.0, horizontal_flip=False, vertical_flip=False,
                 rescale=None, preprocessing_function=None, data_format=None,
                 validation_split=0.0, interpolation_order=1, dtype=None):
        data_format = data_format or "channels_last"
        if data_format not in {"channels_last", "channels_first"}:
            raise ValueError('`data_format` should be `"channels_last"` (channel after row '
                             'and column) or `"channels_first"` (channel before row and '
                             f"column). Received: {data_format}")
        if fill_mode not in _affine.FILL_MODES:
            raise ValueError(f"fill_mode must be one of {_affine.FILL_MODES}, "
                             f"got {fill_mode!r}")
        if validation_split and not 0 < validation_split < 1:
            raise ValueError("`validation_split` must be strictly between 0 and 1. "
                             f" Received: {validation_split}")
        if interpolation_order not in (0, 1):
            raise NotImplementedError("interpolation_order must be 0 (nearest) or 1 "
                                      f"(bilinear), got {interpolation_order}")
        self.featurewise_center = featurewise_center
        self.samplewise_center = samplewise_center
        self.featurewise_std_normalization = featurewise_std_normalization
        self.samplewise_std_normalization = samplewise_std_normalization
        self.zca_whitening = zca_whitening
        self.zca_epsilon = zca_epsilon
        self.rotation_range = rotation_range
        self.width_shift_range = width_shift_range
        self.height_shift_range = height_shift_range
        self.shear_range = shear_range
        self.channel_shift_range = channel_shift_range
        self.fill_mode = fill_mode
        self.cval = cval
        self.horizontal_flip = horizontal_flip
        self.vertical_flip = vertical_flip
        self.rescale = rescale
        self.preprocessing_function = preprocessing_function
        self.dtype = dtype or "float32"
        self.interpolation_order = interpolation_order
        self.data_format = data_format
        self.channel_axis, self.row_axis, self.col_axis = (
            (3, 1, 2) if data_format == "channels_last" else (1, 2, 3))
        self._validation_split = validation_split
        self.mean = None
        self.std = None
        self.zca_whitening_matrix = None

        if isinstance(zoom_range, (float, int)):
            self.zoom_range = [1 - zoom_range, 1 + zoom_range]
        elif len(zoom_range) == 2 and all(isinstance(v, (float, int)) for v in zoom_range):
            self.zoom_range = [zoom_range[0], zoom_range[1]]
        else:
            raise ValueError("`zoom_range` should be a float or a tuple or list of two "
                             f"floats. Received: {zoom_range}")
        if zca_whitening:
            if not featurewise_center:
                self.featurewise_center = True
                warnings.warn("This ImageDataGenerator specifies `zca_whitening`, which "
                              "overrides setting of `featurewise_center`.")
            if featurewise_std_normalization:
                self.featurewise_std_normalization = False
                warnings.warn("This ImageDataGenerator specifies `zca_whitening` which "
                              "overrides setting of`featurewise_std_normalization`.")
        if featurewise_std_normalization and not featurewise_center:
            self.featurewise_center = True
            warnings.warn("This ImageDataGenerator specifies "
                          "`featurewise_std_normalization`, which overrides setting of "
                          "`featurewise_center`.")
        if samplewise_std_normalization and not samplewise_center:
            self.samplewise_center = True
            warnings.warn("This ImageDataGenerator specifies `samplewise_std_normalization`, "
                          "which overrides setting of `samplewise_center`.")
        if brightness_range is not None and (
                not isinstance(brightness_range, (tuple, list)) or len(brightness_range) != 2):
            raise ValueError("`brightness_range should be tuple or list of two floats. "
                             f"Received: {brightness_range}")
        self.brightness_range = brightness_range

    # -- iterators ---------------------------------------------------------
    def flow(self, x, y=None, batch_size=32, shuffle=True, sample_weight=None, seed=None,
             save_to_dir=None, save_prefix="", save_format="png", ignore_class_split=False,
             subset=None):
        """Batches of augmented data from arrays ``x`` (n, h, w, c) and ``y``."""
        return NumpyArrayIterator(
            x, y, self, batch_size=batch_size, shuffle=shuffle, sample_weight=sample_weight,
            seed=seed, data_format=self.data_format, save_to_dir=save_to_dir,
            save_prefix=save_prefix, save_format=save_format,
            ignore_class_split=ignore_class_split, subset=subset, dtype=self.dtype)

    def flow_from_directory(self, directory, target_size=(256, 256), color_mode="rgb",
                            classes=None, class_mode="categorical", batch_size=32,
                            shuffle=True, seed=None, save_to_dir=None, save_prefix="",
                            save_format="png", follow_links=False, subset=None,
                            interpolation="nearest", keep_aspect_ratio=False):
        """Batches of augmented images from class sub-folders of ``directory``.

        Prints ``Found N images belonging to K classes.`` A folder without
        images gives an iterator of length 0 (``fit`` then raises ValueError);
        a missing folder raises FileNotFoundError; a file Pillow cannot decode
        raises (an OSError naming the file) when its batch is loaded.
        """
        return DirectoryIterator(
            directory, self, target_size=target_size, color_mode=color_mode,
            keep_aspect_ratio=keep_aspect_ratio, classes=classes, class_mode=class_mode,
            data_format=self.data_format, batch_size=batch_size, shuffle=shuffle, seed=seed,
            save_to_dir=save_to_dir, save_prefix=save_prefix, save_format=save_format,
            follow_links=follow_links, subset=subset, interpolation=interpolation,
            dtype=self.dtype)

    # -- random parameters -------------------------------------------------
    def _draw_transform(self, height, width, rng):
        """One image's parameters, drawn in exactly Keras's order."""
        theta = rng.uniform(-self.rotation_range, self.rotation_range) \
            if self.rotation_range else 0
        tx = _shift(self.height_shift_range, height, rng) if self.height_shift_range else 0
        ty = _shift(self.width_shift_range, width, rng) if self.width_shift_range else 0
        shear = rng.uniform(-self.shear_range, self.shear_range) if self.shear_range else 0
        if self.zoom_range[0] == 1 and self.zoom_range[1] == 1:
            zx, zy = 1, 1
        else:
            zx, zy = rng.uniform(self.zoom_range[0], self.zoom_range[1], 2)
        flip_horizontal = (rng.random() < 0.5) * self.horizontal_flip
        flip_vertical = (rng.random() < 0.5) * self.vertical_flip
        channel_shift_intensity = None
        if self.channel_shift_range != 0:
            channel_shift_intensity = rng.uniform(-self.channel_shift_range,
                                                  self.channel_shift_range)
        brightness = None
        if self.brightness_range is not None:
            brightness = rng.uniform(self.brightness_range[0], self.brightness_range[1])
        return {"theta": theta, "tx": tx, "ty": ty, "shear": shear, "zx": zx, "zy": zy,
                "flip_horizontal": flip_horizontal, "flip_vertical": flip_vertical,
                "channel_shift_intensity": channel_shift_intensity,
                "brightness": brightness}

    def _draw_transforms(self, count, height, width, rng):
        return [self._draw_transform(height, width, rng) for _ in range(count)]

    def get_random_transform(self, img_shape, seed=None):
        """Random parameters for one image of shape ``img_shape`` (a dict)."""
        rng = np.random if seed is None else np.random.RandomState(seed)
        return self._draw_transform(img_shape[self.row_axis - 1],
                                    img_shape[self.col_axis - 1], rng)

    # -- applying transforms -----------------------------------------------
    def _transform_batch(self, images, params):
        """Apply per-image ``params`` to channels-last ``images`` (n, h, w, c)."""
        if not len(images):
            return images
        height, width = images.shape[1:3]
        matrices = [_affine.keras_affine_matrix(p.get("theta", 0), p.get("tx", 0),
                                                p.get("ty", 0), p.get("shear", 0),
                                                p.get("zx", 1), p.get("zy", 1), height, width)
                    for p in params]
        moved = [i for i, m in enumerate(matrices) if m is not None]
        if moved:
            images = images.copy()
            images[moved] = _affine.affine_transform_batch(
                images[moved], np.stack([matrices[i] for i in moved]), self.fill_mode,
                self.cval, self.interpolation_order)

        def column(name):
            return [np.nan if p.get(name) is None else p[name] for p in params]

        images = _affine.channel_shift_batch(images, column("channel_shift_intensity"))
        images = _affine.flip_batch(images, [bool(p.get("flip_horizontal", False))
                                             for p in params],
                                    [bool(p.get("flip_vertical", False)) for p in params])
        return _affine.brightness_batch(images, column("brightness"))

    def _transform_and_standardize(self, images, params):
        return self._standardize_batch(self._transform_batch(images, params))

    def _to_channels_last(self, x):
        return np.moveaxis(x, 0, -1) if self.data_format == "channels_first" else x

    def _from_channels_last(self, x):
        return np.moveaxis(x, -1, 0) if self.data_format == "channels_first" else x

    def apply_transform(self, x, transform_parameters):
        """Apply the parameters of ``get_random_transform`` to one 3-D image."""
        x = np.asarray(x)
        if x.ndim != 3:
            raise ValueError(f"Input arrays must be multi-channel 2D images, got shape "
                             f"{x.shape}")
        batch = self._to_channels_last(x)[None]
        out = self._transform_batch(batch.astype(np.result_type(x.dtype, np.float32)),
                                    [transform_parameters])[0]
        return np.ascontiguousarray(self._from_channels_last(out))

    def random_transform(self, x, seed=None):
        """A randomly transformed copy of one 3-D image."""
        params = self.get_random_transform(np.shape(x), seed)
        return self.apply_transform(x, params)

    # -- normalization -----------------------------------------------------
    def _warn_unfit(self, option):
        warnings.warn(f"This ImageDataGenerator specifies `{option}`, but it hasn't been "
                      "fit on any training data. Fit it first by calling "
                      "`.fit(numpy_data)`.")

    def _normalize(self, x, sample_axes):
        """Everything of ``standardize`` after ``preprocessing_function``;
        ``sample_axes`` are the axes one sample's statistics run over."""
        if self.rescale:
            x *= self.rescale
        if self.samplewise_center:
            x -= np.mean(x, axis=sample_axes, keepdims=True)
        if self.samplewise_std_normalization:
            x /= np.std(x, axis=sample_axes, keepdims=True) + 1e-6
        if self.featurewise_center:
            if self.mean is not None:
                x -= self.mean
            else:
                self._warn_unfit("featurewise_center")
        if self.featurewise_std_normalization:
            if self.std is not None:
                x /= self.std + 1e-6
            else:
                self._warn_unfit("featurewise_std_normalization")
        if self.zca_whitening:
            if self.zca_whitening_matrix is not None:
                flat = x.reshape(-1, math.prod(x.shape[-3:]))
                x = np.reshape(flat @ self.zca_whitening_matrix, x.shape)
            else:
                self._warn_unfit("zca_whitening")
        return x

    def standardize(self, x):
        """Keras's ``standardize``: normalization applied in place to ``x``
        (sample-wise statistics over the whole array, as Keras computes them)."""
        if self.preprocessing_function:
            x = self.preprocessing_function(x)
        return self._normalize(x, sample_axes=None)

    def _standardize_batch(self, images):
        """Per-image ``standardize`` over a channels-last batch."""
        if self.preprocessing_function:
            images = np.stack([np.asarray(self.preprocessing_function(img), self.dtype)
                               for img in images]) if len(images) else images
        if self.data_format == "channels_first":
            # mean/std from fit are shaped for channels-first images.
            images = images.transpose(0, 3, 1, 2)
            out = self._normalize(images, sample_axes=(1, 2, 3))
            return out.transpose(0, 2, 3, 1)
        return self._normalize(images, sample_axes=(1, 2, 3))

    def fit(self, x, augment=False, rounds=1, seed=None):
        """Compute the statistics ``featurewise_*`` and ``zca_whitening`` use."""
        x = np.asarray(x, dtype=self.dtype)
        if x.ndim != 4:
            raise ValueError("Input to `.fit()` should have rank 4. Got array with shape: "
                             + str(x.shape))
        if x.shape[self.channel_axis] not in {1, 3, 4}:
            warnings.warn(
                "Expected input to be images (as Numpy array) following the data format "
                f'convention "{self.data_format}" (channels on axis {self.channel_axis}), '
                "i.e. expected either 1, 3 or 4 channels on axis "
                f"{self.channel_axis}. However, it was passed an array with shape "
                f"{x.shape} ({x.shape[self.channel_axis]} channels).")
        rng = np.random if seed is None else np.random.RandomState(seed)
        x = np.copy(x)
        if self.rescale:
            x *= self.rescale
        if augment:
            last = x if self.data_format == "channels_last" else x.transpose(0, 2, 3, 1)
            height, width = last.shape[1:3]
            rounds_out = [self._transform_batch(last.copy(), self._draw_transforms(
                len(last), height, width, rng)) for _ in range(rounds)]
            x = np.concatenate(rounds_out).astype(self.dtype)
            if self.data_format == "channels_first":
                x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        broadcast = [1, 1, 1]
        broadcast[self.channel_axis - 1] = x.shape[self.channel_axis]
        if self.featurewise_center:
            self.mean = np.reshape(np.mean(x, axis=(0, self.row_axis, self.col_axis)),
                                   broadcast)
            x -= self.mean
        if self.featurewise_std_normalization:
            self.std = np.reshape(np.std(x, axis=(0, self.row_axis, self.col_axis)),
                                  broadcast)
            x /= self.std + 1e-6
        if self.zca_whitening:
            n = len(x)
            flat_x = np.reshape(x, (n, -1))
            u, s, _ = np.linalg.svd(flat_x.T, full_matrices=False)
            s_inv = np.sqrt(n) / (s + self.zca_epsilon)
            self.zca_whitening_matrix = (u * s_inv).dot(u.T)


def apply_affine_transform(x, theta=0, tx=0, ty=0, shear=0, zx=1, zy=1, row_axis=1,
                           col_axis=2, channel_axis=0, fill_mode="nearest", cval=0.0,
                           order=1):
    """Keras's ``apply_affine_transform`` for one 3-D image."""
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError("Input arrays must be multi-channel 2D images.")
    if sorted((row_axis, col_axis, channel_axis)) != [0, 1, 2] or channel_axis not in (0, 2):
        raise ValueError("row_axis, col_axis and channel_axis must be distinct, with the "
                         "channels first or last")
    if row_axis > col_axis:
        raise NotImplementedError("apply_affine_transform: rows must come before columns")
    last = np.moveaxis(x, channel_axis, -1)
    matrix = _affine.keras_affine_matrix(theta, tx, ty, shear, zx, zy, *last.shape[:2])
    if matrix is None:
        return x
    out = _affine.affine_transform_batch(last[None].astype(np.float32), matrix[None],
                                         fill_mode, cval, order)[0]
    return np.moveaxis(out, -1, channel_axis)
