"""BatchNormalization (Keras 3): gamma, beta, moving_mean, moving_variance."""
import numpy as np

from pycnn import constraints, regularizers
from pycnn.backend import StateUpdates
from pycnn.layers.base import Layer, shape_str
from pycnn.ops import norm as norm_ops


class BatchNormalization(Layer):
    """Normalises each feature of ``axis`` over every other axis.

    Training (``training=True`` on a trainable layer) uses the batch mean and
    biased variance and records ``moving = moving * momentum + batch * (1 -
    momentum)`` through ``StateUpdates``; inference, or a frozen layer (as in
    Keras 3), uses the moving statistics.
    """

    supports_masking = True  # Keras: passes the mask on unchanged

    def __init__(self, axis=-1, momentum=0.99, epsilon=0.001, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, synchronized=False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
            raise ValueError(f"Layer \"{self.name}\": `axis` must be an int, got {axis!r}")
        if not 0.0 <= float(momentum) <= 1.0:
            raise ValueError(f"Layer \"{self.name}\": `momentum` must be in [0, 1], "
                             f"got {momentum}")
        if float(epsilon) <= 0.0:
            raise ValueError(f"Layer \"{self.name}\": `epsilon` must be positive, got {epsilon}")
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = beta_initializer
        self.gamma_initializer = gamma_initializer
        self.moving_mean_initializer = moving_mean_initializer
        self.moving_variance_initializer = moving_variance_initializer
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.synchronized = bool(synchronized)
        self.gamma = self.beta = None

    # ----- shapes ------------------------------------------------------------
    def _feature_axis(self, rank):
        if not -rank <= self.axis < rank:
            raise ValueError(
                f"Layer \"{self.name}\": invalid axis {self.axis} for an input of rank "
                f"{rank}")
        return self.axis % rank

    def build(self, input_shape):
        self._check_rank(input_shape, min_rank=2)
        axis = self._feature_axis(len(input_shape))
        channels = input_shape[axis]
        if channels is None:
            raise ValueError(
                f"Layer \"{self.name}\": axis {self.axis} of the input must have a known "
                f"size, got shape {shape_str(input_shape)}")
        shape = (channels,)
        if self.scale:
            self.gamma = self.add_weight(shape, self.gamma_initializer, "gamma")
        if self.center:
            self.beta = self.add_weight(shape, self.beta_initializer, "beta")
        self.moving_mean = self.add_weight(shape, self.moving_mean_initializer, "moving_mean",
                                           trainable=False)
        self.moving_variance = self.add_weight(shape, self.moving_variance_initializer,
                                               "moving_variance", trainable=False)
        self.built = True

    def compute_output_shape(self, input_shape):
        return input_shape

    # ----- compute -----------------------------------------------------------
    def _to_channels_last(self, x):
        """Kernels normalise the last axis; move another feature axis there."""
        axis = self._feature_axis(x.ndim)
        channels = self.moving_mean.shape[0]
        if x.ndim < 2 or x.shape[axis] != channels:
            raise ValueError(
                f"Input 0 of layer \"{self.name}\" is incompatible with the layer: "
                f"expected axis {self.axis} of input shape to have value {channels}, "
                f"but received input with shape {shape_str(x.shape)}")
        if axis == x.ndim - 1:
            return x, axis
        return np.ascontiguousarray(np.moveaxis(x, axis, -1)), axis

    def _from_channels_last(self, y, axis):
        return y if axis == y.ndim - 1 else np.ascontiguousarray(np.moveaxis(y, -1, axis))

    def _params(self):
        gamma = self.gamma.value if self.scale else None
        beta = self.beta.value if self.center else None
        return gamma, beta

    def forward(self, x, training=False):
        x = np.asarray(x, np.float32)
        xl, axis = self._to_channels_last(x)
        gamma, beta = self._params()
        if training and self.trainable:
            y, mean, var, inv_std = norm_ops.batchnorm_train_forward(xl, gamma, beta,
                                                                     self.epsilon)
            keep = np.float32(self.momentum)
            new = np.float32(1.0 - self.momentum)
            StateUpdates.record(self.moving_mean, self.moving_mean.value * keep + mean * new)
            StateUpdates.record(self.moving_variance,
                                self.moving_variance.value * keep + var * new)
            cache = ("train", xl, axis, mean, inv_std)
        else:
            mm, mv = self.moving_mean.numpy(), self.moving_variance.numpy()
            y = norm_ops.batchnorm_infer_forward(xl, gamma, beta, mm, mv, self.epsilon)
            cache = ("infer", xl, axis, mm, mv)
        return self._from_channels_last(y, axis), cache

    def backward(self, cache, dy):
        mode, xl, axis, stat_a, stat_b = cache
        # The output has the input's shape: xl with its last axis back at `axis`.
        dyl = self._check_dy(dy, xl.shape[:axis] + xl.shape[-1:] + xl.shape[axis:-1])
        if axis != xl.ndim - 1:
            dyl = np.moveaxis(dyl, axis, -1)
        gamma, _ = self._params()
        if mode == "train":
            dx, dgamma, dbeta = norm_ops.batchnorm_backward(xl, dyl, gamma, stat_a, stat_b)
        else:
            dx, dgamma, dbeta = norm_ops.batchnorm_infer_backward(xl, dyl, gamma, stat_a,
                                                                  stat_b, self.epsilon)
        dx = self._from_channels_last(dx, axis)
        if not self.trainable:
            return dx, []
        grads = ([dgamma] if self.scale else []) + ([dbeta] if self.center else [])
        return dx, grads

    def get_config(self):
        cfg = super().get_config()
        cfg.update(axis=self.axis, momentum=self.momentum, epsilon=self.epsilon,
                   center=self.center, scale=self.scale,
                   beta_initializer=self.beta_initializer,
                   gamma_initializer=self.gamma_initializer,
                   moving_mean_initializer=self.moving_mean_initializer,
                   moving_variance_initializer=self.moving_variance_initializer,
                   beta_regularizer=regularizers.serialize(self.beta_regularizer),
                   gamma_regularizer=regularizers.serialize(self.gamma_regularizer),
                   beta_constraint=constraints.serialize(self.beta_constraint),
                   gamma_constraint=constraints.serialize(self.gamma_constraint),
                   synchronized=self.synchronized)
        return cfg
