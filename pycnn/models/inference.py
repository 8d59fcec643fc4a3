"""Inference plans: the forward pass of ``predict`` / ``evaluate`` / ``model(x)``
with fusions that only hold when nothing is differentiated.

Built once per model graph from its layer calls (Sequential: the stack;
Model: the topologically ordered nodes), a plan is a list of steps. Patterns,
each only where the intermediate tensor feeds nothing else and is not a model
output:

- ``ZeroPadding2D -> Conv2D``: the padding becomes the conv's own pads (no
  padded copy of the input);
- ``Conv2D/Dense (linear) -> BatchNormalization``: the moving statistics are
  folded into the kernel and bias (BN costs nothing at inference);
- ``... -> Activation/ReLU`` after a conv or dense: the activation runs in the
  kernel's epilogue;
- ``Add -> Activation/ReLU``: one C++ pass for the sum and the activation;
- ``... -> MaxPooling2D`` after a conv: conv and pooling in one kernel call
  over bands of rows (the conv output never reaches memory whole), also
  through a ``ZeroPadding2D`` the pool can take as its own padding when the
  conv ends in a ReLU (ResNet's stem);
- ``MaxPooling2D`` elsewhere: no argmax (nothing will route a gradient).

Folded weights are cached per step and rebuilt when a source variable's
``_version`` changes (assign, optimizer step, loading), so a training loop
that predicts between steps stays correct and a frozen backbone folds once.
Layers carrying a mask, and everything unrecognised, run their own forward.
``PYCNN_FUSE=0`` (read at import) or ``set_fusion(False)`` turns every fusion
off (the plan then replays the layers).
"""
import operator
import os

import numpy as np

from pycnn import _C
from pycnn.layers.activation import Activation, ReLU
from pycnn.layers.base import call_forward
from pycnn.layers.convolutional import Conv2D
from pycnn.layers.core import Dense, Dropout, Flatten
from pycnn.layers.embedding import SpatialDropout1D
from pycnn.layers.merging import Add
from pycnn.layers.normalization import BatchNormalization
from pycnn.layers.pooling import MaxPooling2D
from pycnn.layers.reshaping import ZeroPadding2D
from pycnn.ops import act as act_ops
from pycnn.ops import pool as pool_ops
from pycnn.ops._convert import f32

_EPILOGUE_MAX_CODE = 9  # codes the GEMM / conv epilogues apply (softmax needs rows)
_IDENTITY_AT_INFERENCE = (Dropout, SpatialDropout1D)


# Read once at import (a per-call environment lookup cost a batch-1 predict
# about 4 us); set_fusion changes it at run time.
_fusion = os.environ.get("PYCNN_FUSE", "1") != "0"


def fusion_enabled():
    return _fusion


def set_fusion(enabled):
    """Turns the plans' fusions on or off (plans are rebuilt on next use)."""
    global _fusion
    _fusion = bool(enabled)


def epilogue_act(layer):
    """(code, param) when ``layer`` is an activation a kernel epilogue can apply, else None."""
    if type(layer) is Activation:
        act = layer.activation
        if act.code is not None and act.code <= _EPILOGUE_MAX_CODE:
            return act.code, act.param
    elif type(layer) is ReLU and layer._code is not None:
        return layer._code, layer.negative_slope
    return None


def _foldable_bn(layer):
    """A BatchNormalization over the last axis (its build shape says which that is)."""
    if type(layer) is not BatchNormalization or not layer.built:
        return False
    shape = layer._build_shapes
    rank = len(shape) if isinstance(shape, tuple) else None
    return layer.axis == -1 or (rank is not None and layer.axis == rank - 1)


def _pool_absorbs(pool, zero_pad):
    """A max pool that can take zero_pad's padding as its own (the kernel needs
    pads smaller than the window)."""
    if type(pool) is not MaxPooling2D or pool.padding != "valid":
        return False
    (t, b), (l, r) = zero_pad.padding
    ph, pw = pool.pool_size
    return max(t, b) < ph and max(l, r) < pw


def _linear(layer):
    return layer.activation.code == 0


_version_of = operator.attrgetter("_version")


class _DerivedCache:
    """An array derived from variables, rebuilt when any of them changes."""

    __slots__ = ("_entry",)

    def __init__(self):
        self._entry = None

    def get(self, variables, extra, build):
        key = (_C.get_isa(), extra, tuple(map(id, variables)),
               tuple(map(_version_of, variables)))
        entry = self._entry
        if entry is not None and entry[0] == key:
            return entry[1]
        value = build()
        self._entry = (key, value)
        return value


def _bn_affine(bn):
    """(inv, shift) in float64: Keras's inference BN is ``x * inv + shift``,
    ``inv = gamma / sqrt(var + eps)``, ``shift = beta - mean * inv``."""
    var = bn.moving_variance.value.astype(np.float64)
    inv = 1.0 / np.sqrt(var + np.float64(np.float32(bn.epsilon)))
    if bn.scale:
        inv = inv * bn.gamma.value.astype(np.float64)
    shift = -bn.moving_mean.value.astype(np.float64) * inv
    if bn.center:
        shift = shift + bn.beta.value.astype(np.float64)
    return inv, shift


def fold_batchnorm(kernel, bias, bn):
    """(kernel', bias') with ``bn(conv(x, kernel) + bias) == conv(x, kernel') + bias'``;
    output channels on the kernel's last axis; folded in float64, rounded once."""
    inv, shift = _bn_affine(bn)
    k = (kernel.astype(np.float64) * inv).astype(np.float32)
    b = shift if bias is None else bias.astype(np.float64) * inv + shift
    return np.ascontiguousarray(k), b.astype(np.float32)


def fold_batchnorm_into_input(kernel, bias, bn):
    """(kernel', bias') with ``bn(x) @ kernel + bias == x @ kernel' + bias'`` for
    a Dense kernel (in, units) and a BN over its input features: a BN after
    an activation (seed 000's Dense -> ReLU -> BN -> Dropout -> Dense) folds
    forward into the next Dense. Float64, rounded once."""
    inv, shift = _bn_affine(bn)
    k64 = kernel.astype(np.float64)
    b = shift @ k64 if bias is None else bias.astype(np.float64) + shift @ k64
    k = (k64 * inv[:, None]).astype(np.float32)
    return np.ascontiguousarray(k), b.astype(np.float32)


def _bn_sources(bn):
    return [] if bn is None else [bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance]


def weight_sources(layer, bn, bn_in=None):
    """The variables a Conv2D/Dense step's folded weights are made from."""
    sources = [layer.kernel, layer.bias] + _bn_sources(bn) + _bn_sources(bn_in)
    return [v for v in sources if v is not None]


def folded_weights(cache, layer, bn, pack, bn_in=None):
    """(kernel, bias, packed) of a Conv2D/Dense with ``bn`` (or None) folded
    into its output and ``bn_in`` (Dense only, or None) into its input, packed
    by ``pack``; rebuilt by ``cache`` only when a source variable's version
    (or the ISA) changes."""
    sources = weight_sources(layer, bn, bn_in)

    def build():
        kernel = layer.kernel.value
        bias = layer.bias.value if layer.use_bias else None
        if bn_in is not None:
            kernel, bias = fold_batchnorm_into_input(kernel, bias, bn_in)
        if bn is not None:
            kernel, bias = fold_batchnorm(kernel, bias, bn)
        return kernel, bias, pack(kernel)

    eps = tuple(None if b is None else b.epsilon for b in (bn, bn_in))
    return cache.get(sources, eps, build)


def _pack_dense(kernel):
    return _C.gemm_pack_b(kernel, False)


# ----- steps -------------------------------------------------------------------
class _LayerStep:
    """One layer call, as the training-free forward does it."""

    def __init__(self, layer, in_keys, out_keys):
        self.layer, self.in_keys, self.out_keys = layer, in_keys, out_keys
        self.is_model = hasattr(layer, "_forward_inference")

    def run(self, values, masks):
        layer = self.layer
        args = [values[k] for k in self.in_keys]
        in_masks = [masks.get(k) for k in self.in_keys]
        if self.is_model and all(m is None for m in in_masks):
            y = layer._forward_inference(args if layer._multi_input else args[0])
            ys = y if len(self.out_keys) > 1 else [y]
            for k, v in zip(self.out_keys, ys):
                values[k] = v
            return
        if layer._multi_input:
            y, _, out_mask = call_forward(
                layer, args, False,
                in_masks if any(m is not None for m in in_masks) else None)
        else:
            y, _, out_mask = call_forward(layer, args[0], False, in_masks[0])
        ys = y if len(self.out_keys) > 1 else [y]
        out_masks = out_mask if isinstance(out_mask, list) else [out_mask] * len(ys)
        for k, v, m in zip(self.out_keys, ys, out_masks):
            values[k] = v
            if m is not None:
                masks[k] = m


class _FusedStep:
    """A fused group; runs its layers one by one when an input carries a mask."""

    def output_act(self):
        """(code, param) of the activation that produced the output, or None."""
        return getattr(self, "act", None)

    def __init__(self, in_keys, out_key, fallback):
        self.in_keys, self.out_key, self.fallback = in_keys, out_key, fallback

    def run(self, values, masks):
        if masks and any(masks.get(k) is not None for k in self.in_keys):
            for step in self.fallback:
                step.run(values, masks)
            return
        values[self.out_key] = self.compute([values[k] for k in self.in_keys])


class _ConvStep(_FusedStep):
    """[ZeroPadding2D ->] Conv2D [-> BatchNormalization] [-> activation] [-> MaxPooling2D]."""

    def __init__(self, in_keys, out_key, fallback, conv, zero_pad, bn, act, pool=None,
                 residual_key=None, pool_pad=None):
        super().__init__(in_keys, out_key, fallback)
        self.conv, self.zero_pad, self.bn, self.act = conv, zero_pad, bn, act
        self.pool = pool  # a MaxPooling2D run in the same kernel call
        self.pool_pad = pool_pad  # a ZeroPadding2D before it, taken as the pool's padding
        # Conv [-> BN] -> Add(residual) [-> act]: the residual (in_keys[-1]) is
        # added in the kernel, into its own buffer when the plan finds that
        # nothing reads it later (residual_in_place), else into a copy.
        self.residual_key = residual_key
        self.residual_in_place = False
        self.weights = _DerivedCache()
        self._shapes = {}

    def _folded(self):
        """(kernel, bias, packed kernel): BatchNormalization folded in, packed once
        per weight version for this ISA."""
        return folded_weights(self.weights, self.conv, self.bn, _C.conv2d_pack_weights)

    def _geometry(self, x):
        """(pads, pool pads, conv output shape) for an input of x's shape,
        validated once per shape (a wrong input gets the layers' own errors)."""
        geometry = self._shapes.get(x.shape)
        if geometry is not None:
            return geometry
        conv = self.conv
        if x.ndim != 4 or x.shape[-1] != conv.kernel.shape[2]:
            raise_from_layers(self.fallback, x)
        return self._geometry_of(x.shape)

    def _geometry_of(self, shape):
        conv = self.conv
        t = b = l = r = 0
        if self.zero_pad is not None:
            (t, b), (l, r) = self.zero_pad.padding
        spatial = (shape[1] + t + b, shape[2] + l + r)
        conv_shape = conv.compute_output_shape((shape[0],) + spatial + (shape[3],))
        pads = conv._pads(spatial)
        pads = (pads[0] + t, pads[1] + b, pads[2] + l, pads[3] + r)
        pool_pads = None
        if self.pool is not None:
            pt = pb = pl = pr = 0
            if self.pool_pad is not None:
                (pt, pb), (pl, pr) = self.pool_pad.padding
            padded = (conv_shape[0], conv_shape[1] + pt + pb, conv_shape[2] + pl + pr,
                      conv_shape[3])
            self.pool.compute_output_shape(padded)
            own = self.pool._pads(padded[1:-1])
            pool_pads = (own[0] + pt, own[1] + pb, own[2] + pl, own[3] + pr)
        if len(self._shapes) > 32:
            self._shapes.clear()
        geometry = self._shapes[tuple(shape)] = (pads, pool_pads, tuple(conv_shape))
        return geometry

    def variables(self):
        return weight_sources(self.conv, self.bn)

    def compile_into(self, chain, shape):
        """Appends this step to an InferenceChain taking inputs of ``shape``
        (already accepted by compute)."""
        conv, pool = self.conv, self.pool
        pads, pool_pads, _ = self._geometry_of(shape)
        kernel, bias, packed = self._folded()
        code, param = self._activation()
        if pool is None:
            chain.add_conv(kernel, bias, packed, conv.strides, conv.dilation_rate, pads, code,
                           param)
        else:
            chain.add_conv(kernel, bias, packed, conv.strides, conv.dilation_rate, pads, code,
                           param, pool.pool_size, pool.strides, pool_pads)

    def compute(self, xs):
        x = f32(xs[0])
        conv = self.conv
        pads, pool_pads, conv_shape = self._geometry(x)
        residual = None
        if self.residual_key is not None:
            residual = xs[-1]
            if type(residual) is not np.ndarray or residual.shape != conv_shape:
                return self._run_layers(xs)  # a broadcasting Add: the layers handle it
            if not (self.residual_in_place and residual.dtype == np.float32 and
                    residual.flags.c_contiguous and residual.flags.writeable and
                    not isinstance(residual.base, np.ndarray)):
                residual = np.array(residual, np.float32, order="C")
        kernel, bias, packed = self._folded()
        code, param = self._activation()
        pool = self.pool
        if pool is None:
            return _C.conv2d_forward(x, kernel, bias, conv.strides, conv.dilation_rate, pads,
                                     code, param, packed, residual)
        return _C.conv2d_maxpool_forward(x, kernel, bias, conv.strides, conv.dilation_rate,
                                         pads, code, param, pool.pool_size, pool.strides,
                                         pool_pads, False, packed)[0]

    def _run_layers(self, xs):
        values = dict(zip(self.in_keys, xs))
        masks = {}
        for step in self.fallback:
            step.run(values, masks)
        return values[self.out_key]

    def _activation(self):
        if self.act is not None:
            return self.act
        act = self.conv.activation
        return act.code, act.param

    def output_act(self):
        return None if self.pool is not None else self._activation()


class _DenseStep(_FusedStep):
    """[BatchNormalization -> identities ->] Dense (linear) -> BatchNormalization
    [-> activation], or Dense -> activation; either BN folded into the kernel."""

    def output_act(self):
        if self.act is not None:
            return self.act
        return self.dense.activation.code, self.dense.activation.param

    def __init__(self, in_keys, out_key, fallback, dense, bn, act, bn_in=None):
        super().__init__(in_keys, out_key, fallback)
        self.dense, self.bn, self.act, self.bn_in = dense, bn, act, bn_in
        self.weights = _DerivedCache()

    def variables(self):
        return weight_sources(self.dense, self.bn, self.bn_in)

    def _folded(self):
        return folded_weights(self.weights, self.dense, self.bn, _pack_dense, self.bn_in)

    def compile_into(self, chain, shape):
        kernel, bias, packed = self._folded()
        chain.add_dense(kernel, bias, packed, *self.output_act())

    def compute(self, xs):
        x = f32(xs[0])
        dense = self.dense
        dense._check_call_shape(x)
        kernel, bias, packed = self._folded()
        code, param = self.output_act()
        lead = x.shape[:-1]
        x2 = x.reshape(-1, x.shape[-1])
        # The GEMM call applies every activation, softmax (over rows) included.
        y = _C.gemm(x2, kernel, False, False, bias, code, param, packed)
        return y.reshape(lead + (dense.units,)) if len(lead) != 1 else y


class _SumActStep(_FusedStep):
    """Add -> activation in one pass."""

    def __init__(self, in_keys, out_key, fallback, add, act):
        super().__init__(in_keys, out_key, fallback)
        self.add, self.act = add, act

    def compute(self, xs):
        if any(x.shape != xs[0].shape for x in xs):
            return _run_chain(self.fallback, xs)  # broadcasting Add: the layers handle it
        self.add._check_arrays(xs)
        return act_ops.sum_act(xs, *self.act)


class _MaxPoolStep(_FusedStep):
    """[ZeroPadding2D ->] MaxPooling2D without the argmax. The zero padding is
    folded only when the input is known non-negative (a ReLU output), where a
    zero border cannot win a window that holds a real value."""

    def __init__(self, in_keys, out_key, fallback, pool, zero_pad=None):
        super().__init__(in_keys, out_key, fallback)
        self.pool, self.zero_pad = pool, zero_pad

    def _pads(self, shape):
        pool = self.pool
        t = b = l = r = 0
        if self.zero_pad is not None:
            (t, b), (l, r) = self.zero_pad.padding
        padded = (shape[0], shape[1] + t + b, shape[2] + l + r, shape[3])
        pool.compute_output_shape(padded)
        pads = pool._pads(padded[1:-1])
        return (pads[0] + t, pads[1] + b, pads[2] + l, pads[3] + r)

    def compute(self, xs):
        x = xs[0]
        if x.ndim != 4:
            raise_from_layers(self.fallback, x)
        pool = self.pool
        y, _ = pool_ops.max_pool2d_forward(x, pool.pool_size, pool.strides, self._pads(x.shape),
                                           with_argmax=False)
        return y

    def variables(self):
        return []

    def compile_into(self, chain, shape):
        pool = self.pool
        chain.add_maxpool(pool.pool_size, pool.strides, self._pads(shape))


class _AliasStep:
    """A layer that is the identity at inference (Dropout): the output is the input."""

    def __init__(self, in_key, out_key):
        self.in_key, self.out_key = in_key, out_key

    def run(self, values, masks):
        values[self.out_key] = values[self.in_key]
        mask = masks.get(self.in_key)
        if mask is not None:
            masks[self.out_key] = mask


class _FlattenStep(_FusedStep):
    """Flatten as one reshape (no cache, no mask bookkeeping)."""

    def __init__(self, in_keys, out_key, fallback):
        super().__init__(in_keys, out_key, fallback)

    def variables(self):
        return []

    def compile_into(self, chain, shape):
        chain.add_flatten()

    def compute(self, xs):
        x = xs[0]
        if x.ndim < 1:
            raise_from_layers(self.fallback, x)
        return x.reshape(x.shape[0], -1) if x.shape[0] else x.reshape(0, int(np.prod(x.shape[1:])))


def _run_chain(steps, xs):
    """Run fallback layer steps on fresh inputs; returns the last output."""
    values = {k: x for k, x in zip(steps[0].in_keys, xs)}
    masks = {}
    for step in steps:
        step.run(values, masks)
    return values[steps[-1].out_keys[0]]


def raise_from_layers(steps, x):
    """Run the unfused layers so a bad input gets the layer's own error."""
    _run_chain(steps, [x])
    raise AssertionError("unreachable: the fused step rejected an input its layers accept")


# ----- building ------------------------------------------------------------------
def _step_inputs(step):
    return [step.in_key] if isinstance(step, _AliasStep) else list(step.in_keys)


class InferencePlan:
    def __init__(self, steps, input_keys, output_keys):
        self.steps, self.input_keys, self.output_keys = steps, input_keys, output_keys
        # Tensors to drop after each step (their last reader ran), so a deep
        # network holds a few activations at a time, not all of them, and the
        # buffer cache hands the same (warm) blocks around.
        last_use = {}
        for i, step in enumerate(steps):
            for k in _step_inputs(step):
                last_use[k] = i
        keep = set(output_keys)
        self.release = [[] for _ in steps]
        for k, i in last_use.items():
            if k not in keep:
                self.release[i].append(k)
        chain_steps = self._as_chain()
        self.chain = None if chain_steps is None else [step.compute for step in chain_steps]
        # A chain of steps the C++ InferenceChain runs, compiled after the
        # Python path first accepts a sample shape (so bad input gets the
        # layers' own errors): (sample shape, key, InferenceChain).
        self._compilable = chain_steps if chain_steps and all(
            hasattr(step, "compile_into") for step in chain_steps) and any(
            not isinstance(step, _FlattenStep) for step in chain_steps) else None
        self._variables = [v for step in self._compilable or [] for v in step.variables()]
        self._compiled = None

    def _as_chain(self):
        """The fused steps when the plan is one chain (one input, each step
        reading the previous output, no layer replays so no masks): run() then
        passes one array along, without the bookkeeping (a batch-1 MNIST
        predict spent a fifth of its time there)."""
        if len(self.input_keys) != 1 or len(self.output_keys) != 1:
            return None
        key, chain = self.input_keys[0], []
        for step in self.steps:
            if isinstance(step, _AliasStep) and step.in_key == key:
                key = step.out_key
            elif isinstance(step, _FusedStep) and step.in_keys == [key]:
                chain.append(step)
                key = step.out_key
            else:
                return None
        return chain if key == self.output_keys[0] else None

    def _chain_key(self):
        return _C.get_isa(), tuple(map(_version_of, self._variables))

    def _compile(self, x):
        """The InferenceChain for x's sample shape and the current weights."""
        shape = x.shape[1:]
        chain = _C.InferenceChain(list(shape))
        for step in self._compilable:
            step.compile_into(chain, (1,) + tuple(chain.output_shape))
        self._compiled = (shape, self._chain_key(), chain)

    def run_compiled(self, x):
        """The compiled chain's output for a float32 C-contiguous ndarray x of
        the sample shape the chain was built for, holding only finite values;
        else None (the caller takes the checked path)."""
        compiled = self._compiled
        if compiled is None or x.shape[1:] != compiled[0] or x.dtype != np.float32 or \
                not x.flags.c_contiguous or not x.shape[0] or self._chain_key() != compiled[1]:
            return None
        return compiled[2].run(x, True)

    def run(self, xs):
        if self.chain is not None:
            x = xs[0]
            compiled = self._compiled
            fresh = compiled is not None and type(x) is np.ndarray and \
                x.shape[1:] == compiled[0] and self._chain_key() == compiled[1]
            if fresh and x.dtype == np.float32 and x.flags.c_contiguous and x.shape[0]:
                return [compiled[2].run(x)]
            for compute in self.chain:
                x = compute([x])
            x0 = xs[0]
            # (Re)build only for a new sample shape or weight version, not for
            # every float64 or strided input the chain itself does not take.
            if not fresh and self._compilable is not None and type(x0) is np.ndarray and \
                    x0.shape[0]:
                self._compile(x0)
            return [x]
        values = dict(zip(self.input_keys, xs))
        masks = {}
        for step, done in zip(self.steps, self.release):
            step.run(values, masks)
            for k in done:
                values.pop(k, None)
                masks.pop(k, None)
        return [values[k] for k in self.output_keys]


def build_plan(calls, input_keys, output_keys):
    """``calls``: (layer, in_keys, out_keys) in execution order."""
    steps = [_LayerStep(layer, list(ins), list(outs)) for layer, ins, outs in calls]
    if not fusion_enabled():
        return InferencePlan(steps, input_keys, output_keys)
    uses = {}
    for _, ins, _ in calls:
        for k in ins:
            uses[k] = uses.get(k, 0) + 1
    protected = set(output_keys)

    def single_use(key):
        return uses.get(key, 0) == 1 and key not in protected

    producer = {}
    for i, (_, _, outs) in enumerate(calls):
        for k in outs:
            producer[k] = i
    consumer = {}
    for i, (_, ins, _) in enumerate(calls):
        for k in ins:
            consumer.setdefault(k, i)

    def next_call(i, types):
        """The only consumer of call i's single output, if it is one of ``types``."""
        outs = calls[i][2]
        if len(outs) != 1 or not single_use(outs[0]):
            return None
        j = consumer.get(outs[0])
        if j is None or len(calls[j][1]) != 1:
            return None
        return j if types(calls[j][0]) else None

    fused_into = {}  # call index -> fused step (placed at its last call)
    taken = set()

    def residual_add(i):
        """(index, other input) of a two-input Add that is the only reader of
        call i's output and whose other input was computed before call i's
        group runs, else (None, None)."""
        outs = calls[i][2]
        if len(outs) != 1 or not single_use(outs[0]):
            return None, None
        j = consumer.get(outs[0])
        if j is None or j in taken or type(calls[j][0]) is not Add or len(calls[j][1]) != 2:
            return None, None
        a, b = calls[j][1]
        other = b if a == outs[0] else a
        if other == outs[0] or (other in producer and producer[other] > j):
            return None, None
        return j, other

    def nonnegative(key):
        """Whether the tensor ``key`` is a ReLU output (steps fused so far included)."""
        i = producer.get(key)
        if i is None:
            return False
        step = fused_into.get(i)
        if step is not None:
            act = step.output_act()
        elif type(calls[i][0]) in (Conv2D, Dense):
            act = (calls[i][0].activation.code, calls[i][0].activation.param)
        else:
            act = epilogue_act(calls[i][0])
        return act is not None and act[0] == 1
    for i, (layer, ins, outs) in enumerate(calls):
        if i in taken:
            continue
        group = [i]
        if type(layer) is ZeroPadding2D:
            j = next_call(i, lambda l: type(l) is Conv2D and l.built)
            k = next_call(i, lambda l: _pool_absorbs(l, layer))
            if j is not None:
                group.append(j)
            elif k is not None and nonnegative(ins[0]):
                group.append(k)
                step = _MaxPoolStep(list(ins), calls[k][2][0], [steps[i], steps[k]],
                                    calls[k][0], layer)
                taken.update(group)
                fused_into[k] = step
                continue
            else:
                continue
        bn_in = None
        if _foldable_bn(layer):
            # BN -> Dropout... -> Dense: the BN folds into the Dense's input side.
            j = i
            while j is not None and type(calls[j][0]) is not Dense:
                j = next_call(j, lambda l: type(l) in _IDENTITY_AT_INFERENCE or
                              type(l) is Dense and l.built and l.activation.code is not None)
                if j is not None:
                    group.append(j)
            if j is None:
                continue
            bn_in = layer
        conv_i = group[-1]
        head = calls[conv_i][0]
        if (type(head) is Conv2D and head.activation.code is not None and
                head.activation.code <= _EPILOGUE_MAX_CODE or
                type(head) is Dense and head.activation.code is not None) and head.built:
            bn = act = None
            last = conv_i
            if _linear(head):
                j = next_call(last, _foldable_bn)
                if j is not None:
                    bn, last = calls[j][0], j
                    group.append(j)
            if _linear(head):
                j = next_call(last, lambda l: epilogue_act(l) is not None)
                if j is not None:
                    act, last = epilogue_act(calls[j][0]), j
                    group.append(j)
            pool = pool_pad = None
            if type(head) is Conv2D:
                j = next_call(last, lambda l: type(l) is MaxPooling2D)
                if j is not None:
                    pool, last = calls[j][0], j
                    group.append(j)
                elif (act if act is not None else (head.activation.code, 0.0))[0] == 1:
                    # ReLU -> ZeroPadding2D -> MaxPooling2D (ResNet's stem): the
                    # zero border cannot win a window of non-negative values, so
                    # it becomes the pool's own (ignored) padding.
                    j = next_call(last, lambda l: type(l) is ZeroPadding2D)
                    k = next_call(j, lambda l: _pool_absorbs(l, calls[j][0])) \
                        if j is not None else None
                    if k is not None:
                        pool, pool_pad, last = calls[k][0], calls[j][0], k
                        group += [j, k]
            residual_key = None
            if type(head) is Conv2D and _linear(head) and act is None and pool is None:
                j, residual_key = residual_add(last)
                if j is not None:
                    last = j
                    group.append(j)
                    j = next_call(last, lambda l: epilogue_act(l) is not None)
                    act = epilogue_act(calls[j][0]) if j is not None else (0, 0.0)
                    if j is not None:
                        last = j
                        group.append(j)
            fallback = [steps[g] for g in group]
            first_in, last_out = calls[group[0]][1], calls[last][2][0]
            if type(head) is Conv2D:
                zp = calls[group[0]][0] if group[0] != conv_i else None
                ins = list(first_in) + ([residual_key] if residual_key is not None else [])
                step = _ConvStep(ins, last_out, fallback, head, zp, bn, act, pool,
                                 residual_key, pool_pad)
            else:
                step = _DenseStep(first_in, last_out, fallback, head, bn, act, bn_in)
        elif type(layer) is Add:
            j = next_call(i, lambda l: epilogue_act(l) is not None)
            act = epilogue_act(calls[j][0]) if j is not None else (0, 0.0)
            if j is not None:
                group.append(j)
            step = _SumActStep(list(ins), calls[group[-1]][2][0], [steps[g] for g in group],
                               layer, act)
        elif type(layer) is MaxPooling2D:
            step = _MaxPoolStep(list(ins), outs[0], [steps[i]], layer)
        elif type(layer) in _IDENTITY_AT_INFERENCE and len(ins) == 1:
            step = _AliasStep(ins[0], outs[0])
        elif type(layer) is Flatten and len(ins) == 1:
            step = _FlattenStep(list(ins), outs[0], [steps[i]])
        else:
            continue
        taken.update(group)
        fused_into[group[-1]] = step
    out = []
    for i, step in enumerate(steps):
        if i in fused_into:
            out.append(fused_into[i])
        elif i not in taken:
            out.append(step)
    plan = InferencePlan(out, input_keys, output_keys)
    _mark_residuals_in_place(plan)
    return plan


# Steps whose output is always a new array of their own, and steps that keep
# no view of their inputs in their output.
_FRESH_OUTPUT = (_ConvStep, _SumActStep, _MaxPoolStep)


def _mark_residuals_in_place(plan):
    """A fused residual is written in place when that cannot be seen: a plan
    tensor (not a model input or output) made fresh by one of our kernels,
    read last by this step, and read before only by steps that keep no view
    of it (no alias, reshape or layer fallback)."""
    producer = {}
    readers = {}
    for i, step in enumerate(plan.steps):
        for k in _step_inputs(step):
            readers.setdefault(k, []).append(i)
        outs = [step.out_key] if hasattr(step, "out_key") else list(step.out_keys)
        for k in outs:
            producer[k] = step
    protected = set(plan.input_keys) | set(plan.output_keys)
    for i, step in enumerate(plan.steps):
        key = getattr(step, "residual_key", None)
        if key is None or key in protected:
            continue
        if not isinstance(producer.get(key), _FRESH_OUTPUT):
            continue
        others = [plan.steps[r] for r in readers[key] if r != i]
        step.residual_in_place = (max(readers[key]) == i and
                                  all(isinstance(o, _FRESH_OUTPUT) for o in others))
