"""Activation forward/backward for layers whose producer (GEMM, conv) fuses
bias + activation in its epilogue: decide what to fuse and what to keep."""
from pycnn import activations
from pycnn.ops import act as act_ops

# The GEMM/conv epilogue applies codes 0..9 in-register (softmax needs whole rows).
FUSABLE_MAX_CODE = 9


def can_fuse(act):
    """Fuse into the epilogue when backward can work from the output alone."""
    return act.code is not None and act.code <= FUSABLE_MAX_CODE and \
        not activations.needs_input(act.code)


def apply(act, z):
    """y = act(z) for an activation the epilogue did not fuse."""
    if act.code == 0:
        return z
    if act.code is None:
        return act(z)
    return act_ops.act_forward(z, act.code, act.param)


def grad(act, z, y, dy):
    """dL/dz from dL/dy; z is only needed (and kept) when needs_input(code)."""
    if act.code == 0:
        return dy
    if act.code is None:
        return act.backward(z, y, dy)  # NumPy derivative (exact for pycnn's own functions)
    return act_ops.act_backward(z, y, dy, act.code, act.param)


class LogitsGrad:
    """d loss / d logits handed to the output layer instead of d loss / d y:
    the loss kernel already went through the layer's activation (softmax +
    crossentropy in one pass), so the layer skips its activation backward.
    Only produced for layers whose ``takes_logits_grad`` names the activation."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value
