"""Conv1D, Conv2D and Conv2DTranspose (channels-last), on the im2col + GEMM
kernels of pycnn.ops.conv, with bias and activation fused in the epilogue.

Also the Keras argument rules shared with the pooling layers
(``standardize_tuple``, ``standardize_padding``, ``standardize_data_format``).
"""
import numpy as np

from pycnn import activations, constraints, regularizers
from pycnn.layers import fused
from pycnn.layers.base import Layer, shape_str
from pycnn.ops import conv as conv_ops
from pycnn.ops.conv import padding_amounts


# ----- Keras argument rules --------------------------------------------------
def standardize_tuple(value, n, name, allow_zero=False):
    """An int or n ints -> tuple of n positive ints (Keras's messages)."""
    msg = f"The `{name}` argument must be a tuple of {n} integers. Received {name}={value}"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        values = (int(value),) * n
    else:
        try:
            values = tuple(value)
        except TypeError:
            raise ValueError(msg) from None
        if len(values) != n or any(isinstance(v, bool) or
                                   not isinstance(v, (int, np.integer)) for v in values):
            raise ValueError(msg)
        values = tuple(int(v) for v in values)
    bad = {v for v in values if (v < 0 if allow_zero else v <= 0)}
    if bad:
        raise ValueError(f"{msg}, including values {bad} that do not satisfy "
                         f"`value {'>= 0' if allow_zero else '> 0'}`")
    return values


def standardize_padding(value, allow_causal=False):
    allowed = {"valid", "same", "causal"} if allow_causal else {"valid", "same"}
    padding = value.lower() if isinstance(value, str) else value
    if padding not in allowed:
        raise ValueError(f"The `padding` argument must be a list/tuple or one of {allowed}. "
                         f"Received: {value}")
    return padding


def standardize_data_format(value, layer):
    data_format = "channels_last" if value is None else str(value).lower()
    if data_format not in ("channels_first", "channels_last"):
        raise ValueError("The `data_format` argument must be one of "
                         "{'channels_first', 'channels_last'}. "
                         f"Received: data_format={value}")
    if data_format == "channels_first":
        raise ValueError(f"{layer}: data_format='channels_first' is not supported; pycnn "
                         "computes channels-last (N, ..., C) tensors")
    return data_format


def check_input_rank(layer, input_shape, rank):
    """Keras's InputSpec message: min_ndim when too short, ndim when too long."""
    n = len(input_shape)
    if n < rank:
        layer._check_rank(input_shape, min_rank=rank)
    elif n != rank:
        layer._check_rank(input_shape, rank=rank)


# ----- convolution ----------------------------------------------------------
class PreActivationGrad:
    """d loss / d z (before the layer's ReLU) handed to a conv layer by the
    max pooling it feeds: the pool gated dy by relu(z) > 0 while routing it
    to the argmax (see ``relu_grad_from_pool``), so the conv skips its ReLU
    backward on the full-size output. Only the Sequential backward walk makes
    one, for a conv with activation ``'relu'`` whose output feeds the pool only.

    ``from_pool`` keeps the pool's own dy instead and spreads it to the conv's
    size (``value``) only when asked: a conv that needs no input gradient takes
    its weight gradient from the pool's dy directly (``_weight_grads_from_pool``)."""

    __slots__ = ("_value", "pool", "pool_cache", "pool_dy")

    def __init__(self, value):
        self._value = value
        self.pool = self.pool_cache = self.pool_dy = None

    @classmethod
    def from_pool(cls, pool, cache, dy):
        grad = cls(None)
        grad.pool, grad.pool_cache, grad.pool_dy = pool, cache, dy
        return grad

    @property
    def value(self):
        if self._value is None:
            self._value = self.pool.backward_before_relu(self.pool_cache, self.pool_dy)
        return self._value


def relu_grad_from_pool(producer):
    """Whether ``producer`` (the layer in front of a max pooling) is a conv whose
    stock forward/backward apply a plain ReLU, so the pool may return its
    pre-activation gradient as a PreActivationGrad."""
    cls = type(producer)
    # Not with an activity regularizer: its penalty needs the conv's output.
    return isinstance(producer, BaseConv) and cls.forward is BaseConv.forward and \
        cls.backward is BaseConv.backward and producer.activation.code == activations.RELU \
        and producer.activity_regularizer is None


class BaseConv(Layer):
    """Shared N-D convolution logic; ``rank`` is 1 or 2."""

    rank = None
    _in_axis = -2  # kernel axis of the input channels

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        cls = type(self).__name__
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or \
                filters <= 0:
            raise ValueError(f"{cls}: Invalid value for argument `filters`. Expected a "
                             f"strictly positive value. Received filters={filters}.")
        self.filters = int(filters)
        self.kernel_size = standardize_tuple(kernel_size, self.rank, "kernel_size")
        self.strides = standardize_tuple(strides, self.rank, "strides")
        self.dilation_rate = standardize_tuple(dilation_rate, self.rank, "dilation_rate")
        self.padding = standardize_padding(padding, allow_causal=self.rank == 1)
        self.data_format = standardize_data_format(data_format, cls)
        if groups != 1:
            raise ValueError(f"{cls}: only groups=1 is supported, received groups={groups}")
        self.groups = 1
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                "`strides > 1` not supported in conjunction with `dilation_rate > 1`. "
                f"Received: strides={self.strides} and dilation_rate={self.dilation_rate}")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.activity_regularizer = regularizers.get(activity_regularizer)  # layers/activity.py

    # ----- shapes ------------------------------------------------------------
    def build(self, input_shape):
        check_input_rank(self, input_shape, self.rank + 2)
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(
                f"Layer \"{self.name}\": the channel dimension of the inputs should be "
                f"defined. Found `None` in shape {shape_str(input_shape)}")
        self.compute_output_shape(input_shape)  # rejects kernels larger than the input
        self.kernel = self.add_weight(self.kernel_size + (channels, self.filters),
                                      self.kernel_initializer, "kernel")
        self.bias = self.add_weight((self.filters,), self.bias_initializer, "bias") \
            if self.use_bias else None
        self.built = True

    def _out_size(self, size, axis):
        if size is None:
            return None
        if self.padding in ("same", "causal"):
            return (size - 1) // self.strides[axis] + 1
        span = (self.kernel_size[axis] - 1) * self.dilation_rate[axis] + 1
        return (size - span) // self.strides[axis] + 1

    def compute_output_shape(self, input_shape):
        spatial = tuple(self._out_size(s, i) for i, s in enumerate(input_shape[1:-1]))
        if any(s is not None and s <= 0 for s in spatial):
            raise ValueError(
                f"Layer \"{self.name}\": computed output size would be negative. Received "
                f"`inputs shape={shape_str(input_shape)}`, `kernel shape="
                f"{self.kernel_size}`, `dilation_rate={self.dilation_rate}`.")
        return (input_shape[0],) + spatial + (self.filters,)

    def _check_call_shape(self, x):
        want = self.rank + 2
        channels = self.kernel.shape[self._in_axis]
        if x.ndim != want or x.shape[-1] != channels:
            expected = (None,) * (want - 1) + (channels,)
            raise ValueError(
                f"Input 0 of layer \"{self.name}\" is incompatible with the layer: "
                f"expected shape={shape_str(expected)}, found shape={shape_str(x.shape)}")
        self.compute_output_shape(x.shape)

    def _pads(self, spatial):
        """Explicit (before, after) padding per spatial axis, flattened."""
        if self.padding == "causal":  # all on the left: output[t] sees input[:t+1] only
            return ((self.kernel_size[0] - 1) * self.dilation_rate[0], 0)
        out = ()
        for i, size in enumerate(spatial):
            out += padding_amounts(self.padding, size, self.kernel_size[i], self.strides[i],
                                   self.dilation_rate[i])
        return out

    # ----- compute -------------------------------------------------------------
    def _forward_kernel(self, x, bias, pads, act, act_param):
        raise NotImplementedError

    def _backward_kernel(self, x, dz, pads, need_dx, need_dw):
        raise NotImplementedError

    def _weight_grads_from_pool(self, x, pads, grad):
        """(dkernel, dbias) straight from the max pool's dy in ``grad`` (a
        PreActivationGrad.from_pool), or None where no kernel takes that route."""
        return None

    def forward(self, x, training=False):
        self._check_call_shape(x)
        pads = self._pads(x.shape[1:-1])
        act = self.activation
        bias = self.bias.value if self.use_bias else None
        if fused.can_fuse(act):
            y = self._forward_kernel(x, bias, pads, act.code, act.param)
            z = None
        else:
            z = self._forward_kernel(x, bias, pads, 0, 0.0)
            y = fused.apply(act, z)
            if act.code is not None and not activations.needs_input(act.code, act.param):
                z = None  # backward works from y alone
        # y is needed for the activation derivative only.
        return y, (x, z, y if act.code != 0 else None, pads)

    def backward(self, cache, dy, need_dx=True):
        x, z, y, pads = cache
        if type(dy) is PreActivationGrad:  # the max pool already applied the ReLU's derivative
            dz = None if not need_dx and dy.pool is not None else dy.value
        else:
            dz = fused.grad(self.activation, z, y, np.ascontiguousarray(dy, np.float32))
        trainable = self.trainable
        if not need_dx and not trainable:
            return None, []
        if not need_dx and type(dy) is PreActivationGrad and dy.pool is not None:
            grads = self._weight_grads_from_pool(x, pads, dy)
            if grads is not None:
                dkernel, dbias = grads
                return None, [dkernel, dbias] if self.use_bias else [dkernel]
            dz = dy.value
        dx, dkernel, dbias = self._backward_kernel(x, dz, pads, need_dx, trainable)
        if not trainable:
            return dx, []
        return dx, [dkernel, dbias] if self.use_bias else [dkernel]

    def get_config(self):
        from pycnn import initializers
        cfg = super().get_config()
        cfg.update(
            filters=self.filters, kernel_size=self.kernel_size, strides=self.strides,
            padding=self.padding, data_format=self.data_format,
            dilation_rate=self.dilation_rate, groups=self.groups,
            activation=activations.serialize(self.activation), use_bias=self.use_bias,
            kernel_initializer=_serialize_initializer(initializers, self.kernel_initializer),
            bias_initializer=_serialize_initializer(initializers, self.bias_initializer),
            kernel_regularizer=regularizers.serialize(self.kernel_regularizer),
            bias_regularizer=regularizers.serialize(self.bias_regularizer),
            activity_regularizer=regularizers.serialize(self.activity_regularizer),
            kernel_constraint=constraints.serialize(self.kernel_constraint),
            bias_constraint=constraints.serialize(self.bias_constraint))
        return cfg


def _serialize_initializer(initializers, init):
    if isinstance(init, str) or init is None:
        return init
    return initializers.serialize(initializers.get(init))


class Conv2D(BaseConv):
    """2-D convolution over (batch, height, width, channels) inputs; kernel
    (kh, kw, in_channels, filters)."""

    rank = 2

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate,
                         groups, activation, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer, activity_regularizer,
                         kernel_constraint, bias_constraint, **kwargs)

    def _forward_kernel(self, x, bias, pads, act, act_param):
        return conv_ops.conv2d_forward(x, self.kernel.value, bias, self.strides,
                                       self.dilation_rate, pads, act, act_param)

    def _backward_kernel(self, x, dz, pads, need_dx, need_dw):
        return conv_ops.conv2d_backward(x, self.kernel.value, dz, self.strides,
                                        self.dilation_rate, pads, need_dx, need_dw)

    def _weight_grads_from_pool(self, x, pads, grad):
        # One kernel builds each band of dz from the pool's dy where the weight
        # gradient reads it: the conv-sized dz is never stored (bit-identical).
        pool = grad.pool
        if getattr(pool, "rank", None) != 2:
            return None
        x_shape, pool_pads, argmax, y = grad.pool_cache
        return conv_ops.conv2d_backward_weights_maxpool(
            x, self.kernel.value, grad.pool_dy, argmax, y, self.strides, self.dilation_rate,
            pads, pool.pool_size, pool.strides, pool_pads)

    def forward_max_pooled(self, x, pool, kernel=None, bias=None, act=None,
                           with_argmax=True):
        """This conv, then ``pool`` (a 2-D max pooling) on its output, in one kernel
        call that never stores the conv output: (y, conv cache, pool cache). The
        caches are those of the two forwards, less the conv output: backward must
        go through ``pool.backward_before_relu`` (a ReLU conv), which hands this
        conv its pre-activation gradient. kernel/bias/act override the layer's
        (inference plans pass folded BatchNormalization weights)."""
        self._check_call_shape(x)
        pads = self._pads(x.shape[1:-1])
        conv_shape = self.compute_output_shape(x.shape)
        pool.compute_output_shape(conv_shape)
        pool_pads = pool._pads(conv_shape[1:-1])
        if kernel is None:
            kernel = self.kernel.value
            bias = self.bias.value if self.use_bias else None
        code, param = act if act is not None else (self.activation.code, self.activation.param)
        y, argmax = conv_ops.conv2d_maxpool_forward(
            x, kernel, bias, self.strides, self.dilation_rate, pads, code, param,
            pool.pool_size, pool.strides, pool_pads, with_argmax)
        return y, (x, None, None, pads), (conv_shape, pool_pads, argmax, y)


class Conv1D(BaseConv):
    """1-D convolution over (batch, steps, channels) inputs; kernel
    (kernel_size, in_channels, filters). padding='causal' left-pads
    dilation_rate * (kernel_size - 1) steps."""

    rank = 1

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate,
                         groups, activation, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer, activity_regularizer,
                         kernel_constraint, bias_constraint, **kwargs)

    def _forward_kernel(self, x, bias, pads, act, act_param):
        return conv_ops.conv1d_forward(x, self.kernel.value, bias, self.strides[0],
                                       self.dilation_rate[0], pads, act, act_param)

    def _backward_kernel(self, x, dz, pads, need_dx, need_dw):
        return conv_ops.conv1d_backward(x, self.kernel.value, dz, self.strides[0],
                                        self.dilation_rate[0], pads, need_dx, need_dw)


class Conv2DTranspose(BaseConv):
    """Transposed 2-D convolution over (batch, height, width, channels) inputs;
    kernel (kh, kw, filters, in_channels) as Keras. Output sizes and padding
    are Keras 3's; forward runs as a conv's input gradient (GEMM + col2im)."""

    rank = 2
    _in_axis = -1

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 output_padding=None, data_format=None, dilation_rate=(1, 1), activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, 1,
                         activation, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer, activity_regularizer,
                         kernel_constraint, bias_constraint, **kwargs)
        self.output_padding = None if output_padding is None else \
            standardize_tuple(output_padding, self.rank, "output_padding", allow_zero=True)
        if self.output_padding is not None:
            for i, (op, s) in enumerate(zip(self.output_padding, self.strides)):
                if op >= s:
                    raise ValueError(
                        "`output_padding` must be strictly less than `strides` for all "
                        f"dimensions. At dimension {i}, `output_padding` is {op} but "
                        f"`strides` is {s}. Received: output_padding={self.output_padding}, "
                        f"strides={self.strides}")

    def build(self, input_shape):
        check_input_rank(self, input_shape, self.rank + 2)
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(
                f"Layer \"{self.name}\": the channel dimension of the inputs should be "
                f"defined. Found `None` in shape {shape_str(input_shape)}")
        self.compute_output_shape(input_shape)
        self.kernel = self.add_weight(self.kernel_size + (self.filters, channels),
                                      self.kernel_initializer, "kernel")
        self.bias = self.add_weight((self.filters,), self.bias_initializer, "bias") \
            if self.use_bias else None
        self.built = True

    def _crops(self, size, axis):
        op = None if self.output_padding is None else self.output_padding[axis]
        return conv_ops.conv_transpose_crops(self.padding, size, self.kernel_size[axis],
                                             self.strides[axis], self.dilation_rate[axis], op)

    def _out_size(self, size, axis):
        if size is None:
            return None
        return conv_ops.conv_transpose_output_size(size, self.kernel_size[axis],
                                                   self.strides[axis], self._crops(size, axis),
                                                   self.dilation_rate[axis])

    def _pads(self, spatial):
        """(top, bottom, left, right) crops of the full transposed output."""
        out = ()
        for i, size in enumerate(spatial):
            out += self._crops(size, i)
        return out

    def _forward_kernel(self, x, bias, pads, act, act_param):
        return conv_ops.conv_transpose2d_forward(x, self.kernel.value, bias, self.strides,
                                                 self.dilation_rate, pads, act, act_param)

    def _backward_kernel(self, x, dz, pads, need_dx, need_dw):
        return conv_ops.conv_transpose2d_backward(x, self.kernel.value, dz, self.strides,
                                                  self.dilation_rate, pads, need_dx, need_dw)

    def get_config(self):
        cfg = super().get_config()
        del cfg["groups"]  # Keras's transposed convs have no groups
        cfg["output_padding"] = self.output_padding
        return cfg


Convolution2D = Conv2D
Convolution2DTranspose = Conv2DTranspose
Convolution1D = Conv1D
