"""Pillow glue: decode an image file to an array, and back (Keras's
``load_img`` / ``img_to_array`` / ``array_to_img``).

Pillow is an optional dependency of pycnn, so it is imported lazily.
"""
import io
import os

import numpy as np

# Keras's names for Pillow's resampling filters.
INTERPOLATION_NAMES = ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")
COLOR_MODES = ("grayscale", "rgb", "rgba")


def require_pillow(what="this function"):
    """``PIL.Image``, or an ImportError that says how to get it."""
    try:
        from PIL import Image
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError(
            f"{what} needs Pillow to decode images. Install it with "
            "`pip install pillow` (or `pip install pycnn[image]`).") from err
    return Image


def _resampling_filter(Image, interpolation):
    if interpolation not in INTERPOLATION_NAMES:
        raise ValueError(
            f"Invalid interpolation method {interpolation} specified. Supported "
            f"methods are {', '.join(INTERPOLATION_NAMES)}")
    return getattr(Image.Resampling, interpolation.upper())


def _open_named(Image, path):
    """Open ``path`` fully into memory; errors name the file (Pillow's own
    message only names a BytesIO object)."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except Exception as err:
        raise type(err)(f"Cannot decode image file '{path}': {err}") from err
    return img


def load_img(path, color_mode="rgb", target_size=None, interpolation="nearest",
             keep_aspect_ratio=False):
    """Load an image file as a PIL image, converted and resized as Keras does."""
    Image = require_pillow("load_img")
    if color_mode not in COLOR_MODES:
        raise ValueError(f"color_mode must be 'grayscale', 'rgb' or 'rgba', got {color_mode!r}")
    if isinstance(path, io.BytesIO):
        img = Image.open(path)
    else:
        img = _open_named(Image, path)
    if color_mode == "grayscale":
        if img.mode not in ("L", "I;16", "I"):
            img = img.convert("L")
    elif img.mode != color_mode.upper():
        img = img.convert(color_mode.upper())
    if target_size is None:
        return img
    width_height = (int(target_size[1]), int(target_size[0]))
    if img.size == width_height:
        return img
    resample = _resampling_filter(Image, interpolation)
    if not keep_aspect_ratio:
        return img.resize(width_height, resample)
    # Crop the centre to the target aspect ratio first (Keras's rule).
    width, height = img.size
    target_width, target_height = width_height
    crop_height = min(height, (width * target_height) // target_width)
    crop_width = min(width, (height * target_width) // target_height)
    top = (height - crop_height) // 2
    left = (width - crop_width) // 2
    box = (left, top, left + crop_width, top + crop_height)
    return img.resize(width_height, resample, box=box)


def img_to_array(img, data_format=None, dtype="float32"):
    """A PIL image as an (h, w, c) array (c first with ``channels_first``)."""
    x = np.asarray(img, dtype=dtype)
    if x.ndim == 2:
        x = x[:, :, None]
    elif x.ndim != 3:
        raise ValueError(f"Unsupported image shape: {x.shape}")
    if data_format == "channels_first":
        x = x.transpose(2, 0, 1)
    return x


def array_to_img(x, data_format=None, scale=True, dtype="float32"):
    """A 3-D array as a PIL image (``scale`` maps min..max to 0..255)."""
    Image = require_pillow("array_to_img")
    x = np.array(x, dtype=dtype)
    if x.ndim != 3:
        raise ValueError(f"Expected image array to have rank 3 (single image). "
                         f"Got array with shape: {x.shape}")
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        x_max = np.max(x)
        if x_max != 0:
            x /= x_max
        x *= 255
    channels = x.shape[2]
    if channels == 4:
        return Image.fromarray(x.astype("uint8"), "RGBA")
    if channels == 3:
        return Image.fromarray(x.astype("uint8"), "RGB")
    if channels == 1:
        if np.max(x) > 255:
            return Image.fromarray(x[:, :, 0].astype("int32"), "I")
        return Image.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"Unsupported channel number: {channels}")


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    if file_format and file_format.lower() == "jpg":
        file_format = "jpeg"
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and (file_format or str(path).rsplit(".", 1)[-1]).lower() in (
            "jpg", "jpeg"):
        img = img.convert("RGB")  # JPEG has no alpha channel
    img.save(path, format=file_format, **kwargs)
