"""Fused optimizer updates, in place on ``param`` and its slot arrays.

``param`` and slots must be float32 C-contiguous and writeable (they are
updated where they are); ``grad`` is converted. ``decay`` folds Keras's
decoupled weight decay in first: ``param -= param * decay`` with
``decay = weight_decay * learning_rate``. Slots that an option does not use
are ``None``.
"""
from pycnn import _C
from pycnn.ops.gemm import f32


def sgd_update(param, grad, momentum_buf, lr, momentum, nesterov, decay=0.0):
    _C.sgd_update(param, f32(grad), momentum_buf, float(lr), float(momentum), bool(nesterov),
                  float(decay))


def adam_update(param, grad, m, v, velocity_hat, alpha, beta_1, beta_2, epsilon, decay=0.0):
    _C.adam_update(param, f32(grad), m, v, velocity_hat, float(alpha), float(beta_1),
                   float(beta_2), float(epsilon), float(decay))


def rmsprop_update(param, grad, velocity, momentum_buf, average_grad, lr, rho, momentum,
                   epsilon, decay=0.0):
    _C.rmsprop_update(param, f32(grad), velocity, momentum_buf, average_grad, float(lr),
                      float(rho), float(momentum), float(epsilon), float(decay))


def adagrad_update(param, grad, accumulator, lr, epsilon, decay=0.0):
    _C.adagrad_update(param, f32(grad), accumulator, float(lr), float(epsilon), float(decay))
