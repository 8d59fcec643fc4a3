"""ZeroPadding2D (and its 1D form): pad the spatial axes with zeros."""
import numpy as np

from pycnn.layers.base import Layer, shape_str
from pycnn.ops import pool as pool_ops


def _normalize_padding_2d(layer_name, padding):
    # An int goes through the same checks as a pair (a negative one included).
    pair = (padding, padding) if isinstance(padding, (int, np.integer)) else padding
    try:
        a, b = pair
    except (TypeError, ValueError):
        raise ValueError(f"ZeroPadding2D '{layer_name}': padding must be an int, a tuple of "
                         f"2 ints or a tuple of 2 tuples of 2 ints, got {padding!r}")
    if isinstance(a, (int, np.integer)) and isinstance(b, (int, np.integer)):
        out = ((int(a), int(a)), (int(b), int(b)))
    else:
        out = (tuple(int(v) for v in a), tuple(int(v) for v in b))
    if any(v < 0 for pair in out for v in pair) or any(len(p) != 2 for p in out):
        raise ValueError(f"ZeroPadding2D '{layer_name}': invalid padding {padding!r}")
    return out


class ZeroPadding2D(Layer):
    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"ZeroPadding2D '{self.name}': only channels_last is supported")
        self.padding = _normalize_padding_2d(self.name, padding)

    def build(self, input_shape):
        self._check_rank(input_shape, rank=4)

    def compute_output_shape(self, input_shape):
        (t, b), (l, r) = self.padding
        h, w = input_shape[1], input_shape[2]
        return (input_shape[0], None if h is None else h + t + b,
                None if w is None else w + l + r, input_shape[3])

    def forward(self, x, training=False):
        if x.ndim != 4:
            raise ValueError(f"Input 0 of layer \"{self.name}\" is incompatible with the "
                             f"layer: expected ndim=4, found ndim={x.ndim}. Full shape "
                             f"received: {shape_str(x.shape)}")
        (t, b), (l, r) = self.padding
        y = pool_ops.zero_pad2d(x, (t, b, l, r))
        return y, (x.shape, y.shape)

    def backward(self, cache, dy, need_dx=True):
        (t, _), (l, _) = self.padding
        (_, h, w, _), y_shape = cache
        dy = self._check_dy(dy, y_shape)
        return np.ascontiguousarray(dy[:, t:t + h, l:l + w, :]), []

    def get_config(self):
        cfg = super().get_config()
        cfg["padding"] = self.padding
        return cfg


class ZeroPadding1D(Layer):
    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(padding, (int, np.integer)):
            padding = (int(padding), int(padding))
        self.padding = tuple(int(p) for p in padding)
        if len(self.padding) != 2 or min(self.padding) < 0:
            raise ValueError(f"ZeroPadding1D '{self.name}': invalid padding {padding!r}")

    def build(self, input_shape):
        self._check_rank(input_shape, rank=3)

    def compute_output_shape(self, input_shape):
        n = input_shape[1]
        return (input_shape[0], None if n is None else n + sum(self.padding), input_shape[2])

    def forward(self, x, training=False):
        if x.ndim != 3:
            raise ValueError(f"Input 0 of layer \"{self.name}\" is incompatible with the "
                             f"layer: expected ndim=3, found ndim={x.ndim}. Full shape "
                             f"received: {shape_str(x.shape)}")
        y = pool_ops.zero_pad2d(x[:, None], (0, 0) + self.padding)[:, 0]
        return y, (x.shape[1], y.shape)

    def backward(self, cache, dy, need_dx=True):
        steps, y_shape = cache
        dy = self._check_dy(dy, y_shape)
        return np.ascontiguousarray(dy[:, self.padding[0]:self.padding[0] + steps, :]), []

    def get_config(self):
        cfg = super().get_config()
        cfg["padding"] = self.padding
        return cfg
