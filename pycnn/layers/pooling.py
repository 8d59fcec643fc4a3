"""Max/average pooling (1-D, 2-D) and global pooling, channels-last, on the
kernels of pycnn.ops.pool. 'same' padding is TensorFlow's: max ignores the
padding, average divides by the number of in-bounds values."""
import numpy as np

from pycnn.layers.base import Layer
from pycnn.layers.convolutional import (check_input_rank, standardize_data_format,
                                        standardize_padding, standardize_tuple)
from pycnn.ops import pool as pool_ops
from pycnn.ops.conv import padding_amounts


class BasePooling(Layer):
    """Windowed pooling over ``rank`` spatial axes; subclasses pick the kernels."""

    rank = None
    mode = None  # "max" or "average"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None,
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.pool_size = standardize_tuple(pool_size, self.rank, "pool_size")
        self.strides = self.pool_size if strides is None else \
            standardize_tuple(strides, self.rank, "strides")
        self.padding = standardize_padding(padding)
        self.data_format = standardize_data_format(data_format, type(self).__name__)

    def build(self, input_shape):
        check_input_rank(self, input_shape, self.rank + 2)
        self.compute_output_shape(input_shape)
        self.built = True

    def _out_size(self, size, axis):
        if size is None:
            return None
        if self.padding == "same":
            return (size - 1) // self.strides[axis] + 1
        return (size - self.pool_size[axis]) // self.strides[axis] + 1

    def compute_output_shape(self, input_shape):
        spatial = tuple(self._out_size(s, i) for i, s in enumerate(input_shape[1:-1]))
        if any(s is not None and s <= 0 for s in spatial):
            raise ValueError(
                f"Layer \"{self.name}\": computed output size would be negative. Received: "
                f"`inputs.shape={tuple(input_shape)}` and `pool_size={self.pool_size}`.")
        return (input_shape[0],) + spatial + (input_shape[-1],)

    def _pads(self, spatial):
        out = ()
        for i, size in enumerate(spatial):
            out += padding_amounts(self.padding, size, self.pool_size[i], self.strides[i])
        return out

    def forward(self, x, training=False):
        check_input_rank(self, x.shape, self.rank + 2)
        self.compute_output_shape(x.shape)
        pads = self._pads(x.shape[1:-1])
        if self.mode == "max":
            y, argmax = self._max_forward(x, pads)
            return y, (x.shape, pads, argmax, y)  # y: for backward_before_relu
        return self._avg_forward(x, pads), (x.shape, pads, None, None)

    def backward(self, cache, dy, need_dx=True):
        if not need_dx:
            return None, []
        x_shape, pads, argmax, _ = cache
        if self.mode == "max":
            return self._max_backward(dy, argmax, x_shape, pads), []
        return self._avg_backward(dy, x_shape, pads), []

    def takes_relu_backward(self):
        """Whether backward_before_relu applies (max pooling's stock backward)."""
        return self.mode == "max" and type(self).backward is BasePooling.backward

    def backward_before_relu(self, cache, dy):
        """dx times ReLU's derivative, when the input x is a ReLU output that
        feeds only this layer: one pass instead of routing dy here and then
        gating the full-size dx by x > 0. Exact: dx is 0 off the argmax, and at
        the argmax x equals the pooled output y, so the gate is y > 0."""
        x_shape, pads, argmax, y = cache
        return self._max_backward(dy, argmax, x_shape, pads, relu_y=y)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(pool_size=self.pool_size, padding=self.padding, strides=self.strides,
                   data_format=self.data_format)
        return cfg


class _Pooling2D(BasePooling):
    rank = 2

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)

    def _max_forward(self, x, pads):
        return pool_ops.max_pool2d_forward(x, self.pool_size, self.strides, pads)

    def _max_backward(self, dy, argmax, x_shape, pads, relu_y=None):
        return pool_ops.max_pool2d_backward(dy, argmax, x_shape, self.pool_size, self.strides,
                                            pads, relu_y=relu_y)

    def _avg_forward(self, x, pads):
        return pool_ops.avg_pool2d_forward(x, self.pool_size, self.strides, pads)

    def _avg_backward(self, dy, x_shape, pads):
        return pool_ops.avg_pool2d_backward(dy, x_shape, self.pool_size, self.strides, pads)


class _Pooling1D(BasePooling):
    rank = 1

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None,
                 name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)

    def _max_forward(self, x, pads):
        return pool_ops.max_pool1d_forward(x, self.pool_size[0], self.strides[0], pads)

    def _max_backward(self, dy, argmax, x_shape, pads, relu_y=None):
        return pool_ops.max_pool1d_backward(dy, argmax, x_shape, self.pool_size[0],
                                            self.strides[0], pads, relu_y=relu_y)

    def _avg_forward(self, x, pads):
        return pool_ops.avg_pool1d_forward(x, self.pool_size[0], self.strides[0], pads)

    def _avg_backward(self, dy, x_shape, pads):
        return pool_ops.avg_pool1d_backward(dy, x_shape, self.pool_size[0], self.strides[0],
                                            pads)


class MaxPooling2D(_Pooling2D):
    """Max over pool_size windows of (batch, height, width, channels) inputs."""
    mode = "max"


class AveragePooling2D(_Pooling2D):
    """Mean over pool_size windows of (batch, height, width, channels) inputs."""
    mode = "average"


class MaxPooling1D(_Pooling1D):
    """Max over pool_size windows of (batch, steps, channels) inputs."""
    mode = "max"


class AveragePooling1D(_Pooling1D):
    """Mean over pool_size windows of (batch, steps, channels) inputs."""
    mode = "average"


# ----- global pooling --------------------------------------------------------
class BaseGlobalPooling(Layer):
    """Max or mean over all spatial axes: (N, ..., C) -> (N, C)."""

    rank = None
    mode = None

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format, type(self).__name__)
        self.keepdims = bool(keepdims)

    def build(self, input_shape):
        self._check_rank(input_shape, rank=self.rank + 2)
        self.built = True

    def compute_output_shape(self, input_shape):
        if self.keepdims:
            return (input_shape[0],) + (1,) * self.rank + (input_shape[-1],)
        return (input_shape[0], input_shape[-1])

    def _kernels(self):
        return {(1, "max"): (pool_ops.global_max_pool1d_forward,
                             pool_ops.global_max_pool1d_backward),
                (2, "max"): (pool_ops.global_max_pool2d_forward,
                             pool_ops.global_max_pool2d_backward),
                (1, "average"): (pool_ops.global_avg_pool1d_forward,
                                 pool_ops.global_avg_pool1d_backward),
                (2, "average"): (pool_ops.global_avg_pool2d_forward,
                                 pool_ops.global_avg_pool2d_backward)}[(self.rank, self.mode)]

    def forward(self, x, training=False):
        self._check_rank(x.shape, rank=self.rank + 2)
        forward_fn, _ = self._kernels()
        if self.mode == "max":
            y, argmax = forward_fn(x)
        else:
            y, argmax = forward_fn(x), None
        out_shape = self.compute_output_shape(x.shape)
        return y.reshape(out_shape), (x.shape, argmax)

    def backward(self, cache, dy, need_dx=True):
        if not need_dx:
            return None, []
        x_shape, argmax = cache
        _, backward_fn = self._kernels()
        dy = self._check_dy(dy, self.compute_output_shape(x_shape))
        dy = dy.reshape(x_shape[0], x_shape[-1])
        if self.mode == "max":
            return backward_fn(dy, argmax, x_shape), []
        return backward_fn(dy, x_shape), []

    def get_config(self):
        cfg = super().get_config()
        cfg.update(data_format=self.data_format, keepdims=self.keepdims)
        return cfg


class GlobalMaxPooling2D(BaseGlobalPooling):
    rank, mode = 2, "max"


class GlobalAveragePooling2D(BaseGlobalPooling):
    rank, mode = 2, "average"


class GlobalMaxPooling1D(BaseGlobalPooling):
    rank, mode = 1, "max"


class GlobalAveragePooling1D(BaseGlobalPooling):
    """Mean over time; with a (batch, time) mask (Keras masking) the mean of
    the unmasked steps only. The output has no mask."""

    rank, mode = 1, "average"
    supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return None

    def _time_axis(self):
        return 1 if self.data_format == "channels_last" else 2

    def forward(self, x, training=False, mask=None):
        if mask is None:
            return super().forward(x, training)
        self._check_rank(x.shape, rank=3)
        axis = self._time_axis()
        m = np.asarray(mask, np.float32)
        if m.shape != (x.shape[0], x.shape[axis]):
            raise ValueError(
                f"Layer \"{self.name}\": the mask must have shape (batch, time) = "
                f"({x.shape[0]}, {x.shape[axis]}), found shape={m.shape}")
        w = m[:, :, None] if axis == 1 else m[:, None, :]
        # Keras: sum(x * mask) / sum(mask) (NaN for a fully masked sample).
        with np.errstate(invalid="ignore", divide="ignore"):
            w = w / m.sum(axis=1)[:, None, None]
        y = (x * w).sum(axis=axis, keepdims=self.keepdims).astype(np.float32)
        return y, ("masked", w, x.shape)

    def backward(self, cache, dy, need_dx=True):
        if cache[0] != "masked":
            return super().backward(cache, dy, need_dx)
        if not need_dx:
            return None, []
        w = cache[1]
        dy = self._check_dy(dy, self.compute_output_shape(cache[2]))
        dy = dy.reshape(w.shape[0], -1)
        dy = dy[:, None, :] if self._time_axis() == 1 else dy[:, :, None]
        return np.ascontiguousarray(dy * w, np.float32), []


# Keras aliases.
MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
MaxPool1D = MaxPooling1D
AvgPool1D = AveragePooling1D
GlobalMaxPool2D = GlobalMaxPooling2D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool1D = GlobalMaxPooling1D
GlobalAvgPool1D = GlobalAveragePooling1D
