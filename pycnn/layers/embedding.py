"""Embedding (integer indices -> rows of a trainable table) and
SpatialDropout1D (drops whole channels of a sequence)."""
import warnings

import numpy as np

from pycnn import constraints, initializers, regularizers
from pycnn import random as prandom
from pycnn.backend import KerasTensor, Variable
from pycnn.layers.base import Layer, shape_str
from pycnn.ops import embedding as emb_ops


def _positive_int(arg, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(
            f"`{arg}` must be a positive integer. Received: {arg}={value!r} "
            f"(of type {type(value).__name__}).")
    return int(value)


class Embedding(Layer):
    """Turns indices into dense vectors: ``embeddings[indices]``; output shape
    ``input_shape + (output_dim,)``. No gradient flows to the indices.

    With ``mask_zero=True``, ``compute_mask(indices)`` is ``indices != 0``
    (Keras): the models pass it to the following layers (LSTM / GRU skip
    those steps).
    """

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero=False,
                 weights=None, lora_rank=None, lora_alpha=None, **kwargs):
        self.input_dim = _positive_int("input_dim", input_dim)
        self.output_dim = _positive_int("output_dim", output_dim)
        if kwargs.pop("input_length", None) is not None:
            warnings.warn("Argument `input_length` is deprecated. Just remove it.")
        super().__init__(**kwargs)
        if lora_rank is not None:
            raise NotImplementedError(f"Layer '{self.name}': lora_rank is not supported")
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.mask_zero = bool(mask_zero)
        if weights is not None:
            self.build()
            self._build_shapes = None
            self.set_weights(weights if isinstance(weights, (list, tuple)) else [weights])

    def build(self, input_shape=None):
        self.embeddings = self.add_weight((self.input_dim, self.output_dim),
                                          self.embeddings_initializer, "embeddings")
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return np.asarray(inputs) != 0

    def _prepare_input(self, x):
        # Indices stay integers (the base class would make them float32).
        if isinstance(x, KerasTensor):
            return x
        if isinstance(x, Variable):
            x = x.value
        arr = np.asarray(x)
        if arr.dtype.kind not in "biuf":
            raise TypeError(
                f"Layer \"{self.name}\" received an input of dtype {arr.dtype}; "
                "expected integer indices")
        return arr

    def _indices(self, x):
        """int64 indices, each in [0, input_dim), checked before any lookup.
        Floats holding integers are accepted (cast toward zero, as Keras)."""
        arr = np.asarray(x)
        if arr.dtype.kind == "f":
            if not np.isfinite(arr).all():
                raise ValueError(
                    f"Layer \"{self.name}\" received non-finite indices in an input of "
                    f"shape {shape_str(arr.shape)}")
            arr = arr.astype(np.int64)
        elif arr.dtype.kind not in "biu":
            raise TypeError(
                f"Layer \"{self.name}\" expects integer indices, got dtype {arr.dtype}")
        idx = np.ascontiguousarray(arr, dtype=np.int64)
        if idx.size:
            bad = (idx < 0) | (idx >= self.input_dim)
            if bad.any():
                value = int(idx[bad].flat[0])
                raise ValueError(
                    f"Layer \"{self.name}\" received index {value}, outside the "
                    f"vocabulary [0, {self.input_dim}) (input_dim={self.input_dim}), in "
                    f"an input of shape {shape_str(idx.shape)}")
        return idx

    def forward(self, x, training=False):
        idx = self._indices(x)
        return emb_ops.embedding_lookup(idx, self.embeddings.value), idx

    def backward(self, cache, dy, need_dx=True):
        if not self.trainable:
            return None, []
        idx = cache
        dy = self._check_dy(dy, idx.shape + (self.output_dim,))
        return None, [emb_ops.embedding_grad(idx, dy, self.input_dim)]

    def get_config(self):
        cfg = super().get_config()
        cfg.update(input_dim=self.input_dim, output_dim=self.output_dim,
                   embeddings_initializer=initializers.serialize(self.embeddings_initializer),
                   embeddings_regularizer=regularizers.serialize(self.embeddings_regularizer),
                   embeddings_constraint=constraints.serialize(self.embeddings_constraint),
                   mask_zero=self.mask_zero)
        return cfg


class SpatialDropout1D(Layer):
    """Dropout of whole channels: in training each (sample, channel) of a
    (batch, steps, channels) input is kept for every step or zeroed for all,
    kept ones scaled by 1 / (1 - rate)."""

    supports_masking = True  # Keras: passes a (batch, time) mask on unchanged

    def __init__(self, rate, seed=None, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating)) \
                or not 0 <= rate <= 1:
            raise ValueError(
                f"Invalid value received for argument `rate` in layer '{self.name}'. "
                f"Expected a float value between 0 and 1. Received: rate={rate}")
        self.rate = float(rate)
        self.seed = seed
        self._rng = prandom.make_generator(seed) if seed is not None else None

    def build(self, input_shape):
        self._check_rank(input_shape, rank=3)
        self.built = True

    def forward(self, x, training=False):
        if x.ndim != 3:
            raise ValueError(
                f"Input 0 of layer \"{self.name}\" is incompatible with the layer: "
                f"expected ndim=3, found ndim={x.ndim}. Full shape received: "
                f"{shape_str(x.shape)}")
        if not training or self.rate == 0.0:
            return x, (x.shape, None)
        keep = 1.0 - self.rate
        if keep == 0.0:
            return np.zeros_like(x), (x.shape, np.zeros((x.shape[0], 1, x.shape[2]), np.float32))
        rng = self._rng or prandom.generator()
        mask = rng.random((x.shape[0], 1, x.shape[2]), dtype=np.float32) < keep
        mask = mask.astype(np.float32) * np.float32(1.0 / keep)
        return x * mask, (x.shape, mask)

    def backward(self, cache, dy, need_dx=True):
        shape, mask = cache
        dy = self._check_dy(dy, shape)
        return (dy if mask is None else dy * mask), []

    def get_config(self):
        cfg = super().get_config()
        cfg.update(rate=self.rate, seed=self.seed)
        return cfg
