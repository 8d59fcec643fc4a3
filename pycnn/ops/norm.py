"""Batch normalization over the last axis (channels-last, any rank >= 1):
statistics over every other axis. ``gamma``/``beta`` may be None (scale 1,
offset 0). Reductions give the same bits with any thread count. NumPy
twins with the same signatures: ``pycnn.reference.norm``."""
from pycnn import _C
from pycnn.ops._convert import f32


def _opt(v):
    return None if v is None else f32(v)


def batchnorm_train_forward(x, gamma, beta, epsilon):
    """-> (y, mean, var, inv_std); var is the biased batch variance,
    inv_std = 1 / sqrt(var + epsilon)."""
    return tuple(_C.batchnorm_train_forward(f32(x), _opt(gamma), _opt(beta), float(epsilon)))


def batchnorm_infer_forward(x, gamma, beta, moving_mean, moving_var, epsilon):
    """-> y, normalised with the moving statistics."""
    return _C.batchnorm_infer_forward(f32(x), _opt(gamma), _opt(beta), f32(moving_mean),
                                      f32(moving_var), float(epsilon))


def batchnorm_backward(x, dy, gamma, mean, inv_std):
    """Training-mode backward through the batch statistics -> (dx, dgamma, dbeta)."""
    return tuple(_C.batchnorm_backward(f32(x), f32(dy), _opt(gamma), f32(mean), f32(inv_std)))


def batchnorm_infer_backward(x, dy, gamma, moving_mean, moving_var, epsilon):
    """Inference-mode backward (statistics constant) -> (dx, dgamma, dbeta)."""
    return tuple(_C.batchnorm_infer_backward(f32(x), f32(dy), _opt(gamma), f32(moving_mean),
                                             f32(moving_var), float(epsilon)))
