"""Batched geometric and colour transforms for ImageDataGenerator.

Keras transforms one image at a time with ``scipy.ndimage.affine_transform``.
Here each image gets one 3x3 matrix (built exactly as Keras builds it) and the
whole batch is resampled with a single gather, reproducing scipy's boundary
modes ('constant', 'nearest', 'reflect', 'wrap') for spline order 0 and 1.
"""
import numpy as np

FILL_MODES = ("constant", "nearest", "reflect", "wrap")


def keras_affine_matrix(theta, tx, ty, shear, zx, zy, height, width):
    """Keras's output->input matrix in (row, col) pixel coordinates, or None
    for the identity (Keras then leaves the image untouched)."""
    matrix = None

    def compose(m):
        return m if matrix is None else matrix @ m

    if theta != 0:
        t = np.deg2rad(theta)
        matrix = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    if tx != 0 or ty != 0:
        matrix = compose(np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]], dtype=np.float64))
    if shear != 0:
        s = np.deg2rad(shear)
        matrix = compose(np.array([[1, -np.sin(s), 0], [0, np.cos(s), 0], [0, 0, 1]]))
    if zx != 1 or zy != 1:
        matrix = compose(np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]], dtype=np.float64))
    if matrix is None:
        return None
    # Keras centres the transform with the *height* on its first axis ...
    o_x, o_y = float(height) / 2 - 0.5, float(width) / 2 - 0.5
    offset = np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]])
    reset = np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
    matrix = offset @ matrix @ reset
    # ... then swaps the two axes (its "x, y" vs numpy's "row, col"); kept
    # as is so the results equal Keras's, quirks included.
    matrix[:, [0, 1]] = matrix[:, [1, 0]]
    matrix[[0, 1]] = matrix[[1, 0]]
    return matrix


def _map_coordinates(coords, size, fill_mode):
    """Bring sample coordinates into range the way scipy's modes do; returns
    (coords, inside) where ``inside`` is False where 'constant' fills cval."""
    inside = None
    if fill_mode == "nearest":
        coords = np.clip(coords, 0, size - 1)
    elif fill_mode == "wrap":
        # scipy's 'wrap' has period size-1: first and last samples coincide.
        # Below 0 it lands in (0, size-1], above size-1 in [0, size-1).
        if size > 1:
            period = size - 1
            coords = np.where(coords < 0, period - np.mod(-coords, period),
                              np.where(coords > period, np.mod(coords, period), coords))
        else:
            coords = np.zeros_like(coords)
    elif fill_mode == "reflect":
        coords = np.mod(coords, 2 * size)
        coords = np.where(coords >= size, 2 * size - 1 - coords, coords)
    else:  # constant: no interpolation beyond the edges
        inside = (coords >= 0) & (coords <= size - 1)
    return coords, inside


def _map_indices(idx, size, fill_mode):
    if fill_mode == "reflect":
        idx = np.where(idx < 0, -idx - 1, idx)
        idx = np.where(idx >= size, 2 * size - 1 - idx, idx)
    return np.clip(idx, 0, size - 1)


def affine_transform_batch(images, matrices, fill_mode="nearest", cval=0.0, order=1):
    """Resample ``images`` (n, h, w, c) with per-image ``matrices`` (n, 3, 3):
    output pixel (i, j) reads the input at ``matrix @ (i, j, 1)``."""
    if fill_mode not in FILL_MODES:
        raise ValueError(f"fill_mode must be one of {FILL_MODES}, got {fill_mode!r}")
    if order not in (0, 1):
        raise NotImplementedError(f"interpolation_order={order}: only 0 (nearest) and "
                                  "1 (bilinear) are supported")
    n, h, w, c = images.shape
    rows, cols = np.meshgrid(np.arange(h, dtype=np.float64),
                             np.arange(w, dtype=np.float64), indexing="ij")
    grid = np.stack([rows.ravel(), cols.ravel(), np.ones(h * w)])  # (3, h*w)
    src = np.asarray(matrices, np.float64)[:, :2, :] @ grid  # (n, 2, h*w)
    src_rows, inside_r = _map_coordinates(src[:, 0], h, fill_mode)
    src_cols, inside_c = _map_coordinates(src[:, 1], w, fill_mode)

    flat = images.reshape(n * h * w, c)
    base = (np.arange(n) * (h * w))[:, None]

    def gather(r, q):
        return flat[base + _map_indices(r, h, fill_mode) * w + _map_indices(q, w, fill_mode)]

    if order == 0:
        out = gather(np.floor(src_rows + 0.5).astype(np.int64),
                     np.floor(src_cols + 0.5).astype(np.int64))
    else:
        r0 = np.floor(src_rows)
        c0 = np.floor(src_cols)
        fr = (src_rows - r0).astype(np.float32)[..., None]
        fc = (src_cols - c0).astype(np.float32)[..., None]
        r0 = r0.astype(np.int64)
        c0 = c0.astype(np.int64)
        top = gather(r0, c0) * (1 - fc) + gather(r0, c0 + 1) * fc
        bottom = gather(r0 + 1, c0) * (1 - fc) + gather(r0 + 1, c0 + 1) * fc
        out = top * (1 - fr) + bottom * fr
    if inside_r is not None:
        out = np.where((inside_r & inside_c)[..., None], out, np.float32(cval))
    return out.reshape(n, h, w, c).astype(images.dtype, copy=False)


def channel_shift_batch(images, intensities):
    """Keras's channel shift: add ``intensity`` and clip to each image's own
    original min..max. ``intensities`` (n,) float; NaN means no shift."""
    shift = np.asarray(intensities, np.float64)
    todo = ~np.isnan(shift)
    if not todo.any():
        return images
    sel = images[todo]
    lo = sel.min(axis=(1, 2, 3), keepdims=True)
    hi = sel.max(axis=(1, 2, 3), keepdims=True)
    moved = np.clip(sel + shift[todo, None, None, None].astype(images.dtype), lo, hi)
    images = images.copy()
    images[todo] = moved
    return images


def flip_batch(images, flip_horizontal, flip_vertical):
    """Flip the chosen images along columns / rows."""
    flip_horizontal = np.asarray(flip_horizontal, bool)
    flip_vertical = np.asarray(flip_vertical, bool)
    if flip_horizontal.any() or flip_vertical.any():
        images = images.copy()
        images[flip_horizontal] = images[flip_horizontal, :, ::-1]
        images[flip_vertical] = images[flip_vertical, ::-1]
    return images


def brightness_batch(images, factors):
    """Keras's brightness shift (``apply_brightness_shift(x, b, scale=False)``):
    Pillow's ImageEnhance.Brightness on the uint8 image, i.e. truncate to
    uint8, multiply, clip to 0..255 and truncate again. Images whose range
    leaves 0..255 are mapped to 0..255 first and back after, as Keras does.
    ``factors`` (n,) float; NaN means no change."""
    factors = np.asarray(factors, np.float64)
    todo = ~np.isnan(factors)
    if not todo.any():
        return images
    sel = images[todo].astype(np.float32)
    lo = sel.min(axis=(1, 2, 3), keepdims=True)
    hi = sel.max(axis=(1, 2, 3), keepdims=True)
    rescaled = (lo < 0) | (hi > 255)
    span = np.where(hi - lo == 0, 1, hi - lo)
    as_bytes = np.where(rescaled, (sel - lo) / span * 255, sel)
    as_bytes = np.clip(as_bytes, 0, 255).astype(np.uint8).astype(np.float32)
    factor = factors[todo].astype(np.float32)[:, None, None, None]
    bright = np.clip(as_bytes * factor, 0, 255).astype(np.uint8).astype(np.float32)
    bright = np.where(rescaled, bright / 255 * (hi - lo) + lo, bright)
    images = images.copy()
    images[todo] = bright.astype(images.dtype)
    return images
