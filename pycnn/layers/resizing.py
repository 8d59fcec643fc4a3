"""UpSampling1D, UpSampling2D and Resizing (channels-last), on the separable
resize kernels of pycnn.ops.pool. Keras 3 rules: nearest upsampling repeats
pixels; bilinear and Resizing follow jax.image.resize (half-pixel centres,
antialias only when asked for)."""
import numpy as np

from pycnn.layers.base import Layer, shape_str
from pycnn.layers.convolutional import standardize_data_format, standardize_tuple
from pycnn.ops import pool as pool_ops


def _check_interpolation(layer, value):
    method = str(value).lower()
    if method not in pool_ops.RESIZE_METHODS:
        raise ValueError(f"{layer}: Invalid value for argument `interpolation`. Expected one "
                         f"of {pool_ops.RESIZE_METHODS}. Received: interpolation={value}")
    return method


def _times(size, factor):
    return None if size is None else size * factor


class UpSampling2D(Layer):
    """Repeats rows and columns size[0] x size[1] times ('nearest') or
    interpolates to that size ('bilinear', ...): (N, H, W, C) -> (N, sH, sW, C)."""

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format, "UpSampling2D")
        self.size = standardize_tuple(size, 2, "size")
        self.interpolation = _check_interpolation("UpSampling2D", interpolation)

    def build(self, input_shape):
        self._check_rank(input_shape, rank=4)
        self.built = True

    def compute_output_shape(self, input_shape):
        return (input_shape[0], _times(input_shape[1], self.size[0]),
                _times(input_shape[2], self.size[1]), input_shape[3])

    def forward(self, x, training=False):
        self._check_rank(x.shape, rank=4)
        out = (x.shape[1] * self.size[0], x.shape[2] * self.size[1])
        return pool_ops.resize2d_forward(x, out, self.interpolation), x.shape

    def backward(self, cache, dy, need_dx=True):
        dy = self._check_dy(dy, self.compute_output_shape(cache))
        if not need_dx:
            return None, []
        return pool_ops.resize2d_backward(dy, cache, self.interpolation), []

    def get_config(self):
        cfg = super().get_config()
        cfg.update(size=self.size, data_format=self.data_format,
                   interpolation=self.interpolation)
        return cfg


class UpSampling1D(Layer):
    """Repeats each step `size` times: (N, L, C) -> (N, size * L, C)."""

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        self.size = standardize_tuple(size, 1, "size")[0]

    def build(self, input_shape):
        self._check_rank(input_shape, rank=3)
        self.built = True

    def compute_output_shape(self, input_shape):
        return (input_shape[0], _times(input_shape[1], self.size), input_shape[2])

    def forward(self, x, training=False):
        self._check_rank(x.shape, rank=3)
        y = pool_ops.resize2d_forward(x[:, None], (1, x.shape[1] * self.size), "nearest")
        return y[:, 0], x.shape

    def backward(self, cache, dy, need_dx=True):
        dy = self._check_dy(dy, self.compute_output_shape(cache))
        if not need_dx:
            return None, []
        n, length, c = cache
        return pool_ops.resize2d_backward(dy[:, None], (n, 1, length, c), "nearest")[:, 0], []

    def get_config(self):
        cfg = super().get_config()
        cfg.update(size=self.size)
        return cfg


class Resizing(Layer):
    """Resizes (N, H, W, C) images, or one (H, W, C) image, to (height, width),
    optionally cropping or padding to the target aspect ratio first, as
    keras.layers.Resizing (JAX backend)."""

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False,
                 pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0,
                 antialias=False, data_format=None, **kwargs):
        super().__init__(**kwargs)
        for name, v in (("height", height), ("width", width)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise ValueError(f"Resizing: `{name}` must be a positive integer. "
                                 f"Received: {name}={v}")
        self.height, self.width = int(height), int(width)
        self.interpolation = _check_interpolation("Resizing", interpolation)
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ValueError("Resizing: Only one of `pad_to_aspect_ratio` & "
                             "`crop_to_aspect_ratio` can be `True`.")
        if fill_mode != "constant":
            raise ValueError("Resizing: Invalid value for argument `fill_mode`. Only "
                             f"`'constant'` is supported. Received: fill_mode={fill_mode}")
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = bool(pad_to_aspect_ratio)
        self.fill_mode = fill_mode
        self.fill_value = fill_value
        self.antialias = bool(antialias)
        self.data_format = standardize_data_format(data_format, "Resizing")

    def build(self, input_shape):
        self._check_input(input_shape)
        self.built = True

    def _check_input(self, input_shape):
        if len(input_shape) not in (3, 4):
            raise ValueError(
                f"Input 0 of layer \"{self.name}\" is incompatible with the layer: expected "
                f"ndim=3 or ndim=4, found ndim={len(input_shape)}. Full shape received: "
                f"{shape_str(input_shape)}")

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        axis = len(shape) - 3
        shape[axis], shape[axis + 1] = self.height, self.width
        return tuple(shape)

    def _window(self, h, w):
        """Keras's crop box or pad amounts: (top, left, box_h, box_w)."""
        th, tw = self.height, self.width
        if self.crop_to_aspect_ratio:
            ch = max(min(h, int(float(w * th) / tw)), 1)
            cw = max(min(w, int(float(h * tw) / th)), 1)
            return int(float(h - ch) / 2), int(float(w - cw) / 2), ch, cw
        if self.pad_to_aspect_ratio:
            top = int(float(max(h, int(float(w * th) / tw)) - h) / 2)
            left = int(float(max(w, int(float(h * tw) / th)) - w) / 2)
            # Keras pads one axis only: height when it needs padding, else width.
            return (top, 0, h, w) if top > 0 else (0, left, h, w)
        return 0, 0, h, w

    def forward(self, x, training=False):
        self._check_input(x.shape)
        images = x if x.ndim == 4 else x[None]
        n, h, w, c = images.shape
        top, left, bh, bw = self._window(h, w)
        if self.crop_to_aspect_ratio:
            images = images[:, top:top + bh, left:left + bw]
        elif top or left:
            images = np.pad(images, ((0, 0), (top, top), (left, left), (0, 0)),
                            constant_values=np.float32(self.fill_value))
        y = pool_ops.resize2d_forward(images, (self.height, self.width), self.interpolation,
                                      self.antialias)
        return (y if x.ndim == 4 else y[0]), (x.shape, images.shape, top, left, bh, bw)

    def backward(self, cache, dy, need_dx=True):
        x_shape, resized_shape, top, left, bh, bw = cache
        dy = self._check_dy(dy, self.compute_output_shape(x_shape))
        if not need_dx:
            return None, []
        dy = dy if len(x_shape) == 4 else dy[None]
        d_images = pool_ops.resize2d_backward(dy, resized_shape, self.interpolation,
                                              self.antialias)
        if self.crop_to_aspect_ratio:
            dx = np.zeros((dy.shape[0],) + tuple(x_shape[-3:]), np.float32)
            dx[:, top:top + bh, left:left + bw] = d_images
        else:
            dx = np.ascontiguousarray(d_images[:, top:top + bh, left:left + bw])
        return (dx if len(x_shape) == 4 else dx[0]), []

    def get_config(self):
        cfg = super().get_config()
        cfg.update(height=self.height, width=self.width, interpolation=self.interpolation,
                   crop_to_aspect_ratio=self.crop_to_aspect_ratio,
                   pad_to_aspect_ratio=self.pad_to_aspect_ratio, fill_mode=self.fill_mode,
                   fill_value=self.fill_value, antialias=self.antialias,
                   data_format=self.data_format)
        return cfg
