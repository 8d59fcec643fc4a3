"""Image resizing with TensorFlow's ``tf.image.resize`` semantics (half-pixel
centres, no antialiasing), as ``image_dataset_from_directory`` uses it.

Resizing is separable, so each axis is one (out, in) weight matrix and a
whole image is two matrix products.
"""
import numpy as np

INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5",
                  "gaussian", "mitchellcubic")


def _keys_cubic(x, a=-0.5):
    x = np.abs(x)
    return np.where(x <= 1, ((a + 2) * x - (a + 3)) * x * x + 1,
                    np.where(x < 2, ((a * x - 5 * a) * x + 8 * a) * x - 4 * a, 0.0))


def _mitchell(x, b=1 / 3, c=1 / 3):
    x = np.abs(x)
    near = ((12 - 9 * b - 6 * c) * x ** 3 + (-18 + 12 * b + 6 * c) * x ** 2 + (6 - 2 * b)) / 6
    far = ((-b - 6 * c) * x ** 3 + (6 * b + 30 * c) * x ** 2 + (-12 * b - 48 * c) * x
           + (8 * b + 24 * c)) / 6
    return np.where(x < 1, near, np.where(x < 2, far, 0.0))


def _lanczos(radius):
    def kernel(x):
        return np.where(np.abs(x) < radius, np.sinc(x) * np.sinc(x / radius), 0.0)
    return kernel


def _gaussian(x, radius=1.5, sigma=0.5):
    return np.where(np.abs(x) < radius, np.exp(-x * x / (2 * sigma * sigma)), 0.0)


_KERNELS = {
    "bilinear": lambda x: np.maximum(0.0, 1 - np.abs(x)),
    "bicubic": _keys_cubic,
    "lanczos3": _lanczos(3),
    "lanczos5": _lanczos(5),
    "gaussian": _gaussian,
    "mitchellcubic": _mitchell,
}


def axis_weights(in_size, out_size, method):
    """The (out_size, in_size) matrix resizing one axis."""
    scale = in_size / out_size
    out_pos = np.arange(out_size, dtype=np.float64)
    if method == "nearest":
        src = np.minimum(np.floor((out_pos + 0.5) * scale), in_size - 1).astype(np.int64)
        weights = np.zeros((out_size, in_size))
        weights[np.arange(out_size), src] = 1.0
        return weights
    in_pos = np.arange(in_size, dtype=np.float64)
    if method == "area":
        # Fraction of each input pixel covered by the output pixel's box.
        lo, hi = out_pos * scale, (out_pos + 1) * scale
        overlap = (np.minimum(in_pos[None] + 1, hi[:, None])
                   - np.maximum(in_pos[None], lo[:, None]))
        return np.clip(overlap, 0, None) / scale
    centre = (out_pos + 0.5) * scale - 0.5
    weights = _KERNELS[method](in_pos[None, :] - centre[:, None])
    total = weights.sum(axis=1, keepdims=True)
    return weights / np.where(np.abs(total) < 1e-3, 1.0, total)


def resize(image, size, method="bilinear"):
    """Resize one (h, w, c) image to ``size`` = (height, width), float32."""
    if method not in INTERPOLATIONS:
        raise ValueError(f"Argument `interpolation` should be one of {INTERPOLATIONS}. "
                         f"Received: interpolation={method}")
    image = np.asarray(image, np.float32)
    height, width = int(size[0]), int(size[1])
    if image.shape[:2] == (height, width):
        return image
    rows = axis_weights(image.shape[0], height, method).astype(np.float32)
    cols = axis_weights(image.shape[1], width, method).astype(np.float32)
    return np.einsum("oh,hwc,pw->opc", rows, image, cols, optimize=True)


def crop_to_aspect_ratio(image, size):
    """The largest centred crop with the aspect ratio of ``size`` (Keras's
    ``smart_resize`` crop)."""
    height, width = image.shape[:2]
    target_height, target_width = size
    crop_height = max(min(height, int(float(width * target_height) / target_width)), 1)
    crop_width = max(min(width, int(float(height * target_width) / target_height)), 1)
    top = int(float(height - crop_height) / 2)
    left = int(float(width - crop_width) / 2)
    return image[top:top + crop_height, left:left + crop_width]


def resize_with_pad(image, size, method):
    """Fit inside ``size`` keeping the aspect ratio, pad the rest with zeros
    (``tf.image.resize_with_pad``)."""
    height, width = image.shape[:2]
    target_height, target_width = size
    ratio = max(width / target_width, height / target_height)
    new_height = int(np.floor(height / ratio))
    new_width = int(np.floor(width / ratio))
    top = max(0, (target_height - new_height) // 2)
    left = max(0, (target_width - new_width) // 2)
    out = np.zeros((target_height, target_width, image.shape[2]), np.float32)
    out[top:top + new_height, left:left + new_width] = resize(image, (new_height, new_width),
                                                              method)
    return out
